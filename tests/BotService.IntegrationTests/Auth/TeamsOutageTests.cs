using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.IntegrationTests.Dashboard;
using BotService.Storage.Staff;

namespace BotService.IntegrationTests.Auth;

/// <summary>Its own service and loopback Connector: the outage must not touch other tests' alerts.</summary>
public sealed class OutageService : AuthenticatedService;

/// <summary>
/// A 60-second Connector outage (every call answered 503 or 429 with Retry-After), with visitors in crisis on three
/// paths and a nurse claiming in the dashboard during it. Runs in real time, once: the one long test of the suite
/// (retries are configured at 0.2 s doubling to 1 s, so recovery is bounded by the resilience handler's own delays).
/// </summary>
public sealed class TeamsOutageTests(OutageService service) : IClassFixture<OutageService>
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Outage60s_AlertsOfEscalationsDuringItArriveExactlyOnceAfterwards_CrisisRepliesAndTheClaimNotDelayed()
    {
        // Arrange: an alert posted before the outage (its card is claimed during it), and a nurse signed in
        var before = await EscalateByMessagesAsync("outage-0", "a patient says he took 40 pills");
        var beforeId = await TeamsKit.EscalationIdAsync(service.Services, "outage-0");
        await TeamsKit.WaitUntilAsync(() => Alert(beforeId).Any(), TimeSpan.FromSeconds(20), "the alert before the outage");
        var cardId = Alert(beforeId).Single().Id;
        var email = await DashboardSeed.UserAsync(service.Services, StaffRoles.Staff);
        using var nurse = new StaffClient(service.Http.BaseAddress!);
        Assert.Equal(HttpStatusCode.Redirect, (await nurse.SignInAsync(email, DashboardSeed.Password)).StatusCode);
        var dl = await StartDirectLineAsync();

        // Act: the outage; visitors in crisis at 0, 15, 30 and 45 s (Azure Bot Service web chat twice, Direct Line,
        // the site's /api/ask), the nurse claiming the earlier escalation at 5 s
        var outageStart = DateTimeOffset.UtcNow;
        service.Issuer.OutageUntil = outageStart + Outage;
        var replies = new List<(string Path, TimeSpan Took)>();
        replies.Add(("messages", (await EscalateByMessagesAsync("outage-1", "I swallowed all my pills an hour ago")).Took));
        await Until(outageStart + TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        using var claim = await nurse.PostAsync($"/dashboard/escalations/{beforeId}?handler=Claim");
        var claimTook = clock.Elapsed;
        await Until(outageStart + TimeSpan.FromSeconds(15));
        replies.Add(("directline", await EscalateByDirectLineAsync(dl, "i am going to kill myself tonight, i have the pills here")));
        await Until(outageStart + TimeSpan.FromSeconds(30));
        replies.Add(("ask", await EscalateByAskAsync("outage-3", "I want to kill myself tonight")));
        await Until(outageStart + TimeSpan.FromSeconds(45));
        replies.Add(("messages", (await EscalateByMessagesAsync("outage-4", "I swallowed all my pills an hour ago")).Took));
        var ids = new[]
        {
            await TeamsKit.EscalationIdAsync(service.Services, "outage-1"), await TeamsKit.EscalationIdAsync(service.Services, dl.ConversationId),
            await TeamsKit.EscalationIdAsync(service.Services, "outage-3"), await TeamsKit.EscalationIdAsync(service.Services, "outage-4"),
        };
        var postedDuringOutage = ids.Count(id => Alert(id).Any());
        await Until(outageStart + Outage);
        var outageEnd = DateTimeOffset.UtcNow;
        await TeamsKit.WaitUntilAsync(() => ids.All(id => Alert(id).Any()), TimeSpan.FromSeconds(45), "the alerts after the outage");
        var allAlertsAfter = DateTimeOffset.UtcNow - outageEnd;
        await TeamsKit.WaitUntilAsync(() => ClaimedCards(cardId, email).Any(), TimeSpan.FromSeconds(30), "the claimed card's update");
        var cardAfter = DateTimeOffset.UtcNow - outageEnd;
        await Task.Delay(TimeSpan.FromSeconds(3)); // long enough for a duplicate to show up, were there one

        // Assert: the outage was real and nothing got through it; afterwards every alert arrived once, with the token
        Assert.Equal(0, postedDuringOutage);
        Assert.True(service.Issuer.RefusedInOutage > 0);
        foreach (var id in ids)
        {
            var alert = Assert.Single(Alert(id));
            Assert.Equal("Bearer " + service.Issuer.IssuedAccessToken, alert.Authorization);
            Assert.DoesNotContain("pills", alert.Body, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("kill", alert.Body, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Single(Alert(beforeId)); // posted before the outage; updated, never posted again
        Assert.True(allAlertsAfter < TimeSpan.FromSeconds(20), $"the last alert came {allAlertsAfter.TotalSeconds:F1} s after the outage");

        // Assert: nobody waited on the Connector
        Assert.Contains("988", before.Reply, StringComparison.Ordinal);
        Assert.All(replies, r => Assert.True(r.Took < TimeSpan.FromSeconds(1), $"the crisis reply on {r.Path} took {r.Took.TotalMilliseconds:F0} ms"));
        Assert.Equal(HttpStatusCode.Redirect, claim.StatusCode);
        Assert.True(claimTook < TimeSpan.FromSeconds(1), $"the claim took {claimTook.TotalMilliseconds:F0} ms");

        Report(replies, claimTook, allAlertsAfter, cardAfter);
    }

    private IEnumerable<(string Path, string? Authorization, string Body, string Id)> Alert(Guid escalationId) =>
        service.Issuer.Received.Where(r => r.Path == $"/connector/v3/conversations/{AuthenticatedService.AlertChannel}/activities"
                                           && r.Body.Contains($"dashboard/escalations/{escalationId:D}", StringComparison.Ordinal));

    private IEnumerable<(string Path, string? Authorization, string Body)> ClaimedCards(string cardId, string email) =>
        service.Issuer.Updated.Where(u => u.Path == $"/connector/v3/conversations/{AuthenticatedService.AlertChannel}/activities/{cardId}"
                                          && TeamsKit.Facts(u.Body).GetValueOrDefault("Status") == "Claimed by " + email);

    private static async Task Until(DateTimeOffset when)
    {
        var wait = when - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
    }

    private async Task<(TimeSpan Took, string Reply)> EscalateByMessagesAsync(string conversation, string text)
    {
        var result = await TeamsKit.CrisisAsync(service.Http, service.ChannelKey, service.Issuer.ServiceUrl, conversation, text);
        Assert.Contains("988", result.Reply, StringComparison.Ordinal);
        return result;
    }

    private async Task<TimeSpan> EscalateByAskAsync(string conversation, string text)
    {
        var clock = Stopwatch.StartNew();
        using var response = await service.Http.PostAsJsonAsync("/api/ask", new { text, conversationId = conversation });
        var took = clock.Elapsed;
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("emergency", body.GetProperty("safety").GetProperty("level").GetString());
        Assert.Contains("988", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        return took;
    }

    private sealed record DirectLineVisitor(string Token, string ConversationId);

    /// <summary>A visitor on the chat page: a token, a started conversation, the welcome read.</summary>
    private async Task<DirectLineVisitor> StartDirectLineAsync()
    {
        using var issued = await service.Http.PostAsync("/api/webchat/token", null);
        issued.EnsureSuccessStatusCode();
        var body = await issued.Content.ReadFromJsonAsync<JsonElement>();
        var visitor = new DirectLineVisitor(body.GetProperty("token").GetString()!, body.GetProperty("conversationId").GetString()!);
        using var start = new HttpRequestMessage(HttpMethod.Post, "/v3/directline/conversations");
        start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", visitor.Token);
        (await service.Http.SendAsync(start)).EnsureSuccessStatusCode();
        await TeamsKit.WaitUntilAsync(async ct => (await ActivitiesAsync(visitor, ct)).GetArrayLength() > 0, TimeSpan.FromSeconds(10), "the welcome");
        return visitor;
    }

    /// <summary>Posts the message and polls (every 20 ms) until the crisis reply is there; returns how long that took.</summary>
    private async Task<TimeSpan> EscalateByDirectLineAsync(DirectLineVisitor visitor, string text)
    {
        var clock = Stopwatch.StartNew();
        using var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{visitor.ConversationId}/activities")
        {
            Content = JsonContent.Create(new { type = "message", from = new { id = "ignored" }, text }),
        };
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", visitor.Token);
        (await service.Http.SendAsync(post)).EnsureSuccessStatusCode();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var activities = await ActivitiesAsync(visitor, timeout.Token);
            if (activities.EnumerateArray().Any(a => a.TryGetProperty("text", out var t) && t.GetString()?.Contains("988", StringComparison.Ordinal) == true))
            {
                return clock.Elapsed;
            }

            await Task.Delay(20, timeout.Token);
        }
    }

    private async Task<JsonElement> ActivitiesAsync(DirectLineVisitor visitor, CancellationToken cancellationToken)
    {
        using var poll = new HttpRequestMessage(HttpMethod.Get, $"/v3/directline/conversations/{visitor.ConversationId}/activities?watermark=");
        poll.Headers.Authorization = new AuthenticationHeaderValue("Bearer", visitor.Token);
        using var response = await service.Http.SendAsync(poll, cancellationToken);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken)).GetProperty("activities");
    }

    /// <summary>The figures for tests/run.sh's report (BOTSERVICE_REPORTS).</summary>
    private void Report(List<(string Path, TimeSpan Took)> replies, TimeSpan claimTook, TimeSpan allAlertsAfter, TimeSpan cardAfter)
    {
        if (Environment.GetEnvironmentVariable("BOTSERVICE_REPORTS") is not { Length: > 0 } dir)
        {
            return;
        }

        var c = CultureInfo.InvariantCulture;
        File.WriteAllLines(Path.Combine(dir, "teams-outage.txt"),
        [
            string.Format(c, "Connector down {0:F0} s (every call 503 or 429): {1} calls refused; 4 escalations during it", Outage.TotalSeconds, service.Issuer.RefusedInOutage),
            string.Format(c, "crisis replies during it: {0} (max {1:F0} ms); dashboard claim: {2:F0} ms",
                string.Join(", ", replies.Select(r => string.Format(c, "{0} {1:F0} ms", r.Path, r.Took.TotalMilliseconds))),
                replies.Max(r => r.Took.TotalMilliseconds), claimTook.TotalMilliseconds),
            string.Format(c, "after it: all 4 alerts posted within {0:F1} s, each exactly once; the claimed card updated within {1:F1} s",
                allAlertsAfter.TotalSeconds, cardAfter.TotalSeconds),
        ]);
    }
}
