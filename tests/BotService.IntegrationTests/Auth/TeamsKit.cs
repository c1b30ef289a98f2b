using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace BotService.IntegrationTests.Auth;

/// <summary>What the Teams alert tests share: Teams-shaped installation activities, a visitor in crisis, waiting.</summary>
internal static class TeamsKit
{
    /// <summary>
    /// An <c>installationUpdate</c> as Teams sends it when the app is added to (or removed from) a team, the admin having
    /// chosen <paramref name="channelId"/> for it (protocol.md §6; Teams docs, "Installation update event").
    /// </summary>
    public static object InstallationUpdate(string serviceUrl, string action, string teamId, string channelId,
        string tenant = AuthenticatedService.TenantId) => new
    {
        type = "installationUpdate",
        id = "f:" + Guid.NewGuid().ToString("d"),
        channelId = "msteams",
        serviceUrl,
        timestamp = DateTimeOffset.UtcNow.ToString("O"),
        action,
        from = new { id = "29:1ljv6N86roXr5pjPrCJVIz6xHh5Qx-admin", aadObjectId = "eddfa9d4-346e-4cce-a18f-fa6261ad776b" },
        recipient = new { id = "28:" + BotFrameworkIssuer.AppId, name = "Clinic Bot" },
        conversation = new { isGroup = true, id = channelId, name = "Escalations", conversationType = "channel", tenantId = tenant },
        channelData = new
        {
            settings = new { selectedChannel = new { id = channelId } },
            channel = new { id = channelId },
            team = new { aadGroupId = "da849743-4259-475f-ae7a-4f4b0fb49943", name = "Clinic staff", id = teamId },
            tenant = new { id = tenant },
            source = new { name = "message" },
        },
    };

    /// <summary>Posts an activity to /api/messages with the given bearer token (none: no header).</summary>
    public static async Task<HttpResponseMessage> PostAsync(HttpClient http, object activity, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }

        return await http.SendAsync(request);
    }

    /// <summary>
    /// A visitor on a web chat served through Azure Bot Service (channel token, <c>expectReplies</c>) writes a crisis
    /// message; returns how long the crisis reply took and its text.
    /// </summary>
    public static async Task<(TimeSpan Took, string Reply)> CrisisAsync(HttpClient http, SecurityKey key, string serviceUrl, string conversationId, string text)
    {
        var activity = new
        {
            type = "message", id = "m-" + Guid.NewGuid().ToString("n"), channelId = "webchat", serviceUrl, deliveryMode = "expectReplies",
            conversation = new { id = conversationId }, from = new { id = "visitor-" + conversationId }, recipient = new { id = "bot" }, text,
        };
        var token = BotFrameworkIssuer.ChannelToken(key, serviceUrl);
        var clock = Stopwatch.StartNew();
        using var response = await PostAsync(http, activity, token);
        var took = clock.Elapsed;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (took, body.GetProperty("activities")[0].GetProperty("text").GetString()!);
    }

    /// <summary>
    /// An ordinary question through the same path, so the first timed crisis message does not pay for the service's
    /// first channel token (fetching the signing keys, compiling the validation): that is start-up, not the crisis path.
    /// </summary>
    public static async Task WarmUpAsync(HttpClient http, SecurityKey key, string serviceUrl)
    {
        var activity = new
        {
            type = "message", id = "warm-" + Guid.NewGuid().ToString("n"), channelId = "webchat", serviceUrl, deliveryMode = "expectReplies",
            conversation = new { id = "warm-up" }, from = new { id = "visitor-warm-up" }, recipient = new { id = "bot" }, text = "how much is an infusion?",
        };
        using var response = await PostAsync(http, activity, BotFrameworkIssuer.ChannelToken(key, serviceUrl));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The escalation stored for a conversation (the dispatcher stores it in the background).</summary>
    public static async Task<Guid> EscalationIdAsync(IServiceProvider services, string conversationId)
    {
        var factory = services.GetRequiredService<IDbContextFactory<BotDbContext>>();
        Guid? id = null;
        await WaitUntilAsync(async ct =>
        {
            await using var db = await factory.CreateDbContextAsync(ct);
            id = await db.Escalations.Where(e => e.ConversationId == conversationId).Select(e => (Guid?)e.Id).FirstOrDefaultAsync(ct);
            return id is not null;
        }, TimeSpan.FromSeconds(10), "the escalation of " + conversationId);
        return id!.Value;
    }

    /// <summary>Polls until the condition holds, or fails the test naming what it waited for.</summary>
    public static async Task WaitUntilAsync(Func<CancellationToken, Task<bool>> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            try
            {
                if (await condition(cts.Token))
                {
                    return;
                }

                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                Assert.Fail($"waited {timeout.TotalSeconds:F0} s for {what}");
            }
        }
    }

    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        WaitUntilAsync(_ => Task.FromResult(condition()), timeout, what);

    /// <summary>The card's facts by title (the FactSet is the card's second element).</summary>
    public static Dictionary<string, string?> Facts(string activityJson)
    {
        var card = JsonDocument.Parse(activityJson).RootElement.GetProperty("attachments")[0].GetProperty("content");
        return card.GetProperty("body")[1].GetProperty("facts").EnumerateArray()
            .ToDictionary(f => f.GetProperty("title").GetString()!, f => f.GetProperty("value").GetString());
    }
}
