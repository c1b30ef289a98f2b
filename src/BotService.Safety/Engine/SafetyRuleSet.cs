using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace BotService.Safety;

/// <summary>An immutable, compiled rule set: safe to share between threads and swap atomically on reload.</summary>
internal sealed class SafetyRuleSet
{
    public required string Path { get; init; }
    public required string Fingerprint { get; init; }
    public required DateTimeOffset LoadedAt { get; init; }
    public required TextNormaliser Normaliser { get; init; }
    public required IReadOnlyList<CompiledRule> Rules { get; init; }
    public required IReadOnlyList<CompiledException> Exceptions { get; init; }

    /// <summary>Literals at least one of which every rule match contains: most messages fail it and are done at once.</summary>
    public LiteralPrefilter AnyRule { get; init; } = LiteralPrefilter.Always;

    /// <summary>Messages these rules matched nothing in; new and empty for every loaded rule set.</summary>
    public NoMatchCache NoMatch { get; } = new();
}

internal sealed class CompiledRule
{
    public required string Id { get; init; }
    public required SafetyLevel Level { get; init; }
    public required int Line { get; init; }

    /// <summary>All phrases and patterns of the rule as one alternation; null when the rule only has quantities.</summary>
    public Regex? Matcher { get; init; }

    /// <summary>Vectorised literal pre-filter (see <see cref="LiteralPrefilter"/>), checked first.</summary>
    public LiteralPrefilter Literals { get; init; } = LiteralPrefilter.Always;

    /// <summary>Linear-time pre-filter (see <see cref="RegexGate"/>); the rule is skipped when it does not pass.</summary>
    public required RegexGate Gate { get; init; }

    /// <summary>Context that must also occur somewhere in the message (e.g. a treatment word); null = none needed.</summary>
    public Regex? Requires { get; init; }

    public IReadOnlyList<QuantityCheck> Quantities { get; init; } = [];
    public WearsOffWindow? WearsOff { get; init; }

    /// <summary>Rule ids that, when they also fired, make this rule's reasons redundant.</summary>
    public FrozenSet<string> YieldsTo { get; init; } = FrozenSet<string>.Empty;
}

internal enum QuantityKind
{
    /// <summary>Group <c>n</c> is a count (pills, bottles); fires when n &gt;= AtLeast.</summary>
    Count,

    /// <summary>Groups <c>n</c>, <c>unit</c>, <c>drug</c>; fires when the amount in mg &gt;= the drug's threshold.</summary>
    Dose,

    /// <summary>Groups <c>sys</c> and <c>dia</c>; fires when either reading reaches its threshold.</summary>
    BloodPressure,
}

internal sealed class QuantityCheck
{
    public required QuantityKind Kind { get; init; }
    public required Regex Pattern { get; init; }
    public required int Line { get; init; }
    public double AtLeast { get; init; }
    public double DefaultDoseMg { get; init; }
    public FrozenDictionary<string, double> DosesMg { get; init; } = FrozenDictionary<string, double>.Empty;
    public double SystolicAtLeast { get; init; }
    public double DiastolicAtLeast { get; init; }
}

/// <summary>
/// Expected, short-lived effects (dissociation, nausea, dizziness right after a session). The rule's reasons are
/// dropped only when the message states an elapsed time since treatment that is shorter than <see cref="Window"/>
/// and none of the <see cref="Unless"/> words (still, worse, scared, …) occur.
/// </summary>
internal sealed class WearsOffWindow
{
    public required TimeSpan Window { get; init; }
    public Regex? Unless { get; init; }
}

internal enum ExceptionKind { Negation, Idiom, Informational, Hypothetical, Past, Resolved, Quoted, Accident }

internal enum ExceptionEffect
{
    /// <summary>Drop the matched reason.</summary>
    Suppress,

    /// <summary>Keep the reason but cap it at urgent.</summary>
    Downgrade,
}

internal enum ExceptionScope
{
    /// <summary>Affects rule matches that overlap the exception's own match.</summary>
    Span,

    /// <summary>Affects matches anywhere in the message; may only suppress reasons that are already urgent.</summary>
    Message,
}

internal sealed class CompiledException
{
    public required string Id { get; init; }
    public required ExceptionKind Kind { get; init; }
    public required ExceptionEffect Effect { get; init; }
    public required ExceptionScope Scope { get; init; }
    public required Regex Matcher { get; init; }
    public required RegexGate Gate { get; init; }
    public required int Line { get; init; }

    /// <summary>Rule ids affected; null = every rule (span scope only).</summary>
    public FrozenSet<string>? AppliesTo { get; init; }

    /// <summary>When set, only reasons already downgraded by one of these exception ids are affected.</summary>
    public FrozenSet<string>? OnlyDowngradedBy { get; init; }

    public bool Affects(string ruleId) => AppliesTo is null || AppliesTo.Contains(ruleId);
}

/// <summary>
/// A pre-filter for a set of backtracking patterns: the same patterns with every look-around removed, run with
/// RegexOptions.NonBacktracking (linear time, about 1 µs per message). Removing look-arounds can only widen what a
/// pattern matches, so when no gate matches the original patterns cannot match either. Patterns too large for the
/// non-backtracking engine are split into smaller gates; a single pattern that is still too large leaves the set
/// ungated (always run), which is slower but never wrong.
/// </summary>
internal sealed class RegexGate
{
    public static RegexGate Always { get; } = new(null);

    private readonly Regex[]? _gates;

    private RegexGate(Regex[]? gates) => _gates = gates;

    public bool IsGated => _gates is not null;

    public int AutomatonCount => _gates?.Length ?? 0;

    /// <summary>Builds the lazily constructed automata now, so the first real messages are not slow.</summary>
    public void Warm(IEnumerable<string> samples)
    {
        foreach (var sample in samples)
        {
            foreach (var gate in _gates ?? [])
            {
                gate.IsMatch(sample);
            }
        }
    }

    public bool Passes(string text)
    {
        if (_gates is null)
        {
            return true;
        }

        foreach (var gate in _gates)
        {
            if (gate.IsMatch(text))
            {
                return true;
            }
        }

        return false;
    }

    public static RegexGate Build(IReadOnlyList<string> patterns, RegexOptions options)
    {
        var gates = new List<Regex>();
        return patterns.Count > 0 && TryBuild(patterns.Select(SafetyRulesLoader.StripLookarounds).ToList(), options, gates)
            ? new RegexGate([.. gates])
            : Always;
    }

    private static bool TryBuild(List<string> stripped, RegexOptions options, List<Regex> gates)
    {
        try
        {
            var alternation = string.Join("|", stripped.Select(p => "(?:" + p + ")"));
            // Linear time by construction, so no match timeout: a timeout could only fire when the lazily built
            // automaton is cold and the machine is busy, and would then wrongly flag or skip a message.
            gates.Add(new Regex(alternation, options | RegexOptions.NonBacktracking, Regex.InfiniteMatchTimeout));
            return true;
        }
        catch (NotSupportedException) when (stripped.Count > 1)
        {
            var half = stripped.Count / 2;
            return TryBuild(stripped[..half], options, gates) && TryBuild(stripped[half..], options, gates);
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            return false;
        }
    }
}
