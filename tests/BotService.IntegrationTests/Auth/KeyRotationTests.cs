using System.Net;
using System.Net.Http.Json;

namespace BotService.IntegrationTests.Auth;

/// <summary>
/// The channel publishes a new signing key after the bot has cached the old set: the first token signed with it
/// makes the bot re-fetch the key set once, and it is accepted (own service instance: forced re-fetches are
/// rate-limited per service).
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class KeyRotationTests(AuthenticatedService service) : IClassFixture<AuthenticatedService>
{
    [Fact]
    public async Task Messages_TokenSignedWithANewlyPublishedKey_IsAcceptedAfterOneKeySetRefresh()
    {
        // Arrange: a first request caches the key set
        var url = service.Issuer.ServiceUrl;
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(BotFrameworkIssuer.ChannelToken(service.ChannelKey, url), "rot-1")).StatusCode);
        var fetchesBefore = service.Issuer.KeySetRequests;
        var rotated = service.Issuer.AddChannelKey("channel-key-2", "webchat");

        // Act
        var response = await PostAsync(BotFrameworkIssuer.ChannelToken(rotated, url), "rot-2");

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(fetchesBefore + 1, service.Issuer.KeySetRequests);
    }

    private async Task<HttpResponseMessage> PostAsync(string token, string id)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages")
        {
            Content = JsonContent.Create(new
            {
                type = "message", id, channelId = "webchat", serviceUrl = service.Issuer.ServiceUrl, deliveryMode = "expectReplies",
                conversation = new { id = "rot" }, from = new { id = "user-1" }, recipient = new { id = "bot" }, text = "how much is an infusion",
            }),
        };
        request.Headers.Authorization = new("Bearer", token);
        return await service.Http.SendAsync(request);
    }
}
