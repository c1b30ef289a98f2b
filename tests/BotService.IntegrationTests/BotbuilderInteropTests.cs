namespace BotService.IntegrationTests;

/// <summary>
/// The official Bot Framework SDK for JavaScript (npm <c>botbuilder</c>) as the channel side: it builds the incoming
/// activities, and its own Connector service implementation receives and parses the bot's replies
/// (tests/node/interop.test.mjs).
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class BotbuilderInteropTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private (string, string) BotUrl => ("BOT_URL", service.Http.BaseAddress!.ToString().TrimEnd('/'));

    [Fact]
    public Task Botbuilder_ConnectorServiceReceivesTheCitedAnswerAsAReply() =>
        NodeTest.RunAsync("interop.test.mjs", "the SDK Connector service receives the cited answer as a reply to the message", BotUrl);

    [Fact]
    public Task Botbuilder_EmergencySendsOnlyTheCrisisCard() =>
        NodeTest.RunAsync("interop.test.mjs", "an emergency sends the crisis hero card first, and nothing else", BotUrl);

    [Fact]
    public Task Botbuilder_ExpectRepliesHasTheSdkShape() =>
        NodeTest.RunAsync("interop.test.mjs", "expectReplies returns the SDK ExpectedReplies shape, with unknown fields of the request ignored safely", BotUrl);
}
