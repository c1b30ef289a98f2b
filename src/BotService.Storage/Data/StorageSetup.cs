using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace BotService.Storage.Data;

/// <summary>How the database is reached: SQLite under <c>Data:Path</c> unless a connection string says otherwise.</summary>
public static class StorageSetup
{
    public const string DatabaseFileName = "botservice.db";

    public static string SqliteConnectionString(string dataPath) => new SqliteConnectionStringBuilder
    {
        DataSource = Path.Combine(dataPath, DatabaseFileName),
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        DefaultTimeout = 5, // seconds to wait on a lock before failing; the dispatcher retries with backoff
        Pooling = true,
    }.ToString();

    public static void ConfigureSqlite(DbContextOptionsBuilder options, string dataPath) =>
        options.UseSqlite(SqliteConnectionString(dataPath));

    /// <summary>
    /// Creates the database file owner-only (it holds transcripts) before SQLite opens it, applies migrations and
    /// turns on WAL. SQLite gives the -wal and -shm files the database file's permissions.
    /// </summary>
    public static void Migrate(BotDbContext db, string dataPath)
    {
        var file = Path.Combine(dataPath, DatabaseFileName);
        if (!File.Exists(file) && !OperatingSystem.IsWindows())
        {
            using (File.Create(file, 0, FileOptions.None))
            {
            }

            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        db.Database.Migrate();
        db.Database.ExecuteSqlRaw("PRAGMA journal_mode=WAL;");
    }

    /// <summary>True if the database file is still where it was: SQLite keeps writing to a deleted file's inode.</summary>
    public static bool DatabaseFileExists(string dataPath) => File.Exists(Path.Combine(dataPath, DatabaseFileName));
}

/// <summary>For <c>dotnet ef migrations add</c>: a context on a scratch SQLite file.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<BotDbContext>
{
    public BotDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<BotDbContext>();
        StorageSetup.ConfigureSqlite(options, Path.GetTempPath());
        return new BotDbContext(options.Options);
    }
}
