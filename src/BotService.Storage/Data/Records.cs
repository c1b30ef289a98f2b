namespace BotService.Storage.Data;

/// <summary>A conversation on any channel (Direct Line, Teams, /api/ask).</summary>
public sealed class ConversationRecord
{
    public required string Id { get; set; }

    public required string Channel { get; set; }

    /// <summary>The visitor the conversation belongs to, where the channel binds one (Direct Line: the token's user).</summary>
    public string? UserId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset LastActivityAt { get; set; }
}

/// <summary>
/// One activity of a transcript, incoming or outgoing, on any channel. Text is health data: it lives here and nowhere
/// else (never in logs). <see cref="Seq"/> orders a conversation (it is the Direct Line watermark); rows the escalation
/// dispatcher wrote before the transcript existed have none.
/// </summary>
public sealed class MessageRecord
{
    public long Id { get; set; }

    public required string ConversationId { get; set; }

    /// <summary>The channel's id for the message (unique within its conversation), so a retry never stores it twice.</summary>
    public required string ActivityId { get; set; }

    /// <summary><c>visitor</c>, <c>bot</c> or <c>staff</c>.</summary>
    public required string Role { get; set; }

    public required string Text { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>1, 2, 3… within the conversation, in commit order; unique with the conversation id.</summary>
    public long? Seq { get; set; }

    /// <summary>The activity type (<c>message</c>, <c>event</c>, <c>conversationUpdate</c>…).</summary>
    public string Type { get; set; } = "message";

    /// <summary>The whole activity as sent on the wire (ids and timestamps stamped), so a channel can replay it.</summary>
    public string? ActivityJson { get; set; }
}

/// <summary>An escalation to staff: why, how urgent, and which message of which conversation caused it.</summary>
public sealed class EscalationRecord
{
    public Guid Id { get; set; }

    /// <summary>Unique: the same escalation submitted twice (a retry, a replayed outbox) is stored once.</summary>
    public required string Key { get; set; }

    public required string ConversationId { get; set; }

    public required string MessageActivityId { get; set; }

    public required string Channel { get; set; }

    /// <summary><c>urgent</c> or <c>emergency</c>.</summary>
    public required string Level { get; set; }

    /// <summary>The safety reasons as JSON: <c>[{"rule","level","start","length"}]</c>.</summary>
    public required string ReasonsJson { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary><c>open</c>, <c>claimed</c> (one owner, see <see cref="ClaimedById"/>) or <c>resolved</c>.</summary>
    public required string Status { get; set; }

    /// <summary>The Identity user id of the staff member who owns it while claimed; null while open.</summary>
    public string? ClaimedById { get; set; }

    /// <summary>The owner's user name, kept for display without a join.</summary>
    public string? ClaimedByName { get; set; }

    public DateTimeOffset? ClaimedAt { get; set; }

    public DateTimeOffset? ResolvedAt { get; set; }

    /// <summary>How it ended: <c>handled</c>, <c>referred</c>, <c>no-contact</c> or <c>false-alarm</c>; null until resolved.</summary>
    public string? Outcome { get; set; }
}

/// <summary>That a notifier has been told about an escalation, so a restart does not tell it again.</summary>
public sealed class EscalationDeliveryRecord
{
    public required string EscalationKey { get; set; }

    public required string Notifier { get; set; }

    public DateTimeOffset DeliveredAt { get; set; }
}
