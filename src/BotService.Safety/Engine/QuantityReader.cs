using System.Collections.Frozen;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Recognizers.Text;
using Microsoft.Recognizers.Text.Number;

namespace BotService.Safety;

/// <summary>
/// Reads the number in a short phrase captured by a quantity rule ("30", "thirty", "two dozen", "1,000").
/// Plain digits are parsed directly; anything else goes to Microsoft.Recognizers.Text's number model, created once.
/// If the model cannot be created (for example invariant globalization without PredefinedCulturesOnly=false) or
/// fails, a small built-in English number-word parser keeps quantities working: a broken dependency must never
/// silence a crisis rule. Thread-safe.
/// </summary>
internal sealed partial class QuantityReader
{
    private readonly IModel? _model;
    private readonly Lock _parse = new();
    private readonly ILogger _log;

    public QuantityReader(ILogger log)
    {
        _log = log;
        try
        {
            _model = new NumberRecognizer(Culture.English).GetNumberModel();
            _model.Parse("thirty"); // warm the model so the first real message is not slow
        }
        catch (Exception e)
        {
            _model = null;
            RecognizerUnavailable(log, "number", e.GetType().Name);
        }
    }

    public bool UsesRecognizer => _model is not null;

    public double? Read(string phrase)
    {
        var text = phrase.Trim();
        if (text.Length == 0)
        {
            return null;
        }

        if (IsPlainNumber(text))
        {
            return double.Parse(text.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        }

        if (_model is not null)
        {
            try
            {
                List<ModelResult> results;
                lock (_parse) // the recognizer's models are not documented as thread-safe; a rare parallel miss was seen
                {
                    results = _model.Parse(text);
                }

                foreach (var result in results)
                {
                    if (result.Resolution is { } resolution &&
                        resolution.TryGetValue("value", out var value) &&
                        double.TryParse(Convert.ToString(value, CultureInfo.InvariantCulture), NumberStyles.Float,
                            CultureInfo.InvariantCulture, out var number))
                    {
                        return number;
                    }
                }
            }
            catch (Exception e)
            {
                // Never log the exception itself: recognizer messages can quote the user's text.
                RecognizerFailed(_log, "number", e.GetType().Name);
            }
        }

        return ParseWords(text);
    }

    private static bool IsPlainNumber(string text)
    {
        var digits = 0;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (c is not (',' or '.'))
            {
                return false;
            }
        }

        return digits > 0 && char.IsAsciiDigit(text[0]) && char.IsAsciiDigit(text[^1]) &&
               text.Count(c => c == '.') <= 1;
    }

    private static readonly FrozenDictionary<string, int> Words = new Dictionary<string, int>
    {
        ["a"] = 1, ["an"] = 1, ["one"] = 1, ["two"] = 2, ["three"] = 3, ["four"] = 4, ["five"] = 5, ["six"] = 6,
        ["seven"] = 7, ["eight"] = 8, ["nine"] = 9, ["ten"] = 10, ["eleven"] = 11, ["twelve"] = 12,
        ["thirteen"] = 13, ["fourteen"] = 14, ["fifteen"] = 15, ["sixteen"] = 16, ["seventeen"] = 17,
        ["eighteen"] = 18, ["nineteen"] = 19, ["twenty"] = 20, ["thirty"] = 30, ["forty"] = 40, ["fourty"] = 40,
        ["fifty"] = 50, ["sixty"] = 60, ["seventy"] = 70, ["eighty"] = 80, ["ninety"] = 90,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Fallback for "forty five", "a dozen", "two hundred"; null when nothing is recognised.</summary>
    internal static double? ParseWords(string text)
    {
        double total = 0, current = 0;
        var any = false;
        foreach (var word in text.Split([' ', '-'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (Words.TryGetValue(word, out var value))
            {
                current += value;
                any = true;
            }
            else if (word == "dozen")
            {
                current = (current == 0 ? 1 : current) * 12;
                any = true;
            }
            else if (word == "hundred")
            {
                current = (current == 0 ? 1 : current) * 100;
                any = true;
            }
            else if (word == "thousand")
            {
                total += (current == 0 ? 1 : current) * 1000;
                current = 0;
                any = true;
            }
            else if (word is not ("and" or "of"))
            {
                return null;
            }
        }

        return any ? total + current : null;
    }

    [LoggerMessage(3030, LogLevel.Warning,
        "Microsoft.Recognizers.Text {Model} model could not be created ({ExceptionType}); using the built-in fallback")]
    internal static partial void RecognizerUnavailable(ILogger logger, string model, string exceptionType);

    [LoggerMessage(3031, LogLevel.Warning,
        "Microsoft.Recognizers.Text {Model} model failed ({ExceptionType}); using the built-in fallback")]
    internal static partial void RecognizerFailed(ILogger logger, string model, string exceptionType);
}
