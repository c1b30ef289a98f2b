using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using BotService.Protocol.Telemetry;

namespace BotService.IntegrationTests.Observability;

/// <summary>The service as its own process, shared by the tests of this class (its meters and console are its own).</summary>
public sealed class ObservedService : IAsyncLifetime
{
    public const string ScrapeToken = "scrape-token-for-tests-0123456789";

    public ServiceProcess Service { get; private set; } = null!;

    // /metrics without the token only from 127.0.0.1 itself, so a client on 127.0.0.2 is "another address".
    public async Task InitializeAsync() => Service = await ServiceProcess.StartAsync(
        ["--Telemetry:MetricsAllowedNetworks=127.0.0.1/32", $"--Telemetry:MetricsScrapeToken={ScrapeToken}"]);

    public async Task DisposeAsync() => await Service.DisposeAsync();
}

/// <summary>
/// Metrics at /metrics after real traffic (asks, a crisis message, a Direct Line conversation), who may read them,
/// and the JSON console log's correlation ids; never a word of what was sent, in either.
/// </summary>
public sealed class ObservabilityTests(ObservedService fixture) : IClassFixture<ObservedService>
{
    private ServiceProcess Service => fixture.Service;

    [Fact]
    public async Task Metrics_AfterRealTraffic_CountAnswersDeclinesEscalationsAndRequests_WithoutText()
    {
        // Arrange
        const string answered = "How much does a ketamine infusion cost?";
        const string declined = "What is the capital of Mongolia?";
        var crisis = "I want to end my life tonight " + Guid.NewGuid().ToString("n")[..6];
        var before = Parse(await ScrapeAsync(Service.Http));

        // Act: two answers, one decline, one emergency (escalated, no answer), one Direct Line message
        Assert.True((await AskAsync(answered)).GetProperty("answered").GetBoolean());
        Assert.True((await AskAsync("how much is an infusion?")).GetProperty("answered").GetBoolean());
        Assert.False((await AskAsync(declined)).GetProperty("answered").GetBoolean());
        Assert.Equal("emergency", (await AskAsync(crisis)).GetProperty("safety").GetProperty("level").GetString());
        var (token, conversationId) = await Service.StartConversationAsync();
        using (var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversationId}/activities"))
        {
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            post.Content = JsonContent.Create(new { type = "message", text = answered, from = new { id = "x" } });
            (await Service.Http.SendAsync(post)).EnsureSuccessStatusCode();
        }

        var text = await ScrapeAsync(Service.Http);
        var after = Parse(text);

        // Assert
        Assert.Equal(2, Delta(before, after, "bot_answers_total", ("channel", "api"), ("outcome", "answered")));
        Assert.Equal(1, Delta(before, after, "bot_answers_total", ("channel", "api"), ("outcome", "declined")));
        Assert.Equal(1, Delta(before, after, "bot_answers_total", ("channel", "directline"), ("outcome", "answered")));
        Assert.Equal(1, Delta(before, after, "bot_escalations_total", ("level", "emergency"), ("source", "safety")));
        Assert.Equal(4, Delta(before, after, "http_server_request_duration_seconds_count", ("http_route", "/api/ask"), ("http_response_status_code", "200")));
        Assert.True(Sum(after, "bot_knowledge_build_duration_seconds_count") >= 1);
        Assert.True(Sum(after, "bot_knowledge_passages") > 10);
        Assert.True(Delta(before, after, "bot_transcript_commit_size_sum") >= 2); // the visitor's message and the answer at least
        Assert.True(Delta(before, after, "bot_transcript_commit_duration_seconds_count") >= 1);
        Assert.Contains("bot_escalations_pending", after.Keys.Select(k => k.Name));
        // The series limit's view keeps ASP.NET Core's own bucket boundaries (seconds, from 5 ms), not OpenTelemetry's
        // default ones (0, 5, 10, 25, ... meant for milliseconds).
        Assert.Contains(after.Keys, k => k.Name == "http_server_request_duration_seconds_bucket" && k.Labels.Contains("le=\"0.005\"", StringComparison.Ordinal));
        foreach (var sent in new[] { answered, declined, crisis, conversationId })
        {
            Assert.DoesNotContain(sent, text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Metrics_OnlyFromAllowedNetworkOrWithToken()
    {
        // Arrange: a client whose connections come from 127.0.0.2 (loopback, but not in 127.0.0.1/32)
        using var other = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        }) { BaseAddress = Service.BaseAddress };

        // Act
        var fromOther = await other.GetAsync("/metrics");
        using var withToken = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        withToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ObservedService.ScrapeToken);
        var fromOtherWithToken = await other.SendAsync(withToken);
        using var wrongToken = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        wrongToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ObservedService.ScrapeToken + "x");
        var fromOtherWrongToken = await other.SendAsync(wrongToken);
        var fromSelf = await Service.Http.GetAsync("/metrics");
        var askFromOther = await other.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion?" });

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, fromOther.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, fromOtherWrongToken.StatusCode);
        Assert.Equal(HttpStatusCode.OK, fromOtherWithToken.StatusCode);
        Assert.Contains("bot_answers_total", await fromOtherWithToken.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, fromSelf.StatusCode);
        Assert.StartsWith("text/plain", fromSelf.Content.Headers.ContentType!.MediaType);
        Assert.Equal(HttpStatusCode.OK, askFromOther.StatusCode); // the rest of the service does answer that address
    }

    [Fact]
    public async Task ConsoleLog_IsJsonWithTraceIdAndConversationHash_NeverText()
    {
        // Arrange
        var text = "is ketamine safe with my blood pressure medicine " + Guid.NewGuid().ToString("n")[..8];
        var (token, conversationId) = await Service.StartConversationAsync();
        var hash = ProtocolTelemetry.ConversationHash(conversationId);

        // Act: a Direct Line message, then an emergency one (both log inside their turns)
        foreach (var message in new[] { text, "I took 40 pills an hour ago " + text })
        {
            using var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversationId}/activities");
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            post.Content = JsonContent.Create(new { type = "message", text = message, from = new { id = "x" } });
            (await Service.Http.SendAsync(post)).EnsureSuccessStatusCode();
        }

        // The escalation is logged by the safety gate inside the turn; give the console a moment to flush.
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        List<JsonElement> inTurn;
        while (true)
        {
            inTurn = Lines().Where(l => Scopes(l).Any(s => s.TryGetProperty("ConversationHash", out var h) && h.GetString() == hash)).ToList();
            if (inTurn.Any(l => l.GetProperty("Category").GetString()!.Contains("Escalation", StringComparison.Ordinal)))
            {
                break;
            }

            await Task.Delay(50, wait.Token);
        }

        // Assert: every line is one JSON object; the turn's lines carry the hash and a trace id; no text anywhere
        Assert.All(Service.Output.Where(l => l.StartsWith('{')), l => JsonDocument.Parse(l).Dispose());
        Assert.All(inTurn, l => Assert.Contains(Scopes(l), s => s.TryGetProperty("TraceId", out var t) && t.GetString()!.Length == 32));
        Assert.All(inTurn, l => Assert.Contains(Scopes(l), s => s.TryGetProperty("Channel", out var c) && c.GetString() == "directline"));
        var all = string.Join('\n', Service.Output);
        Assert.DoesNotContain(text, all, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("40 pills", all, StringComparison.OrdinalIgnoreCase);
    }

    private IEnumerable<JsonElement> Lines() => Service.Output.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement);

    private static IEnumerable<JsonElement> Scopes(JsonElement line) =>
        line.TryGetProperty("Scopes", out var scopes) ? scopes.EnumerateArray().Where(s => s.ValueKind == JsonValueKind.Object) : [];

    private async Task<JsonElement> AskAsync(string text)
    {
        var response = await Service.Http.PostAsJsonAsync("/api/ask", new { text });
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    internal static async Task<string> ScrapeAsync(HttpClient http)
    {
        var response = await http.GetAsync("/metrics");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    internal readonly record struct Series(string Name, string Labels);

    /// <summary>Prometheus' text format: <c>name{a="b",...} value</c> per line, comments skipped.</summary>
    internal static Dictionary<Series, double> Parse(string text)
    {
        var series = new Dictionary<Series, double>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }

            var brace = line.IndexOf('{');
            var space = line.LastIndexOf(' ');
            var name = brace >= 0 ? line[..brace] : line[..line.IndexOf(' ')];
            var labels = brace >= 0 ? line[(brace + 1)..line.LastIndexOf('}')] : string.Empty;
            var valueText = line[(space + 1)..];
            if (double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                series[new Series(name, labels)] = value;
            }
        }

        return series;
    }

    internal static double Sum(Dictionary<Series, double> metrics, string name, params (string Label, string Value)[] labels) =>
        metrics.Where(m => m.Key.Name == name && labels.All(l => m.Key.Labels.Contains($"{l.Label}=\"{l.Value}\"", StringComparison.Ordinal)))
            .Sum(m => m.Value);

    private static double Delta(Dictionary<Series, double> before, Dictionary<Series, double> after, string name, params (string Label, string Value)[] labels) =>
        Sum(after, name, labels) - Sum(before, name, labels);
}

/// <summary>
/// <c>Telemetry:MetricSeriesLimit</c> bounds the series a metric keeps (OpenTelemetry preallocates them): past it,
/// measurements still count, in the overflow series.
/// </summary>
public sealed class MetricSeriesLimitTests
{
    [Fact]
    public async Task Metrics_PastTheSeriesLimit_CountInTheOverflowSeries()
    {
        // Arrange: two series per metric
        await using var service = await ServiceProcess.StartAsync(["--Telemetry:MetricSeriesLimit=2"]);

        // Act: requests of four routes and statuses, so four series of http.server.request.duration
        (await service.Http.GetAsync("/healthz")).EnsureSuccessStatusCode();
        (await service.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion?" })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NotFound, (await service.Http.GetAsync("/no-such-page")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await service.Http.PostAsJsonAsync("/api/ask", new { text = "" })).StatusCode);
        var metrics = ObservabilityTests.Parse(await ObservabilityTests.ScrapeAsync(service.Http));

        // Assert: what did not fit is in the overflow series, and nothing was dropped
        Assert.True(ObservabilityTests.Sum(metrics, "http_server_request_duration_seconds_count", ("otel_metric_overflow", "true")) >= 1);
        Assert.True(ObservabilityTests.Sum(metrics, "http_server_request_duration_seconds_count") >= 4);
    }

    [Fact]
    public async Task MetricSeriesLimit_OutOfRange_StopsTheStartWithTheSetting()
    {
        // Act
        var start = () => ServiceProcess.StartAsync(["--Telemetry:MetricSeriesLimit=0"]);

        // Assert
        var error = await Assert.ThrowsAnyAsync<Exception>(start);
        Assert.Contains("MetricSeriesLimit", error.Message);
    }
}
