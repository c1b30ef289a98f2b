using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BotService.IntegrationTests.Feedback;

/// <summary>What the feedback tests share: a turn on /api/messages as the Emulator sends one.</summary>
internal static class FeedbackKit
{
    /// <summary>
    /// Posts <paramref name="activity"/> (its type, text, name, entities…) to /api/messages of a service in anonymous local
    /// mode, addressed as the Emulator would, with <c>expectReplies</c>; returns the replies.
    /// </summary>
    public static async Task<JsonElement[]> ExpectRepliesAsync(this ServiceFixture fixture, string conversationId, object activity)
    {
        var body = JsonSerializer.SerializeToNode(activity)!.AsObject();
        body["id"] = Guid.NewGuid().ToString("n");
        body["channelId"] = "emulator";
        body["serviceUrl"] = "http://127.0.0.1:9/";
        body["deliveryMode"] = "expectReplies";
        body["conversation"] = new JsonObject { ["id"] = conversationId };
        body["from"] = new JsonObject { ["id"] = "visitor" };
        body["recipient"] = new JsonObject { ["id"] = "bot" };
        var response = await fixture.Http.PostAsJsonAsync("/api/messages", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("activities").EnumerateArray().Select(a => a.Clone()).ToArray();
    }
}
