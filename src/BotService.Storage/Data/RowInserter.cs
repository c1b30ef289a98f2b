using System.Data.Common;
using System.Linq.Expressions;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace BotService.Storage.Data;

/// <summary>
/// Inserts many new rows of one entity type in one transaction with prepared <c>INSERT</c> statements, for a
/// background writer that only ever adds rows and never reads them back (the answer log). EF Core's
/// <c>AddRange</c> + <c>SaveChanges</c> tracks every entity, snapshots it and reads its generated key back; at ten
/// thousand answers a second that was about 40 µs of CPU per answer, more than the whole rest of the turn
/// (decision 0023). The statements are built from the EF Core model (table,
/// columns, the provider's quoting and each property's type mapping and value converter), so they store exactly what
/// <c>SaveChanges</c> would on SQLite and on PostgreSQL; the store-generated key is left to the database.
/// </summary>
public sealed class RowInserter<T>
    where T : class
{
    private readonly IProperty[] _columns;
    private readonly RelationalTypeMapping[] _mappings;
    private readonly Func<T, object?>[] _values;
    private readonly string _insertInto;
    private readonly ISqlGenerationHelper _sql;
    private readonly int _rowsPerStatement;
    private readonly bool _rawBinding; // every column's provider type is one SqliteRawStatement binds
    private readonly string _singleRow; // SQLite: INSERT ... VALUES (@p0, @p1, ...)
    private readonly string[] _singleRowNames;

    /// <summary>A compiled getter: PropertyInfo.GetValue is a reflected call per column per row.</summary>
    private static Func<T, object?> Getter(System.Reflection.PropertyInfo info)
    {
        var row = Expression.Parameter(typeof(T), "row");
        return Expression.Lambda<Func<T, object?>>(Expression.Convert(Expression.Property(row, info), typeof(object)), row).Compile();
    }

    private RowInserter(IEntityType entity, ISqlGenerationHelper sql, int rowsPerStatement)
    {
        _sql = sql;
        _rowsPerStatement = rowsPerStatement;
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        _columns = [.. entity.GetProperties().Where(p => (p.ValueGenerated & ValueGenerated.OnAdd) == 0)];
        _mappings = [.. _columns.Select(p => p.GetRelationalTypeMapping())];
        _values = [.. _columns.Select(p => p.PropertyInfo is { } info
            ? Getter(info)
            : throw new InvalidOperationException($"{typeof(T).Name}.{p.Name} has no CLR property to read."))];
        _rawBinding = _columns.Zip(_mappings).All(c => SqliteRawStatement.CanBind(c.Second.Converter?.ProviderClrType ?? c.First.ClrType));
        _insertInto = $"INSERT INTO {sql.DelimitIdentifier(table.Name, table.Schema)} ("
            + string.Join(", ", _columns.Select(p => sql.DelimitIdentifier(p.GetColumnName(table)!))) + ") VALUES ";
        _singleRowNames = [.. Enumerable.Range(0, _columns.Length).Select(c => "@p" + c)];
        _singleRow = _insertInto + "(" + string.Join(", ", _singleRowNames) + ")";
    }

    /// <summary>
    /// An inserter for <typeparamref name="T"/> as the context's model maps it (build once, share). Rows per statement:
    /// SQLite binds each named parameter by a linear search of the statement's names, so a 64-row statement of a dozen
    /// columns cost ~250,000 name comparisons to bind; there one prepared single-row statement is run per row (an
    /// in-process call, no round trip). PostgreSQL: 64 rows per statement, one round trip each.
    /// </summary>
    public static RowInserter<T> For(DbContext context) =>
        new(context.Model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in the model."),
            context.GetService<ISqlGenerationHelper>(), context.Database.IsSqlite() ? 1 : 64);

    /// <summary>
    /// Inserts <paramref name="rows"/> on an open connection of the model's provider, in <paramref name="transaction"/>
    /// (the transcript writer's group commit: <see cref="Transcripts.TranscriptStore.WriteRowsAsync"/>).
    /// </summary>
    public void Insert(DbConnection connection, DbTransaction transaction, IReadOnlyList<T> rows)
    {
        if (connection is SqliteConnection sqlite && _rawBinding && rows.Count > 0)
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
            for (var c = 0; c < _columns.Length; c++)
            {
                statement.Bind(c, Value(row, c));
            }

            statement.Execute();
        }
    }

    /// <summary>The <paramref name="c"/>th column's value of <paramref name="row"/>, through the property's value converter as SaveChanges applies it (SQLite stores DateTimeOffset as binary ticks).</summary>
    private object? Value(T row, int c)
    {
        var value = _values[c](row);
        return value is not null && _mappings[c].Converter is { } converter ? converter.ConvertToProvider(value) : value;
    }

    private DbCommand Create(DbConnection connection, DbTransaction transaction, int count)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        var text = new StringBuilder(_insertInto, _insertInto.Length + count * _columns.Length * 8);
        for (var r = 0; r < count; r++)
        {
            text.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < _columns.Length; c++)
            {
                var name = "p" + (r * _columns.Length + c);
                text.Append(c == 0 ? "" : ", ").Append(_sql.GenerateParameterNamePlaceholder(name));
                command.Parameters.Add(_mappings[c].CreateParameter(command, name, null, _columns[c].IsNullable));
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
            for (var c = 0; c < _columns.Length; c++)
            {
                command.Parameters[r * _columns.Length + c].Value = Value(row, c) ?? DBNull.Value;
            }
        }
    }
}
