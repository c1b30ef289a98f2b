using BotService.DirectLine;

namespace BotService.IntegrationTests.DirectLine;

/// <summary>
/// The official <c>botframework-directlinejs</c> client (tests/node, installed by tests/run.sh with <c>npm ci</c>)
/// against the real service: each test here runs one test of <c>tests/node/directline.test.mjs</c> in Node, so each
/// counts (and fails) on its own in the run's totals.
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class DirectLineClientTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    [Fact]
    public Task DirectLineJs_WebSocket_StartPostReceive() => RunNodeAsync("websocket start post receive");

    [Fact]
    public Task DirectLineJs_MessagePostedTheInstantTheConversationStarts_ArrivesInWatermarkOrder() =>
        RunNodeAsync("a message posted the instant the conversation starts arrives in watermark order, 300 times");

    [Fact]
    public Task DirectLineJs_Polling_StartPostReceive() => RunNodeAsync("polling start post receive");

    [Fact]
    public Task DirectLineJs_SocketDropped_ReconnectsAndResumesAfterWatermark() => RunNodeAsync("websocket reconnect after drop resumes after the watermark");

    [Fact]
    public Task DirectLineJs_RefreshToken_SameUserAndConversation() => RunNodeAsync("token refresh gives a new token for the same user and conversation");

    [Fact]
    public Task DirectLineJs_TokenExpires_ExpiredTokenStatus() => RunNodeAsync("expired token gives ExpiredToken",
        ("DL_SHORT_TOKEN", service.Mint(DirectLineChannel.NewUserId(), DirectLineChannel.NewConversationId(), TimeSpan.FromSeconds(4)).Token));

    [Fact]
    public Task DirectLineJs_Emergency_CrisisReplyFirst() => RunNodeAsync("emergency gets the crisis reply first");

    [Fact]
    public Task DirectLineJs_Reload_ResumesHistoryWithSameIds() => RunNodeAsync("reload resumes the history with the same ids");

    private Task RunNodeAsync(string testName, params (string Name, string Value)[] env) =>
        NodeTest.RunAsync("directline.test.mjs", testName, [("DL_BASE", service.Http.BaseAddress!.ToString().TrimEnd('/')), .. env]);
}
