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

    /// <summary>Literals at least one of which every match contains (see <see cref="LiteralPrefilter"/>), checked first.</summary>
    public LiteralPrefilter Literals { get; init; } = LiteralPrefilter.Always;

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
/// <remarks>
/// <para>
/// Memory: a non-backtracking <see cref="Regex"/> keeps, for as long as it lives, the BDD character-set solver it
/// was built with, memo tables included (the solver's operation cache alone is 0.7–1.5 MB for a rule of a few hundred
/// characters, however few states the automaton ever explores), plus its node cache and the states warm-up
/// explores. Measured on .NET 10.0.12: 0.4 MB for <c>\bcat\b</c>, 1.3 MB for an alternation of 21 words, 2–5 MB
/// for one of this file's rules; the 56 automata of the first rules file held ~150 MB, about a third of the
/// service's RSS. So <see cref="Build"/> counts what building and warming a gate allocates on the loading thread and
/// leaves the patterns ungated when that passes <c>budgetBytes</c>: slower, never wrong (decision 0021).
/// </para>
/// </remarks>
internal sealed class RegexGate
{
    /// <summary>Default allocation budget per gate (building plus warm-up); see the remarks and decision 0021.</summary>
    public const long DefaultBudgetBytes = 1L << 20;

    public static RegexGate Always { get; } = new(null, 0);

    private readonly Regex[]? _gates;

    private RegexGate(Regex[]? gates, long allocatedBytes)
    {
        _gates = gates;
        AllocatedBytes = allocatedBytes;
    }

    public bool IsGated => _gates is not null;

    public int AutomatonCount => _gates?.Length ?? 0;

    /// <summary>Bytes building and warming this gate allocated (0 when ungated): an upper bound of what it keeps.</summary>
    public long AllocatedBytes { get; }

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

    /// <summary>
    /// Builds the gate and warms it with <paramref name="warmUp"/> (so the first real messages are not slow), or
    /// returns <see cref="Always"/> when the patterns cannot be gated or building and warming allocated more than
    /// <paramref name="budgetBytes"/>.
    /// </summary>
    public static RegexGate Build(IReadOnlyList<string> patterns, RegexOptions options, IReadOnlyCollection<string> warmUp,
        long budgetBytes = DefaultBudgetBytes)
    {
        if (patterns.Count == 0)
        {
            return Always;
        }

        var started = GC.GetAllocatedBytesForCurrentThread();
        var gates = new List<Regex>();
        var built = TryBuild(patterns.Select(SafetyRulesLoader.StripLookarounds).ToList(), options, warmUp, gates,
            () => GC.GetAllocatedBytesForCurrentThread() - started <= budgetBytes);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - started;
        return built && allocated <= budgetBytes ? new RegexGate([.. gates], allocated) : Always;
    }

    private static bool TryBuild(List<string> stripped, RegexOptions options, IReadOnlyCollection<string> warmUp,
        List<Regex> gates, Func<bool> withinBudget)
    {
        Regex gate;
        try
        {
            var alternation = string.Join("|", stripped.Select(p => "(?:" + p + ")"));
            // Linear time by construction, so no match timeout: a timeout could only fire when the lazily built
            // automaton is cold and the machine is busy, and would then wrongly flag or skip a message.
            gate = new Regex(alternation, options | RegexOptions.NonBacktracking, Regex.InfiniteMatchTimeout);
        }
        catch (NotSupportedException) when (stripped.Count > 1)
        {
            var half = stripped.Count / 2;
            return TryBuild(stripped[..half], options, warmUp, gates, withinBudget) &&
                   TryBuild(stripped[half..], options, warmUp, gates, withinBudget);
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            return false;
        }

        // The automaton's states are built lazily: warm it now, and stop as soon as the gate is over its budget.
        foreach (var sample in warmUp)
        {
            if (!withinBudget())
            {
                return false;
            }

            gate.IsMatch(sample);
        }

        gates.Add(gate);
        return withinBudget();
    }
}
