using System.Data.Common;
using BotService.Storage.Data;

namespace BotService.Storage.Escalations;

/// <summary>
/// Reads escalation rows with hand-written SQL for both providers, for the paths that run without a staff member
/// (the dispatcher's notifiers, the overdue watch, the claimed-conversation set, other instances' signals), so EF
/// Core's model and query pipeline are not built for them (decision 0031). The staff pages keep EF Core.
/// </summary>
public static class EscalationRows
{
    private const string Columns = """
        "Id", "Key", "ConversationId", "MessageActivityId", "Channel", "Level", "ReasonsJson", "CreatedAt", "Status",
        "ClaimedById", "ClaimedByName", "ClaimedAt", "ResolvedAt", "Outcome", "ReopenCount"
        """;

    public static async Task<EscalationRecord?> FindByKeyAsync(Database database, string key, CancellationToken cancellationToken) =>
        (await ReadAsync(database, "\"Key\" = @key", c => c.AddParameter("@key", key), cancellationToken)).SingleOrDefault();

    public static async Task<EscalationRecord?> FindAsync(Database database, Guid id, CancellationToken cancellationToken) =>
        (await ReadAsync(database, "\"Id\" = @id", c => c.AddParameter("@id", database.GuidToDb(id)), cancellationToken)).SingleOrDefault();

    /// <summary>Emergencies still open that were raised before <paramref name="cutoff"/>.</summary>
    public static Task<List<EscalationRecord>> OpenEmergenciesBeforeAsync(Database database, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        ReadAsync(database, "\"Level\" = 'emergency' AND \"Status\" = 'open' AND \"CreatedAt\" < @cutoff",
            c => c.AddParameter("@cutoff", database.TimeToDb(cutoff)), cancellationToken);

    /// <summary>The conversations with an escalation in <paramref name="status"/>.</summary>
    public static async Task<List<string>> ConversationsWithStatusAsync(Database database, string status, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT \"ConversationId\" FROM escalations WHERE \"Status\" = @status";
        command.AddParameter("@status", status);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>True if the conversation has an escalation in <paramref name="status"/>.</summary>
    public static async Task<bool> AnyWithStatusAsync(Database database, string conversationId, string status, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM escalations WHERE \"ConversationId\" = @conversation AND \"Status\" = @status";
        command.AddParameter("@conversation", conversationId);
        command.AddParameter("@status", status);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    private static async Task<List<EscalationRecord>> ReadAsync(Database database, string where, Action<DbCommand> parameters, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM escalations WHERE {where}";
        parameters(command);
        var rows = new List<EscalationRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new EscalationRecord
            {
                Id = database.GuidFromDb(reader, 0),
                Key = reader.GetString(1),
                ConversationId = reader.GetString(2),
                MessageActivityId = reader.GetString(3),
                Channel = reader.GetString(4),
                Level = reader.GetString(5),
                ReasonsJson = reader.GetString(6),
                CreatedAt = database.TimeFromDb(reader, 7),
                Status = reader.GetString(8),
                ClaimedById = reader.IsDBNull(9) ? null : reader.GetString(9),
                ClaimedByName = reader.IsDBNull(10) ? null : reader.GetString(10),
                ClaimedAt = reader.IsDBNull(11) ? null : database.TimeFromDb(reader, 11),
                ResolvedAt = reader.IsDBNull(12) ? null : database.TimeFromDb(reader, 12),
                Outcome = reader.IsDBNull(13) ? null : reader.GetString(13),
                ReopenCount = reader.GetInt32(14),
            });
        }

        return rows;
    }
}
