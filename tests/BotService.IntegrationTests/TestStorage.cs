using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using BotService.Storage.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Npgsql;

namespace BotService.IntegrationTests;

/// <summary>
/// Which database the integration tests give the service: SQLite (a file in the test's data folder, the default), or
/// PostgreSQL when <c>BOTSERVICE_TEST_POSTGRES</c> holds a connection string to a throwaway server (tests/run.sh starts
/// one with Debian's postgresql for its second pass). Each data folder then gets a database of its own, named after
/// the folder, so a test that restarts the service on the same folder finds its data again.
/// </summary>
internal static class TestStorage
{
    public const string Variable = "BOTSERVICE_TEST_POSTGRES";

    /// <summary>
    /// A class whose tests do not depend on the storage provider (knowledge, authentication, the wire format, the
    /// browser and directlinejs clients, whose storage paths DirectLineApiTests and the dashboard tests cover over HTTP)
    /// carries <c>[Trait(Trait, NoStorage)]</c>; tests/run.sh's PostgreSQL pass leaves it out to keep the suite short.
    /// </summary>
    public const string Trait = "Storage";

    public const string NoStorage = "none";

    private static readonly string? Admin = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } v ? v : null;
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, string> Created = new(StringComparer.Ordinal); // data folder → database

    public static bool IsPostgres => Admin is not null;

    public static string ProviderName => IsPostgres ? "PostgreSQL" : "SQLite";

    /// <summary>The service's arguments for a data folder's database (none for SQLite: the file goes in the folder).</summary>
    public static string[] ServiceArgs(string dataPath) => IsPostgres
        ? ["--Storage:Provider=PostgreSQL", $"--ConnectionStrings:BotService={ConnectionString(dataPath)}"]
        : [];

    public static StorageTarget Target(string dataPath) =>
        IsPostgres ? StorageTarget.PostgreSql(ConnectionString(dataPath), dataPath) : StorageTarget.Sqlite(dataPath);

    public static DbContextOptions<BotDbContext> ContextOptions(string dataPath)
    {
        var builder = new DbContextOptionsBuilder<BotDbContext>();
        StorageSetup.Configure(builder, Target(dataPath));
        return builder.Options;
    }

    /// <summary>The PostgreSQL database of a data folder, created on first use (empty: the service migrates it).</summary>
    public static string ConnectionString(string dataPath)
    {
        var full = Path.GetFullPath(dataPath);
        var name = "it_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(full)))[..20];
        lock (Gate)
        {
            if (Created.TryAdd(full, name))
            {
                using var admin = OpenAdmin();
                using var create = admin.CreateCommand();
                create.CommandText = $"CREATE DATABASE \"{name}\"";
                try
                {
                    create.ExecuteNonQuery();
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase)
                {
                    // left by an earlier run on the same server
                }
            }
        }

        return new NpgsqlConnectionStringBuilder(Admin) { Database = name, Pooling = true }.ToString();
    }

    /// <summary>A connection of the test's own to the service's database (SQLite: the file, not pooled).</summary>
    public static DbConnection Open(string dataPath, bool readOnly = false)
    {
        DbConnection connection = IsPostgres
            ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString(dataPath)) { Pooling = false }.ToString())
            : new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = Path.Combine(dataPath, StorageSetup.DatabaseFileName),
                Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWrite,
                Pooling = false,
            }.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>Runs a query that returns one number (<c>@p0</c>, <c>@p1</c>… are the values; quote column names).</summary>
    public static long Scalar(string dataPath, string sql, params object[] values)
    {
        using var connection = Open(dataPath, readOnly: true);
        using var command = Command(connection, sql, values);
        return command.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    public static int Execute(string dataPath, string sql, params object[] values)
    {
        using var connection = Open(dataPath);
        using var command = Command(connection, sql, values);
        return command.ExecuteNonQuery();
    }

    public static DbCommand Command(DbConnection connection, string sql, params object[] values)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        for (var i = 0; i < values.Length; i++)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = $"@p{i}";
            parameter.Value = values[i];
            command.Parameters.Add(parameter);
        }

        return command;
    }

    /// <summary>A time as the provider stores it (SQLite: the model's binary converter; PostgreSQL: timestamptz).</summary>
    public static object DbTime(DateTimeOffset at) =>
        IsPostgres ? at.ToUniversalTime() : new DateTimeOffsetToBinaryConverter().ConvertToProvider(at)!;

    /// <summary>The data folder's database outside any service, for a test of one part on its own (the transcript store, the answer log).</summary>
    public static Database Database(string dataPath) => new(new ContextFactory(ContextOptions(dataPath)), Target(dataPath));

    private sealed class ContextFactory(DbContextOptions<BotDbContext> options) : IDbContextFactory<BotDbContext>
    {
        public BotDbContext CreateDbContext() => new(options);
    }

    public static void ClearPools()
    {
        SqliteConnection.ClearAllPools();
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>Drops the databases of the data folders under <paramref name="root"/> (the folder is being deleted).</summary>
    public static void DropUnder(string root)
    {
        if (!IsPostgres)
        {
            return;
        }

        var prefix = Path.GetFullPath(root);
        List<string> names;
        lock (Gate)
        {
            var gone = Created.Where(c => c.Key == prefix || c.Key.StartsWith(prefix + Path.DirectorySeparatorChar, StringComparison.Ordinal)).ToList();
            foreach (var c in gone)
            {
                Created.Remove(c.Key);
            }

            names = gone.Select(c => c.Value).ToList();
        }

        if (names.Count == 0)
        {
            return;
        }

        using var admin = OpenAdmin();
        foreach (var name in names)
        {
            using var drop = admin.CreateCommand();
            drop.CommandText = $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)";
            drop.ExecuteNonQuery();
        }
    }

    /// <summary>A superuser connection to the server's <c>postgres</c> database (creating, dropping, breaking things).</summary>
    public static NpgsqlConnection OpenAdmin()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Admin) { Database = "postgres", Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>The database name in a data folder's connection string (for faults made with admin commands).</summary>
    public static string DatabaseName(string dataPath) => new NpgsqlConnectionStringBuilder(ConnectionString(dataPath)).Database!;

    /// <summary>Environment for <c>psql</c> (another process) to reach a data folder's database.</summary>
    public static IReadOnlyDictionary<string, string> PsqlEnvironment(string dataPath)
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString(dataPath));
        return new Dictionary<string, string>
        {
            ["PGHOST"] = b.Host!, ["PGPORT"] = b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGUSER"] = b.Username ?? "postgres", ["PGDATABASE"] = b.Database!,
        };
    }
}

/// <summary>A fact about the SQLite file itself (a file lock, a read-only or deleted file): not run in the PostgreSQL pass.</summary>
public sealed class SqliteFactAttribute : FactAttribute
{
    public SqliteFactAttribute()
    {
        if (TestStorage.IsPostgres)
        {
            Skip = "about the SQLite file; runs in the SQLite pass";
        }
    }
}

/// <summary>A fact about PostgreSQL (a server-side fault): run only in the PostgreSQL pass of tests/run.sh.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (!TestStorage.IsPostgres)
        {
            Skip = $"about PostgreSQL; runs in tests/run.sh's PostgreSQL pass ({TestStorage.Variable})";
        }
    }
}
