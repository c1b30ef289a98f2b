using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Dashboard;
using BotService.IntegrationTests.Dashboard;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Auth;

/// <summary>
/// Escalation alerts as Adaptive Cards in the configured Teams staff channel, through the loopback Connector (which
/// checks the bot's token): delivered exactly once after an outage of 503s and 429s, with no message text, and the
/// visitor's crisis reply is not held up by it; the card updated in place (PUT) when staff claim, resolve and reopen in
/// the dashboard; one overdue re-alert in the alert's thread per open stretch; an installation recorded but the
/// configured channel winning. Own service instance, so other tests' alerts don't interleave.
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

    [Fact]
    public async Task Card_ClaimResolveReopenInTheDashboard_UpdatedInPlaceByPut_TheClaimNotHeldUpByAConnectorOutage()
    {
        // Arrange: an alert in the channel, and a nurse signed in to the dashboard
        var conversation = "card-" + Guid.NewGuid().ToString("n")[..12];
        await TeamsKit.CrisisAsync(service.Http, service.ChannelKey, service.Issuer.ServiceUrl, conversation, "I swallowed all my pills an hour ago");
        var id = await TeamsKit.EscalationIdAsync(service.Services, conversation);
        var posted = await PostedAlertAsync(id);
        var email = await DashboardSeed.UserAsync(service.Services, StaffRoles.Staff);
        using var nurse = new StaffClient(service.Http.BaseAddress!);
        Assert.Equal(HttpStatusCode.Redirect, (await nurse.SignInAsync(email, DashboardSeed.Password)).StatusCode);
        var cardPath = $"/connector/v3/conversations/{AuthenticatedService.AlertChannel}/activities/{posted.Id}";

        // Act 1: claim while the Connector answers 503
        foreach (var status in new[] { 503, 503, 503 })
        {
            service.Issuer.FailNext.Enqueue(status);
        }

        var clock = Stopwatch.StartNew();
        using var claim = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Claim");
        var claimTook = clock.Elapsed;
        var claimed = await UpdateAsync(cardPath, "Status", "Claimed by " + email);

        // Act 2 and 3: resolve, reopen
        using var resolve = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Resolve", ("outcome", "handled"));
        var resolved = await UpdateAsync(cardPath, "Status", "Resolved: handled");
        using var reopen = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Reopen");
        var reopened = await UpdateAsync(cardPath, "Status", "Open (reopened), unclaimed");

        // Assert: the dashboard did not wait for the Connector; each change reached the same card, with the bot's token
        Assert.Equal(HttpStatusCode.Redirect, claim.StatusCode);
        Assert.True(claimTook < TimeSpan.FromSeconds(1), $"the claim took {claimTook}");
        Assert.Equal(HttpStatusCode.Redirect, resolve.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, reopen.StatusCode);
        Assert.Equal(AuthenticatedService.AlertChannel, posted.Conversation);
        foreach (var update in new[] { claimed, resolved, reopened })
        {
            Assert.Equal("Bearer " + service.Issuer.IssuedAccessToken, update.Authorization);
            Assert.Equal(posted.Id, JsonDocument.Parse(update.Body).RootElement.GetProperty("id").GetString());
            Assert.DoesNotContain("pills", update.Body, StringComparison.OrdinalIgnoreCase);
            Assert.Equal("Emergency", TeamsKit.Facts(update.Body)["Level"]);
        }

        Assert.Empty(service.Issuer.FailNext);
        // The sender records what the card shows once Teams has answered the PUT the connector just received: wait for it.
        TeamsAlertRecord row;
        using var recorded = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            await using var db = service.Services.GetRequiredService<Database>().Open();
            row = await db.TeamsAlerts.AsNoTracking().SingleAsync(a => a.EscalationId == id, recorded.Token);
            if (row.ShownStatus == "open")
            {
                break;
            }

            await Task.Delay(20, recorded.Token);
        }

        Assert.Equal((posted.Id, "open", 1), (row.ActivityId, row.ShownStatus, row.ShownReopenCount));
    }

    [Fact]
    public async Task Overdue_UnclaimedEmergency_OneReplyInTheAlertThreadPerOpenStretch_EvenFromAFreshWatch()
    {
        // Arrange: a posted alert for an emergency that came in 10 minutes ago (the limit is 5)
        var conversation = "overdue-" + Guid.NewGuid().ToString("n")[..12];
        await TeamsKit.CrisisAsync(service.Http, service.ChannelKey, service.Issuer.ServiceUrl, conversation, "I swallowed all my pills an hour ago");
        var id = await TeamsKit.EscalationIdAsync(service.Services, conversation);
        var posted = await PostedAlertAsync(id);
        var database = service.Services.GetRequiredService<Database>();
        await using (var db = database.Open())
        {
            var tenMinutesAgo = DateTimeOffset.UtcNow.AddMinutes(-10);
            await db.Escalations.Where(e => e.Id == id).ExecuteUpdateAsync(s => s.SetProperty(e => e.CreatedAt, tenMinutesAgo));
        }

        var threadPath = $"/connector/v3/conversations/{AuthenticatedService.AlertChannel}/activities/{posted.Id}";
        var watch = service.Services.GetRequiredService<OverdueWatch>();

        // Act: the watch's checks, twice, then a fresh watch with nothing in memory (as after a restart)
        await watch.CheckOnceAsync(CancellationToken.None);
        await watch.CheckOnceAsync(CancellationToken.None);
        await ActivatorUtilities.CreateInstance<OverdueWatch>(service.Services).CheckOnceAsync(CancellationToken.None);
        await TeamsKit.WaitUntilAsync(() => Replies(threadPath).Any(), TimeSpan.FromSeconds(20), "the overdue re-alert");
        await Task.Delay(TimeSpan.FromSeconds(2)); // long enough for a duplicate to show up, were there one

        // Assert: one reply in the alert's thread, no message text
        var reply = Assert.Single(Replies(threadPath));
        Assert.StartsWith("Overdue: this emergency is still unclaimed, 10 min after it came in", Text(reply.Body), StringComparison.Ordinal);
        Assert.Equal(posted.Id, JsonDocument.Parse(reply.Body).RootElement.GetProperty("replyToId").GetString());
        Assert.DoesNotContain("pills", reply.Body, StringComparison.OrdinalIgnoreCase);

        // Act: staff claim, resolve and reopen it; still unclaimed, it is overdue again: a new stretch, a new re-alert
        var admin = new Actor("admin-" + Guid.NewGuid().ToString("n"), "admin@clinic.test", IsAdmin: true);
        var board = service.Services.GetRequiredService<EscalationBoard>();
        Assert.Equal(ActionOutcome.Done, await board.ClaimAsync(id, admin, takeOver: false, CancellationToken.None));
        await watch.CheckOnceAsync(CancellationToken.None); // claimed: not overdue
        Assert.Equal(ActionOutcome.Done, await board.ResolveAsync(id, admin, "no-contact", CancellationToken.None));
        Assert.Equal(ActionOutcome.Done, await board.ReopenAsync(id, admin, CancellationToken.None));
        await watch.CheckOnceAsync(CancellationToken.None);
        await watch.CheckOnceAsync(CancellationToken.None);
        await TeamsKit.WaitUntilAsync(() => Replies(threadPath).Count() >= 2, TimeSpan.FromSeconds(20), "the second stretch's re-alert");
        await Task.Delay(TimeSpan.FromSeconds(2));

        // Assert
        var replies = Replies(threadPath).ToList();
        Assert.Equal(2, replies.Count);
        Assert.Equal("Overdue: this reopened emergency is still unclaimed.", Text(replies[1].Body));
        await using var check = database.Open();
        Assert.Equal([0, 1], await check.TeamsOverdueAlerts.Where(o => o.EscalationId == id).OrderBy(o => o.Episode).Select(o => o.Episode).ToListAsync());
    }

    [Fact]
    public async Task Install_WhileAChannelIsConfigured_IsRecordedButAlertsStayThere_OtherTenantsAndEmulatorTokensAreIgnored()
    {
        // Arrange
        var team = "19:team-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        var channel = "19:chosen-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        var otherTenantTeam = "19:other-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        var emulatorTeam = "19:emulator-" + Guid.NewGuid().ToString("n") + "@thread.tacv2";
        var serviceUrl = service.Issuer.ServiceUrl;
        var channelToken = BotFrameworkIssuer.ChannelToken(service.ChannelKey, serviceUrl);

        // Act
        using var added = await TeamsKit.PostAsync(service.Http, TeamsKit.InstallationUpdate(serviceUrl, "add", team, channel), channelToken);
        using var otherTenant = await TeamsKit.PostAsync(service.Http,
            TeamsKit.InstallationUpdate(serviceUrl, "add", otherTenantTeam, channel, tenant: "00000000-0000-0000-0000-00000000beef"), channelToken);
        using var emulator = await TeamsKit.PostAsync(service.Http, TeamsKit.InstallationUpdate(serviceUrl, "add", emulatorTeam, channel),
            BotFrameworkIssuer.EmulatorToken(service.EmulatorKey, "1.0"));
        var conversation = "configured-" + Guid.NewGuid().ToString("n")[..12];
        await TeamsKit.CrisisAsync(service.Http, service.ChannelKey, serviceUrl, conversation, "I swallowed all my pills an hour ago");
        var id = await TeamsKit.EscalationIdAsync(service.Services, conversation);
        await PostedAlertAsync(id);

        // Assert: recorded from the clinic's tenant with a channel token only; the channel was told alerts go elsewhere
        Assert.All(new[] { added, otherTenant, emulator }, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await using (var db = service.Services.GetRequiredService<Database>().Open())
        {
            var learned = await db.TeamsChannels.Where(c => c.TeamId == team || c.TeamId == otherTenantTeam || c.TeamId == emulatorTeam).ToListAsync();
            var only = Assert.Single(learned);
            Assert.Equal((team, channel, serviceUrl, AuthenticatedService.TenantId), (only.TeamId, only.ConversationId, only.ServiceUrl, only.TenantId));
        }

        var inChosenChannel = service.Issuer.Received.Where(r => r.Path.Contains(channel, StringComparison.Ordinal)).ToList();
        var told = Assert.Single(inChosenChannel); // the note, and no alert
        Assert.Equal(Bot.TeamsAlertChannels.ConfiguredElsewhere, Text(told.Body));
    }

    /// <summary>Waits for the alert of an escalation to be posted; returns the Connector's id for it and the conversation.</summary>
    private async Task<(string Id, string Conversation)> PostedAlertAsync(Guid escalationId)
    {
        var marker = $"dashboard/escalations/{escalationId:D}";
        await TeamsKit.WaitUntilAsync(() => Alerts().Any(a => a.Body.Contains(marker, StringComparison.Ordinal) && a.Path.EndsWith("/activities", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "the alert of " + escalationId);
        var alert = Alerts().Single(a => a.Body.Contains(marker, StringComparison.Ordinal) && a.Path.EndsWith("/activities", StringComparison.Ordinal));
        var conversation = JsonDocument.Parse(alert.Body).RootElement.GetProperty("conversation").GetProperty("id").GetString()!;
        return (alert.Id, conversation);
    }

    /// <summary>Waits for a PUT to the card whose fact has the value.</summary>
    private async Task<(string Path, string? Authorization, string Body)> UpdateAsync(string cardPath, string fact, string value)
    {
        await TeamsKit.WaitUntilAsync(() => Match().Any(), TimeSpan.FromSeconds(30), $"a card update with {fact} = {value}");
        return Match().First();

        IEnumerable<(string Path, string? Authorization, string Body)> Match() => service.Issuer.Updated
            .Where(u => u.Path == cardPath && TeamsKit.Facts(u.Body).GetValueOrDefault(fact) == value);
    }

    private IEnumerable<(string Path, string? Authorization, string Body, string Id)> Replies(string threadPath) =>
        service.Issuer.Received.Where(r => r.Path == threadPath);

    private static string? Text(string activityJson) => JsonDocument.Parse(activityJson).RootElement.GetProperty("text").GetString();

    private IEnumerable<(string Path, string? Authorization, string Body, string Id)> Alerts() =>
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
