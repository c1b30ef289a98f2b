using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace BotService.IntegrationTests;

/// <summary>What goes on the wire: replies omit null fields (protocol.md §1; the Activity is sent by every reply).</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class WireFormatTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task Messages_ExpectRepliesReply_HasNoNullFieldAnywhere()
    {
        // Arrange
        var message = new
        {
            type = "message",
            id = "wire-1",
            channelId = "emulator",
            serviceUrl = "http://127.0.0.1:9/",
            deliveryMode = "expectReplies",
            conversation = new { id = "conv-wire-1" },
            from = new { id = "user-1", role = "user" },
            recipient = new { id = "bot", role = "bot" },
            text = "how much is an infusion",
        };

        // Act
        var response = await service.Http.PostAsJsonAsync("/api/messages", message);

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var reply = Assert.Single(body.GetProperty("activities").EnumerateArray());
        Assert.Contains("$275", reply.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Empty(NullPaths(body, "$"));
    }

    [Fact]
    public async Task Ask_AnswerWithoutCorrections_OmitsInterpretedAs()
    {
        // Act
        var body = await service.AskAsync("how much is an infusion");

        // Assert
        Assert.True(body.GetProperty("answered").GetBoolean());
        Assert.False(body.TryGetProperty("interpretedAs", out _));
        Assert.Empty(NullPaths(body, "$"));
    }

    private static IEnumerable<string> NullPaths(JsonElement element, string path) => element.ValueKind switch
    {
        JsonValueKind.Null => [path],
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => NullPaths(p.Value, $"{path}.{p.Name}")),
        JsonValueKind.Array => element.EnumerateArray().SelectMany((e, i) => NullPaths(e, $"{path}[{i}]")),
        _ => [],
    };
}
