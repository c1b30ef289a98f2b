using BotService.Feedback;
using BotService.Knowledge.Answers;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// The answer log lets records gather for 2 s before one commit, but no more than <see cref="AnswerLog.EarlyBatch"/>:
/// on SQLite its commit holds the one write lock the transcript's writer needs, and a big batch held it for tens of ms
/// while Direct Line messages waited (the load run's p99). On a clock whose timers never fire, only the batch size can
/// end the linger.
/// </summary>
public sealed class AnswerLogBatchTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "answers-batch-" + Guid.NewGuid().ToString("n"));
    private Database _database = null!;
    private BotService.Storage.Transcripts.TranscriptStore _transcript = null!;
    private AnswerLog _log = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _database = TestStorage.Database(_root);
        _database.EnsureReady();
        _transcript = new BotService.Storage.Transcripts.TranscriptStore(_database, new BotService.Storage.Transcripts.TranscriptOptions(),
            TimeProvider.System, NullLogger<BotService.Storage.Transcripts.TranscriptStore>.Instance); // the answers' rows go in its commits
        await _transcript.StartAsync(CancellationToken.None);
        _log = new AnswerLog(_database, _transcript, new FrozenTime(), NullLogger<AnswerLog>.Instance);
        await _log.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        _log.Dispose(); // not StopAsync: that writes what is left, and the test reads what was written before it
        await _transcript.StopAsync(CancellationToken.None);
        _transcript.Dispose();
        TestStorage.ClearPools();
        TestStorage.DropUnder(_root);
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task FewerThanEarlyBatch_WaitForTheLinger_ThenEarlyBatchOfThem_WrittenWithoutIt()
    {
        // Arrange: one record short of a batch.
        var conversation = "batch-" + Guid.NewGuid().ToString("n");
        for (var i = 0; i < AnswerLog.EarlyBatch - 1; i++)
        {
            await AnswerAsync(conversation, i);
        }

        await Task.Delay(300); // the writer would have written them by now if anything but the (frozen) linger let it
        var before = await CountAsync(conversation);

        // Act: the record that makes the batch.
        await AnswerAsync(conversation, AnswerLog.EarlyBatch - 1);

        // Assert
        Assert.Equal(0, before);
        await Auth.TeamsKit.WaitUntilAsync(async _ => await CountAsync(conversation) == AnswerLog.EarlyBatch, TimeSpan.FromSeconds(30),
            "the batch's records, with the linger's timer frozen");
    }

    private async Task AnswerAsync(string conversation, int n)
    {
        var question = new Activity
        {
            Type = ActivityTypes.Message, Id = $"q-{n}", ChannelId = "directline", Text = "how much is an infusion",
            Conversation = new ConversationAccount { Id = conversation },
        };
        var turn = new TurnContext(question, (activities, _) => Task.FromResult<IReadOnlyList<string?>>([.. activities.Select(_ => (string?)$"r-{n}")]));
        var answer = new Answer(true, "$275 per infusion.", 0.9, [], [], PersonalAdvice: false);
        await _log.SendAsync(turn, answer, new Activity { Type = ActivityTypes.Message, Text = answer.Text }, CancellationToken.None);
    }

    private async Task<int> CountAsync(string conversation)
    {
        await using var db = _database.Open();
        return await db.Answers.CountAsync(a => a.ConversationId == conversation);
    }

    /// <summary>A clock whose timers never fire: the writer's 2 s linger never ends by itself.</summary>
    private sealed class FrozenTime : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Never();

        private sealed class Never : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
