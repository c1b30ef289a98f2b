using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BotService.Storage.Data;

/// <summary>Which database engine holds the service's state (configuration key <c>Storage:Provider</c>).</summary>
public enum StorageProvider
{
    /// <summary>A file under <c>Data:Path</c> (the default; one service process).</summary>
    Sqlite,

    /// <summary>A PostgreSQL database named by <c>ConnectionStrings:BotService</c>.</summary>
    PostgreSQL,
}

/// <summary>Configuration section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary>The name of the connection string (<c>ConnectionStrings:BotService</c>) the PostgreSQL provider reads.</summary>
    public const string ConnectionStringName = "BotService";

    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;
}

/// <summary>
/// Where the database is, resolved once at start: the provider and its connection string. The escalation outbox and
/// the Direct Line signing key stay files under <see cref="DataPath"/> whatever the provider.
/// </summary>
public sealed record StorageTarget(StorageProvider Provider, string ConnectionString, string DataPath)
{
    public bool IsSqlite => Provider == StorageProvider.Sqlite;

    /// <summary>The SQLite file <c>{dataPath}/botservice.db</c>.</summary>
    public static StorageTarget Sqlite(string dataPath) =>
        new(StorageProvider.Sqlite, StorageSetup.SqliteConnectionString(dataPath), dataPath);

    public static StorageTarget PostgreSql(string connectionString, string dataPath) =>
        new(StorageProvider.PostgreSQL, connectionString, dataPath);

    /// <summary>
    /// From configuration: SQLite unless <c>Storage:Provider</c> says PostgreSQL, which needs
    /// <c>ConnectionStrings:BotService</c>. A connection string given to SQLite is refused rather than ignored, so a
    /// half-done switch to PostgreSQL does not quietly keep writing to a local file.
    /// </summary>
    public static StorageTarget From(StorageOptions options, string? connectionString, string dataPath) => options.Provider switch
    {
        StorageProvider.Sqlite when !string.IsNullOrWhiteSpace(connectionString) => throw new InvalidOperationException(
            $"ConnectionStrings:{StorageOptions.ConnectionStringName} is set but Storage:Provider is Sqlite (the SQLite file lives under Data:Path); " +
            "set Storage:Provider=PostgreSQL to use it, or remove it."),
        StorageProvider.Sqlite => Sqlite(dataPath),
        StorageProvider.PostgreSQL when string.IsNullOrWhiteSpace(connectionString) => throw new InvalidOperationException(
            $"Storage:Provider is PostgreSQL but ConnectionStrings:{StorageOptions.ConnectionStringName} is not set " +
            "(e.g. Host=db.internal;Database=botservice;Username=botservice; keep the password in the environment)."),
        StorageProvider.PostgreSQL => PostgreSql(connectionString!, dataPath),
        _ => throw new InvalidOperationException($"Storage:Provider must be Sqlite or PostgreSQL, not {options.Provider}."),
    };

    /// <summary>A time as the model stores it: SQLite a 64-bit number (EF Core's DateTimeOffsetToBinaryConverter), PostgreSQL <c>timestamptz</c> (UTC).</summary>
    public object TimeToDb(DateTimeOffset time) => IsSqlite ? TimeConverter.ConvertToProvider(time)! : time.ToUniversalTime();

    /// <summary>The time in column <paramref name="ordinal"/>, as <see cref="TimeToDb"/> wrote it.</summary>
    public DateTimeOffset TimeFromDb(DbDataReader reader, int ordinal) => IsSqlite
        ? (DateTimeOffset)TimeConverter.ConvertFromProvider(reader.GetInt64(ordinal))!
        : reader.GetFieldValue<DateTimeOffset>(ordinal);

    private static readonly Microsoft.EntityFrameworkCore.Storage.ValueConversion.DateTimeOffsetToBinaryConverter TimeConverter = new();

    /// <summary>A key as the model stores it: SQLite upper-case text (as EF Core writes it), PostgreSQL <c>uuid</c>.</summary>
    public object GuidToDb(Guid id) => IsSqlite ? id.ToString().ToUpperInvariant() : id;

    /// <summary>The key in column <paramref name="ordinal"/>, as <see cref="GuidToDb"/> wrote it.</summary>
    public Guid GuidFromDb(DbDataReader reader, int ordinal) =>
        IsSqlite ? Guid.Parse(reader.GetString(ordinal), System.Globalization.CultureInfo.InvariantCulture) : reader.GetGuid(ordinal);

    /// <summary>Never the password: for logs and /healthz.</summary>
    public string Describe()
    {
        if (IsSqlite)
        {
            return $"SQLite {Path.Combine(DataPath, StorageSetup.DatabaseFileName)}";
        }

        return DescribePostgreSql(ConnectionString);
    }

    // PostgreSQL's pieces in methods of their own throughout: the JIT loads the assemblies a method refers to when it
    // compiles it, taken branch or not, so on SQLite Npgsql is never loaded (decision 0021).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string DescribePostgreSql(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"PostgreSQL {b.Host}:{b.Port}/{b.Database}";
    }
}

/// <summary>
/// How the database is reached and migrated. One model (<see cref="BotDbContext"/>), one migration history, kept as
/// code once per provider: <c>src/BotService.Migrations.Sqlite</c> and <c>src/BotService.Migrations.PostgreSQL</c>
/// (docs/decisions/0015-postgresql-migrations-per-provider.md).
/// </summary>
public static class StorageSetup
{
    public const string DatabaseFileName = "botservice.db";

    /// <summary>The assemblies that hold each provider's migrations (referenced by the host, loaded by name).</summary>
    public const string SqliteMigrationsAssembly = "BotService.Migrations.Sqlite";

    public const string PostgreSqlMigrationsAssembly = "BotService.Migrations.PostgreSQL";

    /// <summary>
    /// The newest migration of the one history, both providers (src/add-migration.sh keeps it current; MigrationTests
    /// fails if it is not the last of either half). A database whose history holds it has nothing pending, and is
    /// recognised so with one plain query, without building EF Core's model (decision 0031).
    /// </summary>
    public const string LatestMigration = "20261124005017_AnswerFeedback";

    public static string SqliteConnectionString(string dataPath) => new SqliteConnectionStringBuilder
    {
        DataSource = Path.Combine(dataPath, DatabaseFileName),
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        DefaultTimeout = 5, // seconds to wait on a lock before failing; the dispatcher retries with backoff
        Pooling = true,
    }.ToString();

    /// <summary>
    /// Lets SQLite itself wait for another connection's write lock (its busy handler sleeps 1, 2, 5, 10 … ms) for up to
    /// the connection's default timeout. Without it Microsoft.Data.Sqlite retries a busy statement after a fixed
    /// 150 ms sleep, so a 10 ms transaction of the escalation dispatcher or the answer log cost the transcript writer
    /// 150 ms (measured: median 152 ms without, 22 ms with, for a lock held 10 ms). The budget is the connection's own
    /// <c>DefaultTimeout</c>, so the two do not add up: Microsoft.Data.Sqlite's loop finds its time spent when SQLite
    /// gives up, and a locked database still fails after the same time as before.
    /// </summary>
    public static string SqliteBusyTimeoutPragma(int seconds) => $"PRAGMA busy_timeout = {seconds * 1000};";

    /// <summary>
    /// Runs <see cref="SqliteBusyTimeoutPragma"/> with the connection's own default timeout on an open SQLite
    /// connection: on every connection EF Core opens (<see cref="SqliteBusyTimeout"/>) and every plain one
    /// (<see cref="Database.OpenConnectionAsync"/>).
    /// </summary>
    public static void ApplySqliteBusyTimeout(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = SqliteBusyTimeoutPragma(connection is SqliteConnection sqlite ? sqlite.DefaultTimeout : 5);
        command.ExecuteNonQuery();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void UseNpgsql(DbContextOptionsBuilder options, StorageTarget target) =>
        options.UseNpgsql(target.ConnectionString, o => o.MigrationsAssembly(PostgreSqlMigrationsAssembly));

    public static void Configure(DbContextOptionsBuilder options, StorageTarget target)
    {
        if (target.IsSqlite)
        {
            options.UseSqlite(target.ConnectionString, o => o.MigrationsAssembly(SqliteMigrationsAssembly));
            options.AddInterceptors(SqliteBusyTimeout.Instance);
        }
        else
        {
            UseNpgsql(options, target);
        }

        // EF Core logs every failed save and command at Error before throwing. Each caller here either handles the
        // exception (a duplicate key from a race another writer won is the expected outcome of an idempotent insert)
        // or logs it itself with what was being done, so EF's own lines are kept for debugging only: an operator's
        // Error log then means something is wrong.
        // The same holds for a failed query and a failed connection (PostgreSQL restarting): the transcript store tries
        // again and logs its own warning (2205), the dispatcher logs 5004, a request that fails is logged with its route
        // by the exception handler. The soak's PostgreSQL restart (tests/load/soak.sh) logged ~120 EF Core Error lines
        // for reads that were retried and succeeded.
        options.ConfigureWarnings(w => w.Log(
            (CoreEventId.SaveChangesFailed, LogLevel.Debug),
            (RelationalEventId.CommandError, LogLevel.Debug),
            (CoreEventId.QueryIterationFailed, LogLevel.Debug),
            (RelationalEventId.ConnectionError, LogLevel.Debug)));
    }

    /// <summary>
    /// True if the database's migration history already holds <see cref="LatestMigration"/> (then SQLite's journal is
    /// set to WAL, as <see cref="Migrate"/> does). Plain ADO.NET: at start on a database that is up to date, EF Core is
    /// not loaded at all (decision 0031). False when the history lacks it, has no table yet or cannot be read: the
    /// caller then migrates through EF Core, which reports any real fault itself.
    /// </summary>
    public static bool IsUpToDate(StorageTarget target)
    {
        if (target.IsSqlite && !DatabaseFileExists(target.DataPath))
        {
            return false;
        }

        try
        {
            using var connection = CreateConnection(target);
            connection.Open();

            using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM \"__EFMigrationsHistory\" WHERE \"MigrationId\" = @id";
            command.AddParameter("@id", LatestMigration);
            if (Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                return false;
            }

            if (target.IsSqlite)
            {
                command.Parameters.Clear();
                command.CommandText = "PRAGMA journal_mode=WAL;";
                command.ExecuteNonQuery();
            }

            return true;
        }
        catch (DbException)
        {
            return false; // no history table yet, no database yet, or unreachable: EF Core's migration says which
        }
    }

    /// <summary>
    /// A plain connection to the target, not yet opened, from the same pool EF Core's connections come from (the same
    /// connection string), so <see cref="ClearPools"/> drops both.
    /// </summary>
    public static DbConnection CreateConnection(StorageTarget target) =>
        target.IsSqlite ? new SqliteConnection(target.ConnectionString) : CreatePostgreSqlConnection(target.ConnectionString);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static DbConnection CreatePostgreSqlConnection(string connectionString) => new NpgsqlConnection(connectionString);

    /// <summary>
    /// Applies migrations. SQLite: creates the file owner-only first (it holds transcripts; SQLite gives the -wal and
    /// -shm files the database file's permissions) and turns on WAL. PostgreSQL: the server owns the files; the
    /// database is created if the role may (as EF Core does), otherwise it must exist. When no migration is pending
    /// (every start but the first after an upgrade) nothing more is done: EF Core's <c>Migrate()</c> would still build
    /// the migrations' model snapshot and compare it with the model, whose types and code then stay resident for the
    /// process's life (a restart measured ~4 MB smaller and 0.3 s of CPU quicker; decision 0021).
    /// </summary>
    public static void Migrate(BotDbContext db, StorageTarget target)
    {
        if (!db.Database.GetPendingMigrations().Any())
        {
            if (target.IsSqlite)
            {
                db.Database.ExecuteSqlRaw("PRAGMA journal_mode=WAL;");
            }

            return;
        }

        if (!target.IsSqlite)
        {
            MigratePostgreSql(db, target);
            return;
        }

        var file = Path.Combine(target.DataPath, DatabaseFileName);
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

    /// <summary>
    /// The key of the session advisory lock that instances take, one at a time, to migrate a PostgreSQL database. Any
    /// fixed number no other code on the database uses ("botservi" in ASCII).
    /// </summary>
    internal const long PostgreSqlMigrationLockKey = 0x626f_7473_6572_7669;

    /// <summary>
    /// Several instances starting together on a new database must not both apply the same migration. EF Core's own
    /// lock on PostgreSQL lasts one migration's transaction, and two instances started at once on an empty database
    /// both applied <c>Transcript</c>: one failed with 42701 ("column ... already exists"; seen in the two-instance
    /// soak, reproduced three times out of three by starting two processes together). So the whole <c>Migrate()</c>
    /// runs under a session advisory lock on a connection of its own: the second instance waits, then finds nothing
    /// pending. The database is created first if it is missing (as EF Core would; another instance may win that race).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MigratePostgreSql(BotDbContext db, StorageTarget target)
    {
        var creator = db.GetService<IRelationalDatabaseCreator>();
        if (!creator.Exists())
        {
            try
            {
                creator.Create();
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // another instance created it first
            }
        }

        using var session = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(target.ConnectionString)
        {
            Pooling = false, ApplicationName = "botservice-migrate", CommandTimeout = 300,
        }.ToString());
        session.Open();
        using (var take = new NpgsqlCommand("SELECT pg_advisory_lock($1)", session))
        {
            take.Parameters.Add(new NpgsqlParameter<long> { TypedValue = PostgreSqlMigrationLockKey });
            take.ExecuteNonQuery();
        }

        db.Database.Migrate(); // the lock goes with the session, when it is closed below or if this process dies
    }

    /// <summary>True if the database file is still where it was: SQLite keeps writing to a deleted file's inode.</summary>
    public static bool DatabaseFileExists(string dataPath) => File.Exists(Path.Combine(dataPath, DatabaseFileName));

    /// <summary>
    /// Throws unless the database takes a write now, on a connection of its own with a one-second budget (the health
    /// check). SQLite: one small write (the header's <c>user_version</c>, to the value it has); on a read-only file
    /// SQLite would grant even BEGIN IMMEDIATE. PostgreSQL: connected, and neither a standby nor read-only
    /// (<c>default_transaction_read_only</c>), without writing anything.
    /// </summary>
    public static void ProbeWrites(StorageTarget target)
    {
        if (target.IsSqlite)
        {
            var connection = new SqliteConnectionStringBuilder(target.ConnectionString)
            {
                Pooling = false,
                DefaultTimeout = 1,
                Mode = SqliteOpenMode.ReadWrite,
            }.ToString();
            using var sqlite = new SqliteConnection(connection);
            sqlite.Open();
            using var command = sqlite.CreateCommand();
            command.CommandText = "PRAGMA user_version;";
            var version = Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            command.CommandText = $"PRAGMA user_version = {version};";
            command.ExecuteNonQuery();
            return;
        }

        ProbePostgreSqlWrites(target);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ProbePostgreSqlWrites(StorageTarget target)
    {
        using var postgres = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(target.ConnectionString)
        {
            Pooling = false, Timeout = 1, CommandTimeout = 1,
        }.ToString());
        postgres.Open();
        using var probe = postgres.CreateCommand();
        probe.CommandText = "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'";
        if (probe.ExecuteScalar() is true)
        {
            throw new InvalidOperationException("the PostgreSQL database is read-only (a standby, or default_transaction_read_only)");
        }
    }

    /// <summary>Drops pooled connections (after a failure, or when the SQLite file was replaced).</summary>
    public static void ClearPools(StorageTarget target)
    {
        if (target.IsSqlite)
        {
            SqliteConnection.ClearAllPools();
        }
        else
        {
            ClearPostgreSqlPools();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ClearPostgreSqlPools() => NpgsqlConnection.ClearAllPools();
}

/// <summary>Runs <see cref="StorageSetup.SqliteBusyTimeoutPragma"/> on every SQLite connection EF Core opens.</summary>
internal sealed class SqliteBusyTimeout : DbConnectionInterceptor
{
    public static readonly SqliteBusyTimeout Instance = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    private static void Apply(DbConnection connection) => StorageSetup.ApplySqliteBusyTimeout(connection);
}
