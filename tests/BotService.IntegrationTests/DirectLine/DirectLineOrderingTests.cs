using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace BotService.IntegrationTests.DirectLine;

/// <summary>
/// The order in which a conversation's activities reach its WebSocket, over real loopback HTTP and WebSocket with the
/// real SQLite transcript. Direct Line clients rely on it: botframework-directlinejs (and Web Chat on top of it) emits
/// each frame's activities one timer tick at a time, so a frame that arrives while an earlier frame with several
/// activities is still being emitted gets interleaved with it. The stream therefore sends one activity per frame, in
/// the transcript's order (its watermark is that activity's number), and what it sends is what the transcript holds.
/// </summary>
public sealed class DirectLineOrderingTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    private const string Base = "/v3/directline";

    [Fact]
    public async Task FirstMessagePostedTheInstantTheConversationStarts_OneActivityPerFrameInWatermarkOrder_AsTheTranscriptHasThem()
    {
        for (var round = 0; round < 50; round++)
        {
            // Arrange: a token and a started conversation whose welcome turn is still running.
            var (token, conversation, streamUrl) = await StartWithoutWaitingAsync();
            using var socket = new ClientWebSocket();

            // Act: the socket connects and the first message is posted at the same instant.
            var connecting = socket.ConnectAsync(new Uri(streamUrl), CancellationToken.None);
            var posting = SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("how much is an infusion", $"instant-{round}"));
            await connecting;
            var posted = await posting;
            posted.EnsureSuccessStatusCode();
            var id = (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            var frames = await ReadFramesUntilAsync(socket, activities =>
                activities.Any(a => a.Id == id)
                && activities.Any(a => a.ReplyToId == id && a.Type == "message")
                && activities.Any(a => a.Type == "message" && a.ReplyToId is not null && a.ReplyToId != id));

            // Assert
            var sent = frames.SelectMany(f => f.Activities).Select(a => a.Id).ToArray();
            Assert.All(frames, f => Assert.Single(f.Activities));
            Assert.All(frames, f => Assert.Equal(Seq(f.Activities[0].Id!), f.Watermark));
            Assert.Equal(sent.Order(StringComparer.Ordinal).Distinct(), sent); // strictly increasing: ids are {conversation}|{seq:D7}
            Assert.Equal(await TranscriptIdsAsync(token, conversation), sent); // nothing missing, nothing extra, the polling GET agrees
        }
    }

    [SqliteFact] // the failing write is made by holding the SQLite file's lock past the store's busy timeout
    public async Task AWriteThatFails_ItsNumberIsPassedOver_AndTheActivitiesAfterItStillArrive()
    {
        // Arrange: a socket after the welcome, then the database's write lock held by another connection, long enough
        // for the visitor's message to fail for good (the store gives up after its busy timeout).
        var (token, conversation, _) = await service.StartConversationAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(await StreamUrlAsync(token, conversation)), CancellationToken.None);
        var locker = new SqliteConnection($"Data Source={Path.Combine(service.DataPath, "botservice.db")};Pooling=False");
        locker.Open();
        using (var begin = locker.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            begin.ExecuteNonQuery();
        }

        // Act: the message (number 3) cannot be stored; its answer (4) is queued behind it and lands once the lock goes.
        HttpResponseMessage posted;
        try
        {
            posted = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("how much is an infusion", "fails-1"))
                .WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            using (var rollback = locker.CreateCommand())
            {
                rollback.CommandText = "ROLLBACK";
                rollback.ExecuteNonQuery();
            }

            locker.Dispose();
        }

        var frames = await ReadFramesUntilAsync(socket, activities => activities.Any(a => a.ReplyToId == $"{conversation}|0000003"), seconds: 30);

        // Assert: the failed number is passed over, not waited for; the socket and the polling GET agree.
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, posted.StatusCode);
        var sent = frames.SelectMany(f => f.Activities).Select(a => a.Id!).ToArray();
        Assert.Equal([$"{conversation}|0000002", $"{conversation}|0000004"], sent);
        Assert.Equal(sent, await TranscriptIdsAsync(token, conversation));
    }

    private async Task<string> StreamUrlAsync(string token, string conversation)
    {
        var response = await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}?watermark=", token);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("streamUrl").GetString()!;
    }

    private static long Seq(string id) => long.Parse(id[(id.LastIndexOf('|') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>What the polling GET from the start returns: the transcript's visible activities, in its order.</summary>
    private async Task<string[]> TranscriptIdsAsync(string token, string conversation)
    {
        var all = await (await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=", token)).Content.ReadFromJsonAsync<JsonElement>();
        return [.. all.GetProperty("activities").EnumerateArray().Select(a => a.GetProperty("id").GetString()!)];
    }

    /// <summary>A Web Chat token and its conversation started (as directlinejs does), without waiting for the welcome.</summary>
    private async Task<(string Token, string Conversation, string StreamUrl)> StartWithoutWaitingAsync()
    {
        var issued = await (await service.Http.PostAsync("/api/webchat/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        var token = issued.GetProperty("token").GetString()!;
        var started = await SendAsync(HttpMethod.Post, $"{Base}/conversations", token);
        started.EnsureSuccessStatusCode();
        var body = await started.Content.ReadFromJsonAsync<JsonElement>();
        return (token, body.GetProperty("conversationId").GetString()!, body.GetProperty("streamUrl").GetString()!);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string bearer, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        return await service.Http.SendAsync(request);
    }

    private static string Message(string text, string clientActivityId) =>
        JsonSerializer.Serialize(new { type = "message", from = new { id = "visitor" }, text, channelData = new { clientActivityID = clientActivityId } });

    internal sealed record Sent(string? Id, string Type, string? ReplyToId, string? Text);

    internal sealed record Frame(IReadOnlyList<Sent> Activities, long? Watermark);

    /// <summary>Reads activity frames (keep-alives and typing-only frames skipped) until <paramref name="done"/> holds for all activities read.</summary>
    internal static async Task<List<Frame>> ReadFramesUntilAsync(ClientWebSocket socket, Func<IReadOnlyList<Sent>, bool> done, int seconds = 10)
    {
        var frames = new List<Frame>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        while (!done([.. frames.SelectMany(f => f.Activities)]))
        {
            var text = await ReceiveTextAsync(socket, deadline.Token);
            if (text.Length == 0)
            {
                continue; // keep-alive
            }

            var set = JsonDocument.Parse(text).RootElement;
            var activities = set.GetProperty("activities").EnumerateArray()
                .Where(a => a.GetProperty("type").GetString() != "typing") // typing has no id and no place in the transcript
                .Select(a => new Sent(
                    a.TryGetProperty("id", out var i) ? i.GetString() : null,
                    a.GetProperty("type").GetString()!,
                    a.TryGetProperty("replyToId", out var r) ? r.GetString() : null,
                    a.TryGetProperty("text", out var t) ? t.GetString() : null))
                .ToArray();
            if (activities.Length > 0)
            {
                frames.Add(new Frame(activities, set.TryGetProperty("watermark", out var w) ? long.Parse(w.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : null));
            }
        }

        return frames;
    }

    internal static async Task<string> ReceiveTextAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new WebSocketException($"the server closed the socket ({socket.CloseStatusDescription})");
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            if (result.EndOfMessage)
            {
                return text.ToString();
            }
        }
    }
}
