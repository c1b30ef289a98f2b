using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace BotService.Storage.Data;

/// <summary>
/// Owns the database's existence: applies migrations at start, and before each write checks that the SQLite file is
/// still there. A deleted file would otherwise swallow writes (pooled connections keep writing to the unlinked
/// inode), so the pools are cleared and the database is created again.
/// </summary>
public sealed class Database(IDbContextFactory<BotDbContext> factory, string dataPath)
{
    private readonly Lock _lock = new();
    private volatile bool _ready;

    public string DataPath { get; } = dataPath;

    public BotDbContext Open() => factory.CreateDbContext();

    /// <summary>Migrates if needed (first use, or the file vanished). Throws if the database cannot be reached.</summary>
    public void EnsureReady()
    {
        if (_ready && StorageSetup.DatabaseFileExists(DataPath))
        {
            return;
        }

        lock (_lock)
        {
            if (_ready && !StorageSetup.DatabaseFileExists(DataPath))
            {
                SqliteConnection.ClearAllPools();
                _ready = false;
            }

            if (!_ready)
            {
                using var db = factory.CreateDbContext();
                StorageSetup.Migrate(db, DataPath);
                _ready = true;
            }
        }
    }

    /// <summary>Forgets that the database was ready, so the next write checks again (after a failure).</summary>
    public void Invalidate()
    {
        _ready = false;
        SqliteConnection.ClearAllPools();
    }
}
