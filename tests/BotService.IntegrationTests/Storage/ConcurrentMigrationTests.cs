using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// Instances started together on a new PostgreSQL database migrate it one at a time: none fails and every migration
/// is applied once. (Without the advisory lock around Migrate(), two migrators on an empty database both applied the
/// same migration and one failed with 42701 "column ... already exists".)
/// </summary>
public sealed class ConcurrentMigrationTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", "cmig-" + Guid.NewGuid().ToString("n"));

    public void Dispose()
    {
        TestStorage.ClearPools();
        TestStorage.DropUnder(_root);
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [PostgresFact]
    public async Task ThreeMigratorsAtOnce_OnNewDatabases_AllSucceedAndApplyEachMigrationOnce()
    {
        for (var round = 0; round < 3; round++)
        {
            // Arrange: a new, empty database, and three migrators released together
            var folder = Path.Combine(_root, "db" + round);
            Directory.CreateDirectory(folder);
            var target = TestStorage.Target(folder);
            using var start = new Barrier(3);

            // Act
            var migrators = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
            {
                using var db = new BotDbContext(TestStorage.ContextOptions(folder));
                start.SignalAndWait();
                StorageSetup.Migrate(db, target);
            })).ToArray();
            await Task.WhenAll(migrators);

            // Assert
            using var check = new BotDbContext(TestStorage.ContextOptions(folder));
            var applied = check.Database.GetAppliedMigrations().ToList();
            Assert.Equal(check.GetService<IMigrationsAssembly>().Migrations.Keys.Order(StringComparer.Ordinal), applied.Order(StringComparer.Ordinal));
            Assert.Empty(check.Database.GetPendingMigrations());
        }
    }
}
