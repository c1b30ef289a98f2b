using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// The real service with small limits and no loopback exemption (so this test process counts as a client): floods get
/// 429 with Retry-After and are not processed, and a crisis message from the flooding visitor is still answered with
/// the crisis resources (the safety lane), within its own bounded budget.
/// </summary>
public sealed class RateLimitedService : IAsyncLifetime
{
    private RunningService? _service;

    public HttpClient Http => _service!.Http;

    public async Task InitializeAsync() => _service = await RunningService.StartHealthyAsync(RepoPaths.Knowledge,
        Path.Combine(Path.GetTempPath(), "botservice-it", "limits-" + Guid.NewGuid().ToString("n")), null,
        "--RateLimits:ExemptNetworks=",
        "--RateLimits:PerAddress:Burst=1000", "--RateLimits:PerAddress:PerMinute=6000",
        "--RateLimits:PerConversation:Burst=3", "--RateLimits:PerConversation:PerMinute=2",
        "--RateLimits:SafetyLanePerConversation:Burst=2", "--RateLimits:SafetyLanePerConversation:PerMinute=1",
        "--DirectLine:TokenRequestsPerMinute=1000");

    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }
    }

    public async Task<(string Token, string ConversationId)> StartConversationAsync()
    {
        var body = await (await Http.PostAsync("/api/webchat/token", null)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("token").GetString()!;
        using var start = new HttpRequestMessage(HttpMethod.Post, "/v3/directline/conversations");
        start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        (await Http.SendAsync(start)).EnsureSuccessStatusCode();
        return (token, body.GetProperty("conversationId").GetString()!);
    }

    public async Task<HttpResponseMessage> PostAsync(string token, string conversationId, string text)
    {
        using var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversationId}/activities");
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        post.Content = JsonContent.Create(new { type = "message", text, from = new { id = "x" } });
        return await Http.SendAsync(post);
    }

    public async Task<List<string>> TextsAsync(string token, string conversationId)
    {
        using var poll = new HttpRequestMessage(HttpMethod.Get, $"/v3/directline/conversations/{conversationId}/activities");
        poll.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var body = await (await Http.SendAsync(poll)).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("activities").EnumerateArray()
            .Select(a => a.TryGetProperty("text", out var t) ? t.GetString() ?? string.Empty : string.Empty).ToList();
    }
}

public sealed class RateLimitTests(RateLimitedService service) : IClassFixture<RateLimitedService>
{
    private const string Crisis = "I want to kill myself";

    [Fact]
    public async Task DirectLine_Flood_Gets429WithRetryAfter_AndTheRefusedMessageIsNeverStored()
    {
        // Arrange
        var (token, conversationId) = await service.StartConversationAsync();
        var statuses = new List<HttpStatusCode>();

        // Act: five ordinary messages at once into a conversation allowed three
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 5; i++)
        {
            var response = await service.PostAsync(token, conversationId, $"how much is an infusion, question {i}");
            statuses.Add(response.StatusCode);
            refused ??= response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        // Assert
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
        Assert.NotNull(refused!.Headers.RetryAfter?.Delta);
        Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal("Throttled", problem.GetProperty("error").GetProperty("code").GetString());
        var stored = await service.TextsAsync(token, conversationId);
        Assert.Contains("how much is an infusion, question 2", stored);
        Assert.DoesNotContain("how much is an infusion, question 3", stored);
        Assert.DoesNotContain("how much is an infusion, question 4", stored);
    }

    [Fact]
    public async Task DirectLine_CrisisMessageDuringAFlood_IsAcceptedAndAnsweredWithTheCrisisResources()
    {
        // Arrange: the visitor has used up the conversation's limit
        var (token, conversationId) = await service.StartConversationAsync();
        for (var i = 0; i < 4; i++)
        {
            await service.PostAsync(token, conversationId, $"hello {i}");
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await service.PostAsync(token, conversationId, "one more ordinary question")).StatusCode);

        // Act
        var crisis = await service.PostAsync(token, conversationId, Crisis);

        // Assert: accepted (stored, so it has an id) and answered with the resources
        Assert.Equal(HttpStatusCode.OK, crisis.StatusCode);
        Assert.False(string.IsNullOrEmpty((await crisis.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()));
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        List<string> texts;
        do
        {
            await Task.Delay(50, wait.Token);
            texts = await service.TextsAsync(token, conversationId);
        }
        while (!texts.Any(t => t.Contains("988", StringComparison.Ordinal)));

        Assert.Contains(Crisis, texts);
        Assert.DoesNotContain("one more ordinary question", texts);
    }

    [Fact]
    public async Task Messages_CrisisDuringAFlood_ExpectRepliesGetsTheCrisisReply_AndTheSafetyLaneIsBounded()
    {
        // Arrange
        var conversation = "limits-" + Guid.NewGuid().ToString("n");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            statuses.Add((await PostActivityAsync(conversation, $"what is ketamine {i}")).StatusCode);
        }

        // Act: crisis messages after the flood; the lane lets two through, then refuses (a flood of crisis words must not flood staff)
        var crisis = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
        {
            crisis.Add(await PostActivityAsync(conversation, Crisis + (i == 0 ? string.Empty : $" ({i})")));
        }

        // Assert
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.Equal(HttpStatusCode.OK, crisis[0].StatusCode);
        var replies = (await crisis[0].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("activities").EnumerateArray().ToList();
        Assert.Contains(replies, r => r.TryGetProperty("text", out var t) && t.GetString()!.Contains("988", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, crisis[1].StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, crisis[2].StatusCode);
        Assert.NotNull(crisis[2].Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task OtherConversations_AreNotLimitedByOnesFlood()
    {
        // Arrange
        var flooded = "limits-" + Guid.NewGuid().ToString("n");
        for (var i = 0; i < 5; i++)
        {
            await PostActivityAsync(flooded, "hello");
        }

        // Act
        var other = await PostActivityAsync("limits-" + Guid.NewGuid().ToString("n"), "hello");

        // Assert
        Assert.Equal(HttpStatusCode.TooManyRequests, (await PostActivityAsync(flooded, "hello")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    private Task<HttpResponseMessage> PostActivityAsync(string conversation, string text)
    {
        var body = JsonSerializer.Serialize(new
        {
            type = "message",
            id = Guid.NewGuid().ToString("n"),
            channelId = "emulator",
            serviceUrl = "http://127.0.0.1:9/",
            deliveryMode = "expectReplies",
            conversation = new { id = conversation },
            from = new { id = "u1" },
            recipient = new { id = "bot" },
            text,
        });
        return service.Http.PostAsync("/api/messages", new StringContent(body, Encoding.UTF8, "application/json"));
    }
}

/// <summary>The per-address limit and the Web Chat token limit (each call makes a conversation).</summary>
public sealed class PerAddressLimitTests
{
    [Fact]
    public async Task Ask_FloodFromOneAddress_429_ButACrisisQuestionIsAnswered()
    {
        // Arrange
        await using var service = await RunningService.StartHealthyAsync(RepoPaths.Knowledge,
            Path.Combine(Path.GetTempPath(), "botservice-it", "limits-" + Guid.NewGuid().ToString("n")), null,
            "--RateLimits:ExemptNetworks=", "--RateLimits:PerAddress:Burst=5", "--RateLimits:PerAddress:PerMinute=1",
            "--DirectLine:TokenRequestsPerMinute=2");

        // Act
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            statuses.Add((await service.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion?" })).StatusCode);
        }

        var crisis = await service.Http.PostAsJsonAsync("/api/ask", new { text = "I took 30 pills an hour ago" });
        var health = await service.Http.GetAsync("/healthz/ready"); // probes are never limited

        // Assert
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.Equal(HttpStatusCode.OK, crisis.StatusCode);
        Assert.Contains("911", (await crisis.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("text").GetString());
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task WebChatToken_OverTheLimit_429Throttled()
    {
        // Arrange
        await using var service = await RunningService.StartHealthyAsync(RepoPaths.Knowledge,
            Path.Combine(Path.GetTempPath(), "botservice-it", "limits-" + Guid.NewGuid().ToString("n")), null, "--DirectLine:TokenRequestsPerMinute=2");

        // Act
        var statuses = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add(await service.Http.PostAsync("/api/webchat/token", null));
        }

        // Assert
        Assert.Equal(HttpStatusCode.OK, statuses[1].StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[2].StatusCode);
        Assert.InRange(statuses[2].Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Equal("Throttled", (await statuses[2].Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }
}
