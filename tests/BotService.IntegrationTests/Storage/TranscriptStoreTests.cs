using System.Net.Http.Json;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Transcripts;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Storage;

/// <summary>The transcript store in the running service, on its real SQLite file.</summary>
public sealed class TranscriptStoreTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    private TranscriptStore Store => service.Services.GetRequiredService<TranscriptStore>();

    private static TranscriptAppend Item(string conversation, string? id = null, string role = TranscriptRoles.Visitor) =>
        new(conversation, "test", role, "message", id, "hello", (activityId, seq) => $"{{\"id\":\"{activityId}\",\"seq\":{seq}}}");

    [Fact]
    public async Task AppendAsync_ManyConcurrentCallers_ContiguousSequencesPerConversation_InSharedCommits()
    {
        // Arrange
        var conversations = Enumerable.Range(0, 5).Select(i => $"tx-{Guid.NewGuid():n}-{i}").ToArray();

        // Act: 400 callers at once, 80 per conversation.
        var results = await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(async () =>
        {
            var conversation = conversations[i % conversations.Length];
            var position = (await Store.AppendAsync([Item(conversation)], CancellationToken.None))[0];
            return (conversation, position);
        })));

        // Assert
        foreach (var group in results.GroupBy(r => r.conversation))
        {
            var seqs = group.Select(r => r.position.Seq).OrderBy(s => s).ToArray();
            Assert.Equal(Enumerable.Range(1, 80).Select(s => (long)s), seqs);
            Assert.All(group, r => Assert.Equal(TranscriptStore.ActivityIdFor(group.Key, r.position.Seq), r.position.ActivityId));
            var stored = await Store.ReadAfterAsync(group.Key, 0, 1000, CancellationToken.None);
            Assert.Equal(seqs, stored.Select(e => e.Seq));
            Assert.All(stored, e => Assert.Contains($"\"seq\":{e.Seq}", e.ActivityJson, StringComparison.Ordinal));
        }

        // Group commit: some transaction carried more than one caller's append.
        Assert.Contains(service.Logs.Lines, l => l.Contains("[2201]", StringComparison.Ordinal) && !l.Contains("Requests=1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AppendAsync_SameActivityIdTwice_StoredOnce()
    {
        var conversation = $"tx-{Guid.NewGuid():n}";

        var first = (await Store.AppendAsync([Item(conversation, "channel-id-1")], CancellationToken.None))[0];
        var again = (await Store.AppendAsync([Item(conversation, "channel-id-1")], CancellationToken.None))[0];

        Assert.False(first.AlreadyStored);
        Assert.True(again.AlreadyStored);
        Assert.Equal(first.Seq, again.Seq);
        Assert.Single(await Store.ReadAfterAsync(conversation, 0, 10, CancellationToken.None));
    }

    [Fact]
    public async Task AppendAsync_RowTheEscalationDispatcherWroteFirst_GetsItsPlaceInsteadOfADuplicate()
    {
        // Arrange: the dispatcher's row (no Seq) for a message the transcript has not seen.
        var conversation = $"tx-{Guid.NewGuid():n}";
        await Store.AppendAsync([Item(conversation)], CancellationToken.None);
        using (var db = new SqliteConnection($"Data Source={Path.Combine(service.DataPath, "botservice.db")};Pooling=False"))
        {
            db.Open();
            using var insert = db.CreateCommand();
            insert.CommandText = "INSERT INTO messages (ConversationId, ActivityId, Role, Text, CreatedAt, Type) VALUES ($c, 'm-esc', 'visitor', 'x', 0, 'message')";
            insert.Parameters.AddWithValue("$c", conversation);
            insert.ExecuteNonQuery();
        }

        // Act
        var position = (await Store.AppendAsync([Item(conversation, "m-esc")], CancellationToken.None))[0];

        // Assert
        Assert.Equal(2, position.Seq);
        Assert.False(position.AlreadyStored);
        Assert.Equal(["m-esc"], (await Store.ReadAfterAsync(conversation, 1, 10, CancellationToken.None)).Select(e => e.ActivityId));
    }

    [Fact]
    public async Task MessagesApi_TranscriptMiddleware_RecordsTheIncomingActivityAndTheReply()
    {
        var conversation = $"emu-{Guid.NewGuid():n}";

        var response = await service.Http.PostAsJsonAsync("/api/messages", new
        {
            type = "message", id = "m-1", channelId = "emulator", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
            conversation = new { id = conversation }, from = new { id = "user-1", role = "user" }, recipient = new { id = "bot", role = "bot" },
            text = "how much is an infusion",
        });

        response.EnsureSuccessStatusCode();
        IReadOnlyList<TranscriptEntry> stored;
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while ((stored = await Store.ReadAfterAsync(conversation, 0, 10, CancellationToken.None)).Count < 2)
        {
            await Task.Delay(20, wait.Token); // the turn waits for its commit; the loop only guards against a slow machine
        }

        Assert.Equal([TranscriptRoles.Visitor, TranscriptRoles.Bot], stored.Select(e => e.Role));
        Assert.Equal("m-1", stored[0].ActivityId);
        Assert.Equal(TranscriptStore.ActivityIdFor(conversation, 2), stored[1].ActivityId);
        Assert.Null(stored[1].ActivityJson); // only Direct Line, which replays activities, keeps their JSON
    }
}
