using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Auth;

/// <summary>
/// Escalation alerts as Adaptive Cards in the configured Teams staff channel, through the loopback Connector (which
/// checks the bot's token): delivered exactly once after an outage of 503s and 429s, with no message text, and the
/// visitor's crisis reply is not held up by it. Own service instance, so other tests' alerts don't interleave.
/// </summary>
public sealed class TeamsAlertTests(AuthenticatedService service) : IClassFixture<AuthenticatedService>
{
    [Fact]
    public async Task Alert_ConnectorDownThenThrottling_ArrivesExactlyOnceAfterwards_AndTheCrisisReplyIsNotDelayed()
    {
        // Arrange: the Connector fails the next calls (503 ×4, then 429 ×2 with Retry-After)
        foreach (var status in new[] { 503, 503, 503, 503, 429, 429 })
        {
            service.Issuer.FailNext.Enqueue(status);
        }

        const string text = "I swallowed all my pills an hour ago";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages")
        {
            Content = JsonContent.Create(new
            {
                type = "message", id = "alert-1", channelId = "webchat", serviceUrl = service.Issuer.ServiceUrl, deliveryMode = "expectReplies",
                conversation = new { id = "alert-conv-1" }, from = new { id = "visitor-1" }, recipient = new { id = "bot" }, text,
            }),
        };
        request.Headers.Authorization = new("Bearer", BotFrameworkIssuer.ChannelToken(service.ChannelKey, service.Issuer.ServiceUrl));

        // Act
        var clock = Stopwatch.StartNew();
        var response = await service.Http.SendAsync(request);
        var replyTime = clock.Elapsed;

        // Assert: the visitor's crisis reply came at once, whatever the Connector was doing
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("988", body.GetProperty("activities")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.True(replyTime < TimeSpan.FromSeconds(1), $"the crisis reply took {replyTime}");

        // Assert: after the outage, exactly one alert for this escalation, with the bot's token, and no message text
        var escalationId = await EscalationIdAsync("alert-conv-1");
        var marker = $"dashboard/escalations/{escalationId:D}";
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        while (!Alerts().Any(a => a.Body.Contains(marker, StringComparison.Ordinal)))
        {
            await Task.Delay(100, wait.Token);
        }

        await Task.Delay(TimeSpan.FromSeconds(3)); // long enough for a duplicate to show up, were there one
        var alert = Assert.Single(Alerts(), a => a.Body.Contains(marker, StringComparison.Ordinal));
        Assert.Empty(service.Issuer.FailNext); // the whole outage was gone through
        Assert.Equal("Bearer " + service.Issuer.IssuedAccessToken, alert.Authorization);
        Assert.DoesNotContain("pills", alert.Body, StringComparison.OrdinalIgnoreCase);
        var card = JsonDocument.Parse(alert.Body).RootElement.GetProperty("attachments")[0];
        Assert.Equal("application/vnd.microsoft.card.adaptive", card.GetProperty("contentType").GetString());
        var facts = card.GetProperty("content").GetProperty("body")[1].GetProperty("facts").EnumerateArray()
            .ToDictionary(f => f.GetProperty("title").GetString()!, f => f.GetProperty("value").GetString());
        Assert.Equal("Emergency", facts["Level"]);
        Assert.Equal("webchat", facts["Channel"]);
        Assert.False(string.IsNullOrEmpty(facts["Reasons"]));
    }

    private IEnumerable<(string Path, string? Authorization, string Body)> Alerts() =>
        service.Issuer.Received.Where(r => r.Path.Contains(AuthenticatedService.AlertChannel, StringComparison.Ordinal));

    private async Task<Guid> EscalationIdAsync(string conversationId)
    {
        var factory = service.Services.GetRequiredService<IDbContextFactory<BotService.Storage.Data.BotDbContext>>();
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            await using var db = await factory.CreateDbContextAsync(wait.Token);
            var id = await db.Escalations.Where(e => e.ConversationId == conversationId).Select(e => (Guid?)e.Id).FirstOrDefaultAsync(wait.Token);
            if (id is { } found)
            {
                return found;
            }

            await Task.Delay(50, wait.Token);
        }
    }
}
