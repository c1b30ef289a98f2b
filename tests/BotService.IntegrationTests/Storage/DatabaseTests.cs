using BotService.Storage.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests.Storage;

/// <summary><see cref="Database"/> after a failure on a full disk: checking it again must not hang.</summary>
public sealed class DatabaseAfterFailureTests
{
    [SqliteFact]
    public async Task EnsureReady_AfterAFailureOnAFullDisk_ReturnsAtOnceInsteadOfWaitingForTheMigrationLock()
    {
        Assert.True(Faults.IsRoot, "fault tests mount file systems and need root (CI runs as root)");
        using var disk = Faults.Tmpfs(1024);
        var builder = new DbContextOptionsBuilder<BotDbContext>();
        StorageSetup.Configure(builder, StorageTarget.Sqlite(disk.Path));
        var database = new Database(new TestDbFactory(builder.Options), StorageTarget.Sqlite(disk.Path));
        database.EnsureReady();
        var filler = Faults.Fill(disk.Path);
        try
        {
            // Act: a writer failed and said so; the next one checks the database again.
            database.Invalidate();
            var check = Task.Run(database.EnsureReady);
            var finished = await Task.WhenAny(check, Task.Delay(TimeSpan.FromSeconds(5)));

            // Assert: the file is ours and migrated, so there is nothing to migrate. Migrating again would take EF Core's
            // migration lock, which a full disk refuses, and which a failed migration can leave taken: every later
            // caller then sleeps in EF's retry loop, holding a thread, as long as the row stays.
            Assert.Same(check, finished);
            Assert.Equal(1, await check);
        }
        finally
        {
            File.Delete(filler);
            SqliteConnection.ClearAllPools();
        }
    }

    private sealed class TestDbFactory(DbContextOptions<BotDbContext> options) : IDbContextFactory<BotDbContext>
    {
        public BotDbContext CreateDbContext() => new(options);
    }
}

/// <summary>What EF Core itself logs when a save fails: the caller handles or reports it, so not at Error.</summary>
public sealed class SaveFailureLoggingTests
{
    [SqliteFact]
    public void DuplicateKey_HandledByTheCaller_IsNotLoggedAsAnErrorByEfCore()
    {
        // Arrange: a migrated database and a context logging to a capture
        var folder = Directory.CreateTempSubdirectory("botservice-efl-").FullName;
        try
        {
            var target = StorageTarget.Sqlite(folder);
            using var logs = new LogCapture();
            using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
            var builder = new DbContextOptionsBuilder<BotDbContext>().UseLoggerFactory(loggerFactory);
            StorageSetup.Configure(builder, target);
            using (var db = new BotDbContext(builder.Options))
            {
                StorageSetup.Migrate(db, target);
                db.Conversations.Add(new ConversationRecord { Id = "c1", Channel = "test" });
                db.SaveChanges();
            }

            // Act: a second writer inserts the same conversation (the race an idempotent insert expects to lose)
            using (var db = new BotDbContext(builder.Options))
            {
                db.Conversations.Add(new ConversationRecord { Id = "c1", Channel = "test" });
                Assert.Throws<DbUpdateException>(() => db.SaveChanges());
            }

            // Assert: EF Core reported it, at Debug; nothing at Error or Warning from it
            Assert.Contains(logs.Lines, l => l.StartsWith("Debug Microsoft.EntityFrameworkCore.Update", StringComparison.Ordinal));
            Assert.DoesNotContain(logs.Lines, l => (l.StartsWith("Error ", StringComparison.Ordinal) || l.StartsWith("Warning ", StringComparison.Ordinal))
                && l.Contains("Microsoft.EntityFrameworkCore", StringComparison.Ordinal));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>SQLite waits for another connection's write lock itself, in small steps, instead of Microsoft.Data.Sqlite's 150 ms retry sleep.</summary>
public sealed class SqliteBusyTimeoutTests
{
    [SqliteFact]
    public void EveryEfCoreConnection_HasTheBusyTimeout_AndAWriteWaitsForAShortLockWithoutTheFixedRetrySleep()
    {
        // Arrange
        var folder = Directory.CreateTempSubdirectory("botservice-busy-").FullName;
        try
        {
            var target = StorageTarget.Sqlite(folder);
            var builder = new DbContextOptionsBuilder<BotDbContext>();
            StorageSetup.Configure(builder, target);
            using (var db = new BotDbContext(builder.Options))
            {
                StorageSetup.Migrate(db, target);
            }

            using var holder = new SqliteConnection(target.ConnectionString);
            holder.Open();
            using var db2 = new BotDbContext(builder.Options);
            db2.Conversations.Add(new ConversationRecord { Id = "warm", Channel = "test" }); // EF's first save builds its pipeline
            db2.SaveChanges();
            db2.Database.OpenConnection();
            using var pragma = db2.Database.GetDbConnection().CreateCommand();
            pragma.CommandText = "PRAGMA busy_timeout;";
            var timeout = Convert.ToInt64(pragma.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);

            // Act: another connection holds the write lock for 20 ms while the context writes
            var lockTx = holder.BeginTransaction();
            using (var hold = holder.CreateCommand())
            {
                hold.Transaction = lockTx;
                hold.CommandText = "INSERT INTO conversations (\"Id\", \"Channel\", \"CreatedAt\", \"LastActivityAt\") VALUES ('held', 'test', 0, 0);";
                hold.ExecuteNonQuery();
            }

            var release = Task.Run(async () =>
            {
                await Task.Delay(20);
                lockTx.Commit();
            });
            var clock = System.Diagnostics.Stopwatch.StartNew();
            db2.Conversations.Add(new ConversationRecord { Id = "waiting", Channel = "test" });
            db2.SaveChanges();
            var waited = clock.Elapsed;
            release.Wait();

            // Assert: set on the connection, and the write went through once the lock was gone (no exception); the wait
            // is logged for the reader (Microsoft.Data.Sqlite's own retry would have slept 150 ms)
            Assert.Equal(5000, timeout);
            Assert.True(db2.Conversations.Any(c => c.Id == "waiting"));
            Console.WriteLine($"a write behind a 20 ms lock waited {waited.TotalMilliseconds:F0} ms");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }
}
