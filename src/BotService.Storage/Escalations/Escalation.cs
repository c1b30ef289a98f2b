namespace BotService.Storage.Escalations;

/// <summary>How urgent an escalation is. Emergencies come first in every queue.</summary>
public enum EscalationLevel
{
    Urgent = 1,
    Emergency = 2,
}

/// <summary>Why: the safety rule that matched and where in the message (UTF-16 offsets), for the dashboard to highlight.</summary>
public sealed record EscalationReason(string Rule, EscalationLevel Level, int Start, int Length);

/// <summary>
/// An escalation as submitted by the safety path. It carries the message itself so the transcript can be written even
/// when the database was down at the time; it is kept in the owner-only outbox file until it has landed.
/// </summary>
/// <param name="Key">Idempotency key: the same key is stored and notified once, however often it is submitted.</param>
public sealed record Escalation(
    string Key,
    string ConversationId,
    string Channel,
    EscalationLevel Level,
    IReadOnlyList<EscalationReason> Reasons,
    string MessageActivityId,
    string MessageText,
    DateTimeOffset CreatedAt);

/// <summary>
/// Something staff watch: the log, the dashboard, Teams (which queues it for its own sender). Delivery is at least
/// once, so a notifier must treat a repeated <see cref="Escalation.Key"/> as the same escalation.
/// </summary>
public interface IEscalationNotifier
{
    /// <summary>A stable name, recorded with each delivery.</summary>
    string Name { get; }

    Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken);
}
