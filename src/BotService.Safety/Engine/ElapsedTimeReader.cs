using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Recognizers.Text;
using Microsoft.Recognizers.Text.DateTime;
using Microsoft.Recognizers.Text.DateTime.English;

namespace BotService.Safety;

/// <summary>
/// Finds how long ago something happened in a normalised message ("30 minutes after my session", "an hour ago",
/// "two days since my infusion"). A cheap regex finds candidate time phrases; only those short phrases go to
/// Microsoft.Recognizers.Text's duration extractor and parser (never the whole message). Only those two parts of its
/// date-time recogniser are built: the candidates are always "an amount of minutes or hours", and the whole
/// date-time model (dates, periods, sets, time zones) would keep ~6 MB more of regular expressions and tables on the
/// managed heap for the process's life (~10 MB resident). Day words ("yesterday", "last night", "days") need no
/// recognizer: they are always longer than any wears-off window. Thread-safe.
/// </summary>
internal sealed partial class ElapsedTimeReader
{
    private readonly (BaseDurationExtractor Extractor, BaseDurationParser Parser)? _durations;
    private readonly Lock _parse = new();
    private readonly TimeProvider _time;
    private readonly QuantityReader _numbers;
    private readonly ILogger _log;

    public ElapsedTimeReader(TimeProvider time, QuantityReader numbers, ILogger log)
    {
        _time = time;
        _numbers = numbers;
        _log = log;
        try
        {
            var options = new BaseDateTimeOptionsConfiguration(Culture.English, DateTimeOptions.None);
            var durations = (new BaseDurationExtractor(new EnglishDurationExtractorConfiguration(options)),
                new BaseDurationParser(new EnglishDurationParserConfiguration(new EnglishCommonDateTimeParserConfiguration(options))));
            _ = Recognise(durations, "3 hours", DateTime.UnixEpoch);
            _durations = durations;
        }
        catch (Exception e)
        {
            QuantityReader.RecognizerUnavailable(log, "date-time", e.GetType().Name);
        }
    }

    /// <summary>Every elapsed time stated in the text; empty when none is stated.</summary>
    public IReadOnlyList<TimeSpan> Read(string normalised)
    {
        if (DayWords().IsMatch(normalised))
        {
            return [TimeSpan.FromDays(1)];
        }

        List<TimeSpan>? found = null;
        foreach (Match m in ShortSpans().Matches(normalised))
        {
            if (ParseSpan(m) is { } span)
            {
                (found ??= []).Add(span);
            }
        }

        return found ?? (IReadOnlyList<TimeSpan>)[];
    }

    private TimeSpan? ParseSpan(Match m)
    {
        if (_durations is { } durations)
        {
            try
            {
                lock (_parse) // the recognizer's parts are not documented as thread-safe; a rare parallel miss was seen
                {
                    if (Recognise(durations, m.Value, _time.GetLocalNow().DateTime) is { } span)
                    {
                        return span;
                    }
                }
            }
            catch (Exception e)
            {
                QuantityReader.RecognizerFailed(_log, "date-time", e.GetType().Name);
            }
        }

        // Fallback: the recognizer unavailable, or a phrase it does not resolve.
        var amount = _numbers.Read(m.Groups["n"].Value) ?? (m.Groups["n"].Value.Contains("few") ? 3 : null);
        if (amount is null)
        {
            return null;
        }

        var unit = m.Groups["unit"].Value;
        var value = amount.Value + (m.Groups["half"].Success ? 0.5 : 0);
        return unit.StartsWith('m') ? TimeSpan.FromMinutes(value) : TimeSpan.FromHours(value);
    }

    /// <summary>The first duration the recognizer resolves in <paramref name="phrase"/> ("2 hours ago": 2 hours).</summary>
    private static TimeSpan? Recognise((BaseDurationExtractor Extractor, BaseDurationParser Parser) durations, string phrase, DateTime now)
    {
        foreach (var found in durations.Extractor.Extract(phrase, now))
        {
            if (durations.Parser.Parse(found, now)?.Value is DateTimeResolutionResult { Success: true, PastValue: double seconds })
            {
                return TimeSpan.FromSeconds(seconds);
            }
        }

        return null;
    }

    [GeneratedRegex(@"\b(?:yesterday|last night|this morning|the other day|overnight|days?|weeks?|months?|nights?)\b",
        RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex DayWords();

    [GeneratedRegex(
        @"\b(?<n>\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty|thirty|forty|forty five|fifty|sixty|ninety|a few|a couple of|a couple|couple of|half an?)\s?(?<unit>minutes?|mins?|hours?|hrs?)(?<half> and a half)?(?: ago)?\b",
        RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex ShortSpans();
}
