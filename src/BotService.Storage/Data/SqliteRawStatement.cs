using System.Buffers;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace BotService.Storage.Data;

/// <summary>
/// One SQLite statement prepared once on an open connection and run many times, its parameters bound by position.
/// For the transcript's single writer, which runs a few statements per row thousands of times a second: a
/// <see cref="SqliteCommand"/> binds every parameter by name on every run (the name turned into UTF-8, then a linear
/// search of the statement's names, and for a name without its prefix three more searches), which under the
/// <c>/api/messages</c> load cost more CPU than SQLite's own work for the insert (docs/benchmarks.md, "Fewer
/// costs per turn"). Here each name is looked up once, when the statement is prepared.
/// <para>
/// It runs in whatever transaction the connection has open (the writer's <c>BEGIN</c>), is always reset after a run
/// (so a <c>COMMIT</c> never meets a statement in progress), and binds values as <see cref="SqliteCommand"/> does:
/// text as UTF-8, integers and <see cref="bool"/> as 64-bit integers, <see cref="double"/> as a real, a byte array as
/// a blob, null and <see cref="DBNull"/> as NULL. Errors are thrown as <see cref="SqliteException"/>, as a command's are.
/// </para>
/// </summary>
internal sealed class SqliteRawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;
    private readonly int[] _indexes;

    /// <param name="connection">An open connection; the statement must be disposed before it is closed.</param>
    /// <param name="sql">One statement.</param>
    /// <param name="parameterNames">The names of the values passed to <see cref="Run"/>, in that order (with their prefix, e.g. <c>@p0</c>).</param>
    public SqliteRawStatement(SqliteConnection connection, string sql, IReadOnlyList<string> parameterNames)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        var rc = raw.sqlite3_prepare_v2(_db, sql, out var statement);
        if (rc != raw.SQLITE_OK || statement is null)
        {
            statement?.Dispose();
            SqliteException.ThrowExceptionForRC(rc == raw.SQLITE_OK ? raw.SQLITE_ERROR : rc, _db);
        }

        _statement = statement!;

        _indexes = new int[parameterNames.Count];
        for (var i = 0; i < _indexes.Length; i++)
        {
            _indexes[i] = raw.sqlite3_bind_parameter_index(_statement, parameterNames[i]);
            if (_indexes[i] == 0)
            {
                _statement.Dispose();
                throw new ArgumentException($"The statement has no parameter {parameterNames[i]}.", nameof(parameterNames));
            }
        }
    }

    /// <summary>Whether <see cref="Bind"/> can bind a value of <paramref name="type"/> (the provider's type, after any value converter).</summary>
    public static bool CanBind(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) || type == typeof(bool) || type == typeof(long) || type == typeof(int) || type == typeof(short)
               || type == typeof(byte) || type == typeof(double) || type == typeof(float) || type == typeof(byte[]);
    }

    /// <summary>Binds the <paramref name="i"/>th value (by the order of the names given when prepared).</summary>
    public void Bind(int i, object? value)
    {
        var index = _indexes[i];
        var rc = value switch
        {
            null or DBNull => raw.sqlite3_bind_null(_statement, index),
            string s => BindText(index, s),
            long l => raw.sqlite3_bind_int64(_statement, index, l),
            int n => raw.sqlite3_bind_int64(_statement, index, n),
            bool b => raw.sqlite3_bind_int64(_statement, index, b ? 1 : 0),
            double d => raw.sqlite3_bind_double(_statement, index, d),
            float f => raw.sqlite3_bind_double(_statement, index, f),
            short h => raw.sqlite3_bind_int64(_statement, index, h),
            byte y => raw.sqlite3_bind_int64(_statement, index, y),
            byte[] blob => raw.sqlite3_bind_blob(_statement, index, blob),
            _ => throw new NotSupportedException($"No SQLite binding for a {value.GetType().Name}."),
        };
        Check(rc);
    }

    private int BindText(int index, string text)
    {
        // UTF-8 without a string of its own per value (SQLite copies it: SQLITE_TRANSIENT).
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = null;
        var buffer = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            return length == 0
                ? raw.sqlite3_bind_text(_statement, index, "") // an empty span would bind NULL
                : raw.sqlite3_bind_text(_statement, index, buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Binds <paramref name="values"/> in order, runs the statement to its end and resets it; the rows it changed.</summary>
    public int Run(params object?[] values)
    {
        BindAll(values);
        return Execute();
    }

    private void BindAll(object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            Bind(i, values[i]);
        }
    }

    /// <summary>Runs the statement with the values bound so far, to its end, and resets it; the rows it changed.</summary>
    public int Execute()
    {
        try
        {
            int rc;
            while ((rc = raw.sqlite3_step(_statement)) == raw.SQLITE_ROW)
            {
            }

            if (rc != raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(rc, _db);
            }

            return raw.sqlite3_changes(_db);
        }
        finally
        {
            raw.sqlite3_reset(_statement);
            raw.sqlite3_clear_bindings(_statement);
        }
    }

    /// <summary>Binds <paramref name="values"/>, runs the statement and returns the first column of its first row (null if none).</summary>
    public object? Scalar(params object?[] values)
    {
        BindAll(values);
        try
        {
            var rc = raw.sqlite3_step(_statement);
            if (rc == raw.SQLITE_ROW)
            {
                return raw.sqlite3_column_type(_statement, 0) switch
                {
                    raw.SQLITE_INTEGER => raw.sqlite3_column_int64(_statement, 0),
                    raw.SQLITE_FLOAT => raw.sqlite3_column_double(_statement, 0),
                    raw.SQLITE_TEXT => raw.sqlite3_column_text(_statement, 0).utf8_to_string(),
                    raw.SQLITE_NULL => null,
                    _ => raw.sqlite3_column_blob(_statement, 0).ToArray(),
                };
            }

            if (rc != raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(rc, _db);
            }

            return null;
        }
        finally
        {
            raw.sqlite3_reset(_statement);
            raw.sqlite3_clear_bindings(_statement);
        }
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }

    public void Dispose() => _statement.Dispose();
}
