using BotService.Storage.Data;
using BotService.Storage.Transcripts;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// The transcript store's writer keeps one connection open between batches; these check that it never writes into a
/// SQLite file that is gone, and that a PostgreSQL session the server ended is replaced, on a store of its own.
/// </summary>
public sealed class TranscriptWriterFaultTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "tx-fault-" + Guid.NewGuid().ToString("n"));
    private Database _database = null!;
    private TranscriptStore _store = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _database = TestStorage.Database(_root);
        _store = new TranscriptStore(_database, new TranscriptOptions(), TimeProvider.System, NullLogger<TranscriptStore>.Instance);
        await _store.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.StopAsync(CancellationToken.None);
        _store.Dispose();
        TestStorage.ClearPools();
        TestStorage.DropUnder(_root);
        Directory.Delete(_root, recursive: true);
    }

    private static TranscriptAppend Item(string conversation, string text) =>
        new(conversation, "test", TranscriptRoles.Visitor, "message", null, text, RenderJson: null);

    [SqliteFact]
    public async Task AppendAsync_DatabaseFileDeletedBetweenBatches_NextAppendLandsInTheNewFile()
    {
        // Arrange: a first append opens the writer's connection.
        await _store.AppendAsync([Item("c-before", "one")], CancellationToken.None);

        // Act: the file goes (an operator's mistake, a cleanup job), then another append comes.
        foreach (var f in Directory.GetFiles(_root, StorageSetup.DatabaseFileName + "*"))
        {
            File.Delete(f);
        }

        var position = (await _store.AppendAsync([Item("c-after", "two")], CancellationToken.None))[0];

        // Assert: the row is in the file on disk now, read through a connection of its own.
        Assert.True(File.Exists(Path.Combine(_root, StorageSetup.DatabaseFileName)));
        await using var connection = new SqliteConnection(StorageSetup.SqliteConnectionString(_root) + ";Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT Seq FROM messages WHERE ConversationId = 'c-after'";
        Assert.Equal(position.Seq, (long)(await command.ExecuteScalarAsync())!);
    }

    [PostgresFact]
    public async Task AppendAsync_ServerGoneForAMomentLikeARestart_TheAppendWaitsAndLands()
    {
        // Arrange: a store whose sessions go through a relay that can cut them, on the same database as _store.
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(TestStorage.ConnectionString(_root));
        await using var proxy = new PostgresProxy(connection.Host!, connection.Port);
        connection.Host = "127.0.0.1";
        connection.Port = proxy.Port;
        var target = StorageTarget.PostgreSql(connection.ToString(), _root);
        var options = new DbContextOptionsBuilder<BotDbContext>();
        StorageSetup.Configure(options, target);
        using var store = new TranscriptStore(new Database(new Factory(options.Options), target), new TranscriptOptions(), TimeProvider.System,
            NullLogger<TranscriptStore>.Instance);
        await store.StartAsync(CancellationToken.None);
        await store.AppendAsync([Item("c-restart", "one")], CancellationToken.None);

        // Act: the server goes away (every session cut, connections refused) and comes back 1.5 s later, as
        // `pg_ctl restart` does; appends are made while it is away. Before the fix both failed at once (their callers
        // on /api/messages answered 200 all the same, and the messages were lost: found by tests/load/soak.sh).
        // A first append to a new conversation reads its last number from the database first: that read waits too.
        await proxy.DownAsync();
        // As the transcript middleware appends (rideOutOutage: its turn does not wait on the numbers).
        var append = AppendRidingOutAsync(store, Item("c-restart", "two"));
        var first = AppendRidingOutAsync(store, Item("c-new", "first"));
        await Task.Delay(1500);
        var failedWhileDown = append.IsFaulted || first.IsFaulted;
        proxy.Up();
        var position = (await append.WaitAsync(TimeSpan.FromSeconds(20)))[0];
        var firstPosition = (await first.WaitAsync(TimeSpan.FromSeconds(20)))[0];

        // Assert: both waited for the server rather than failing, and are stored once, in order.
        Assert.False(failedWhileDown);
        Assert.Equal(2, position.Seq);
        Assert.Equal(1, firstPosition.Seq);
        Assert.Equal(2, TestStorage.Scalar(_root, """SELECT COUNT(*) FROM messages WHERE "ConversationId" = 'c-restart'"""));
        Assert.Equal(1, TestStorage.Scalar(_root, """SELECT COUNT(*) FROM messages WHERE "ConversationId" = 'c-new'"""));
        await store.StopAsync(CancellationToken.None);
    }

    private static async Task<IReadOnlyList<TranscriptPosition>> AppendRidingOutAsync(TranscriptStore store, TranscriptAppend item) =>
        await (await store.BeginAppendAsync([item], CancellationToken.None, rideOutOutage: true)).Completion;

    [PostgresFact]
    public async Task AppendAsync_WriterSessionEndedByTheServer_NextAppendLandsOnANewSession()
    {
        // Arrange: a first append opens the writer's session (and the store knows the conversation's numbers, so the
        // next append goes straight to the writer).
        await _store.AppendAsync([Item("c-known", "one")], CancellationToken.None);

        // Act: the server ends every session of the database (a restart, an administrator, a failover), then another append.
        using (Faults.RefuseConnections(_root))
        {
        }

        var position = (await _store.AppendAsync([Item("c-known", "two")], CancellationToken.None))[0];

        // Assert
        Assert.Equal(2, position.Seq);
        Assert.Equal(2, TestStorage.Scalar(_root, """SELECT COUNT(*) FROM messages WHERE "ConversationId" = 'c-known'"""));
    }

    private sealed class Factory(DbContextOptions<BotDbContext> options) : IDbContextFactory<BotDbContext>
    {
        public BotDbContext CreateDbContext() => new(options);
    }
}
