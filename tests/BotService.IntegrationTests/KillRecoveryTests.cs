using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace BotService.IntegrationTests;

/// <summary>
/// The short form of the soak's kill -9 run (tests/load/soak.sh, docs/benchmarks.md "Soak and faults"): the service
/// as its own process under concurrent Direct Line traffic, some of it emergencies, killed with SIGKILL mid-load and
/// started again on the same data folder (and database). Every message the service acknowledged (200 with an id) must
/// be in the transcript, every acknowledged emergency must land as an escalation, and the conversations must go on
/// after the restart with the same tokens and with numbers after the ones already given.
/// </summary>
public sealed class KillRecoveryTests
{
    private const string Emergency = "I want to kill myself tonight";

    [Fact]
    public async Task KillDashNineMidLoad_RestartOnTheSameData_EveryAcknowledgedMessageAndEscalationIsStored()
    {
        // Arrange: the first process, and eight visitors' conversations on it.
        string[] args = ["--DirectLine:TokenRequestsPerMinute=10000", "--RateLimits:Enabled=false", "--Logging:LogLevel:Default=Warning"];
        await using var first = await ServiceProcess.StartAsync(args);
        var conversations = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => first.StartConversationAsync()));
        var acknowledged = new ConcurrentBag<(string Conversation, string Id, bool Emergency)>();
        using var load = new CancellationTokenSource();

        // Act: every visitor posts as fast as it is answered (one in five an emergency) until the process dies.
        var visitors = conversations.Select(c => Task.Run(async () =>
        {
            for (var n = 0; !load.IsCancellationRequested; n++)
            {
                var emergency = n % 5 == 4;
                try
                {
                    var id = await PostAsync(first.Http, c, emergency ? Emergency : $"how much is an infusion {n}");
                    if (id is null)
                    {
                        return;
                    }

                    acknowledged.Add((c.ConversationId, id, emergency));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    return; // the process is gone: not acknowledged
                }
            }
        })).ToArray();
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (acknowledged.Count(a => a.Emergency) < 8)
            {
                await Task.Delay(10, wait.Token);
            }
        }

        Faults.Run("kill", "-KILL", first.ProcessId.ToString(CultureInfo.InvariantCulture));
        await Task.WhenAll(visitors).WaitAsync(TimeSpan.FromSeconds(40));
        await load.CancelAsync();
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (!first.HasExited)
            {
                await Task.Delay(20, wait.Token);
            }
        }

        await using var second = await ServiceProcess.StartAsync([.. args, $"--Data:Path={first.DataPath}", .. TestStorage.ServiceArgs(first.DataPath)]);

        // Assert: every acknowledged message stored, once; every acknowledged emergency's escalation landed (replayed
        // from the outbox if the kill came before it reached the database).
        foreach (var (conversation, id, _) in acknowledged)
        {
            Assert.Equal(1, TestStorage.Scalar(first.DataPath,
                """SELECT COUNT(*) FROM messages WHERE "ConversationId" = @p0 AND "ActivityId" = @p1""", conversation, id));
        }

        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            foreach (var (conversation, id, _) in acknowledged.Where(a => a.Emergency))
            {
                while (TestStorage.Scalar(first.DataPath, """SELECT COUNT(*) FROM escalations WHERE "Key" = @p0""", $"directline:{conversation}:{id}") != 1)
                {
                    await Task.Delay(50, wait.Token);
                }
            }
        }

        // ...and the conversations go on: the same tokens work (the signing key is in the data folder), and the next
        // message of each gets a number after every one acknowledged before the kill.
        foreach (var c in conversations)
        {
            var id = await PostAsync(second.Http, c, "how long does an infusion take");
            Assert.NotNull(id);
            var before = acknowledged.Where(a => a.Conversation == c.ConversationId).Select(a => Seq(a.Id)).DefaultIfEmpty(0).Max();
            Assert.True(Seq(id) > before, $"{id} after {before}");
        }
    }

    private static long Seq(string id) => long.Parse(id[(id.LastIndexOf('|') + 1)..], CultureInfo.InvariantCulture);

    /// <summary>Posts a message; its id when acknowledged (200), null for any other answer.</summary>
    private static async Task<string?> PostAsync(HttpClient http, (string Token, string ConversationId) c, string text)
    {
        using var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{c.ConversationId}/activities")
        {
            Content = JsonContent.Create(new { type = "message", from = new { id = "visitor" }, text }),
        };
        post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", c.Token);
        using var response = await http.SendAsync(post);
        return response.StatusCode == HttpStatusCode.OK
            ? (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()
            : null;
    }
}
