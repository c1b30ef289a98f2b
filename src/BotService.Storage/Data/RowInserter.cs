using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;

namespace BotService.Storage.Data;

/// <summary>
/// Inserts many new rows of one table in one transaction with prepared <c>INSERT</c> statements, for a background
/// writer that only ever adds rows and never reads them back (the answer log). EF Core's <c>AddRange</c> +
/// <c>SaveChanges</c> tracks every entity, snapshots it and reads its generated key back; at ten thousand answers a
/// second that was about 40 µs of CPU per answer, more than the whole rest of the turn (decision 0023). The columns
/// are given by hand with each value already as the provider stores it (<see cref="Database.TimeToDb"/>), not read
/// from EF Core's model, so an instance without staff never builds the model (decision 0031); RowInserterTests checks
/// the list against the model's columns and reads the rows back through EF Core. The store-generated key is left to
/// the database.
/// </summary>
public sealed class RowInserter<T>
    where T : class
{
    private readonly Func<T, object?>[] _values;
    private readonly string _insertInto;
    private readonly int _rowsPerStatement;
    private readonly bool _sqlite;
    private readonly string _singleRow; // SQLite: INSERT ... VALUES (@p0, @p1, ...)
    private readonly string[] _singleRowNames;

    /// <param name="table">The table (lower case, as the model names them).</param>
    /// <param name="sqlite">SQLite (one prepared single-row statement run per row, bound by position: SQLite binds a
    /// named parameter by a linear search of the statement's names, so a 64-row statement of a dozen columns cost
    /// ~250,000 name comparisons to bind) or PostgreSQL (64 rows per statement, one round trip each).</param>
    /// <param name="columns">Each column's name and its value for a row, as the provider stores it.</param>
    public RowInserter(string table, bool sqlite, IReadOnlyList<(string Column, Func<T, object?> Value)> columns)
    {
        _sqlite = sqlite;
        _rowsPerStatement = sqlite ? 1 : 64;
        Columns = [.. columns.Select(c => c.Column)];
        _values = [.. columns.Select(c => c.Value)];
        _insertInto = $"INSERT INTO {table} (" + string.Join(", ", Columns.Select(c => "\"" + c + "\"")) + ") VALUES ";
        _singleRowNames = [.. Enumerable.Range(0, _values.Length).Select(c => "@p" + c)];
        _singleRow = _insertInto + "(" + string.Join(", ", _singleRowNames) + ")";
    }

    /// <summary>The columns written, in order.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>
    /// Inserts <paramref name="rows"/> on an open connection of the model's provider, in <paramref name="transaction"/>
    /// (the transcript writer's group commit: <see cref="Transcripts.TranscriptStore.WriteRowsAsync"/>).
    /// </summary>
    public void Insert(DbConnection connection, DbTransaction transaction, IReadOnlyList<T> rows)
    {
        if (_sqlite && connection is SqliteConnection sqlite && rows.Count > 0)
        {
            InsertSqlite(sqlite, rows);
            return;
        }

        DbCommand? full = null; // prepared once, run again with new values
        try
        {
            for (var start = 0; start < rows.Count; start += _rowsPerStatement)
            {
                var count = Math.Min(_rowsPerStatement, rows.Count - start);
                if (count == _rowsPerStatement)
                {
                    full ??= Create(connection, transaction, count);
                    Fill(full, rows, start, count);
                    full.ExecuteNonQuery();
                }
                else
                {
                    using var tail = Create(connection, transaction, count);
                    Fill(tail, rows, start, count);
                    tail.ExecuteNonQuery();
                }
            }
        }
        finally
        {
            full?.Dispose();
        }
    }

    /// <summary>
    /// SQLite: one single-row statement, prepared once per call and run per row with its values bound by position
    /// (<see cref="SqliteRawStatement"/>), in the connection's open transaction. A <see cref="SqliteCommand"/> would look
    /// each parameter up by name on every row.
    /// </summary>
    private void InsertSqlite(SqliteConnection connection, IReadOnlyList<T> rows)
    {
        using var statement = new SqliteRawStatement(connection, _singleRow, _singleRowNames);
        foreach (var row in rows)
        {
            for (var c = 0; c < _values.Length; c++)
            {
                statement.Bind(c, _values[c](row));
            }

            statement.Execute();
        }
    }

    private DbCommand Create(DbConnection connection, DbTransaction transaction, int count)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        var text = new StringBuilder(_insertInto, _insertInto.Length + count * _values.Length * 8);
        for (var r = 0; r < count; r++)
        {
            text.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < _values.Length; c++)
            {
                var name = "@p" + (r * _values.Length + c);
                text.Append(c == 0 ? "" : ", ").Append(name);
                command.AddParameter(name, null);
            }

            text.Append(')');
        }

        command.CommandText = text.ToString();
        return command;
    }

    private void Fill(DbCommand command, IReadOnlyList<T> rows, int start, int count)
    {
        for (var r = 0; r < count; r++)
        {
            var row = rows[start + r];
            for (var c = 0; c < _values.Length; c++)
            {
                command.Parameters[r * _values.Length + c].Value = _values[c](row) ?? DBNull.Value;
            }
        }
    }
}
