using BotService.Bot;
using BotService.Knowledge.Answers;
using Microsoft.Extensions.Options;

namespace BotService.IntegrationTests.FollowUps;

/// <summary>
/// The per-conversation topics (decision 0019) on their own: the count kept beside the dictionary (so that a new
/// conversation does not take every lock of it) stays exact under concurrent adds, replacements and removals, and the
/// capacity bound drops the least recently used conversations.
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)]
public sealed class ConversationTopicsTests
{
    private static readonly Answer WithTopic = new(true, "$275 per infusion.", 0.9, [], [], PersonalAdvice: false)
    {
        Topic = new ConversationTopic("infusion price", "pricing/infusions.md", "Cost"),
        ChangesTopic = true,
    };

    private static readonly Answer Declined = new(false, "The articles don't cover that.", 0.1, [], [], PersonalAdvice: false)
    {
        ChangesTopic = true, // a new subject the articles don't cover: the conversation has no topic any more
    };

    [Fact]
    public async Task Count_ConcurrentAddsReplacementsAndRemovals_EqualsTheConversationsThatHaveATopic()
    {
        // Arrange
        var topics = new ConversationTopics(Options.Create(new FollowUpOptions()), new SteppingClock());

        // Act: 4 threads, 400 conversations, each recorded three times; then (all at once) every third one declined
        using var phase = new Barrier(4);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Factory.StartNew(() =>
        {
            for (var round = 0; round < 3; round++)
            {
                for (var i = 0; i < 400; i++)
                {
                    topics.Record("directline", "c" + i, WithTopic);
                }
            }

            phase.SignalAndWait();
            for (var i = t; i < 400; i += 4)
            {
                if (i % 3 == 0)
                {
                    topics.Record("directline", "c" + i, Declined);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));

        // Assert
        var expected = Enumerable.Range(0, 400).Count(i => i % 3 != 0);
        Assert.Equal(expected, topics.Count);
        Assert.Equal(expected, Enumerable.Range(0, 400).Count(i => topics.Read("directline", "c" + i, "and the cost?").Topic is not null));
    }

    [Fact]
    public void Record_OverCapacity_DropsTheLeastRecentlyUsedAndStaysWithinTheBound()
    {
        // Arrange
        var topics = new ConversationTopics(Options.Create(new FollowUpOptions { Capacity = 100 }), new SteppingClock());

        // Act
        for (var i = 0; i < 250; i++)
        {
            topics.Record("directline", "c" + i, WithTopic);
        }

        // Assert
        Assert.InRange(topics.Count, 90, 100);
        Assert.NotNull(topics.Read("directline", "c249", "and the cost?").Topic);
        Assert.Null(topics.Read("directline", "c0", "and the cost?").Topic);
    }

    /// <summary>A clock one millisecond later at every reading: "least recently used" is well defined.</summary>
    private sealed class SteppingClock : TimeProvider
    {
        private long _ticks = new DateTimeOffset(2026, 11, 24, 5, 0, 0, TimeSpan.Zero).UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Add(ref _ticks, TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
    }
}
