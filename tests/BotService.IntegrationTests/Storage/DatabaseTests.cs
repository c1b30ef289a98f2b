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
