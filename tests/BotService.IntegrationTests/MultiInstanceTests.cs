using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using BotService.IntegrationTests.Auth;
using BotService.IntegrationTests.Dashboard;
using BotService.IntegrationTests.DirectLine;

namespace BotService.IntegrationTests;

/// <summary>
/// Two service processes (A and B, each its own data folder, port and home directory) on one PostgreSQL database,
/// configured as an operator would (one Direct Line signing key; Data Protection keys in the database): a conversation
/// started on A and continued through B, concurrent posts through both, a slow turn's typing shown on the other
/// instance's socket, escalations and claims seen by both dashboards, a sign-in on one and an action on the other, and
/// Teams alerts sent once, by one instance at a time (decision 0017). PostgreSQL only: several instances on one SQLite
/// file are not supported.
/// </summary>
public sealed class MultiInstanceTests(MultiInstanceTests.Pair pair) : IClassFixture<MultiInstanceTests.Pair>
{
    private const string Base = "/v3/directline";

    [PostgresFact]
    public async Task ConversationStartedOnA_PostedThroughB_AsSocketGetsTheWholeTurnInWatermarkOrder()
    {
        // Arrange: the conversation and its socket on A.
        var (token, conversation) = await pair.A.StartConversationAsync();
        using var socket = await ConnectAsync(pair.A, token, conversation);

        // Act: the visitor's message goes through B (a load balancer's choice), with A's token.
        var posted = await PostAsync(pair.B, token, conversation, "how much is an infusion?", "mi-1");
        var frames = await DirectLineOrderingTests.ReadFramesUntilAsync(socket,
            a => a.Any(x => x.Type == "message" && x.ReplyToId == posted), seconds: 15);

        // Assert: the welcome (made on A), the visitor's message and the answer (both made on B), one per frame, each
        // frame's watermark its own number, in the transcript's order.
        Assert.All(frames, f => Assert.Single(f.Activities));
        var ids = frames.Select(f => f.Activities[0].Id!).ToArray();
        Assert.Equal([$"{conversation}|0000002", $"{conversation}|0000003", $"{conversation}|0000004"], ids);
        Assert.Equal(posted, ids[1]);
        Assert.Equal([2L, 3L, 4L], frames.Select(f => f.Watermark!.Value));
    }

    [PostgresFact]
    public async Task ConcurrentPostsThroughAAndB_EachInstancesSocketGetsEveryAcknowledgedActivityOnce_InWatermarkOrder()
    {
        // Arrange: one conversation with a socket on each instance.
        var (token, conversation) = await pair.A.StartConversationAsync();
        using var onA = await ConnectAsync(pair.A, token, conversation);
        using var onB = await ConnectAsync(pair.B, token, conversation);

        // Act: twelve messages at once, alternately through A and B.
        var posts = Enumerable.Range(0, 12)
            .Select(i => PostAsync(i % 2 == 0 ? pair.A : pair.B, token, conversation, i % 3 == 0 ? "what is ketamine?" : "how much is an infusion?", $"cc-{i}"))
            .ToArray();
        var acknowledged = await Task.WhenAll(posts);
        var answered = (Func<IReadOnlyList<DirectLineOrderingTests.Sent>, bool>)(a =>
            acknowledged.All(id => a.Any(x => x.Id == id) && a.Any(x => x.ReplyToId == id)));
        var framesA = await DirectLineOrderingTests.ReadFramesUntilAsync(onA, answered, seconds: 40);
        var framesB = await DirectLineOrderingTests.ReadFramesUntilAsync(onB, answered, seconds: 40);
        var stored = await StoredIdsAsync(pair.A, token, conversation);

        // Assert: each socket got the transcript's activities, each once, in number order, with increasing watermarks.
        foreach (var frames in new[] { framesA, framesB })
        {
            var ids = frames.Select(f => f.Activities.Single().Id!).ToArray();
            Assert.Equal(ids.Length, ids.Distinct().Count());
            Assert.Equal(stored.Take(ids.Length), ids);
            var watermarks = frames.Select(f => f.Watermark!.Value).ToArray();
            Assert.True(watermarks.Zip(watermarks.Skip(1)).All(w => w.First < w.Second), "watermarks increase: " + string.Join(",", watermarks));
            Assert.All(acknowledged, id => Assert.Contains(id, ids));
        }
    }

    [PostgresFact]
    public async Task SlowTurnThroughA_BsSocketShowsTheBotTyping_ThenGetsTheAnswer()
    {
        // Arrange: the visitor's socket on B. The transcript's table is locked against writes, so the turn through A
        // waits for its commit: a slow turn, which shows the bot typing after half a second.
        var (token, conversation) = await pair.A.StartConversationAsync();
        using var onB = await ConnectAsync(pair.B, token, conversation);
        await using var locker = TestStorage.Open(pair.A.DataPath);
        await TestStorage.Command(locker, "BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE").ExecuteNonQueryAsync();
        Task<string> post;
        string typing;
        try
        {
            // Act
            post = PostAsync(pair.A, token, conversation, "how much is an infusion?", "ty-1");
            typing = await NextTypingFrameAsync(onB, seconds: 15);
        }
        finally
        {
            await TestStorage.Command(locker, "ROLLBACK").ExecuteNonQueryAsync();
        }

        var posted = await post;
        var frames = await DirectLineOrderingTests.ReadFramesUntilAsync(onB, a => a.Any(x => x.Type == "message" && x.ReplyToId == posted), seconds: 15);

        // Assert: a typing frame from the bot, without a watermark (it has no place in the transcript), then the answer.
        var set = JsonDocument.Parse(typing).RootElement;
        Assert.False(set.TryGetProperty("watermark", out _));
        var activity = Assert.Single(set.GetProperty("activities").EnumerateArray());
        Assert.Equal("typing", activity.GetProperty("type").GetString());
        Assert.Equal("bot", activity.GetProperty("from").GetProperty("role").GetString());
        Assert.Equal(conversation, activity.GetProperty("conversation").GetProperty("id").GetString());
        Assert.Contains(frames.SelectMany(f => f.Activities), a => a.ReplyToId == posted && a.Text!.Contains("$275", StringComparison.Ordinal));
    }

    [PostgresFact]
    public async Task EmergencyThroughB_ShowsOnAsDashboard_AClaimSignedInOnAAndPostedToB_KeepsTheBotQuietOnBoth()
    {
        // Arrange: a nurse signed in on A with A's live queue open; a visitor's conversation, streaming from A.
        var email = await pair.AddStaffAsync();
        using var nurse = new StaffClient(pair.A.BaseAddress);
        Assert.Equal(HttpStatusCode.Redirect, (await nurse.SignInAsync(email, DashboardSeed.Password)).StatusCode);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var events = await nurse.Http.GetAsync("/dashboard/api/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync(timeout.Token));
        Assert.Equal("ready", (await NextEventAsync(reader, timeout.Token)).Event);
        var (token, conversation) = await pair.A.StartConversationAsync();
        using var socket = await ConnectAsync(pair.A, token, conversation);

        // Act 1: the emergency is posted through B.
        var emergency = await PostAsync(pair.B, token, conversation, "I want to end my life tonight", "em-1");
        var escalation = await NextEventOfKindAsync(reader, "escalation", timeout.Token);
        var id = JsonDocument.Parse(escalation).RootElement.GetProperty("escalationId").GetGuid();

        // Act 2: the same browser (A's cookies) claims it on B, with the antiforgery token of A's page, and B replies.
        using var onB = nurse.For(pair.B.BaseAddress);
        var claim = await onB.Http.PostAsync($"/dashboard/escalations/{id}?handler=Claim",
            StaffClient.Form(("__RequestVerificationToken", await nurse.TokenAsync($"/dashboard/escalations/{id}"))));
        var changed = await NextEventOfKindAsync(reader, "changed", timeout.Token); // A's queue hears of B's claim
        var staffText = "This is the clinic; a nurse is with you now.";
        var reply = await onB.PostAsync($"/dashboard/escalations/{id}?handler=Reply", ("text", staffText));
        var quietOnB = await PostAsync(pair.B, token, conversation, "how much is an infusion?", "q-b");
        var quietOnA = await PostAsync(pair.A, token, conversation, "what is ketamine?", "q-a");
        var frames = await DirectLineOrderingTests.ReadFramesUntilAsync(socket,
            a => a.Any(x => x.Text == staffText) && a.Any(x => x.Id == quietOnA), seconds: 15);
        await Task.Delay(1500); // time for an answer to show up, were the bot not quiet

        // Assert: the crisis reply reached A's socket; the claim made with A's sign-in worked on B; the staff reply
        // from B's dashboard reached the visitor on A; neither instance answered the visitor while claimed.
        var sent = frames.SelectMany(f => f.Activities).ToList();
        Assert.Contains(sent, a => a.ReplyToId == emergency && a.Text!.StartsWith("If you are in immediate danger", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Redirect, claim.StatusCode);
        Assert.DoesNotContain("/account/login", claim.Headers.Location?.OriginalString ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal("claimed", JsonDocument.Parse(changed).RootElement.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Redirect, reply.StatusCode);
        var stored = await StoredAsync(pair.A, token, conversation);
        Assert.DoesNotContain(stored, a => a.ReplyToId == quietOnB || a.ReplyToId == quietOnA);
        Assert.Contains(stored, a => a.Id == quietOnB);
    }

    [PostgresFact]
    public async Task TeamsAlerts_TwoInstances_EachSentOnce_AndWhenTheSenderIsKilledTheOtherSendsTheNext()
    {
        // Arrange: a third and fourth instance with Teams alerts to the loopback Connector, on a database of their own.
        await using var issuer = await BotFrameworkIssuer.StartAsync();
        issuer.AddChannelKey("channel-key-1", "webchat", "msteams", "directline");
        var args = AuthenticatedService.ServiceArgs(issuer, alertChannel: true);
        await using var teams = await Pair.StartAsync(args);
        var holder = await teams.WaitForHolderAsync();
        var other = holder == teams.A ? teams.B : teams.A;

        // Act 1: an emergency through each instance.
        var first = await EmergencyAsync(teams.A, "alert-a");
        var second = await EmergencyAsync(teams.B, "alert-b");
        await WaitAsync(() => AlertsFor(issuer, teams, first) == 1 && AlertsFor(issuer, teams, second) == 1, 30, "both alerts");
        await Task.Delay(TimeSpan.FromSeconds(4)); // long enough for a second sender's duplicate, were there one

        // Act 2: the sending instance dies; an emergency through the survivor.
        using (var process = Process.GetProcessById(holder.ProcessId))
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        var clock = Stopwatch.StartNew();
        var third = await EmergencyAsync(other, "alert-c");
        await WaitAsync(() => AlertsFor(issuer, teams, third) == 1, 30, "the alert after the sender died");

        // Assert
        Assert.Equal(1, AlertsFor(issuer, teams, first));
        Assert.Equal(1, AlertsFor(issuer, teams, second));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the survivor took {clock.Elapsed.TotalSeconds:F1} s to send");
    }

    private static async Task<string> EmergencyAsync(ServiceProcess service, string clientId)
    {
        var (token, conversation) = await service.StartConversationAsync();
        await PostAsync(service, token, conversation, "I want to end my life tonight", clientId);
        return conversation;
    }

    private static int AlertsFor(BotFrameworkIssuer issuer, Pair pair, string conversation)
    {
        var id = pair.EscalationId(conversation);
        return id is null ? 0 : issuer.Received.Count(r => r.Body.Contains($"dashboard/escalations/{id:D}", StringComparison.Ordinal));
    }

    private static async Task WaitAsync(Func<bool> condition, int seconds, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(seconds), "timed out waiting for " + what);
            await Task.Delay(100);
        }
    }

    private static async Task<ClientWebSocket> ConnectAsync(ServiceProcess service, string token, string conversation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{Base}/conversations/{conversation}?watermark=");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await service.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var streamUrl = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("streamUrl").GetString()!;
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(streamUrl), CancellationToken.None);
        return socket;
    }

    /// <summary>The next frame holding a typing activity (keep-alives and other frames passed over).</summary>
    private static async Task<string> NextTypingFrameAsync(ClientWebSocket socket, int seconds)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            while (true)
            {
                var text = await DirectLineOrderingTests.ReceiveTextAsync(socket, deadline.Token);
                if (text.Contains("\"typing\"", StringComparison.Ordinal))
                {
                    return text;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException($"no typing frame on the socket within {seconds} s");
        }
    }

    private static async Task<string> PostAsync(ServiceProcess service, string token, string conversation, string text, string clientId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{Base}/conversations/{conversation}/activities")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { type = "message", from = new { id = "v" }, text, channelData = new { clientActivityID = clientId } }),
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await service.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private static async Task<List<DirectLineOrderingTests.Sent>> StoredAsync(ServiceProcess service, string token, string conversation)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{Base}/conversations/{conversation}/activities?watermark=");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var body = await (await service.Http.SendAsync(request)).Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("activities").EnumerateArray().Select(a => new DirectLineOrderingTests.Sent(
            a.GetProperty("id").GetString(), a.GetProperty("type").GetString()!,
            a.TryGetProperty("replyToId", out var r) ? r.GetString() : null, a.TryGetProperty("text", out var t) ? t.GetString() : null)).ToList();
    }

    private static async Task<string[]> StoredIdsAsync(ServiceProcess service, string token, string conversation) =>
        [.. (await StoredAsync(service, token, conversation)).Select(a => a.Id!)];

    private static async Task<string> NextEventOfKindAsync(StreamReader reader, string kind, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (name, data) = await NextEventAsync(reader, cancellationToken);
            if (name == kind)
            {
                return data;
            }
        }
    }

    private static async Task<(string Event, string Data)> NextEventAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        string? name = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0 && name is not null)
            {
                return (name, data.ToString());
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line["data: ".Length..]);
            }
        }

        throw new EndOfStreamException("the event stream ended");
    }

    /// <summary>Two service processes on one PostgreSQL database (A's), sharing a Direct Line signing key, each with a
    /// home directory of its own (so nothing is shared through a default per-user folder).</summary>
    public sealed class Pair : IAsyncLifetime, IAsyncDisposable
    {
        public ServiceProcess A { get; private set; } = null!;

        public ServiceProcess B { get; private set; } = null!;

        public static async Task<Pair> StartAsync(IEnumerable<string> extraArgs)
        {
            var pair = new Pair();
            await pair.StartCoreAsync(extraArgs);
            return pair;
        }

        public Task InitializeAsync() => TestStorage.IsPostgres ? StartCoreAsync([]) : Task.CompletedTask;

        private async Task StartCoreAsync(IEnumerable<string> extraArgs)
        {
            var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            string[] common = [$"--DirectLine:SigningKey={key}", "--RateLimits:Enabled=false", .. extraArgs];
            A = await ServiceProcess.StartAsync(common, Home());
            var shared = TestStorage.ConnectionString(A.DataPath);
            B = await ServiceProcess.StartAsync([.. common, $"--ConnectionStrings:BotService={shared}"], Home());
        }

        private static Dictionary<string, string> Home()
        {
            var home = Path.Combine(Path.GetTempPath(), "botservice-it", "home-" + Guid.NewGuid().ToString("n"));
            Directory.CreateDirectory(home);
            return new Dictionary<string, string> { ["HOME"] = home };
        }

        /// <summary>A staff account, made with the service's own command line on the shared database.</summary>
        public async Task<string> AddStaffAsync()
        {
            var email = $"nurse-{Guid.NewGuid():n}@clinic.test";
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepoPaths.Root };
            foreach (var a in new[] { ServiceProcess.ServiceDll, "users", "add", "--email", email, "--role", "staff", $"--Data:Path={A.DataPath}" }
                         .Concat(TestStorage.ServiceArgs(A.DataPath)))
            {
                psi.ArgumentList.Add(a);
            }

            using var process = Process.Start(psi)!;
            await process.StandardInput.WriteLineAsync(DashboardSeed.Password);
            process.StandardInput.Close();
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, "users add failed: " + output);
            return email;
        }

        /// <summary>The instance that logged taking the single-instance lock.</summary>
        public async Task<ServiceProcess> WaitForHolderAsync()
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                foreach (var s in new[] { A, B })
                {
                    if (s.Output.Any(l => l.Contains("runs on this instance", StringComparison.Ordinal)))
                    {
                        return s;
                    }
                }

                await Task.Delay(100);
            }

            throw new TimeoutException("neither instance took the single-instance lock");
        }

        public Guid? EscalationId(string conversation)
        {
            using var connection = TestStorage.Open(A.DataPath, readOnly: true);
            using var command = TestStorage.Command(connection, """SELECT "Id" FROM escalations WHERE "ConversationId" = @p0""", conversation);
            return command.ExecuteScalar() is Guid id ? id : null;
        }

        public async Task DisposeAsync()
        {
            if (B is not null)
            {
                await B.DisposeAsync();
            }

            if (A is not null)
            {
                await A.DisposeAsync();
            }
        }

        async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();
    }
}
