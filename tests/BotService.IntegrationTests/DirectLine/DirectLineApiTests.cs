using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using BotService.DirectLine;

namespace BotService.IntegrationTests.DirectLine;

/// <summary>
/// Direct Line 3.0 over real loopback HTTP and WebSocket with a real database (SQLite, or PostgreSQL in the PostgreSQL pass): the status codes of malformed and
/// unauthorised requests (never a 5xx), the WebSocket frames, and what lands in the transcript.
/// </summary>
public sealed class DirectLineApiTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    private const string Base = "/v3/directline";

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? bearer, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        return await service.Http.SendAsync(request);
    }

    private static string Message(string text, string clientActivityId = "c1") =>
        JsonSerializer.Serialize(new { type = "message", from = new { id = "forged-user" }, text, channelData = new { clientActivityID = clientActivityId } });

    private static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("error").GetProperty("code").GetString()!;
    }

    [Fact]
    public async Task PostActivity_NoToken_Gets401()
    {
        var (_, conversation, _) = await service.StartConversationAsync();

        var response = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", null, Message("hello there"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("not-a-jwt")]
    [InlineData("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ1c2VyIjoidSIsImNvbnYiOiJjIiwic2NvcGUiOiJjb252ZXJzYXRpb24ifQ.")]
    public async Task PostActivity_ForgedToken_Gets403BadToken(string token)
    {
        var (_, conversation, _) = await service.StartConversationAsync();

        var response = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("hello there"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("BadToken", await ErrorCodeAsync(response));
    }

    [Fact]
    public async Task PostActivity_TamperedSignature_Gets403()
    {
        var (token, conversation, _) = await service.StartConversationAsync();
        var tampered = token[..^4] + (token[^4..] == "AAAA" ? "BBBB" : "AAAA");
        // the genuine token is used first, so it is in the valid-token cache (kept by digest) when the tampered one comes
        var genuine = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("hello there"));

        var response = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", tampered, Message("hello there"));

        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task ExpiredToken_Gets403TokenExpired_OnEveryRoute()
    {
        var (_, conversation, user) = await service.StartConversationAsync();
        var (expired, _) = service.Mint(user, conversation, TimeSpan.FromSeconds(-1));

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Post, $"{Base}/conversations/{conversation}/activities"),
            (HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=0"),
            (HttpMethod.Get, $"{Base}/conversations/{conversation}?watermark="),
            (HttpMethod.Post, $"{Base}/tokens/refresh"),
        })
        {
            var response = await SendAsync(method, path, expired, method == HttpMethod.Post ? Message("hello there") : null);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("TokenExpired", await ErrorCodeAsync(response));
        }
    }

    [Fact]
    public async Task TokenOfAnotherConversation_Gets403_AndNothingIsStored()
    {
        var (_, victim, _) = await service.StartConversationAsync();
        var (mine, _, _) = await service.StartConversationAsync();

        var post = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{victim}/activities", mine, Message("hello there"));
        var read = await SendAsync(HttpMethod.Get, $"{Base}/conversations/{victim}/activities", mine);

        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, read.StatusCode);
        Assert.Equal(0L, Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{victim}' AND \"Role\" = 'visitor' AND \"Type\" = 'message'"));
    }

    [Fact]
    public async Task TokenOfAnotherUserForTheSameConversation_Gets403()
    {
        var (_, conversation, _) = await service.StartConversationAsync();
        var (intruder, _) = service.Mint(DirectLineChannel.NewUserId(), conversation, TimeSpan.FromMinutes(5));

        var post = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", intruder, Message("hello there"));
        var start = await SendAsync(HttpMethod.Post, $"{Base}/conversations", intruder);

        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, start.StatusCode);
    }

    [Fact]
    public async Task UnknownConversation_Gets404()
    {
        var (token, _) = service.Mint(DirectLineChannel.NewUserId(), "never-started", TimeSpan.FromMinutes(5));

        var withToken = await SendAsync(HttpMethod.Get, $"{Base}/conversations/never-started/activities", token);
        var withSecret = await SendAsync(HttpMethod.Post, $"{Base}/conversations/no-such-conversation/activities", DirectLineFixture.Secret, Message("hello there"));

        Assert.Equal(HttpStatusCode.NotFound, withToken.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, withSecret.StatusCode);
    }

    [Theory]
    [InlineData("{not json", HttpStatusCode.BadRequest)]
    [InlineData("{\"text\": \"no type\"}", HttpStatusCode.BadRequest)]
    [InlineData("[]", HttpStatusCode.BadRequest)]
    [InlineData("", HttpStatusCode.BadRequest)]
    [InlineData("{\"type\": \"conversationUpdate\"}", HttpStatusCode.BadRequest)]
    [InlineData("{\"type\": 5}", HttpStatusCode.BadRequest)]
    [InlineData("{\"type\": \"message\\u0000\", \"text\": \"hi\"}", HttpStatusCode.BadRequest)] // stored: PostgreSQL refuses a NUL (fuzz run)
    [InlineData("{\"type\": \"how much is it\", \"text\": \"hi\"}", HttpStatusCode.BadRequest)]
    public async Task PostActivity_MalformedBody_Gets4xxProblem(string body, HttpStatusCode expected)
    {
        var (token, conversation, _) = await service.StartConversationAsync();

        var response = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, body);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("BadArgument", await ErrorCodeAsync(response));
    }

    [Fact]
    public async Task PostActivity_Oversize_Gets413()
    {
        var (token, conversation, _) = await service.StartConversationAsync();

        var response = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message(new string('a', 9000)));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("MessageSizeTooBig", await ErrorCodeAsync(response));
    }

    [Fact]
    public async Task GetActivities_BadWatermark_Gets400()
    {
        var (token, conversation, _) = await service.StartConversationAsync();

        var response = await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=abc", token);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Generate_NeedsTheSecret()
    {
        var (token, _, _) = await service.StartConversationAsync();

        var none = await SendAsync(HttpMethod.Post, $"{Base}/tokens/generate", null);
        var withToken = await SendAsync(HttpMethod.Post, $"{Base}/tokens/generate", token);
        var withSecret = await SendAsync(HttpMethod.Post, $"{Base}/tokens/generate", DirectLineFixture.Secret, "{\"user\": {\"id\": \"dl_alice\"}}");
        var badJson = await SendAsync(HttpMethod.Post, $"{Base}/tokens/generate", DirectLineFixture.Secret, "{oops");

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, withToken.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withSecret.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badJson.StatusCode);
        var body = await withSecret.Content.ReadFromJsonAsync<JsonElement>();
        var claims = JsonDocument.Parse(Base64Url(body.GetProperty("token").GetString()!.Split('.')[1])).RootElement;
        Assert.Equal("dl_alice", claims.GetProperty("user").GetString());
        Assert.Equal(body.GetProperty("conversationId").GetString(), claims.GetProperty("conv").GetString());
        Assert.InRange(body.GetProperty("expires_in").GetInt32(), 1700, 1800);
    }

    [Fact]
    public async Task WebChatToken_NeverContainsTheSecret_AndStartsAConversationOnce()
    {
        var issued = await service.Http.PostAsync("/api/webchat/token", null);
        var text = await issued.Content.ReadAsStringAsync();
        var token = JsonDocument.Parse(text).RootElement.GetProperty("token").GetString()!;

        var first = await SendAsync(HttpMethod.Post, $"{Base}/conversations", token);
        var second = await SendAsync(HttpMethod.Post, $"{Base}/conversations", token);

        Assert.DoesNotContain(DirectLineFixture.Secret, text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var streamUrl = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("streamUrl").GetString()!;
        Assert.StartsWith("ws://127.0.0.1:", streamUrl, StringComparison.Ordinal);
        Assert.DoesNotContain(token, streamUrl, StringComparison.Ordinal); // the stream has its own short-lived ticket
    }

    [Fact]
    public async Task Stream_WithoutOrWithWrongTicket_IsRefusedBeforeTheUpgrade()
    {
        var (token, conversation, _) = await service.StartConversationAsync();

        var none = await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/stream", null);
        var restToken = await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/stream?t={token}", null);

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, restToken.StatusCode);
    }

    [Fact]
    public async Task WebSocket_PushesEchoAndReplyWithWatermark_KeepsAlive_AndANewerSocketClosesTheOlderWithCollision()
    {
        // Arrange
        var (token, conversation, user) = await service.StartConversationAsync();
        var streamUrl = await StreamUrlAsync(token, conversation);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(streamUrl), CancellationToken.None);

        // Act
        var posted = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("how much is an infusion", "ws-1"));
        var id = (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var activities = new List<JsonElement>();
        string? watermark = null;
        var keepAlive = false;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!activities.Any(a => a.TryGetProperty("replyToId", out var r) && r.GetString() == id) || !keepAlive)
        {
            var frame = await ReceiveTextAsync(socket, deadline.Token);
            if (frame.Length == 0)
            {
                keepAlive = activities.Count > 0;
                continue;
            }

            var set = JsonDocument.Parse(frame).RootElement;
            activities.AddRange(set.GetProperty("activities").EnumerateArray().Select(a => a.Clone()));
            watermark = set.GetProperty("watermark").GetString();
        }

        // Assert
        Assert.Equal($"{conversation}|0000003", id); // 1 is the (hidden) conversationUpdate, 2 the welcome
        var echo = Assert.Single(activities, a => a.TryGetProperty("id", out var i) && i.GetString() == id);
        Assert.Equal("ws-1", echo.GetProperty("channelData").GetProperty("clientActivityID").GetString());
        Assert.Equal(user, echo.GetProperty("from").GetProperty("id").GetString());
        Assert.DoesNotContain(activities, a => a.GetProperty("type").GetString() == "conversationUpdate");
        Assert.Equal("4", watermark);

        using var newer = new ClientWebSocket();
        await newer.ConnectAsync(new Uri(await StreamUrlAsync(token, conversation)), CancellationToken.None);
        using var closeDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (socket.State == WebSocketState.Open)
        {
            await ReceiveTextAsync(socket, closeDeadline.Token);
        }

        Assert.Equal("collision", socket.CloseStatusDescription);
    }

    [Fact]
    public async Task Emergency_StoredOnceInTheTranscript_WithItsEscalation()
    {
        var (token, conversation, _) = await service.StartConversationAsync();

        var posted = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("I want to end my life"));
        var id = (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var dispatcher = (BotService.Storage.Escalations.EscalationDispatcher)service.Services.GetService(typeof(BotService.Storage.Escalations.EscalationDispatcher))!;
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            // The reply may reach the socket before its write lands (a turn waits for the transcript at most 300 ms);
            // two bot rows: the welcome and the crisis reply.
            while (!dispatcher.IsIdle || Scalar($"SELECT COUNT(*) FROM escalations WHERE \"ConversationId\" = '{conversation}'") == 0
                   || Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"Role\" = 'bot' AND \"Seq\" IS NOT NULL") < 2)
            {
                await Task.Delay(20, wait.Token);
            }
        }

        Assert.Equal(1L, Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"ActivityId\" = '{id}'"));
        Assert.Equal(3L, Scalar($"SELECT \"Seq\" FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"ActivityId\" = '{id}'"));
        Assert.Equal(1L, Scalar($"SELECT COUNT(*) FROM escalations WHERE \"ConversationId\" = '{conversation}' AND \"MessageActivityId\" = '{id}'"));
        Assert.Equal(1L, Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"Role\" = 'bot' AND \"Seq\" = 4"));
    }

    [Fact]
    public async Task Emergency_WhileTheDatabaseIsLocked_CrisisReplyReachesTheSocketWithinASecond_InOrder_AndEverythingLandsAfter()
    {
        // Arrange: a connected socket, then another process holding the database locked.
        var (token, conversation, _) = await service.StartConversationAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(await StreamUrlAsync(token, conversation)), CancellationToken.None);
        var locker = await Faults.LockDatabaseAsync(service.DataPath);

        // Act: neither the visitor's message nor the reply can be committed while the lock is held.
        var started = System.Diagnostics.Stopwatch.StartNew();
        var post = SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("I want to end my life", "locked-1"));
        var frames = await DirectLineOrderingTests.ReadFramesUntilAsync(socket, activities => activities.Any(IsReplyToTheVisitor), seconds: 5);
        var crisisAfter = started.Elapsed;
        locker.Dispose();
        var response = await post;
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"Seq\" IS NOT NULL AND \"Type\" = 'message'") < 3)
            {
                await Task.Delay(20, wait.Token); // the welcome, the visitor's message and the crisis reply
            }
        }

        // Assert: the crisis reply in time, after the visitor's own message (its echo went out with it, ahead of its
        // commit, in order), one activity per frame; and once the lock is gone the transcript holds what was sent.
        Assert.True(crisisAfter < TimeSpan.FromSeconds(1), $"the crisis reply took {crisisAfter.TotalMilliseconds:F0} ms");
        var sent = frames.SelectMany(f => f.Activities).ToArray();
        Assert.All(frames, f => Assert.Single(f.Activities));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([$"{conversation}|0000002", $"{conversation}|0000003", $"{conversation}|0000004"], sent.Select(a => a.Id)); // the welcome replayed first
        Assert.Equal(id, sent[1].Id);
        Assert.Equal(id, sent[2].ReplyToId);
        Assert.StartsWith("If you are in immediate danger, call 911", sent[2].Text, StringComparison.Ordinal);
        var all = await (await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=", token)).Content.ReadFromJsonAsync<JsonElement>();
        var stored = all.GetProperty("activities").EnumerateArray().Select(a => a.GetProperty("id").GetString()).ToArray();
        frames.AddRange(await DirectLineOrderingTests.ReadFramesUntilAsync(socket, more => sent.Length + more.Count >= stored.Length)); // e.g. "staff will be told"
        Assert.Equal(stored, frames.SelectMany(f => f.Activities).Select(a => a.Id));
    }

    [PostgresFact]
    public async Task Emergency_WhilePostgreSqlRefusesConnections_NoNumberCanBeReserved_CrisisReplyStillReachesTheSocket_AndTheEscalationLands()
    {
        // Arrange: a connected socket that has had the welcome, then a database that ends every session and lets none
        // in, so neither the visitor's message nor the reply can get a sequence number (decision 0017).
        var (token, conversation, _) = await service.StartConversationAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(await StreamUrlAsync(token, conversation)), CancellationToken.None);
        await DirectLineOrderingTests.ReadFramesUntilAsync(socket, activities => activities.Any(a => a.Type == "message"));
        HttpResponseMessage response;
        List<DirectLineOrderingTests.Frame> frames;
        TimeSpan crisisAfter;
        using (Faults.RefuseConnections(service.DataPath))
        {
            // Act
            var started = System.Diagnostics.Stopwatch.StartNew();
            var post = SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("I want to end my life", "down-1"));
            frames = await DirectLineOrderingTests.ReadFramesUntilAsync(socket,
                activities => activities.Any(a => a.Text?.StartsWith("If you are in immediate danger, call 911", StringComparison.Ordinal) == true));
            crisisAfter = started.Elapsed;
            response = await post;
        }

        // Assert: the crisis reply reached the visitor in time, unnumbered (no watermark: nothing was stored); the
        // message's POST says it was not stored; the escalation lands from the outbox once the database is back.
        Assert.True(crisisAfter < TimeSpan.FromSeconds(2), $"the crisis reply took {crisisAfter.TotalMilliseconds:F0} ms");
        Assert.Null(frames[^1].Watermark);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var dispatcher = (BotService.Storage.Escalations.EscalationDispatcher)service.Services.GetService(typeof(BotService.Storage.Escalations.EscalationDispatcher))!;
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!dispatcher.IsIdle || Scalar($"SELECT COUNT(*) FROM escalations WHERE \"ConversationId\" = '{conversation}'") == 0)
        {
            await Task.Delay(50, wait.Token);
        }

        Assert.Equal(1L, Scalar($"SELECT COUNT(*) FROM escalations WHERE \"ConversationId\" = '{conversation}'"));
    }

    [Fact]
    public async Task Polling_ReturnsActivitiesAfterTheWatermark_AndTheSameWatermarkWhenNothingIsNew()
    {
        var (token, conversation, _) = await service.StartConversationAsync();
        await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, Message("how much is an infusion"));
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"Role\" = 'bot'") == 0)
            {
                await Task.Delay(20, wait.Token); // the reply's write may land after the POST is answered
            }
        }

        var all = await (await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=", token)).Content.ReadFromJsonAsync<JsonElement>();
        var after = await (await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=3", token)).Content.ReadFromJsonAsync<JsonElement>();
        var none = await (await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=4", token)).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(3, all.GetProperty("activities").GetArrayLength()); // welcome, the visitor's message, the answer
        Assert.Equal("4", all.GetProperty("watermark").GetString());
        Assert.Equal($"{conversation}|0000004", Assert.Single(after.GetProperty("activities").EnumerateArray()).GetProperty("id").GetString());
        Assert.Empty(none.GetProperty("activities").EnumerateArray());
        Assert.Equal("4", none.GetProperty("watermark").GetString());
    }

    /// <summary>A bot reply to something the visitor sent (the socket also replays the welcome, a reply to the join).</summary>
    private static bool IsReplyToTheVisitor(DirectLineOrderingTests.Sent activity) =>
        activity.Type == "message" && activity.ReplyToId is not null && activity.Text != BotService.Bot.Replies.WelcomeText;

    [Fact]
    public async Task Typing_FromTheClient_IsNeitherStoredNorEchoed()
    {
        var (token, conversation, _) = await service.StartConversationAsync();

        var posted = await SendAsync(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities", token, "{\"type\": \"typing\"}");
        var all = await (await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities", token)).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        var only = Assert.Single(all.GetProperty("activities").EnumerateArray()); // the welcome; no typing echoed
        Assert.Equal(BotService.Bot.Replies.WelcomeText, only.GetProperty("text").GetString());
        Assert.Equal(0L, Scalar($"SELECT COUNT(*) FROM messages WHERE \"ConversationId\" = '{conversation}' AND \"Type\" = 'typing'"));
    }

    [Fact]
    public void SigningKey_GeneratedInTheDataFolder_OwnerOnly()
    {
        var file = Path.Combine(service.DataPath, "directline-signing.key");

        Assert.True(File.Exists(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.True(Convert.FromBase64String(File.ReadAllText(file)).Length >= 32);
    }

    private async Task<string> StreamUrlAsync(string token, string conversation)
    {
        var response = await SendAsync(HttpMethod.Get, $"{Base}/conversations/{conversation}?watermark=", token);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("streamUrl").GetString()!;
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return string.Empty;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            if (result.EndOfMessage)
            {
                return text.ToString();
            }
        }
    }

    private long Scalar(string sql) => TestStorage.Scalar(service.DataPath, sql);

    private static string Base64Url(string s) =>
        Encoding.UTF8.GetString(Convert.FromBase64String(s.Replace('-', '+').Replace('_', '/').PadRight(s.Length + (4 - s.Length % 4) % 4, '=')));
}
