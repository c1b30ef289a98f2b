using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace BotService.Storage.Data;

/// <summary>
/// Owns the database's existence: applies migrations at start, and (SQLite) before each write checks that the file is
/// still there. A deleted file would otherwise swallow writes (pooled connections keep writing to the unlinked
/// inode), so the pools are cleared and the database is created again. PostgreSQL's files are the server's business:
/// there the database is migrated once, and a later failure only clears the connection pools.
/// </summary>
public sealed class Database(IDbContextFactory<BotDbContext> factory, StorageTarget target)
{
    private readonly Lock _lock = new();
    private volatile bool _ready;
    private volatile int _generation;

    public StorageTarget Target { get; } = target;

    public string DataPath => Target.DataPath;

    /// <summary>An EF Core context: for the staff pages and what they change. Not on a visitor's path (decision 0031).</summary>
    public BotDbContext Open() => factory.CreateDbContext();

    /// <summary>
    /// A plain ADO.NET connection, opened (SQLite: with the same busy timeout EF Core's connections get). The paths
    /// that run for every visitor's message and the background jobs use these with hand-written SQL, so EF Core's
    /// model and query pipeline are never built in an instance no staff member uses (decision 0031). The SQL is
    /// written once for both providers: identifiers in double quotes, parameters as <c>@name</c>; times through
    /// <see cref="TimeToDb"/> and <see cref="TimeFromDb"/>.
    /// </summary>
    public async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = StorageSetup.CreateConnection(Target);
        try
        {
            await connection.OpenAsync(cancellationToken);
            if (Target.IsSqlite)
            {
                StorageSetup.ApplySqliteBusyTimeout(connection); // in-process, no I/O: as EF Core's connections get it
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc cref="StorageTarget.TimeToDb"/>
    public object TimeToDb(DateTimeOffset time) => Target.TimeToDb(time);

    /// <inheritdoc cref="StorageTarget.TimeFromDb"/>
    public DateTimeOffset TimeFromDb(DbDataReader reader, int ordinal) => Target.TimeFromDb(reader, ordinal);

    /// <inheritdoc cref="StorageTarget.GuidToDb"/>
    public object GuidToDb(Guid id) => Target.GuidToDb(id);

    /// <inheritdoc cref="StorageTarget.GuidFromDb"/>
    public Guid GuidFromDb(DbDataReader reader, int ordinal) => Target.GuidFromDb(reader, ordinal);

    /// <summary>
    /// False only when the database certainly holds nothing yet (no SQLite file), so start-up reads can skip it without
    /// creating it. PostgreSQL: true (the server has it, or the read fails and says so).
    /// </summary>
    public bool MayHoldData => !Target.IsSqlite || StorageSetup.DatabaseFileExists(DataPath);

    /// <summary>
    /// Migrates if needed (first use, or the SQLite file vanished). Throws if the database cannot be reached. Returns
    /// the database's generation, which changes whenever the file was created again: a connection kept open from an
    /// earlier generation may write to a file that is gone.
    /// <para>
    /// After a failure (<see cref="Invalidate"/>) a database this process has migrated is not migrated again (SQLite:
    /// only checked to be there): a migration takes EF Core's migration lock, which on a full or read-only disk waits
    /// (sleeping the thread) for as long as the fault lasts, and every other caller would queue behind it; on
    /// PostgreSQL it is synchronous network work on every retry while the server is down. For the same reason a
    /// caller that finds the database being prepared again by another does not wait for it: it fails at once, as the
    /// write it wanted would have, and its own retry comes back later. Only the very first preparation (start-up) is
    /// waited for.
    /// </para>
    /// </summary>
    public int EnsureReady()
    {
        if (_ready && MayHoldData)
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
            var exists = MayHoldData;
            if (_ready && !exists)
            {
                StorageSetup.ClearPools(Target);
                _ready = false;
            }

            if (!_ready)
            {
                if (exists && _generation > 0 && HasSchema())
                {
                    _ready = true; // migrated before: the failure was the disk's, a lock's or the server's, not the schema's
                    return _generation;
                }

                if (!StorageSetup.IsUpToDate(Target))
                {
                    using var db = factory.CreateDbContext();
                    StorageSetup.Migrate(db, Target);
                }

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
    /// SQLite: true if the file is not empty. The file this process migrated stays non-empty; one created again since
    /// by a stray connection is empty until a migration writes the schema. Reading the schema itself would need
    /// SQLite's shared-memory index, which a full disk can refuse. PostgreSQL: the schema does not go away with a
    /// connection (a dropped database needs a restart of the service).
    /// </summary>
    private bool HasSchema() => !Target.IsSqlite || new FileInfo(Path.Combine(DataPath, StorageSetup.DatabaseFileName)).Length > 0;

    /// <summary>Forgets that the database was ready, so the next write checks again (after a failure); drops pooled connections.</summary>
    public void Invalidate()
    {
        _ready = false;
        StorageSetup.ClearPools(Target);
    }
}

/// <summary>The database cannot be used right now (another caller is preparing it again after a failure); try later.</summary>
public sealed class DatabaseUnavailableException(string message) : Exception(message);
