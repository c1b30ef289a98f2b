namespace BotService.Storage.Staff;

/// <summary>
/// One row of the append-only audit trail: who did what to which escalation or conversation, and when. It never holds
/// message or note text (the transcript is the only place for that), so the trail can be exported and kept for
/// longer than transcripts. Rows are only ever added: <see cref="Data.BotDbContext"/> refuses to save a changed or
/// deleted row, and SQLite triggers (migration <c>StaffDashboard</c>) refuse UPDATE and DELETE from any other client.
/// </summary>
public sealed class AuditEventRecord
{
    public long Id { get; set; }

    public DateTimeOffset At { get; set; }

    /// <summary>The Identity user id, or <c>system</c> for the retention job.</summary>
    public required string ActorId { get; set; }

    /// <summary>The actor's user name (an e-mail address) as it was at the time, so the trail survives renames.</summary>
    public required string ActorName { get; set; }

    /// <summary>A fixed action name, see <see cref="AuditActions"/>.</summary>
    public required string Action { get; set; }

    public Guid? EscalationId { get; set; }

    public string? ConversationId { get; set; }

    /// <summary>Non-content detail: an outcome, a count, a previous owner. Never message or note text.</summary>
    public string? Detail { get; set; }
}

/// <summary>The audited actions. Names are stable: exports and reviews filter on them.</summary>
public static class AuditActions
{
    public const string SignIn = "signin";
    public const string SignInFailed = "signin.failed";
    public const string SignInLockedOut = "signin.lockedout";
    public const string SignOut = "signout";
    public const string TranscriptView = "transcript.view";
    public const string Claim = "escalation.claim";
    public const string TakeOver = "escalation.takeover";
    public const string Note = "escalation.note";
    public const string Reply = "escalation.reply";
    public const string Resolve = "escalation.resolve";
    public const string Reopen = "escalation.reopen";
    public const string AuditView = "audit.view";
    public const string AuditExport = "audit.export";
    public const string FalseAlarmExport = "falsealarms.export";
    public const string RetentionPurge = "retention.purge";
    public const string UserAdd = "user.add";
    public const string UserDisable = "user.disable";
    public const string UserEnable = "user.enable";
    public const string ReviewView = "review.view";
    public const string ReviewExport = "review.export";
    public const string ReviewHandled = "review.handled";
}

/// <summary>An internal note on an escalation: staff only, never shown to the visitor. Health data, like messages.</summary>
public sealed class EscalationNoteRecord
{
    public long Id { get; set; }

    public Guid EscalationId { get; set; }

    public required string AuthorId { get; set; }

    public required string AuthorName { get; set; }

    public required string Text { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>The two roles. Admins can do everything staff can, plus take over a claim, see the audit trail and export.</summary>
public static class StaffRoles
{
    public const string Staff = "staff";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Staff, Admin];
}
