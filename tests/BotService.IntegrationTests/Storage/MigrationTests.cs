using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// The one migration history, kept once per provider (decision 0015): both halves list the same migrations under the
/// same ids, neither leaves a model change unmigrated, and the provider under test applies all of them to a new
/// database. A migration added for one provider only fails here.
/// </summary>
public sealed class MigrationTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", "mig-" + Guid.NewGuid().ToString("n"));

    public void Dispose()
    {
        TestStorage.ClearPools();
        TestStorage.DropUnder(_root);
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static BotDbContext Context(StorageTarget target)
    {
        var options = new DbContextOptionsBuilder<BotDbContext>();
        StorageSetup.Configure(options, target);
        return new BotDbContext(options.Options);
    }

    private static BotDbContext Sqlite() => Context(StorageTarget.Sqlite(Path.GetTempPath()));

    // Never connected to: listing migrations and comparing models needs no server.
    private static BotDbContext PostgreSql() => Context(StorageTarget.PostgreSql("Host=127.0.0.1;Database=never-opened", Path.GetTempPath()));

    [Fact]
    public void BothProviders_ListTheSameMigrationsUnderTheSameIds()
    {
        using var sqlite = Sqlite();
        using var postgres = PostgreSql();

        var sqliteIds = sqlite.GetService<IMigrationsAssembly>().Migrations.Keys.ToArray();
        var postgresIds = postgres.GetService<IMigrationsAssembly>().Migrations.Keys.ToArray();

        Assert.NotEmpty(sqliteIds);
        Assert.Equal(sqliteIds, postgresIds);
        Assert.Equal(StorageSetup.SqliteMigrationsAssembly, sqlite.GetService<IMigrationsAssembly>().Assembly.GetName().Name);
        Assert.Equal(StorageSetup.PostgreSqlMigrationsAssembly, postgres.GetService<IMigrationsAssembly>().Assembly.GetName().Name);
    }

    /// <summary>The start-up check that skips EF Core looks for this id (decision 0031); add-migration.sh keeps it current.</summary>
    [Fact]
    public void LatestMigration_IsTheNewestOfBothHalves()
    {
        using var sqlite = Sqlite();
        using var postgres = PostgreSql();

        Assert.Equal(StorageSetup.LatestMigration, sqlite.GetService<IMigrationsAssembly>().Migrations.Keys.Last());
        Assert.Equal(StorageSetup.LatestMigration, postgres.GetService<IMigrationsAssembly>().Migrations.Keys.Last());
    }

    [Fact]
    public void BothProviders_HaveNoModelChangeWithoutAMigration()
    {
        using var sqlite = Sqlite();
        using var postgres = PostgreSql();

        Assert.False(sqlite.Database.HasPendingModelChanges(), "the model changed without a SQLite migration: bash src/add-migration.sh NAME");
        Assert.False(postgres.Database.HasPendingModelChanges(), "the model changed without a PostgreSQL migration: bash src/add-migration.sh NAME");
    }

    [Fact]
    public async Task ProviderUnderTest_NewDatabase_AppliesEveryMigrationOnceAndAgainNothing()
    {
        // Arrange
        var data = Path.Combine(_root, "data");
        Directory.CreateDirectory(data);
        var target = TestStorage.Target(data);
        using var db = Context(target);
        var all = db.GetService<IMigrationsAssembly>().Migrations.Keys.ToArray();

        var upToDateBefore = StorageSetup.IsUpToDate(target);

        // Act
        StorageSetup.Migrate(db, target);
        StorageSetup.Migrate(db, target); // a second start

        // Assert
        Assert.False(upToDateBefore);
        Assert.True(StorageSetup.IsUpToDate(target));
        Assert.Equal(all, await db.Database.GetAppliedMigrationsAsync());
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Equal(TestStorage.IsPostgres ? "Npgsql.EntityFrameworkCore.PostgreSQL" : "Microsoft.EntityFrameworkCore.Sqlite", db.Database.ProviderName);
    }

    /// <summary>
    /// Instances started together on a new PostgreSQL database migrate it one at a time: none fails and every migration
    /// is applied once. (Without the advisory lock around Migrate(), two migrators on an empty database both applied the
    /// same migration and one failed with 42701 "column ... already exists".)
    /// </summary>
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
                using var db = Context(target);
                start.SignalAndWait();
                StorageSetup.Migrate(db, target);
            })).ToArray();
            await Task.WhenAll(migrators);

            // Assert
            using var check = Context(target);
            var applied = check.Database.GetAppliedMigrations().ToList();
            Assert.Equal(check.GetService<IMigrationsAssembly>().Migrations.Keys.Order(StringComparer.Ordinal), applied.Order(StringComparer.Ordinal));
            Assert.Empty(check.Database.GetPendingMigrations());
        }
    }
}
