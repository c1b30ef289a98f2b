using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Recognizers.Text;
using Microsoft.Recognizers.Text.DateTime;

namespace BotService.Safety;

/// <summary>
/// Finds how long ago something happened in a normalised message ("30 minutes after my session", "an hour ago",
/// "two days since my infusion"). A cheap regex finds candidate time phrases; only those short phrases go to
/// Microsoft.Recognizers.Text's date-time model (hundreds of µs per call, so never the whole message).
/// Day words ("yesterday", "last night", "days") need no recognizer: they are always longer than any
/// wears-off window. Thread-safe.
/// </summary>
internal sealed partial class ElapsedTimeReader
{
    private readonly DateTimeModel? _model;
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
            _model = new DateTimeRecognizer(Culture.English).GetDateTimeModel();
            _model.Parse("3 hours", DateTime.UnixEpoch);
        }
        catch (Exception e)
        {
            _model = null;
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
        if (_model is not null)
        {
            try
            {
                var now = _time.GetLocalNow().DateTime;
                List<ModelResult> results;
                lock (_parse) // the recognizer's models are not documented as thread-safe; a rare parallel miss was seen
                {
                    results = _model.Parse(m.Value, now);
                }

                foreach (var result in results)
                {
                    if (FromResolution(result, now) is { } span)
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

        // Fallback (and for phrases the recognizer does not resolve, such as "a few minutes").
        var amount = _numbers.Read(m.Groups["n"].Value) ?? (m.Groups["n"].Value.Contains("few") ? 3 : null);
        if (amount is null)
        {
            return null;
        }

        var unit = m.Groups["unit"].Value;
        var value = amount.Value + (m.Groups["half"].Success ? 0.5 : 0);
        return unit.StartsWith('m') ? TimeSpan.FromMinutes(value) : TimeSpan.FromHours(value);
    }

    private static TimeSpan? FromResolution(ModelResult result, DateTime now)
    {
        if (result.Resolution?.TryGetValue("values", out var raw) != true || raw is not IEnumerable<object> values)
        {
            return null;
        }

        foreach (var item in values)
        {
            if (item is not IDictionary<string, string> value || !value.TryGetValue("type", out var type))
            {
                continue;
            }

            switch (type)
            {
                case "duration" when value.TryGetValue("value", out var seconds) &&
                                     double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var s):
                    return TimeSpan.FromSeconds(s);
                case "datetime" when value.TryGetValue("value", out var at) &&
                                     DateTime.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.None, out var when)
                                     && when <= now:
                    return now - when;
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
