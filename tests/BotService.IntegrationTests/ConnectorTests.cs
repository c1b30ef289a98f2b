using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace BotService.IntegrationTests;

/// <summary>Replies sent to a loopback Connector server through the Connector REST routes, and updates of sent activities.</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class ConnectorTests(ServiceFixture service) : IClassFixture<ServiceFixture>, IAsyncLifetime
{
    private readonly ConcurrentQueue<(string Path, JsonElement Body)> _received = new();
    private readonly ConcurrentQueue<(string Path, JsonElement Body)> _updated = new();
    private WebApplication? _connector;
    private string _url = string.Empty;
    private int _failuresLeft;
    private int _throttledLeft;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _connector = builder.Build();
        _connector.MapPost("/v3/conversations/{conversation}/activities/{activity}", async (HttpContext http) =>
        {
            if (Interlocked.Decrement(ref _failuresLeft) >= 0)
            {
                return Results.StatusCode(503);
            }

            if (Interlocked.Decrement(ref _throttledLeft) >= 0)
            {
                http.Response.Headers.RetryAfter = "1";
                return Results.Json(new { error = new { code = "Throttled", message = "slow down" } }, statusCode: 429);
            }

            var body = await http.Request.ReadFromJsonAsync<JsonElement>();
            _received.Enqueue((http.Request.Path.Value!, body));
            return Results.Json(new { id = "reply-1" });
        });
        _connector.MapPut("/v3/conversations/{conversation}/activities/{activity}", async (HttpContext http) =>
        {
            if (Interlocked.Decrement(ref _failuresLeft) >= 0)
            {
                return Results.StatusCode(503);
            }

            // The target as sent (Kestrel's Path has %3A and %40 decoded already)
            var raw = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget;
            _updated.Enqueue((raw, await http.Request.ReadFromJsonAsync<JsonElement>()));
            return Results.Json(new { id = http.Request.RouteValues["activity"] });
        });
        await _connector.StartAsync();
        _url = _connector.Urls.Single() + "/";
    }

    public async Task DisposeAsync()
    {
        if (_connector is not null)
        {
            await _connector.DisposeAsync();
        }
    }

    private object Message(string id) => new
    {
        type = "message", id, channelId = "emulator", serviceUrl = _url,
        conversation = new { id = "conv/" + id }, from = new { id = "user-1" }, recipient = new { id = "bot" },
        text = "how much is an infusion",
    };

    [Fact]
    public async Task Messages_NormalDelivery_PostsTheReplyToTheConversationRoute()
    {
        // Act
        var response = await service.Http.PostAsJsonAsync("/api/messages", Message("m10"));

        // Assert: conversation id escaped as the SDK does; reply addressed back to the user.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (path, body) = Assert.Single(_received, r => r.Body.GetProperty("type").GetString() == "message");
        Assert.Equal("/v3/conversations/conv%2Fm10/activities/m10", path);
        Assert.Contains("$275", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("user-1", body.GetProperty("recipient").GetProperty("id").GetString());
    }

    [Fact]
    public async Task Messages_ConnectorAnswers503Twice_TheReplyIsRetriedAndDelivered()
    {
        _failuresLeft = 2;

        var response = await service.Http.PostAsJsonAsync("/api/messages", Message("m11"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The retries' backoff makes the turn slow, so typing indicators may go out too; exactly one answer does.
        Assert.Single(_received, r => r.Body.GetProperty("type").GetString() == "message");
    }

    [Fact]
    public async Task Messages_Connector429WithRetryAfter_WaitsThenDelivers()
    {
        _throttledLeft = 1;
        var started = System.Diagnostics.Stopwatch.StartNew();

        var response = await service.Http.PostAsJsonAsync("/api/messages", Message("m12"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(_received, r => r.Body.GetProperty("type").GetString() == "message");
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(0.9), $"retried after {started.Elapsed}, before Retry-After's 1 s");
    }

    [Fact]
    public async Task Update_ConnectorAnswers503Once_ThePutIsRetriedToTheActivityRoute()
    {
        // Arrange: the client the service itself uses (resilience handler and all)
        _failuresLeft = 1;
        var connector = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<Protocol.Connector.ConnectorClient>(service.Services);
        var activity = new Protocol.Schema.Activity
        {
            Type = "message", Id = "1700000000000", ServiceUrl = _url, Conversation = new() { Id = "19:a@thread.tacv2" }, Text = "updated",
        };

        // Act
        var result = await connector.UpdateAsync(activity, CancellationToken.None);

        // Assert: the SDK's UpdateActivity route, ids escaped, the whole activity as the body
        var (path, body) = Assert.Single(_updated);
        Assert.Equal("/v3/conversations/19%3Aa%40thread.tacv2/activities/1700000000000", path);
        Assert.Equal("updated", body.GetProperty("text").GetString());
        Assert.Equal("1700000000000", result?.Id);
    }
}
