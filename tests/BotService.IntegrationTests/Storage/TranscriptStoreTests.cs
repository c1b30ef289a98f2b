using System.Net.Http.Json;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Transcripts;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Storage;

/// <summary>The transcript store in the running service, on its real database (SQLite, or PostgreSQL in that pass).</summary>
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
    public async Task WriteRowsAsync_AFailingRowsWrite_FailsAloneAndItsBatchNeighboursAreStored()
    {
        // Arrange: appends and a rows write that throws, queued together so they can share a commit
        var conversation = $"tx-{Guid.NewGuid():n}";
        var written = 0;

        // Act
        var appends = Enumerable.Range(0, 20).Select(_ => Store.AppendAsync([Item(conversation)], CancellationToken.None)).ToArray();
        var failing = Store.WriteRowsAsync((_, _) => throw new InvalidOperationException("a bad row"));
        var working = Store.WriteRowsAsync((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "SELECT 1";
            command.ExecuteScalar(); // runs inside the writer's transaction
            written++;
        });

        // Assert: only the failing request failed; its neighbours (in its batch or not) are committed
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await working;
        await Task.WhenAll(appends);
        Assert.True(written >= 1);
        Assert.Equal(20, (await Store.ReadAfterAsync(conversation, 0, 100, CancellationToken.None)).Count);
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
        TestStorage.Execute(service.DataPath,
            """INSERT INTO messages ("ConversationId", "ActivityId", "Role", "Text", "CreatedAt", "Type") VALUES (@p0, 'm-esc', 'visitor', 'x', @p1, 'message')""",
            conversation, TestStorage.DbTime(DateTimeOffset.UtcNow));

        // Act
        var position = (await Store.AppendAsync([Item(conversation, "m-esc")], CancellationToken.None))[0];

        // Assert
        Assert.Equal(2, position.Seq);
        Assert.False(position.AlreadyStored);
        Assert.Equal(["m-esc"], (await Store.ReadAfterAsync(conversation, 1, 10, CancellationToken.None)).Select(e => e.ActivityId));
    }

    [Fact]
    public async Task AppendAsync_TextWithANulAndALoneSurrogate_IsStoredOnEveryProviderWithReplacementCharacters()
    {
        // Arrange: PostgreSQL's text cannot hold U+0000 and Npgsql refuses invalid UTF-16; SQLite takes both.
        var conversation = $"tx-{Guid.NewGuid():n}";
        const string text = "a\0b\ud83dc 😀";
        var item = new TranscriptAppend(conversation, "test", TranscriptRoles.Visitor, "message", null, text,
            (id, seq) => System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object> { ["id"] = id, ["text"] = text }));

        // Act
        var position = (await Store.AppendAsync([item], CancellationToken.None))[0];

        // Assert: stored, one UTF-16 unit for one (safety offsets still point at the same words), the JSON intact.
        Assert.Equal(1, position.Seq);
        await using var db = TestStorage.Open(service.DataPath, readOnly: true);
        await using var query = TestStorage.Command(db, """SELECT "Text" FROM messages WHERE "ConversationId" = @p0""", conversation);
        Assert.Equal("a\uFFFDb\uFFFDc 😀", (string)(await query.ExecuteScalarAsync())!);
        var json = (await Store.ReadAfterAsync(conversation, 0, 10, CancellationToken.None)).Single().ActivityJson!;
        Assert.Equal(text.Length, System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("text").GetString()!.Length);
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
