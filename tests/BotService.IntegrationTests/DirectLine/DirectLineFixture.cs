using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.DirectLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests.DirectLine;

/// <summary>
/// The real service on a loopback port with a Direct Line secret configured and its own data folder (a real SQLite
/// file, or its own PostgreSQL database in the PostgreSQL pass), for the Direct Line tests. The articles are the repository's own (read, never edited, here).
/// </summary>
public sealed class DirectLineFixture : IAsyncLifetime
{
    public const string Secret = "test-directline-secret-0123456789";
    private RunningService? _service;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "botservice-it", "dl-" + Guid.NewGuid().ToString("n"));

    public HttpClient Http => _service!.Http;

    public LogCapture Logs { get; } = new();

    public IServiceProvider Services => _service!.App.Services;

    public string DataPath => Path.Combine(Root, "data");

    public async Task InitializeAsync() =>
        _service = await RunningService.StartHealthyAsync(RepoPaths.Knowledge, Root, b => b.Logging.AddProvider(Logs),
            $"--DirectLine:Secret={Secret}", "--DirectLine:TokenRequestsPerMinute=10000", "--DirectLine:MaxActivityBytes=8192", "--DirectLine:KeepAliveInterval=00:00:01");

    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }
    }

    /// <summary>A token minted by the service's own issuer (for cases a client cannot make: short-lived, expired).</summary>
    internal (string Token, DateTimeOffset Expires) Mint(string userId, string conversationId, TimeSpan lifetime) =>
        Services.GetRequiredService<DirectLineTokens>().Issue(userId, conversationId, lifetime);

    /// <summary>Gets a Web Chat token and starts its conversation, as the page does.</summary>
    public async Task<(string Token, string ConversationId, string UserId)> StartConversationAsync()
    {
        var issued = await Http.PostAsync("/api/webchat/token", null);
        issued.EnsureSuccessStatusCode();
        var body = await issued.Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("token").GetString()!;
        using var start = new HttpRequestMessage(HttpMethod.Post, "/v3/directline/conversations");
        start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        (await Http.SendAsync(start)).EnsureSuccessStatusCode();
        var conversationId = body.GetProperty("conversationId").GetString()!;

        // The bot welcomes the visitor on the conversationUpdate (run in the background); wait for it, so the numbers
        // the tests expect are fixed: 1 the hidden conversationUpdate, 2 the welcome, 3 the visitor's first message.
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            using var poll = new HttpRequestMessage(HttpMethod.Get, $"/v3/directline/conversations/{conversationId}/activities?watermark=");
            poll.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var seen = await (await Http.SendAsync(poll, wait.Token)).Content.ReadFromJsonAsync<JsonElement>(wait.Token);
            if (seen.GetProperty("activities").GetArrayLength() > 0)
            {
                break;
            }

            await Task.Delay(20, wait.Token);
        }

        return (token, conversationId, body.GetProperty("userId").GetString()!);
    }

    /// <summary>Posts an activity to a conversation as its visitor; returns the id the channel gave it.</summary>
    public async Task<string> PostActivityAsync(string token, string conversationId, object activity)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversationId}/activities")
        {
            Content = JsonContent.Create(activity),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>Every activity of a conversation a client can see (the polling GET from the start).</summary>
    public async Task<List<JsonElement>> ActivitiesAsync(string token, string conversationId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v3/directline/conversations/{conversationId}/activities?watermark=");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var body = await (await Http.SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("activities").EnumerateArray().Select(a => a.Clone()).ToList();
    }

    /// <summary>Polls until an activity matches (a missing property counts as no match); throws after 10 s.</summary>
    public async Task<JsonElement> UntilActivityAsync(string token, string conversationId, Func<JsonElement, bool> match)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < until)
        {
            var found = (await ActivitiesAsync(token, conversationId))
                .FirstOrDefault(a => { try { return match(a); } catch (KeyNotFoundException) { return false; } });
            if (found.ValueKind == JsonValueKind.Object)
            {
                return found;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("no such activity within 10 s");
    }
}
