using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Auth;

/// <summary>
/// POST /api/messages with an app id configured: every bad token is refused with 401 before any part of the turn
/// runs (the counter is the first middleware); good channel and Emulator tokens are served, and replies reach the
/// Connector with the bot's own token.
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class AuthenticationTests(AuthenticatedService service) : IClassFixture<AuthenticatedService>
{
    /// <summary>An emergency, so a request that slipped through would also leave an escalation behind.</summary>
    private object Activity(string id, string channelId = "webchat", string? serviceUrl = null, string deliveryMode = "normal",
        string text = "I took all my pills and want to die") => new
    {
        type = "message",
        id,
        channelId,
        serviceUrl = serviceUrl ?? service.Issuer.ServiceUrl,
        deliveryMode,
        conversation = new { id = "auth-" + id },
        from = new { id = "user-1", role = "user" },
        recipient = new { id = "bot", role = "bot" },
        text,
    };

    private async Task<HttpResponseMessage> PostAsync(object activity, string? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return await service.Http.SendAsync(request);
    }

    public static TheoryData<string> BadTokens => new()
    {
        "no header", "not bearer", "not a JWT", "expired", "not yet valid", "wrong audience", "no audience", "wrong issuer",
        "wrong key", "alg none", "HMAC with the public key", "unknown key id", "key without endorsements",
        "endorsement mismatch", "serviceUrl mismatch", "no serviceurl claim", "Emulator token for another app",
        "RS256 token signed by the Emulator key but channel issuer",
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Messages_BadToken_Gets401AndNoPartOfTheTurnRuns(string caseName)
    {
        // Arrange
        var url = service.Issuer.ServiceUrl;
        var key = service.ChannelKey;
        var now = DateTime.UtcNow;
        var channelId = "webchat";
        var activityUrl = url;
        string? header = caseName switch
        {
            "no header" => null,
            "not bearer" => "Basic " + Convert.ToBase64String("app:secret"u8.ToArray()),
            "not a JWT" => "Bearer not-a-jwt",
            // Beyond the five minutes' skew either way.
            "expired" => Bearer(BotFrameworkIssuer.ChannelToken(key, url, notBefore: now.AddHours(-2), expires: now.AddMinutes(-6))),
            "not yet valid" => Bearer(BotFrameworkIssuer.ChannelToken(key, url, notBefore: now.AddMinutes(6), expires: now.AddHours(1))),
            "wrong audience" => Bearer(BotFrameworkIssuer.ChannelToken(key, url, audience: "another-bot")),
            "no audience" => Bearer(BotFrameworkIssuer.ChannelToken(key, url, audience: null)),
            "wrong issuer" => Bearer(BotFrameworkIssuer.ChannelToken(key, url, issuer: "https://evil.example")),
            "wrong key" => Bearer(BotFrameworkIssuer.ChannelToken(BotFrameworkIssuer.NewKey(key.KeyId!), url)),
            "alg none" => Bearer(BotFrameworkIssuer.UnsignedToken(key.KeyId!, url)),
            "HMAC with the public key" => Bearer(BotFrameworkIssuer.HmacWithPublicKey(key, url)),
            "unknown key id" => Bearer(BotFrameworkIssuer.ChannelToken(BotFrameworkIssuer.NewKey("never-published"), url)),
            "key without endorsements" => Bearer(BotFrameworkIssuer.ChannelToken(service.UnendorsedKey, url)),
            "endorsement mismatch" => Endorsed("skype"),
            "serviceUrl mismatch" => Bearer(BotFrameworkIssuer.ChannelToken(key, "https://evil.example/connector/")),
            "no serviceurl claim" => Bearer(BotFrameworkIssuer.ChannelToken(key, string.Empty)),
            "Emulator token for another app" => Bearer(BotFrameworkIssuer.EmulatorToken(service.EmulatorKey, "1.0", appId: "another-bot")),
            "RS256 token signed by the Emulator key but channel issuer" => Bearer(BotFrameworkIssuer.ChannelToken(service.EmulatorKey, url)),
            _ => throw new ArgumentOutOfRangeException(nameof(caseName)),
        };
        var before = service.Counter.Turns;

        // Act
        var response = await PostAsync(Activity("bad-" + caseName.Replace(' ', '-'), channelId, activityUrl), header);

        // Assert
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(before, service.Counter.Turns);

        string Endorsed(string channel)
        {
            channelId = channel; // the key is endorsed for webchat, msteams and directline only
            return Bearer(BotFrameworkIssuer.ChannelToken(key, url));
        }
    }

    [Fact]
    public async Task Messages_ValidChannelToken_RepliesReachTheConnectorWithTheBotsToken()
    {
        // Arrange
        var token = BotFrameworkIssuer.ChannelToken(service.ChannelKey, service.Issuer.ServiceUrl);
        var before = service.Counter.Turns;

        // Act: two turns, each with a reply
        var first = await PostAsync(Activity("ok-1", text: "how much is an infusion"), Bearer(token));
        var second = await PostAsync(Activity("ok-2", text: "what is ketamine assisted psychotherapy"), Bearer(token));

        // Assert
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(before + 2, service.Counter.Turns);
        var replies = service.Issuer.Received.Where(r => r.Path.Contains("auth-ok-", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, replies.Count(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("type").GetString() == "message"));
        Assert.All(replies, r => Assert.Equal("Bearer " + service.Issuer.IssuedAccessToken, r.Authorization));
        Assert.Contains(replies, r => r.Path == "/connector/v3/conversations/auth-ok-1/activities/ok-1" && r.Body.Contains("$275", StringComparison.Ordinal));
        Assert.Equal(1, service.Issuer.TokenRequests); // cached, not fetched per reply
    }

    [Fact]
    public async Task Messages_TokenExpiredWithinTheSkew_IsAccepted()
    {
        var now = DateTime.UtcNow;
        var token = BotFrameworkIssuer.ChannelToken(service.ChannelKey, service.Issuer.ServiceUrl, notBefore: now.AddHours(-1), expires: now.AddMinutes(-3));

        var response = await PostAsync(Activity("skew", deliveryMode: "expectReplies", text: "how much is an infusion"), Bearer(token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("2.0")]
    public async Task Messages_EmulatorToken_IsAcceptedWithTheAppIdInAppidOrAzp(string version)
    {
        var token = BotFrameworkIssuer.EmulatorToken(service.EmulatorKey, version);

        var response = await PostAsync(
            Activity("emu-" + version, channelId: "emulator", deliveryMode: "expectReplies", text: "how much is an infusion"), Bearer(token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("$275", body.GetProperty("activities")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_Emergency_CrisisReplyIsTheFirstActivityAndAnEscalationIsStored()
    {
        // Arrange
        var token = BotFrameworkIssuer.ChannelToken(service.ChannelKey, service.Issuer.ServiceUrl);

        // Act
        var response = await PostAsync(Activity("crisis-1", deliveryMode: "expectReplies", text: "I want to kill myself tonight"), Bearer(token));

        // Assert
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var first = body.GetProperty("activities")[0];
        Assert.Contains("988", first.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Contains("741741", first.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("tel:911", first.GetProperty("attachments")[0].GetProperty("content").GetProperty("buttons")[0].GetProperty("value").GetString());
        var db = service.Services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<BotService.Storage.Data.BotDbContext>>();
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            await using var context = await db.CreateDbContextAsync(wait.Token);
            if (context.Escalations.Any(e => e.ConversationId == "auth-crisis-1" && e.Level == "emergency"))
            {
                break;
            }

            await Task.Delay(50, wait.Token);
        }
    }

    private static string Bearer(string token) => "Bearer " + token;
}
