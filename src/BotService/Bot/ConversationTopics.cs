using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using BotService.Knowledge;
using BotService.Knowledge.Answers;
using Microsoft.Extensions.Options;

namespace BotService.Bot;

/// <summary>How long a conversation's topic is kept for follow-up questions (configuration section <c>FollowUps</c>).</summary>
public sealed class FollowUpOptions
{
    public const string SectionName = "FollowUps";

    /// <summary>How many messages after the question that set it a topic is still used (follow-ups and other messages alike).</summary>
    [Range(1, 20)]
    public int MaxTurns { get; set; } = 3;

    /// <summary>A topic not used for this long is forgotten.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The most conversations whose topic is held at once (the oldest go first when full).</summary>
    [Range(1, 1_000_000)]
    public int Capacity { get; set; } = 10_000;
}

/// <summary>
/// Each conversation's recent topic and the "did you mean" readings it was last offered, in memory (decision 0019):
/// bounded, expiring after <see cref="FollowUpOptions.MaxTurns"/> messages or <see cref="FollowUpOptions.IdleTimeout"/>,
/// never logged or written anywhere. Keyed by channel and conversation id. Thread-safe; two messages of one
/// conversation at once keep whichever finished last.
/// </summary>
internal sealed class ConversationTopics(IOptions<FollowUpOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Channel, string Conversation), Entry> _entries = new();

    // The entries, counted as they are added and removed: ConcurrentDictionary.Count takes every one of the table's
    // locks (up to 1,024 as it grows), and Record asked it for every new conversation. Kept exact by counting only the
    // adds and removes that happened; a bound, not an invariant, so a moment's lag between the two is harmless.
    private int _count;

    private sealed record Entry(ConversationTopic? Topic, int TurnsLeft, IReadOnlyList<Suggestion> Offered, DateTimeOffset LastUsed);

    public int Count => Volatile.Read(ref _count);

    /// <summary>The conversation's topic, if still fresh, and the offered reading <paramref name="text"/> is, if it is one.</summary>
    public (ConversationTopic? Topic, Suggestion? Chosen) Read(string channel, string conversationId, string text)
    {
        if (!_entries.TryGetValue((channel, conversationId), out var entry) || Expired(entry))
        {
            return (null, null);
        }

        var chosen = entry.Offered.FirstOrDefault(s => string.Equals(s.Question, text.Trim(), StringComparison.OrdinalIgnoreCase));
        return (entry.TurnsLeft > 0 ? entry.Topic : null, chosen);
    }

    /// <summary>What the answer leaves for the conversation's next message.</summary>
    public void Record(string channel, string conversationId, Answer answer)
    {
        var key = (channel, conversationId);
        var now = time.GetUtcNow();
        var max = options.Value.MaxTurns;
        _entries.TryGetValue(key, out var previous);
        if (previous is not null && Expired(previous))
        {
            previous = null;
        }

        // A self-sufficient question sets the topic (none if the articles don't cover it); so does any answer when
        // there is no topic yet ("price": its section). A follow-up or a message with no subject keeps it, one turn less.
        Entry next = answer.ChangesTopic || previous?.Topic is null
            ? new Entry(answer.Topic, max, answer.DidYouMean, now)
            : new Entry(previous.Topic, previous.TurnsLeft - 1, answer.DidYouMean, now);
        if (next.Topic is null && next.Offered.Count == 0)
        {
            Remove(key);
            return;
        }

        if (!_entries.ContainsKey(key) && Count >= options.Value.Capacity)
        {
            MakeRoom();
        }

        while (true)
        {
            if (_entries.TryAdd(key, next))
            {
                Interlocked.Increment(ref _count);
                return;
            }

            if (_entries.TryGetValue(key, out var current) && _entries.TryUpdate(key, next, current))
            {
                return;
            }
        }
    }

    private void Remove((string, string) key)
    {
        if (_entries.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private bool Expired(Entry entry) => time.GetUtcNow() - entry.LastUsed > options.Value.IdleTimeout;

    /// <summary>Drops the expired entries, then, if still full, the least recently used tenth.</summary>
    private void MakeRoom()
    {
        foreach (var (key, entry) in _entries)
        {
            if (Expired(entry))
            {
                Remove(key);
            }
        }

        var excess = Count - (options.Value.Capacity * 9 / 10);
        if (excess > 0)
        {
            foreach (var (key, _) in _entries.OrderBy(e => e.Value.LastUsed).Take(excess).ToArray())
            {
                Remove(key);
            }
        }
    }
}
