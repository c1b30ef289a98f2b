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
    /// database's generation, which changes whenever the file was created again: a connection kept open from an
    /// earlier generation may write to a file that is gone.
    /// <para>
    /// After a failure (<see cref="Invalidate"/>) a file this process has migrated is only checked to be there, not
    /// migrated again: a migration takes EF Core's migration lock, which on a full or read-only disk waits (sleeping the
    /// thread) for as long as the fault lasts, and every other caller would queue behind it. For the same reason a
    /// caller that finds the database being prepared again by another does not wait for it: it fails at once, as the
    /// write it wanted would have, and its own retry comes back later. Only the very first preparation (start-up) is
    /// waited for.
    /// </para>
    /// </summary>
    public int EnsureReady()
    {
        if (_ready && StorageSetup.DatabaseFileExists(DataPath))
        {
            return _generation;
        }

        var first = _generation == 0;
        if (!first && !_lock.TryEnter())
        {
            throw new DatabaseUnavailableException("The database is being prepared again after a failure.");
        }

        if (first)
        {
            _lock.Enter();
        }

        try
        {
            var exists = StorageSetup.DatabaseFileExists(DataPath);
            if (_ready && !exists)
            {
                SqliteConnection.ClearAllPools();
                _ready = false;
            }

            if (!_ready)
            {
                if (exists && _generation > 0 && HasSchema())
                {
                    _ready = true; // migrated before: the failure was the disk's or a lock's, not the schema's
                    return _generation;
                }

                using var db = factory.CreateDbContext();
                StorageSetup.Migrate(db, DataPath);
                _generation++;
                _ready = true;
            }

            return _generation;
        }
        finally
        {
            _lock.Exit();
        }
    }

    /// <summary>
    /// True if the file is not empty. The file this process migrated stays non-empty; one created again since by a
    /// stray connection is empty until a migration writes the schema. Reading the schema itself would need SQLite's
    /// shared-memory index, which a full disk can refuse.
    /// </summary>
    private bool HasSchema() => new FileInfo(Path.Combine(DataPath, StorageSetup.DatabaseFileName)).Length > 0;

    /// <summary>Forgets that the database was ready, so the next write checks again (after a failure).</summary>
    public void Invalidate()
    {
        _ready = false;
        SqliteConnection.ClearAllPools();
    }
}

/// <summary>The database cannot be used right now (another caller is preparing it again after a failure); try later.</summary>
public sealed class DatabaseUnavailableException(string message) : Exception(message);
