using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Auth;

/// <summary>The service with an app id but no <c>Teams:AlertChannel</c>: the channel is learned from the installation.</summary>
public sealed class LearnedChannelService : AuthenticatedService
{
    protected override bool ConfigureAlertChannel => false;
}

/// <summary>
/// The alert channel learned from the app's installation in a team (no channel configured): alerts wait, durably and
/// said once in the log, until the app is added to a team; then they go to the channel the admin chose, with the bot's
/// token; removing the app forgets it.
/// </summary>
public sealed class TeamsAlertChannelTests(LearnedChannelService service) : IClassFixture<LearnedChannelService>
{
    private const string NoChannelEvent = "[8513]";

    [Fact]
    public async Task AlertChannel_NoneYet_AlertsWaitAndThatIsLoggedOnce_ThenTheyGoToTheChannelChosenAtInstallation_UntilTheAppIsRemoved()
    {
        // Arrange
        var serviceUrl = service.Issuer.ServiceUrl;
        var token = BotFrameworkIssuer.ChannelToken(service.ChannelKey, serviceUrl);
        var team = "19:team-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        var channel = "19:escalations-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        await TeamsKit.WarmUpAsync(service.Http, service.ChannelKey, serviceUrl);

        // Act 1: two escalations while no channel is known
        var first = await EscalateAsync("learn-1");
        var second = await EscalateAsync("learn-2");
        await QueuedAsync(first, second);
        await Task.Delay(TimeSpan.FromSeconds(1)); // time for a (wrong) post or a second log line
        var waitingHealth = await TeamsHealthAsync();

        // Assert: nothing posted anywhere, said once in the log, /healthz says what to do
        Assert.Empty(service.Issuer.Received);
        Assert.Single(service.Logs.Lines, l => l.Contains(NoChannelEvent, StringComparison.Ordinal));
        Assert.Equal("degraded", waitingHealth.GetProperty("status").GetString());
        Assert.Contains("add the app to the staff team", waitingHealth.GetProperty("description").GetString(), StringComparison.Ordinal);

        // Act 2: the app is added to the staff team, the admin choosing the escalations channel
        using var added = await TeamsKit.PostAsync(service.Http, TeamsKit.InstallationUpdate(serviceUrl, "add", team, channel), token);
        await TeamsKit.WaitUntilAsync(() => AlertsIn(channel).Count() == 2, TimeSpan.FromSeconds(20), "the two waiting alerts");

        // Act 3: a third escalation goes straight there
        var third = await EscalateAsync("learn-3");
        await TeamsKit.WaitUntilAsync(() => AlertsIn(channel).Count() == 3, TimeSpan.FromSeconds(20), "the third alert");

        // Assert: the channel was told, each alert arrived once, with the bot's token and without the visitor's words
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        var note = Assert.Single(service.Issuer.Received, r => r.Path.Contains(channel, StringComparison.Ordinal) && !r.Body.Contains("attachments", StringComparison.Ordinal));
        Assert.Equal(Bot.TeamsAlertChannels.Learned, JsonDocument.Parse(note.Body).RootElement.GetProperty("text").GetString());
        foreach (var id in new[] { first, second, third })
        {
            var alert = Assert.Single(AlertsIn(channel), a => a.Body.Contains($"dashboard/escalations/{id:D}", StringComparison.Ordinal));
            Assert.Equal("Bearer " + service.Issuer.IssuedAccessToken, alert.Authorization);
            Assert.DoesNotContain("pills", alert.Body, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal("healthy", (await TeamsHealthAsync()).GetProperty("status").GetString());

        // Act 4: the app is removed from the team; a fourth escalation waits again
        using var removed = await TeamsKit.PostAsync(service.Http, TeamsKit.InstallationUpdate(serviceUrl, "remove", team, channel), token);
        var fourth = await EscalateAsync("learn-4");
        await QueuedAsync(fourth);
        await Task.Delay(TimeSpan.FromSeconds(1));

        // Assert: forgotten; the fourth is not posted, and waiting is logged once more
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        await using (var db = service.Services.GetRequiredService<Database>().Open())
        {
            Assert.False(await db.TeamsChannels.AnyAsync(c => c.TeamId == team));
        }

        Assert.Equal(3, AlertsIn(channel).Count());
        Assert.Equal(2, service.Logs.Lines.Count(l => l.Contains(NoChannelEvent, StringComparison.Ordinal)));
        Assert.Equal("degraded", (await TeamsHealthAsync()).GetProperty("status").GetString());
    }

    private async Task<Guid> EscalateAsync(string conversation)
    {
        var (took, reply) = await TeamsKit.CrisisAsync(service.Http, service.ChannelKey, service.Issuer.ServiceUrl, conversation,
            "I swallowed all my pills an hour ago");
        Assert.Contains("988", reply, StringComparison.Ordinal);
        Assert.True(took < TimeSpan.FromSeconds(1), $"the crisis reply took {took}");
        return await TeamsKit.EscalationIdAsync(service.Services, conversation);
    }

    private async Task QueuedAsync(params Guid[] ids)
    {
        var database = service.Services.GetRequiredService<Database>();
        await TeamsKit.WaitUntilAsync(async ct =>
        {
            await using var db = database.Open();
            return await db.TeamsAlerts.CountAsync(a => ids.Contains(a.EscalationId) && a.State == TeamsAlertRecord.Queued, ct) == ids.Length;
        }, TimeSpan.FromSeconds(10), "the alerts to be queued");
    }

    private async Task<JsonElement> TeamsHealthAsync() =>
        (await service.Http.GetFromJsonAsync<JsonElement>("/healthz")).GetProperty("checks").GetProperty("teams");

    private IEnumerable<(string Path, string? Authorization, string Body, string Id)> AlertsIn(string channel) =>
        service.Issuer.Received.Where(r => r.Path == $"/connector/v3/conversations/{channel}/activities");
}

/// <summary>A learned channel survives a restart, and its service URL still gets the bot's token though nothing came from it since.</summary>
public sealed class TeamsAlertChannelRestartTests
{
    [Fact]
    public async Task LearnedChannel_AfterARestart_GetsTheAlertsWithTheBotsToken_WithNoActivityFromTeamsSince()
    {
        // Arrange: the app added to a team, then the service restarted on the same data
        await using var issuer = await BotFrameworkIssuer.StartAsync();
        var key = issuer.AddChannelKey("channel-key-1", "msteams", "webchat");
        var root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
        var data = Path.Combine(root, "data");
        var knowledge = Path.Combine(RepoPaths.Root, "knowledge");
        var args = AuthenticatedService.ServiceArgs(issuer, alertChannel: false);
        var team = "19:team-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        var channel = "19:escalations-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        WebApplication? app = null;
        HttpClient? http = null;
        try
        {
            (app, http) = await ServiceFixture.StartAsync(knowledge, data, args);
            await ServiceFixture.WaitHealthyAsync(http);
            using (var added = await TeamsKit.PostAsync(http, TeamsKit.InstallationUpdate(issuer.ServiceUrl, "add", team, channel),
                       BotFrameworkIssuer.ChannelToken(key, issuer.ServiceUrl)))
            {
                Assert.Equal(HttpStatusCode.OK, added.StatusCode);
            }

            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            (app, http) = await ServiceFixture.StartAsync(knowledge, data, args);
            await ServiceFixture.WaitHealthyAsync(http);

            // Act: an escalation from the website's own API (no Bot Framework activity reaches the new process)
            var ask = await http.PostAsJsonAsync("/api/ask", new { text = "I swallowed all my pills an hour ago", conversationId = "restart-1" });
            ask.EnsureSuccessStatusCode();
            await TeamsKit.WaitUntilAsync(() => issuer.Received.Any(r => r.Path == $"/connector/v3/conversations/{channel}/activities"),
                TimeSpan.FromSeconds(20), "the alert in the learned channel");

            // Assert: the token went to the stored, once-authenticated service URL
            var alert = Assert.Single(issuer.Received, r => r.Path == $"/connector/v3/conversations/{channel}/activities");
            Assert.Equal("Bearer " + issuer.IssuedAccessToken, alert.Authorization);
            Assert.Equal("api", TeamsKit.Facts(alert.Body)["Channel"]);
        }
        finally
        {
            http?.Dispose();
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }

            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }
}
