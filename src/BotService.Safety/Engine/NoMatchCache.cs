using System.Collections.Concurrent;

namespace BotService.Safety;

/// <summary>
/// Messages one rule set has already classified as matching no rule at all. Ordinary questions repeat ("how much is
/// an infusion"), and for a message no rule matched the verdict is a pure function of the exact text and the rule set:
/// no clock (elapsed-time windows are only read once a rule has matched), no regex time-out (a time-out counts as a
/// match). So the classifier can skip normalising and scanning such a message the next time. It still sees every
/// message: anything that is not in this set (every message that matched a rule, urgent, emergency or softened by an
/// exception) is classified in full every time, so no escalation ever depends on it.
/// </summary>
/// <remarks>
/// Owned by its <see cref="SafetyRuleSet"/>: a rules reload builds a new set with an empty cache, so a message that the
/// old rules let through is classified again under the new ones. Bounded by entry count and by message length, reset
/// when full (see <c>AnswerCache</c> in BotService.Knowledge, which is built the same way); lock-free reads. The text
/// is held in memory only, never logged or written anywhere.
/// </remarks>
internal sealed class NoMatchCache
{
    public const int DefaultCapacity = 1024;

    /// <summary>Messages longer than this are classified every time and not kept.</summary>
    public const int MaxMessageLength = 300;

    private Generation _current = new();

    public NoMatchCache(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int Count => Volatile.Read(ref _current).Texts.Count;

    public bool Contains(string text) =>
        text.Length <= MaxMessageLength && Volatile.Read(ref _current).Texts.ContainsKey(text);

    public void Add(string text)
    {
        if (Capacity == 0 || text.Length > MaxMessageLength)
        {
            return;
        }

        // Each entry reserves a slot first, so the count can never pass the capacity, however many threads add.
        var generation = Volatile.Read(ref _current);
        if (Interlocked.Increment(ref generation.Reserved) > Capacity)
        {
            Interlocked.CompareExchange(ref _current, new Generation(), generation);
            generation = Volatile.Read(ref _current);
            if (Interlocked.Increment(ref generation.Reserved) > Capacity)
            {
                return;
            }
        }

        generation.Texts.TryAdd(text, 0);
    }

    private sealed class Generation
    {
        public readonly ConcurrentDictionary<string, byte> Texts = new(StringComparer.Ordinal);
        public int Reserved;
    }
}
