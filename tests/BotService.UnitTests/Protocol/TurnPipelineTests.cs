using BotService.Protocol.Schema;
using BotService.Protocol.Turns;

namespace BotService.UnitTests.Protocol;

public sealed class TurnPipelineTests
{
    private static readonly Activity Incoming = new()
    {
        Type = ActivityTypes.Message,
        Id = "m1",
        ChannelId = "directline",
        ServiceUrl = "http://127.0.0.1:3978/",
        Conversation = new ConversationAccount { Id = "c1" },
        From = new ChannelAccount { Id = "u1", Role = "user" },
        Recipient = new ChannelAccount { Id = "bot", Role = "bot" },
        Locale = "en-US",
        Text = "hello",
    };

    private sealed class Recorder(List<string> log, string name, bool callNext = true) : IMiddleware
    {
        public async Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
        {
            log.Add($"{name} before");
            if (callNext)
            {
                await next(cancellationToken);
            }

            log.Add($"{name} after");
        }
    }

    private sealed class EchoBot : ActivityHandler
    {
        public List<string> Seen { get; } = [];

        protected override Task OnMessageActivityAsync(ITurnContext turnContext, CancellationToken cancellationToken)
        {
            Seen.Add("message");
            return turnContext.SendActivityAsync("echo: " + turnContext.Activity.Text, cancellationToken);
        }

        protected override Task OnMembersAddedAsync(IReadOnlyList<ChannelAccount> membersAdded, ITurnContext turnContext, CancellationToken cancellationToken)
        {
            Seen.Add("added " + string.Join(',', membersAdded.Select(m => m.Id)));
            return Task.CompletedTask;
        }
    }

    private static (TurnContext Context, List<Activity> Sent) Turn(Activity activity)
    {
        var sent = new List<Activity>();
        var context = new TurnContext(activity, (activities, _) =>
        {
            sent.AddRange(activities);
            return Task.FromResult<IReadOnlyList<string?>>(activities.Select((_, i) => (string?)$"r{sent.Count + i}").ToArray());
        });
        return (context, sent);
    }

    [Fact]
    public async Task Middleware_RunsInOrderAroundTheBot()
    {
        // Arrange
        var log = new List<string>();
        var set = new MiddlewareSet([new Recorder(log, "a"), new Recorder(log, "b")]);
        var (context, _) = Turn(Incoming);

        // Act
        await set.RunAsync(context, (_, _) => { log.Add("bot"); return Task.CompletedTask; }, CancellationToken.None);

        // Assert
        Assert.Equal(["a before", "b before", "bot", "b after", "a after"], log);
    }

    [Fact]
    public async Task Middleware_NotCallingNext_EndsTheTurnBeforeTheBot()
    {
        var log = new List<string>();
        var set = new MiddlewareSet([new Recorder(log, "gate", callNext: false), new Recorder(log, "later")]);
        var (context, _) = Turn(Incoming);

        await set.RunAsync(context, (_, _) => { log.Add("bot"); return Task.CompletedTask; }, CancellationToken.None);

        Assert.Equal(["gate before", "gate after"], log);
    }

    [Fact]
    public async Task Handler_Message_RepliesAddressedFromTheIncomingActivity()
    {
        // Arrange
        var bot = new EchoBot();
        var (context, sent) = Turn(Incoming);

        // Act
        await bot.OnTurnAsync(context, CancellationToken.None);

        // Assert
        var reply = Assert.Single(sent);
        Assert.Equal("echo: hello", reply.Text);
        Assert.Equal("c1", reply.Conversation?.Id);
        Assert.Equal("bot", reply.From?.Id);
        Assert.Equal("u1", reply.Recipient?.Id);
        Assert.Equal("m1", reply.ReplyToId);
        Assert.Equal("directline", reply.ChannelId);
        Assert.Equal("en-US", reply.Locale);
        Assert.True(context.Responded);
    }

    [Fact]
    public async Task Handler_ConversationUpdate_ReportsMembersOtherThanTheBot()
    {
        var bot = new EchoBot();
        var (context, sent) = Turn(Incoming with
        {
            Type = ActivityTypes.ConversationUpdate,
            MembersAdded = [new ChannelAccount { Id = "bot" }, new ChannelAccount { Id = "u1" }],
        });

        await bot.OnTurnAsync(context, CancellationToken.None);

        Assert.Equal(["added u1"], bot.Seen);
        Assert.Empty(sent);
    }

    [Fact]
    public async Task Handler_UnknownType_IsIgnored()
    {
        var bot = new EchoBot();
        var (context, sent) = Turn(Incoming with { Type = "somethingNew" });

        await bot.OnTurnAsync(context, CancellationToken.None);

        Assert.Empty(bot.Seen);
        Assert.Empty(sent);
        Assert.False(context.Responded);
    }

    [Fact]
    public async Task ShowTyping_FastTurn_SendsNone_SlowTurn_SendsOneAfterTheDelayAndOnePerPeriod_NoneAfterTheTurn()
    {
        // Arrange: 500 ms before the first indicator, then one every 2 s, on a clock the test moves.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var typing = new ShowTypingMiddleware(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), time);
        var (fast, fastSent) = Turn(Incoming);
        var (slow, slowSent) = Turn(Incoming);
        var release = new TaskCompletionSource();

        // Act: on a pool thread, where no synchronization context holds continuations back, so each Advance runs the
        // middleware to its next wait before it returns. (Under xUnit's context the continuations were queued, and on a
        // busy machine the counts were read before they ran: (0, 0, 0) in one full run.)
        var (beforeDelay, afterDelay, afterPeriod) = await Task.Run(async () =>
        {
            await typing.OnTurnAsync(fast, _ => Task.CompletedTask, CancellationToken.None);
            var running = typing.OnTurnAsync(slow, _ => release.Task, CancellationToken.None);
            time.Advance(TimeSpan.FromMilliseconds(499));
            var before = slowSent.Count;
            time.Advance(TimeSpan.FromMilliseconds(1));
            var after = slowSent.Count;
            time.Advance(TimeSpan.FromSeconds(2));
            var period = slowSent.Count;
            release.SetResult();
            await running;
            time.Advance(TimeSpan.FromSeconds(10));
            return (before, after, period);
        });

        // Assert
        Assert.Empty(fastSent);
        Assert.Equal((0, 1, 2), (beforeDelay, afterDelay, afterPeriod));
        Assert.Equal(2, slowSent.Count);
        Assert.All(slowSent, a => Assert.Equal(ActivityTypes.Typing, a.Type));
    }
}
