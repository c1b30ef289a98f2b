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
    private volatile int _generation;

    public string DataPath { get; } = dataPath;

    public BotDbContext Open() => factory.CreateDbContext();

    /// <summary>
    /// Migrates if needed (first use, or the file vanished). Throws if the database cannot be reached. Returns the
    /// database's generation, which changes whenever it was made ready again: a connection kept open from an earlier
    /// generation may write to a file that is gone.
    /// </summary>
    public int EnsureReady()
    {
        if (_ready && StorageSetup.DatabaseFileExists(DataPath))
        {
            return _generation;
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
                _generation++;
                _ready = true;
            }

            return _generation;
        }
    }

    /// <summary>Forgets that the database was ready, so the next write checks again (after a failure).</summary>
    public void Invalidate()
    {
        _ready = false;
        SqliteConnection.ClearAllPools();
    }
}
