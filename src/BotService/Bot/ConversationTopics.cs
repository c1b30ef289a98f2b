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
    private readonly ConversationMemory<Entry> _entries = new(() => options.Value.Capacity, () => options.Value.IdleTimeout, time);

    private sealed record Entry(ConversationTopic? Topic, int TurnsLeft, IReadOnlyList<Suggestion> Offered);

    public int Count => _entries.Count;

    /// <summary>The conversation's topic, if still fresh, and the offered reading <paramref name="text"/> is, if it is one.</summary>
    public (ConversationTopic? Topic, Suggestion? Chosen) Read(string channel, string conversationId, string text)
    {
        if (_entries.Get(channel, conversationId) is not { } entry)
        {
            return (null, null);
        }

        var chosen = entry.Offered.FirstOrDefault(s => string.Equals(s.Question, text.Trim(), StringComparison.OrdinalIgnoreCase));
        return (entry.TurnsLeft > 0 ? entry.Topic : null, chosen);
    }

    /// <summary>What the answer leaves for the conversation's next message.</summary>
    public void Record(string channel, string conversationId, Answer answer)
    {
        var max = options.Value.MaxTurns;
        var previous = _entries.Get(channel, conversationId);

        // A self-sufficient question sets the topic (none if the articles don't cover it); so does any answer when
        // there is no topic yet ("price": its section). A follow-up or a message with no subject keeps it, one turn less.
        Entry next = answer.ChangesTopic || previous?.Topic is null
            ? new Entry(answer.Topic, max, answer.DidYouMean)
            : new Entry(previous.Topic, previous.TurnsLeft - 1, answer.DidYouMean);
        _entries.Set(channel, conversationId, next.Topic is null && next.Offered.Count == 0 ? null : next);
    }
}
