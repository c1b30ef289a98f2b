using System.Globalization;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.Extensions.Options;

namespace BotService.Dashboard;

/// <summary>
/// Purges transcript text older than <see cref="RetentionOptions.Days"/>: messages, the internal notes of resolved
/// escalations, and the questions (with their answers and votes) kept for the review page. A conversation with an
/// open or claimed escalation keeps everything until staff resolve it. Escalation rows (rule ids and spans, no text)
/// and the audit trail stay. Every run that purges anything is audited. With several instances only the one holding
/// <see cref="Hosting.SingleInstanceWork"/> purges.
/// </summary>
internal sealed partial class RetentionJob(
    Database database, AuditLog audit, IOptions<RetentionOptions> options, TimeProvider time, ILogger<RetentionJob> log,
    Hosting.SingleInstanceWork? single = null) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(10), time, stoppingToken); // let start-up (migrations) finish first
            using var timer = new PeriodicTimer(options.Value.Interval, time);
            do
            {
                if (single is { IsHeld: false })
                {
                    continue; // another instance purges (each purge would be audited once more)
                }

                try
                {
                    await PurgeOnceAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Failed(log, e.GetType().Name);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>One purge; returns how many messages and notes were deleted.</summary>
    public async Task<(int Messages, int Notes)> PurgeOnceAsync(CancellationToken cancellationToken)
    {
        database.EnsureReady();
        var cutoff = time.GetUtcNow() - TimeSpan.FromDays(options.Value.Days);
        // Plain SQL for both providers (decision 0031): this job runs on every instance, staff or not.
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        async Task<int> DeleteAsync(string sql)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = sql;
            command.AddParameter("@cutoff", database.TimeToDb(cutoff));
            command.AddParameter("@open", EscalationBoard.Open);
            command.AddParameter("@claimed", EscalationBoard.Claimed);
            command.AddParameter("@resolved", EscalationBoard.Resolved);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }

        // Not while the conversation has an escalation still being worked on.
        var messages = await DeleteAsync("""
            DELETE FROM messages WHERE "CreatedAt" < @cutoff AND NOT EXISTS (SELECT 1 FROM escalations e
                WHERE e."ConversationId" = messages."ConversationId" AND e."Status" IN (@open, @claimed))
            """);
        var notes = await DeleteAsync("""
            DELETE FROM escalation_notes WHERE "CreatedAt" < @cutoff AND EXISTS (SELECT 1 FROM escalations e
                WHERE e."Id" = escalation_notes."EscalationId" AND e."Status" = @resolved)
            """);
        // The questions kept for the review page are transcript text too: they go with their conversation's messages.
        var questions = await DeleteAsync("""
            DELETE FROM answers WHERE "CreatedAt" < @cutoff AND NOT EXISTS (SELECT 1 FROM escalations e
                WHERE e."ConversationId" = answers."ConversationId" AND e."Status" IN (@open, @claimed))
            """);
        if (messages + notes + questions > 0)
        {
            await audit.AppendAsync(connection, tx, Actor.System, AuditActions.RetentionPurge,
                detail: string.Create(CultureInfo.InvariantCulture, $"{messages} messages, {notes} notes, {questions} questions older than {options.Value.Days} days"),
                cancellationToken: cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        Purged(log, messages, notes, options.Value.Days);
        return (messages, notes);
    }

    [LoggerMessage(8020, LogLevel.Information, "Retention: purged {Messages} messages and {Notes} notes older than {Days} days")]
    private static partial void Purged(ILogger logger, int messages, int notes, int days);

    [LoggerMessage(8021, LogLevel.Error, "Retention purge failed ({Error}); tried again at the next interval")]
    private static partial void Failed(ILogger logger, string error);
}
