using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace BotService.Storage.Data;

/// <summary>
/// Inserts many new rows of one entity type in one transaction with multi-row <c>INSERT</c> statements, for a
/// background writer that only ever adds rows and never reads them back (the answer log). EF Core's
/// <c>AddRange</c> + <c>SaveChanges</c> tracks every entity, snapshots it and reads its generated key back; at ten
/// thousand answers a second that was about 40 µs of CPU per answer, more than the whole rest of the turn
/// (docs/benchmarks.md, "The answer log's writer"). The statements are built from the EF Core model (table,
/// columns, the provider's quoting and each property's type mapping and value converter), so they store exactly what
/// <c>SaveChanges</c> would on SQLite and on PostgreSQL; the store-generated key is left to the database.
/// </summary>
public sealed class RowInserter<T>
    where T : class
{
    /// <summary>Rows per statement: well under SQLite's and PostgreSQL's parameter limits for a dozen columns.</summary>
    public const int RowsPerStatement = 64;

    private readonly IProperty[] _columns;
    private readonly Func<T, object?>[] _values;
    private readonly string _insertInto;
    private readonly ISqlGenerationHelper _sql;

    private RowInserter(IEntityType entity, ISqlGenerationHelper sql)
    {
        _sql = sql;
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        _columns = [.. entity.GetProperties().Where(p => (p.ValueGenerated & ValueGenerated.OnAdd) == 0)];
        _values = [.. _columns.Select(p => p.PropertyInfo is { } info
            ? (Func<T, object?>)info.GetValue
            : throw new InvalidOperationException($"{typeof(T).Name}.{p.Name} has no CLR property to read."))];
        _insertInto = $"INSERT INTO {sql.DelimitIdentifier(table.Name, table.Schema)} ("
            + string.Join(", ", _columns.Select(p => sql.DelimitIdentifier(p.GetColumnName(table)!))) + ") VALUES ";
    }

    /// <summary>An inserter for <typeparamref name="T"/> as the context's model maps it (build once, share).</summary>
    public static RowInserter<T> For(DbContext context) =>
        new(context.Model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not in the model."),
            context.GetService<ISqlGenerationHelper>());

    /// <summary>Inserts <paramref name="rows"/> in one transaction: all of them or, on an exception, none.</summary>
    public async Task InsertAsync(DbContext context, IReadOnlyList<T> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return;
        }

        await context.Database.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await context.Database.BeginTransactionAsync(cancellationToken);
            var connection = context.Database.GetDbConnection();
            for (var start = 0; start < rows.Count; start += RowsPerStatement)
            {
                await using var command = Build(connection, transaction.GetDbTransaction(), rows, start, Math.Min(RowsPerStatement, rows.Count - start));
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            await context.Database.CloseConnectionAsync();
        }
    }

    /// <summary>
    /// Inserts <paramref name="rows"/> on an open connection of the model's provider, in <paramref name="transaction"/>
    /// (the transcript writer's group commit: <see cref="Transcripts.TranscriptStore.WriteRowsAsync"/>).
    /// </summary>
    public void Insert(DbConnection connection, DbTransaction transaction, IReadOnlyList<T> rows)
    {
        for (var start = 0; start < rows.Count; start += RowsPerStatement)
        {
            using var command = Build(connection, transaction, rows, start, Math.Min(RowsPerStatement, rows.Count - start));
            command.ExecuteNonQuery();
        }
    }

    private DbCommand Build(DbConnection connection, DbTransaction transaction, IReadOnlyList<T> rows, int start, int count)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        var text = new StringBuilder(_insertInto, _insertInto.Length + count * _columns.Length * 8);
        for (var r = 0; r < count; r++)
        {
            var row = rows[start + r];
            text.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < _columns.Length; c++)
            {
                var name = "p" + (r * _columns.Length + c);
                text.Append(c == 0 ? "" : ", ").Append(_sql.GenerateParameterNamePlaceholder(name));
                // The type mapping applies the property's value converter (SQLite stores DateTimeOffset as binary ticks).
                var property = _columns[c];
                command.Parameters.Add(property.GetRelationalTypeMapping().CreateParameter(command, name, _values[c](row), property.IsNullable));
            }

            text.Append(')');
        }

        command.CommandText = text.ToString();
        return command;
    }
}
