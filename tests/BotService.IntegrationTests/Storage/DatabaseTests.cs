using BotService.Storage.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

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
