using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests.FollowUps;

/// <summary>
/// The real service on a loopback port for the follow-up tests: the repository's articles, a Direct Line secret (for
/// the directlinejs conversations), and a short idle timeout for conversation topics, so a test can wait it out.
/// </summary>
public sealed class FollowUpFixture : IAsyncLifetime
{
    /// <summary>How long a topic lives unused here (the default is 10 minutes).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(3);

    private RunningService? _service;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "botservice-it", "fu-" + Guid.NewGuid().ToString("n"));

    public HttpClient Http => _service!.Http;

    public LogCapture Logs { get; } = new();

    public async Task InitializeAsync() =>
        _service = await RunningService.StartHealthyAsync(RepoPaths.Knowledge, Root, b => b.Logging.AddProvider(Logs),
            "--DirectLine:Secret=test-directline-secret-0123456789", "--DirectLine:TokenRequestsPerMinute=10000",
            $"--FollowUps:IdleTimeout={IdleTimeout:c}", "--RateLimits:Enabled=false");

    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }
    }

    /// <summary>POST /api/ask with a conversation id (null: none).</summary>
    public async Task<JsonElement> AskAsync(string text, string? conversationId)
    {
        var response = await Http.PostAsJsonAsync("/api/ask", new { text, conversationId });
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
