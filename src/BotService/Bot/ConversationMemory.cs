using System.Collections.Concurrent;

namespace BotService.Bot;

/// <summary>
/// A bounded, expiring value per conversation, in memory only: what the bot keeps between a conversation's messages
/// (its topic for follow-ups, its recent messages for the safety check). Keyed by channel and conversation id. A value
/// not used for <paramref name="idleTimeout"/> is gone; when <paramref name="capacity"/> conversations are held, the
/// expired ones and then the least recently used tenth make room. Thread-safe; two messages of one conversation at
/// once keep whichever was set last.
/// </summary>
internal sealed class ConversationMemory<T>(Func<int> capacity, Func<TimeSpan> idleTimeout, TimeProvider time) where T : class
{
    private sealed record Slot(T Value, DateTimeOffset LastUsed);

    private readonly ConcurrentDictionary<(string Channel, string Conversation), Slot> _slots = new();

    // The slots, counted as they are added and removed: ConcurrentDictionary.Count takes every one of the table's locks
    // (up to 1,024 as it grows), and Set asked it for every new conversation. Kept exact by counting only the adds and
    // removes that happened; a bound, not an invariant, so a moment's lag between the two is harmless.
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>The conversation's value, or null if it has none or it expired.</summary>
    public T? Get(string channel, string conversationId) =>
        _slots.TryGetValue((channel, conversationId), out var slot) && !Expired(slot) ? slot.Value : null;

    /// <summary>Keeps <paramref name="value"/> for the conversation (null forgets it), used as of now.</summary>
    public void Set(string channel, string conversationId, T? value)
    {
        var key = (channel, conversationId);
        if (value is null)
        {
            Remove(key);
            return;
        }

        var next = new Slot(value, time.GetUtcNow());
        if (!_slots.ContainsKey(key) && Count >= capacity())
        {
            MakeRoom();
        }

        while (true)
        {
            if (_slots.TryAdd(key, next))
            {
                Interlocked.Increment(ref _count);
                return;
            }

            if (_slots.TryGetValue(key, out var current) && _slots.TryUpdate(key, next, current))
            {
                return;
            }
        }
    }

    private void Remove((string, string) key)
    {
        if (_slots.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private bool Expired(Slot slot) => time.GetUtcNow() - slot.LastUsed > idleTimeout();

    /// <summary>Drops the expired slots, then, if still full, the least recently used tenth.</summary>
    private void MakeRoom()
    {
        foreach (var (key, slot) in _slots)
        {
            if (Expired(slot))
            {
                Remove(key);
            }
        }

        var excess = Count - (capacity() * 9 / 10);
        if (excess > 0)
        {
            foreach (var (key, _) in _slots.OrderBy(e => e.Value.LastUsed).Take(excess).ToArray())
            {
                Remove(key);
            }
        }
    }
}
