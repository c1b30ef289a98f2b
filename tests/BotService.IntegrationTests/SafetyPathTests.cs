using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Storage.Escalations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests;

/// <summary>
/// The crisis path through the real service: the reply leads with the resources at once, and the escalation lands
/// exactly once, whatever is broken at the time. Each test runs its own service on its own data folder (and, in the
/// PostgreSQL pass, its own database).
/// </summary>
public sealed class SafetyPathTests : IAsyncLifetime
{
    private const string Emergency = "I just swallowed all my sleeping pills";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
    private readonly List<IAsyncDisposable> _services = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var s in _services)
        {
            await s.DisposeAsync();
        }

        TestStorage.ClearPools();
        TestStorage.DropUnder(_root);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    [Fact]
    public async Task Ask_Emergency_RepliesWithCrisisResourcesOnlyAndEscalatesOnce()
    {
        // Arrange
        var service = await StartAsync(DataPath());

        // Act
        var (body, elapsed) = await service.AskAsync(Emergency, "conv-e1");

        // Assert
        Assert.Equal("emergency", body.GetProperty("safety").GetProperty("level").GetString());
        var text = body.GetProperty("text").GetString()!;
        Assert.StartsWith("If you are in immediate danger, call 911", text, StringComparison.Ordinal);
        Assert.Contains("988", text, StringComparison.Ordinal);
        Assert.Contains("text HOME to 741741", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Source:", text, StringComparison.Ordinal);
        Assert.Equal(0, body.GetProperty("sources").GetArrayLength());
        var reason = body.GetProperty("safety").GetProperty("reasons")[0];
        Assert.False(string.IsNullOrEmpty(reason.GetProperty("rule").GetString()));
        Assert.True(reason.GetProperty("length").GetInt32() > 0);
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"reply took {elapsed}");
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-e1"));
        if (!TestStorage.IsPostgres)
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(service.DatabaseFile));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(service.DataPath, "escalations.outbox.jsonl")));
    }

    [Fact]
    public async Task Ask_EmergencyInAConversationWithTheLongestAllowedId_EscalationLandsOnEveryProvider()
    {
        // Arrange: /api/ask allows 200 characters; the escalation key adds the channel and the message id to that.
        var service = await StartAsync(DataPath());
        var conversation = "c" + new string('x', 199);

        // Act
        var (body, _) = await service.AskAsync(Emergency, conversation);

        // Assert
        Assert.Equal("emergency", body.GetProperty("safety").GetProperty("level").GetString());
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations(conversation));
    }

    [Fact]
    public async Task ManyEmergenciesAtOnce_EachEscalationLandsBesideItsTranscriptRowWithoutAFailedWrite()
    {
        // Arrange: the transcript (its group commit, on its own connection) and the dispatcher both write the crisis
        // message's row, and the conversation's; whichever lands first, the other must give way, not fail. Found by the
        // soak (tests/load/soak.sh): under load about one escalation in three failed its first database write on a
        // unique key (two errors in the log each) and landed only on the dispatcher's retry.
        var logs = new LogCapture();
        var service = await StartAsync(DataPath(), configure: b => b.Logging.AddProvider(logs), extra: ["--DirectLine:TokenRequestsPerMinute=10000", "--RateLimits:Enabled=false"]);
        await ServiceFixture.WaitHealthyAsync(service.Http);
        var startUp = logs.Lines.Count; // a new PostgreSQL database's first migration logs its missing history table
        var count = 24;

        // Act: one emergency at once in each of 24 new conversations, on both channels that keep a transcript: Direct
        // Line (the turn runs while the message commits) and /api/messages (the transcript middleware).
        var directLine = await Task.WhenAll(Enumerable.Range(0, count).Select(async _ =>
        {
            var token = (await (await service.Http.PostAsync("/api/webchat/token", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
            using var start = new HttpRequestMessage(HttpMethod.Post, "/v3/directline/conversations");
            start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var conversation = (await (await service.Http.SendAsync(start)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversationId").GetString()!;
            using var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversation}/activities")
            {
                Content = JsonContent.Create(new { type = "message", from = new { id = "x" }, text = Emergency }),
            };
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var response = await service.Http.SendAsync(post);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (Conversation: conversation, Id: (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }));
        var messages = await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            var (conversation, id) = ($"race-{i}", $"race-{i}-m1");
            var response = await service.Http.PostAsJsonAsync("/api/messages", new
            {
                type = "message", id, channelId = "emulator", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
                conversation = new { id = conversation }, from = new { id = $"user-{i}", role = "user" }, recipient = new { id = "clinic-bot", role = "bot" },
                text = Emergency,
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("988", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            return (Conversation: conversation, Id: id);
        }));
        await service.WaitLandedAsync();

        // Assert: every escalation once, every message once and numbered in its transcript, and no failed write.
        foreach (var (conversation, id) in directLine.Concat(messages))
        {
            Assert.Equal(1, service.CountEscalations(conversation));
            await WaitAsync(() => TestStorage.Scalar(service.DataPath,
                """SELECT COUNT(*) FROM messages WHERE "ConversationId" = @p0 AND "ActivityId" = @p1 AND "Seq" IS NOT NULL""", conversation, id) == 1);
            Assert.Equal(1, TestStorage.Scalar(service.DataPath,
                """SELECT COUNT(*) FROM messages WHERE "ConversationId" = @p0 AND "ActivityId" = @p1""", conversation, id));
        }

        var errors = logs.Lines.Skip(startUp).Where(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(25, cts.Token);
        }
    }

    [Fact]
    public async Task Ask_Urgent_LeadsWithAdviceAndEscalates()
    {
        var service = await StartAsync(DataPath());

        var (body, _) = await service.AskAsync("I feel very nauseous and dizzy hours after my infusion", "conv-u1");

        Assert.Equal("urgent", body.GetProperty("safety").GetProperty("level").GetString());
        Assert.Contains("call 911", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-u1"));
    }

    [Fact]
    public async Task Ask_DatabaseLockedByAnotherProcess_RepliesAtOnceAndLandsOnceUnlocked()
    {
        var service = await StartAsync(DataPath());
        await ServiceFixture.WaitHealthyAsync(service.Http); // started and warm, as a load balancer would send it traffic; then the fault
        var locker = await Faults.LockDatabaseAsync(service.DataPath);

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-lock");
        await Task.Delay(500);
        Assert.False(service.IsIdle, "the escalation cannot have landed while the database is locked");
        locker.Dispose();

        AssertCrisis(body, elapsed);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-lock"));
    }

    [SqliteFact]
    public async Task Ask_DatabaseFileReadOnly_RepliesAtOnceAndLandsOnceWritable()
    {
        Assert.True(Faults.IsRoot, "fault tests mount file systems and need root (CI runs as root)");
        var data = DataPath();
        await (await StartAsync(data)).DisposeAsync(); // an earlier run created the database
        TestStorage.ClearPools();
        var readOnly = Faults.ReadOnlyFile(Path.Combine(data, "botservice.db"));
        var service = await StartAsync(data);

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-ro");
        var health = await service.WaitHealthAsync("escalations", "degraded");
        readOnly.Dispose();

        AssertCrisis(body, elapsed);
        Assert.Equal("degraded", health.GetProperty("checks").GetProperty("escalations").GetProperty("status").GetString());
        Assert.Contains("database", health.GetProperty("checks").GetProperty("escalations").GetProperty("description").GetString(), StringComparison.Ordinal);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-ro"));
    }

    [SqliteFact]
    public async Task Ask_DatabaseDeleted_RepliesAtOnceAndLandsInARecreatedDatabase()
    {
        var service = await StartAsync(DataPath());
        await ServiceFixture.WaitHealthyAsync(service.Http); // started and warm, as a load balancer would send it traffic; then the fault
        foreach (var f in Directory.GetFiles(service.DataPath, "botservice.db*"))
        {
            File.Delete(f);
        }

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-del");

        AssertCrisis(body, elapsed);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-del"));
    }

    [PostgresFact]
    public async Task Ask_PostgreSqlDatabaseTurnsReadOnly_RepliesAtOnceReportsDegradedAndLandsOnceWritable()
    {
        // Arrange: a running service (it migrated at start); then the database refuses writes (as a standby does).
        var service = await StartAsync(DataPath());
        await ServiceFixture.WaitHealthyAsync(service.Http);
        var readOnly = Faults.ReadOnlyDatabase(service.DataPath);

        // Act
        var (body, elapsed) = await service.AskAsync(Emergency, "conv-pg-ro");
        var health = await service.WaitHealthAsync("escalations", "degraded");
        readOnly.Dispose();

        // Assert
        AssertCrisis(body, elapsed);
        Assert.Contains("database", health.GetProperty("checks").GetProperty("escalations").GetProperty("description").GetString(), StringComparison.Ordinal);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-pg-ro"));
    }

    [PostgresFact]
    public async Task Ask_PostgreSqlRefusesConnections_RepliesAtOnceAndLandsOnceItAcceptsAgain()
    {
        // Arrange: the database ends every session and lets none in (a server restart, a maintenance window).
        var service = await StartAsync(DataPath());
        await ServiceFixture.WaitHealthyAsync(service.Http);
        var refusing = Faults.RefuseConnections(service.DataPath);

        // Act
        var (body, elapsed) = await service.AskAsync(Emergency, "conv-pg-down");
        var health = await service.WaitHealthAsync("escalations", "degraded");
        refusing.Dispose();

        // Assert
        AssertCrisis(body, elapsed);
        Assert.Contains("database", health.GetProperty("checks").GetProperty("escalations").GetProperty("description").GetString(), StringComparison.Ordinal);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-pg-down"));
    }

    [Fact]
    public async Task Ask_DiskFull_RepliesAtOnceReportsDegradedAndLandsOnceFreed()
    {
        Assert.True(Faults.IsRoot, "fault tests mount file systems and need root (CI runs as root)");
        using var disk = Faults.Tmpfs(1024);
        var service = await StartAsync(disk.Path);
        var filler = Faults.Fill(disk.Path);

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-full");
        var health = await service.WaitHealthAsync("escalations", "degraded");
        File.Delete(filler);

        AssertCrisis(body, elapsed);
        // Degraded naming what could not be written. Which of the two fails first on a full disk is the file system's
        // choice: the outbox's small append can still fit in its last block's slack while SQLite needs a new page (seen
        // in full runs), so either name is right; what matters is the crisis reply, the report and the landing.
        var description = health.GetProperty("checks").GetProperty("escalations").GetProperty("description").GetString()!;
        Assert.True(description.Contains("outbox", StringComparison.Ordinal) || description.Contains("database", StringComparison.Ordinal), description);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-full"));
    }

    [Fact]
    public async Task Ask_KnowledgeMissing_EmergencyStillGetsTheCrisisReply()
    {
        var service = await StartAsync(DataPath(), knowledge: Path.Combine(_root, "no-such-folder"));

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-noindex");
        var ordinary = await service.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion" });

        AssertCrisis(body, elapsed);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ordinary.StatusCode);
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-noindex"));
    }

    [Fact]
    public async Task Ask_KnowledgeCorrupt_EmergencyStillGetsTheCrisisReply()
    {
        var knowledge = Path.Combine(_root, "corrupt-knowledge");
        Directory.CreateDirectory(Path.Combine(knowledge, "articles"));
        await File.WriteAllBytesAsync(Path.Combine(knowledge, "articles", "a.md"), [0xFF, 0xFE, 0x00, 0x2D, 0x2D, 0x2D, 0x00]);
        var service = await StartAsync(DataPath(), knowledge: knowledge);

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-corrupt");

        AssertCrisis(body, elapsed);
    }

    [Fact]
    public async Task Ask_NotifierThrowsThenHangsThenRecovers_RepliesAtOnceAndNotifiesOnce()
    {
        var notifier = new FlakyNotifier { FailuresLeft = 2, HangsLeft = 1 };
        var service = await StartAsync(DataPath(), notifier: notifier);

        var (body, elapsed) = await service.AskAsync(Emergency, "conv-notifier");

        AssertCrisis(body, elapsed);
        await service.WaitLandedAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, service.CountEscalations("conv-notifier"));
        Assert.Equal(1, service.CountDeliveries("flaky"));
        Assert.Equal(4, notifier.Calls);
    }

    // Neither is an emergency alone (the second is urgent); together they are a means of harm and distress (decision 0029).
    private const string MeansFirst = "i bought a gun yesterday";
    private const string DistressAfter = "i can't take it anymore";

    [Fact]
    public async Task Ask_MessagesAlarmingOnlyTogether_CrisisReplyAndOneEscalationAtTheSecondNotAgainAtTheThird()
    {
        // Arrange
        var service = await StartAsync(DataPath());
        await ServiceFixture.WaitHealthyAsync(service.Http); // the ordinary messages are answered from the index

        // Act
        var (first, _) = await service.AskAsync(MeansFirst, "conv-split");
        var (second, elapsed) = await service.AskAsync(DistressAfter, "conv-split");
        var (third, _) = await service.AskAsync("are you there?", "conv-split");

        // Assert
        Assert.Equal("none", first.GetProperty("safety").GetProperty("level").GetString());
        AssertCrisis(second, elapsed);
        var reasons = second.GetProperty("safety").GetProperty("reasons").EnumerateArray().ToList();
        Assert.Contains(reasons, r => r.GetProperty("rule").GetString() == "read-with-earlier-messages");
        Assert.Contains(reasons, r => r.GetProperty("rule").GetString() == "means-access");
        Assert.All(reasons, r => Assert.InRange(r.GetProperty("start").GetInt32() + r.GetProperty("length").GetInt32(), 0, DistressAfter.Length));
        Assert.Equal("none", third.GetProperty("safety").GetProperty("level").GetString());
        await service.WaitLandedAsync();
        Assert.Equal(1, service.CountEscalations("conv-split"));
    }

    [Fact]
    public async Task Ask_AfterAFollowUpReadingWasEscalated_TheNextMessageIsNotEscalatedAgainForTheSameWords()
    {
        // Arrange: the first message is remembered at its own level (none); then, as the bot does when a follow-up read
        // with its topic is graver than the message, the reading goes through the gate for the same conversation.
        var service = await StartAsync(DataPath());
        await ServiceFixture.WaitHealthyAsync(service.Http);
        var (first, _) = await service.AskAsync(MeansFirst, "conv-reading");
        var classifier = service.Services.GetRequiredService<BotService.Safety.ISafetyClassifier>();
        var reading = classifier.Classify(MeansFirst + " to end it all");
        Assert.Equal(BotService.Safety.SafetyLevel.Emergency, reading.Level);
        service.Services.GetRequiredService<BotService.Hosting.SafetyGate>()
            .Check(MeansFirst + " to end it all", "api", "conv-reading", "first#followup", reading);

        // Act
        var (second, _) = await service.AskAsync(DistressAfter, "conv-reading");

        // Assert: read with the first message it is no graver than what was already escalated, so only its own level
        Assert.Equal("none", first.GetProperty("safety").GetProperty("level").GetString());
        Assert.Equal("urgent", second.GetProperty("safety").GetProperty("level").GetString());
        Assert.DoesNotContain(second.GetProperty("safety").GetProperty("reasons").EnumerateArray(),
            r => r.GetProperty("rule").GetString() == "read-with-earlier-messages");
    }

    [Theory]
    [InlineData("no conversation id")]
    [InlineData("another conversation")]
    [InlineData("reading together turned off")]
    [InlineData("the first message too old")]
    public async Task Ask_MessagesAlarmingOnlyTogether_ReadAloneWhenNotOneRecentConversation(string situation)
    {
        // Arrange
        var service = situation switch
        {
            "reading together turned off" => await StartAsync(DataPath(), extra: ["--Safety:EarlierMessages=0"]),
            "the first message too old" => await StartAsync(DataPath(), extra: ["--Safety:EarlierMessagesFor=00:00:00.300"]),
            _ => await StartAsync(DataPath()),
        };
        await ServiceFixture.WaitHealthyAsync(service.Http);

        // Act
        await service.AskAsync(MeansFirst, situation == "no conversation id" ? null : "conv-a");
        if (situation == "the first message too old")
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        var (second, _) = await service.AskAsync(DistressAfter, situation switch
        {
            "no conversation id" => null,
            "another conversation" => "conv-b",
            _ => "conv-a",
        });

        // Assert: the second message's own level, urgent
        Assert.Equal("urgent", second.GetProperty("safety").GetProperty("level").GetString());
        Assert.DoesNotContain(second.GetProperty("safety").GetProperty("reasons").EnumerateArray(),
            r => r.GetProperty("rule").GetString() == "read-with-earlier-messages");
    }

    private static void AssertCrisis(JsonElement body, TimeSpan elapsed)
    {
        Assert.Equal("emergency", body.GetProperty("safety").GetProperty("level").GetString());
        Assert.StartsWith("If you are in immediate danger, call 911", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"the crisis reply took {elapsed}");
    }

    private string DataPath() => Path.Combine(_root, Guid.NewGuid().ToString("n"));

    private async Task<Service> StartAsync(string data, string? knowledge = null, IEscalationNotifier? notifier = null,
        Action<WebApplicationBuilder>? configure = null, params string[] extra)
    {
        var rules = Path.Combine(RepoPaths.Root, "knowledge", "safety", "rules.yaml");
        var (app, http) = await ServiceFixture.StartAsync(knowledge ?? Path.Combine(RepoPaths.Root, "knowledge"), data,
            b =>
            {
                if (notifier is not null)
                {
                    b.Services.AddSingleton(notifier);
                }

                configure?.Invoke(b);
            },
            [
                $"--Safety:RulesPath={rules}",
                "--Escalations:FirstRetry=00:00:00.050",
                "--Escalations:MaxRetry=00:00:00.300",
                "--Escalations:NotifierTimeout=00:00:00.300",
                .. extra,
            ]);
        var service = new Service(app, http, data);
        _services.Add(service);
        return service;
    }

    private sealed class Service(WebApplication app, HttpClient http, string dataPath) : IAsyncDisposable
    {
        public HttpClient Http { get; } = http;

        public string DataPath { get; } = dataPath;

        public string DatabaseFile => Path.Combine(DataPath, "botservice.db");

        public IServiceProvider Services => app.Services;

        public async Task<(JsonElement Body, TimeSpan Elapsed)> AskAsync(string text, string? conversationId)
        {
            var watch = Stopwatch.StartNew();
            var response = conversationId is null
                ? await Http.PostAsJsonAsync("/api/ask", new { text })
                : await Http.PostAsJsonAsync("/api/ask", new { text, conversationId });
            var elapsed = watch.Elapsed;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonElement>(), elapsed);
        }

        /// <summary>Polls /healthz until a check reports the status (the dispatcher notices a fault on its next try).</summary>
        public async Task<JsonElement> WaitHealthAsync(string check, string status)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            while (true)
            {
                var health = await (await Http.GetAsync("/healthz", cts.Token)).Content.ReadFromJsonAsync<JsonElement>(cts.Token);
                if (health.GetProperty("checks").GetProperty(check).GetProperty("status").GetString() == status)
                {
                    return health;
                }

                await Task.Delay(25, cts.Token);
            }
        }

        public async Task WaitLandedAsync(TimeSpan? timeout = null)
        {
            var dispatcher = app.Services.GetRequiredService<EscalationDispatcher>();
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
            while (!dispatcher.IsIdle)
            {
                await Task.Delay(25, cts.Token);
            }
        }

        public int CountEscalations(string conversationId) =>
            (int)TestStorage.Scalar(DataPath, """SELECT COUNT(*) FROM escalations WHERE "ConversationId" = @p0""", conversationId);

        public bool IsIdle => app.Services.GetRequiredService<EscalationDispatcher>().IsIdle;

        public int CountDeliveries(string notifier) =>
            (int)TestStorage.Scalar(DataPath, """SELECT COUNT(*) FROM escalation_deliveries WHERE "Notifier" = @p0""", notifier);

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private sealed class FlakyNotifier : IEscalationNotifier
    {
        public int FailuresLeft;
        public int HangsLeft;
        public int Calls;

        public string Name => "flaky";

        public async Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            if (Interlocked.Decrement(ref FailuresLeft) >= 0)
            {
                throw new HttpRequestException("Teams is down");
            }

            if (Interlocked.Decrement(ref HangsLeft) >= 0)
            {
                await Task.Delay(Timeout.Infinite, CancellationToken.None);
            }
        }
    }
}
