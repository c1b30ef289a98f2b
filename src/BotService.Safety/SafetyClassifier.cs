using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace BotService.Safety;

/// <summary>
/// Rule-based safety classifier over the staff-reviewed rules file. Thread-safe: each call reads one immutable rule
/// set snapshot from the provider, so a reload in the middle of a call cannot mix two rule sets. Never throws:
/// if something unexpected fails, the message is classified <see cref="SafetyLevel.Urgent"/> with reason
/// <c>classifier-error</c> so a person looks at it.
/// </summary>
public sealed partial class SafetyClassifier : ISafetyClassifier
{
    internal const string ClassifierErrorRuleId = "classifier-error";
    internal const string RuleTimeoutRuleId = "rule-timeout";

    private readonly Func<SafetyRuleSet> _rules;
    private readonly ILogger _log;
    private readonly QuantityReader _quantities;
    private readonly ElapsedTimeReader _elapsed;

    /// <summary>Creates the classifier. Builds the Recognizers.Text models once (a few hundred ms).</summary>
    public SafetyClassifier(SafetyRulesProvider rules, ILogger<SafetyClassifier> logger, TimeProvider? timeProvider = null)
        : this(() => rules.Current, logger, timeProvider ?? TimeProvider.System)
    {
        ArgumentNullException.ThrowIfNull(rules);
    }

    internal SafetyClassifier(Func<SafetyRuleSet> rules, ILogger logger, TimeProvider timeProvider)
    {
        _rules = rules;
        _log = logger;
        _quantities = new QuantityReader(logger);
        _elapsed = new ElapsedTimeReader(timeProvider, _quantities, logger);
    }

    /// <summary>False when the number recognizer could not be created and the built-in fallback is in use.</summary>
    internal bool UsesRecognizers => _quantities.UsesRecognizer;

    public SafetyAssessment Classify(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return SafetyAssessment.None;
        }

        var started = Stopwatch.GetTimestamp();
        SafetyAssessment result;
        try
        {
            result = Evaluate(_rules(), text);
        }
        catch (Exception e)
        {
            ClassifierFailed(_log, e.GetType().Name);
            result = new SafetyAssessment(SafetyLevel.Urgent,
                [new SafetyReason(ClassifierErrorRuleId, SafetyLevel.Urgent, 0, text.Length)]);
        }

        if (result.Level != SafetyLevel.None && _log.IsEnabled(LogLevel.Debug))
        {
            Classified(_log, result.Level, result.Reasons.Count,
                string.Join(",", result.Reasons.Select(r => r.RuleId).Distinct()),
                (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        return result;
    }

    private SafetyAssessment Evaluate(SafetyRuleSet set, string text)
    {
        // Only "no rule matched" is remembered (see NoMatchCache): anything a rule matched is evaluated in full.
        if (set.NoMatch.Contains(text))
        {
            return SafetyAssessment.None;
        }

        var norm = set.Normaliser.Normalise(text);
        if (!set.AnyRule.Passes(norm.Text))
        {
            set.NoMatch.Add(text);
            return SafetyAssessment.None;
        }

        var candidates = FindCandidates(set, norm.Text);
        if (candidates.Count == 0)
        {
            set.NoMatch.Add(text);
            return SafetyAssessment.None;
        }

        ApplyWearsOff(norm.Text, candidates);
        if (candidates.Count > 0)
        {
            ApplyExceptions(norm.Text, candidates, set.Exceptions.Where(e => Applies(e, norm.Text, candidates)).ToList());
        }

        if (candidates.Count == 0)
        {
            return SafetyAssessment.None;
        }

        return Assemble(norm, candidates);
    }

    private List<Candidate> FindCandidates(SafetyRuleSet set, string text)
    {
        var found = new List<Candidate>();
        foreach (var rule in set.Rules)
        {
            try
            {
                // Cheap checks first: the linear-time gate, then the context the rule requires.
                if (!rule.Literals.Passes(text) || !rule.Gate.Passes(text) || rule.Requires?.IsMatch(text) == false)
                {
                    continue;
                }

                if (rule.Matcher is not null)
                {
                    foreach (var m in rule.Matcher.EnumerateMatches(text))
                    {
                        found.Add(new Candidate(rule, rule.Level, m.Index, m.Length));
                    }
                }

                foreach (var quantity in rule.Quantities)
                {
                    foreach (Match m in quantity.Pattern.Matches(text))
                    {
                        if (Reaches(quantity, m))
                        {
                            found.Add(new Candidate(rule, rule.Level, m.Index, m.Length));
                        }
                    }
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // A pathological message: do not guess "none"; ask a person to look.
                RuleTimedOut(_log, rule.Id);
                found.Add(new Candidate(new CompiledRule { Id = RuleTimeoutRuleId, Level = SafetyLevel.Urgent, Line = 0, Gate = RegexGate.Always },
                    SafetyLevel.Urgent, 0, text.Length));
            }
        }

        return found;
    }

    private bool Reaches(QuantityCheck check, Match m)
    {
        switch (check.Kind)
        {
            case QuantityKind.Count:
                return _quantities.Read(m.Groups["n"].Value) is { } count && count >= check.AtLeast;
            case QuantityKind.Dose:
                if (_quantities.Read(m.Groups["n"].Value) is not { } amount)
                {
                    return false;
                }

                var unit = m.Groups["unit"].Value;
                var mg = unit.StartsWith("mc", StringComparison.Ordinal) ? amount / 1000
                    : unit.StartsWith('g') ? amount * 1000
                    : amount;
                var drug = m.Groups["drug"].Value;
                var limit = check.DosesMg.TryGetValue(drug, out var specific) ? specific : check.DefaultDoseMg;
                return mg >= limit;
            case QuantityKind.BloodPressure:
                var systolic = _quantities.Read(m.Groups["sys"].Value) ?? 0;
                var diastolic = _quantities.Read(m.Groups["dia"].Value) ?? 0;
                return systolic >= check.SystolicAtLeast || diastolic >= check.DiastolicAtLeast;
            default:
                return false;
        }
    }

    /// <summary>Drops reasons of expected short-lived effects when the message says they are within their window.</summary>
    private void ApplyWearsOff(string text, List<Candidate> candidates)
    {
        foreach (var rule in candidates.Select(c => c.Rule).Where(r => r.WearsOff is not null).Distinct().ToList())
        {
            if (WithinWindow(rule.WearsOff!, text))
            {
                candidates.RemoveAll(c => c.Rule == rule);
            }
        }
    }

    private bool WithinWindow(WearsOffWindow window, string text)
    {
        if (window.Unless?.IsMatch(text) == true)
        {
            return false;
        }

        var elapsed = _elapsed.Read(text);
        return elapsed.Count > 0 && elapsed.All(e => e < window.Window);
    }

    /// <summary>
    /// Whether an exception could affect the current reasons and its gate passes. Any failure (a timeout) means
    /// "does not apply": when in doubt an exception is skipped, so a failure can never lower a level.
    /// </summary>
    private bool Applies(CompiledException exception, string text, List<Candidate> candidates)
    {
        try
        {
            return candidates.Any(c => exception.Affects(c.Rule.Id)) && exception.Literals.Passes(text) &&
                   exception.Gate.Passes(text);
        }
        catch (RegexMatchTimeoutException)
        {
            ExceptionTimedOut(_log, exception.Id);
            return false;
        }
    }

    private void ApplyExceptions(string text, List<Candidate> candidates, List<CompiledException> exceptions)
    {
        // 1. Span exceptions: negation, idiom, informational and hypothetical questions, past events.
        var spanMatches = new List<(CompiledException Exception, int Start, int End)>();
        foreach (var exception in exceptions.Where(e => e.Scope == ExceptionScope.Span))
        {
            try
            {
                var found = new List<(CompiledException, int, int)>();
                foreach (var m in exception.Matcher.EnumerateMatches(text))
                {
                    found.Add((exception, m.Index, m.Index + m.Length));
                }

                spanMatches.AddRange(found);
            }
            catch (RegexMatchTimeoutException)
            {
                ExceptionTimedOut(_log, exception.Id);
            }
        }

        for (var i = candidates.Count - 1; i >= 0; i--)
        {
            var c = candidates[i];
            var suppressed = false;
            foreach (var (exception, start, end) in spanMatches)
            {
                if (!exception.Affects(c.Rule.Id) || start >= c.End || end <= c.Start)
                {
                    continue;
                }

                if (exception.Effect == ExceptionEffect.Suppress)
                {
                    suppressed = true;
                    break;
                }

                c.Downgrade(exception.Id);
            }

            if (suppressed)
            {
                candidates.RemoveAt(i);
            }
        }

        // 2. Message exceptions: downgrades first, then suppressions, which only ever remove urgent reasons.
        foreach (var effect in (ReadOnlySpan<ExceptionEffect>)[ExceptionEffect.Downgrade, ExceptionEffect.Suppress])
        {
            foreach (var exception in exceptions)
            {
                if (exception.Scope != ExceptionScope.Message || exception.Effect != effect ||
                    !candidates.Any(c => Eligible(exception, c)) || !SafeIsMatch(exception, text))
                {
                    continue;
                }

                if (effect == ExceptionEffect.Downgrade)
                {
                    foreach (var c in candidates.Where(c => Eligible(exception, c)))
                    {
                        c.Downgrade(exception.Id);
                    }
                }
                else
                {
                    candidates.RemoveAll(c => Eligible(exception, c) && c.Level == SafetyLevel.Urgent);
                }
            }
        }

        // 3. A generic rule yields to a more specific one that fired too (medical-emergency → post-treatment-medical).
        var fired = candidates.Select(c => c.Rule.Id).ToHashSet(StringComparer.Ordinal);
        candidates.RemoveAll(c => c.Rule.YieldsTo.Any(fired.Contains));
    }

    private bool SafeIsMatch(CompiledException exception, string text)
    {
        try
        {
            return exception.Matcher.IsMatch(text);
        }
        catch (RegexMatchTimeoutException)
        {
            ExceptionTimedOut(_log, exception.Id);
            return false;
        }
    }

    private static bool Eligible(CompiledException exception, Candidate c) =>
        exception.Affects(c.Rule.Id) &&
        (exception.OnlyDowngradedBy is null || c.DowngradedBy?.Any(exception.OnlyDowngradedBy.Contains) == true);

    private static SafetyAssessment Assemble(NormalisedText norm, List<Candidate> candidates)
    {
        var reasons = new List<SafetyReason>(candidates.Count);
        foreach (var c in candidates
                     .OrderByDescending(c => c.Level)
                     .ThenBy(c => c.Start)
                     .ThenByDescending(c => c.End - c.Start))
        {
            // One reason per rule and overlapping span: several patterns of a rule often match the same words.
            if (reasons.Count > 0 && candidates.Count > 1 && IsDuplicate(reasons, norm, c))
            {
                continue;
            }

            var (start, length) = norm.ToOriginal(c.Start, Math.Max(1, c.End - c.Start));
            reasons.Add(new SafetyReason(c.Rule.Id, c.Level, start, length));
        }

        return new SafetyAssessment(reasons.Max(r => r.Level), reasons);
    }

    private static bool IsDuplicate(List<SafetyReason> reasons, NormalisedText norm, Candidate c)
    {
        var (start, length) = norm.ToOriginal(c.Start, Math.Max(1, c.End - c.Start));
        return reasons.Any(r => r.RuleId == c.Rule.Id && r.Start < start + length && start < r.Start + r.Length);
    }

    private sealed class Candidate(CompiledRule rule, SafetyLevel level, int start, int length)
    {
        public CompiledRule Rule { get; } = rule;
        public SafetyLevel Level { get; private set; } = level;
        public int Start { get; } = start;
        public int End { get; } = start + length;
        public List<string>? DowngradedBy { get; private set; }

        public void Downgrade(string exceptionId)
        {
            if (Level > SafetyLevel.Urgent)
            {
                Level = SafetyLevel.Urgent;
            }

            (DowngradedBy ??= []).Add(exceptionId);
        }
    }

    [LoggerMessage(3020, LogLevel.Debug,
        "Classified message as {Level} with {ReasonCount} reasons ({RuleIds}) in {ElapsedMicroseconds} µs")]
    private static partial void Classified(ILogger logger, SafetyLevel level, int reasonCount, string ruleIds,
        long elapsedMicroseconds);

    [LoggerMessage(3021, LogLevel.Warning, "Safety rule {RuleId} timed out on a message; classified urgent")]
    private static partial void RuleTimedOut(ILogger logger, string ruleId);

    [LoggerMessage(3023, LogLevel.Warning, "Safety exception {ExceptionId} timed out on a message; not applied")]
    private static partial void ExceptionTimedOut(ILogger logger, string exceptionId);

    [LoggerMessage(3022, LogLevel.Error, "Safety classifier failed ({ExceptionType}); classified urgent")]
    private static partial void ClassifierFailed(ILogger logger, string exceptionType);
}
