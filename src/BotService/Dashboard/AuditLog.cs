using System.Data.Common;
using System.Globalization;
using System.Text;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;

namespace BotService.Dashboard;

/// <summary>
/// Writes and reads the append-only audit trail. There is deliberately no update or delete method here or anywhere
/// else; <see cref="BotDbContext"/> refuses to save a changed audit row and the database refuses UPDATE/DELETE.
/// </summary>
internal sealed class AuditLog(Database database, TimeProvider time)
{
    /// <summary>Adds a row to <paramref name="db"/> without saving, so an action and its audit row commit together.</summary>
    public void Add(BotDbContext db, Actor actor, string action, Guid? escalationId = null, string? conversationId = null, string? detail = null) =>
        db.AuditEvents.Add(new AuditEventRecord
        {
            At = time.GetUtcNow(),
            ActorId = actor.Id,
            ActorName = actor.Name,
            Action = action,
            EscalationId = escalationId,
            ConversationId = conversationId,
            Detail = detail,
        });

    /// <summary>
    /// Writes one row in <paramref name="transaction"/> on a plain connection (<see cref="Database.OpenConnectionAsync"/>),
    /// for the jobs that run without EF Core (decision 0031), so the action and its audit row commit together.
    /// </summary>
    public async Task AppendAsync(DbConnection connection, DbTransaction transaction, Actor actor, string action, Guid? escalationId = null,
        string? conversationId = null, string? detail = null, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO audit_events ("At", "ActorId", "ActorName", "Action", "EscalationId", "ConversationId", "Detail")
            VALUES (@at, @actorId, @actorName, @action, @escalation, @conversation, @detail)
            """;
        command.AddParameter("@at", database.TimeToDb(time.GetUtcNow()));
        command.AddParameter("@actorId", actor.Id);
        command.AddParameter("@actorName", actor.Name);
        command.AddParameter("@action", action);
        command.AddParameter("@escalation", escalationId is { } id ? database.GuidToDb(id) : null);
        command.AddParameter("@conversation", conversationId);
        command.AddParameter("@detail", detail);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Writes one row on its own (views, sign-ins, exports).</summary>
    public async Task AppendAsync(Actor actor, string action, Guid? escalationId = null, string? conversationId = null,
        string? detail = null, CancellationToken cancellationToken = default)
    {
        database.EnsureReady();
        await using var db = database.Open();
        Add(db, actor, action, escalationId, conversationId, detail);
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>The newest rows first, optionally for one escalation.</summary>
    public async Task<IReadOnlyList<AuditEventRecord>> ReadAsync(Guid? escalationId, int limit, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        var query = db.AuditEvents.AsNoTracking();
        if (escalationId is { } id)
        {
            query = query.Where(a => a.EscalationId == id);
        }

        return await query.OrderByDescending(a => a.Id).Take(limit).ToListAsync(cancellationToken);
    }

    /// <summary>The whole trail as CSV (RFC 4180), oldest first, streamed row by row.</summary>
    public async Task WriteCsvAsync(Stream output, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        await using var writer = new StreamWriter(output, new UTF8Encoding(false), leaveOpen: true);
        await writer.WriteAsync("id,at,actor_id,actor_name,action,escalation_id,conversation_id,detail\r\n");
        await foreach (var a in db.AuditEvents.AsNoTracking().OrderBy(a => a.Id).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            await writer.WriteAsync(string.Join(',',
                a.Id.ToString(CultureInfo.InvariantCulture),
                a.At.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                Csv(a.ActorId), Csv(a.ActorName), Csv(a.Action),
                a.EscalationId?.ToString() ?? string.Empty,
                Csv(a.ConversationId), Csv(a.Detail)) + "\r\n");
        }

        await writer.FlushAsync(cancellationToken);
    }

    /// <summary>Quotes a field when needed; a leading =, +, - or @ is prefixed with ' so a spreadsheet never runs it.</summary>
    internal static string Csv(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
