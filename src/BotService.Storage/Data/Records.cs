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
/// The last sequence number handed out in a conversation, when the numbers come from the database (PostgreSQL: any
/// number of service instances append to one conversation). A row of its own, not a column of <c>conversations</c>:
/// the transcript writer's transaction holds the conversation row's lock until it commits, and a reservation must not
/// wait for another activity's commit (decision 0017).
/// </summary>
public sealed class ConversationSeqRecord
{
    public required string ConversationId { get; set; }

    public long LastSeq { get; set; }
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

    /// <summary>
    /// How often it was put back in the queue after being resolved. Each reopening starts a new stretch in which it can
    /// be overdue, so it numbers the overdue re-alerts (one per stretch, see <see cref="TeamsOverdueAlertRecord"/>).
    /// </summary>
    public int ReopenCount { get; set; }
}

/// <summary>That a notifier has been told about an escalation, so a restart does not tell it again.</summary>
public sealed class EscalationDeliveryRecord
{
    public required string EscalationKey { get; set; }

    public required string Notifier { get; set; }

    public DateTimeOffset DeliveredAt { get; set; }
}

/// <summary>
/// A team the Teams app was added to, from the installation's own activity (authenticated by a channel token from
/// the tenant the service serves): where escalation alerts go when no channel is configured. Forgotten when the app is
/// removed from the team.
/// </summary>
public sealed class TeamsChannelRecord
{
    /// <summary>The team (<c>channelData.team.id</c>, the General channel's id).</summary>
    public required string TeamId { get; set; }

    /// <summary>The channel alerts are posted to: the one chosen at installation, else the General channel.</summary>
    public required string ConversationId { get; set; }

    /// <summary>The Teams service URL the installation came from (authenticated: the token's <c>serviceurl</c> claim).</summary>
    public required string ServiceUrl { get; set; }

    public required string TenantId { get; set; }

    public DateTimeOffset AddedAt { get; set; }
}

/// <summary>
/// The Teams alert for one escalation: queued by the dispatcher's notifier, posted by the Teams sender, then kept up to
/// date (the card shows the escalation's status). <c>Shown*</c> is what the posted card shows; when it differs from the
/// escalation, the card is updated in place. Never message text.
/// </summary>
public sealed class TeamsAlertRecord
{
    public const string Queued = "queued";
    public const string Posted = "posted";

    /// <summary>Not posted: the escalation was resolved before the alert could be (nothing left for the channel to act on).</summary>
    public const string Skipped = "skipped";

    public Guid EscalationId { get; set; }

    /// <summary><see cref="Queued"/>, <see cref="Posted"/> or <see cref="Skipped"/>.</summary>
    public required string State { get; set; }

    public DateTimeOffset QueuedAt { get; set; }

    public DateTimeOffset? PostedAt { get; set; }

    /// <summary>Where the card was posted, and the id the Connector gave it (for updates and thread replies).</summary>
    public string? ServiceUrl { get; set; }

    public string? ConversationId { get; set; }

    public string? ActivityId { get; set; }

    public string? ShownStatus { get; set; }

    public string? ShownOwner { get; set; }

    public string? ShownOutcome { get; set; }

    public int ShownReopenCount { get; set; }

    /// <summary>Why the card can no longer be updated (the Connector refused it for good, e.g. <c>HTTP 404</c>); null while it can.</summary>
    public string? UpdateError { get; set; }
}

/// <summary>
/// An overdue re-alert in Teams: one per escalation and stretch of being open (<see cref="EscalationRecord.ReopenCount"/>),
/// so neither a second check nor a restart posts it twice.
/// </summary>
public sealed class TeamsOverdueAlertRecord
{
    public const string Due = "due";
    public const string Posted = "posted";

    /// <summary>Not posted: claimed or resolved before it could be.</summary>
    public const string Skipped = "skipped";

    /// <summary>The Connector refused it for good.</summary>
    public const string Failed = "failed";

    public Guid EscalationId { get; set; }

    public int Episode { get; set; }

    public required string State { get; set; }

    public DateTimeOffset DueAt { get; set; }

    public DateTimeOffset? DoneAt { get; set; }

    /// <summary>The reply's id in the alert's thread.</summary>
    public string? ActivityId { get; set; }
}
