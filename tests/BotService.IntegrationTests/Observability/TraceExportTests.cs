using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// Traces across a turn, exported over OTLP (HTTP/protobuf) to a collector stand-in on loopback: one request to
/// /api/messages whose replies go through the Connector (a stub on the same loopback app), and one Direct Line post.
/// The protobuf is not decoded: span names and ids are plain bytes in it, and so would any text be.
/// </summary>
public sealed class TraceExportTests
{
    [Fact]
    public async Task Otlp_TurnSpansFromRequestToConnectorSend_ShareTheCallersTraceId_AndCarryNoText()
    {
        // Arrange: the collector and the Connector, on one loopback app
        var exports = new ConcurrentQueue<byte[]>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var collector = builder.Build();
        collector.MapPost("/v1/traces", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            exports.Enqueue(body.ToArray());
            return Results.Ok();
        });
        collector.MapPost("/v3/conversations/{conversation}/activities/{replyTo}", () => Results.Json(new { id = "sent-1" }));
        await collector.StartAsync();
        var collectorUrl = collector.Urls.Single();

        var text = "what does a ketamine infusion cost " + Guid.NewGuid().ToString("n")[..8];
        var traceId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        await using var service = await ServiceProcess.StartAsync(
            ["--Telemetry:Traces=Otlp", $"--Telemetry:OtlpEndpoint={collectorUrl}/v1/traces"],
            new Dictionary<string, string> { ["OTEL_BSP_SCHEDULE_DELAY"] = "200" });

        // Act: a channel's message (replies posted to the Connector), then a Direct Line message
        using (var post = new HttpRequestMessage(HttpMethod.Post, "/api/messages"))
        {
            post.Headers.Add("traceparent", $"00-{traceId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8))}-01");
            post.Content = JsonContent.Create(new
            {
                type = "message", id = "m1", channelId = "emulator", serviceUrl = collectorUrl + "/",
                conversation = new { id = "trace-conversation" }, from = new { id = "u1" }, recipient = new { id = "bot" }, text,
            });
            (await service.Http.SendAsync(post)).EnsureSuccessStatusCode();
        }

        var (token, conversationId) = await service.StartConversationAsync();
        using (var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversationId}/activities"))
        {
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            post.Content = JsonContent.Create(new { type = "message", text, from = new { id = "x" } });
            (await service.Http.SendAsync(post)).EnsureSuccessStatusCode();
        }

        await service.StopAsync(); // flushes what is left
        var all = exports.SelectMany(e => e).ToArray();

        // Assert
        Assert.NotEmpty(exports);
        Assert.True(Contains(all, Convert.FromHexString(traceId)), "the turn continues the caller's trace");
        foreach (var span in new[] { "turn", "middleware SafetyMiddleware", "middleware TranscriptMiddleware", "bot", "safety check",
                     "knowledge ask", "connector send", "POST /api/messages", "POST /v3/directline/conversations/{conversationId}/activities" })
        {
            Assert.True(Contains(all, Encoding.UTF8.GetBytes(span)), $"no span named '{span}' was exported");
        }

        Assert.True(Contains(all, Encoding.UTF8.GetBytes(BotService.Protocol.Telemetry.ProtocolTelemetry.ConversationHash("trace-conversation"))));
        Assert.False(Contains(all, Encoding.UTF8.GetBytes(text)), "message text in a span");
        Assert.False(Contains(all, Encoding.UTF8.GetBytes("ketamine infusion cost")), "message text in a span");
        Assert.False(Contains(all, Encoding.UTF8.GetBytes(token)), "a Direct Line token in a span");
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
