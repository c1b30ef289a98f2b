using System.Buffers;
using System.Text.Json;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace BotService.Dashboard;

/// <summary>One safety reason as stored with the escalation: a rule id and a span of the message.</summary>
internal sealed record DashboardReason(string Rule, string Level, int Start, int Length);

/// <summary>A row of the queue. No message text: the queue shows why (rule ids), not what was said.</summary>
internal sealed record QueueItem(Guid Id, string Level, IReadOnlyList<string> Rules, string Channel, DateTimeOffset CreatedAt,
    string Status, string? Owner, bool Overdue);

/// <summary>The queue's filters; null means any.</summary>
internal sealed record QueueFilter(string? Level = null, string? Status = null, string? Channel = null, bool Mine = false);

/// <summary>A piece of a message: <see cref="Matched"/> marks words a safety rule matched.</summary>
internal sealed record TextSegment(string Text, bool Matched);

/// <summary>A transcript line, with the rules that matched it (if it caused an escalation).</summary>
internal sealed record TranscriptLine(string Role, DateTimeOffset At, IReadOnlyList<TextSegment> Segments, IReadOnlyList<string> Rules);

/// <summary>Everything the conversation page shows for one escalation.</summary>
internal sealed record ConversationView(
    EscalationRecord Escalation,
    bool Overdue,
    IReadOnlyList<DashboardReason> Reasons,
    IReadOnlyList<TranscriptLine> Transcript,
    IReadOnlyList<EscalationRecord> ConversationEscalations,
    IReadOnlyList<EscalationNoteRecord> Notes,
    IReadOnlyList<AuditEventRecord> History);

/// <summary>The result of an action on an escalation.</summary>
internal enum ActionOutcome
{
    Done,
    NotFound,
    /// <summary>The escalation is not in a state that allows it (claimed by someone else, already resolved).</summary>
    Conflict,
    /// <summary>The actor's role does not allow it (take-over by non-admin, reply without owning the claim).</summary>
    Forbidden,
}

/// <summary>
/// Told after an escalation's state has changed (claimed, taken over, resolved, reopened) and been committed, so it
/// can bring its own copy up to date (the Teams card). Must return at once: the staff member's action waits on it.
/// </summary>
internal interface IEscalationChangeListener
{
    void Changed(Guid escalationId);
}

/// <summary>
/// The dashboard's queries and actions on escalations. Every action is a conditional update (so two staff cannot both
/// claim) committed in one transaction with its audit row, then announced to open dashboards and to the
/// <see cref="IEscalationChangeListener"/>s.
/// </summary>
internal sealed partial class EscalationBoard(
    Database database, AuditLog audit, DashboardEvents events, IVisitorReplySender replies, ClaimedConversations claimed, TimeProvider time,
    IOptions<DashboardOptions> options, IEnumerable<IEscalationChangeListener> listeners, ILogger<EscalationBoard> log)
{
    public const string Open = "open";
    public const string Claimed = "claimed";
    public const string Resolved = "resolved";
    public const int MaxTextLength = 4000;

    /// <summary>The outcomes staff choose from when resolving; <c>false-alarm</c> feeds the safety corpus export.</summary>
    public static readonly IReadOnlyList<string> Outcomes = ["handled", "referred", "no-contact", "false-alarm"];

    public const string FalseAlarm = "false-alarm";

    private TimeSpan OverdueAfter => TimeSpan.FromMinutes(options.Value.OverdueAfterMinutes);

    public async Task<IReadOnlyList<QueueItem>> QueueAsync(QueueFilter filter, Actor actor, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        var query = db.Escalations.AsNoTracking();
        query = filter.Status switch
        {
            Open or Claimed or Resolved => query.Where(e => e.Status == filter.Status),
            _ => query.Where(e => e.Status == Open || e.Status == Claimed),
        };
        if (filter.Level is "emergency" or "urgent")
        {
            query = query.Where(e => e.Level == filter.Level);
        }

        if (!string.IsNullOrEmpty(filter.Channel))
        {
            query = query.Where(e => e.Channel == filter.Channel);
        }

        if (filter.Mine)
        {
            query = query.Where(e => e.ClaimedById == actor.Id);
        }

        var rows = await query.OrderByDescending(e => e.Level == "emergency").ThenByDescending(e => e.CreatedAt).Take(200).ToListAsync(cancellationToken);
        var now = time.GetUtcNow();
        return rows.Select(e => new QueueItem(e.Id, e.Level, RuleIds(e), e.Channel, e.CreatedAt, e.Status, e.ClaimedByName, IsOverdue(e, now))).ToList();
    }

    /// <summary>The channels seen, for the queue's filter.</summary>
    public async Task<IReadOnlyList<string>> ChannelsAsync(CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        return await db.Escalations.Select(e => e.Channel).Distinct().OrderBy(c => c).ToListAsync(cancellationToken);
    }

    /// <summary>
    /// The conversation page for one escalation, looked up by the escalation's random Guid (never by the channel's
    /// conversation id). The view is audited before anything is returned.
    /// </summary>
    public async Task<ConversationView?> ViewAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        var escalation = await db.Escalations.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id, cancellationToken);
        if (escalation is null)
        {
            return null;
        }

        audit.Add(db, actor, AuditActions.TranscriptView, escalation.Id, escalation.ConversationId);
        await db.SaveChangesAsync(cancellationToken);

        var conversationEscalations = await db.Escalations.AsNoTracking().Where(e => e.ConversationId == escalation.ConversationId)
            .OrderBy(e => e.CreatedAt).ToListAsync(cancellationToken);
        var spans = conversationEscalations.GroupBy(e => e.MessageActivityId)
            .ToDictionary(g => g.Key, g => g.SelectMany(Reasons).ToList(), StringComparer.Ordinal);
        var messages = await db.Messages.AsNoTracking().Where(m => m.ConversationId == escalation.ConversationId)
            .OrderBy(m => m.CreatedAt).ThenBy(m => m.Id).ToListAsync(cancellationToken);
        var transcript = messages.Select(m => spans.TryGetValue(m.ActivityId, out var reasons) && m.Role == "visitor"
                ? new TranscriptLine(m.Role, m.CreatedAt, Highlight(m.Text, reasons), reasons.Select(r => r.Rule).Distinct().ToList())
                : new TranscriptLine(m.Role, m.CreatedAt, [new TextSegment(m.Text, false)], []))
            .ToList();
        var ids = conversationEscalations.Select(e => e.Id).ToList();
        var notes = await db.EscalationNotes.AsNoTracking().Where(n => ids.Contains(n.EscalationId)).OrderBy(n => n.Id).ToListAsync(cancellationToken);
        var history = await db.AuditEvents.AsNoTracking()
            .Where(a => a.EscalationId != null && ids.Contains(a.EscalationId.Value) && a.Action != AuditActions.TranscriptView)
            .OrderBy(a => a.Id).ToListAsync(cancellationToken);
        return new ConversationView(escalation, IsOverdue(escalation, time.GetUtcNow()), Reasons(escalation), transcript,
            conversationEscalations, notes, history);
    }

    /// <summary>Claims an open escalation, or (admins only, <paramref name="takeOver"/>) takes a claimed one over.</summary>
    public Task<ActionOutcome> ClaimAsync(Guid id, Actor actor, bool takeOver, CancellationToken cancellationToken)
    {
        if (takeOver && !actor.IsAdmin)
        {
            return Task.FromResult(ActionOutcome.Forbidden);
        }

        var action = takeOver ? AuditActions.TakeOver : AuditActions.Claim;
        return ChangeAsync(id, actor, action, async (db, current) =>
        {
            if (current.Status == Claimed && current.ClaimedById == actor.Id)
            {
                return (ActionOutcome.Done, null); // already mine: a double click is not an error
            }

            var expectedStatus = takeOver ? Claimed : Open;
            var now = time.GetUtcNow();
            var changed = await db.Escalations
                .Where(e => e.Id == id && e.Status == expectedStatus && e.ClaimedById == current.ClaimedById)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(e => e.Status, Claimed)
                    .SetProperty(e => e.ClaimedById, actor.Id)
                    .SetProperty(e => e.ClaimedByName, actor.Name)
                    .SetProperty(e => e.ClaimedAt, now), cancellationToken);
            return changed == 0 ? (ActionOutcome.Conflict, null) : (ActionOutcome.Done, takeOver ? "from " + current.ClaimedByName : string.Empty);
        }, cancellationToken);
    }

    /// <summary>An internal note (never shown to the visitor). Any staff member may add one.</summary>
    public async Task<ActionOutcome> AddNoteAsync(Guid id, Actor actor, string text, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        var current = await db.Escalations.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id, cancellationToken);
        if (current is null)
        {
            return ActionOutcome.NotFound;
        }

        db.EscalationNotes.Add(new EscalationNoteRecord
        {
            EscalationId = id, AuthorId = actor.Id, AuthorName = actor.Name, Text = text, CreatedAt = time.GetUtcNow(),
        });
        audit.Add(db, actor, AuditActions.Note, id, current.ConversationId);
        await db.SaveChangesAsync(cancellationToken);
        Acted(log, AuditActions.Note, id);
        return ActionOutcome.Done;
    }

    /// <summary>A reply to the visitor: only the staff member who owns the claim may speak for the clinic.</summary>
    public async Task<ActionOutcome> ReplyAsync(Guid id, Actor actor, string text, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        EscalationRecord? current;
        await using (var db = database.Open())
        {
            current = await db.Escalations.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id, cancellationToken);
        }

        if (current is null)
        {
            return ActionOutcome.NotFound;
        }

        if (current.Status != Claimed || current.ClaimedById != actor.Id)
        {
            return ActionOutcome.Forbidden;
        }

        var activityId = await replies.SendAsync(new StaffReply(current.ConversationId, current.Channel, text, actor.Name, time.GetUtcNow()),
            cancellationToken);
        await audit.AppendAsync(actor, AuditActions.Reply, id, current.ConversationId, "activity " + activityId, cancellationToken);
        Acted(log, AuditActions.Reply, id);
        return ActionOutcome.Done;
    }

    /// <summary>Resolves with an outcome: the owner of the claim, or an admin.</summary>
    public Task<ActionOutcome> ResolveAsync(Guid id, Actor actor, string outcome, CancellationToken cancellationToken)
    {
        if (!Outcomes.Contains(outcome))
        {
            return Task.FromResult(ActionOutcome.Conflict);
        }

        return ChangeAsync(id, actor, AuditActions.Resolve, async (db, current) =>
        {
            if (current.Status == Resolved)
            {
                return (ActionOutcome.Conflict, null);
            }

            if (!actor.IsAdmin && (current.Status != Claimed || current.ClaimedById != actor.Id))
            {
                return (ActionOutcome.Forbidden, null);
            }

            var now = time.GetUtcNow();
            var changed = await db.Escalations.Where(e => e.Id == id && e.Status == current.Status && e.ClaimedById == current.ClaimedById)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(e => e.Status, Resolved)
                    .SetProperty(e => e.Outcome, outcome)
                    .SetProperty(e => e.ResolvedAt, now), cancellationToken);
            return changed == 0 ? (ActionOutcome.Conflict, null) : (ActionOutcome.Done, outcome);
        }, cancellationToken);
    }

    /// <summary>Puts a resolved escalation back in the queue, unowned (a new open stretch: it can be overdue again).</summary>
    public Task<ActionOutcome> ReopenAsync(Guid id, Actor actor, CancellationToken cancellationToken) =>
        ChangeAsync(id, actor, AuditActions.Reopen, async (db, current) =>
        {
            var changed = await db.Escalations.Where(e => e.Id == id && e.Status == Resolved)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(e => e.Status, Open)
                    .SetProperty(e => e.ClaimedById, (string?)null)
                    .SetProperty(e => e.ClaimedByName, (string?)null)
                    .SetProperty(e => e.ClaimedAt, (DateTimeOffset?)null)
                    .SetProperty(e => e.ResolvedAt, (DateTimeOffset?)null)
                    .SetProperty(e => e.Outcome, (string?)null)
                    .SetProperty(e => e.ReopenCount, e => e.ReopenCount + 1), cancellationToken);
            return changed == 0 ? (ActionOutcome.Conflict, null) : (ActionOutcome.Done, "was " + current.Outcome);
        }, cancellationToken);

    /// <summary>
    /// One state change: in a transaction, reads the escalation, lets <paramref name="change"/> apply its conditional
    /// update, and when that says Done with an audit detail (null: nothing changed, nothing to record), adds the
    /// audit row, commits, and tells open dashboards.
    /// </summary>
    private async Task<ActionOutcome> ChangeAsync(Guid id, Actor actor, string action,
        Func<BotDbContext, EscalationRecord, Task<(ActionOutcome Outcome, string? AuditDetail)>> change, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var current = await db.Escalations.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id, cancellationToken);
        if (current is null)
        {
            return ActionOutcome.NotFound;
        }

        var (outcome, detail) = await change(db, current);
        if (outcome != ActionOutcome.Done || detail is null)
        {
            return outcome; // the transaction rolls back on dispose
        }

        audit.Add(db, actor, action, id, current.ConversationId, detail.Length == 0 ? null : detail);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        // The bot is quiet while the conversation is claimed. Committed is committed: the set follows even if the request is gone.
        await claimed.RefreshAsync(current.ConversationId, CancellationToken.None);
        Acted(log, action, id);
        foreach (var listener in listeners)
        {
            listener.Changed(id);
        }

        await AnnounceAsync(id, cancellationToken);
        return ActionOutcome.Done;
    }

    /// <summary>
    /// The visitor messages staff judged false alarms, as labelled cases in safety-corpus.jsonl's format
    /// (<c>{"text","level":"none","group":"benign","holdout":false}</c>), one per line.
    /// </summary>
    public async Task WriteFalseAlarmsAsync(Stream output, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await using var db = database.Open();
        var rows = await (from e in db.Escalations.AsNoTracking()
                          where e.Status == Resolved && e.Outcome == FalseAlarm
                          join m in db.Messages.AsNoTracking() on new { e.ConversationId, ActivityId = e.MessageActivityId }
                              equals new { m.ConversationId, m.ActivityId }
                          orderby e.CreatedAt
                          select m.Text).Distinct().ToListAsync(cancellationToken);
        var buffer = new ArrayBufferWriter<byte>();
        await using var writer = new Utf8JsonWriter(buffer);
        foreach (var text in rows)
        {
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            writer.WriteStartObject();
            writer.WriteString("text", text);
            writer.WriteString("level", "none");
            writer.WriteString("group", "benign");
            writer.WriteBoolean("holdout", false);
            writer.WriteEndObject();
            writer.Flush();
            buffer.Write("\n"u8);
            await output.WriteAsync(buffer.WrittenMemory, cancellationToken); // Kestrel allows no synchronous writes
        }
    }

    public bool IsOverdue(EscalationRecord e, DateTimeOffset now) =>
        e.Level == "emergency" && e.Status == Open && now - e.CreatedAt > OverdueAfter;

    public static DashboardEvent ToEvent(string kind, EscalationRecord e) =>
        new(kind, e.Id, e.Level, RuleIds(e), e.Channel, e.Status, e.ClaimedByName, e.CreatedAt);

    public static IReadOnlyList<DashboardReason> Reasons(EscalationRecord e)
    {
        try
        {
            return JsonSerializer.Deserialize(e.ReasonsJson, DashboardJsonContext.Default.DashboardReasonArray) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private static IReadOnlyList<string> RuleIds(EscalationRecord e) => Reasons(e).Select(r => r.Rule).Distinct().ToList();

    /// <summary>Splits a message into plain and matched pieces; overlapping spans merge, spans past the end are clipped.</summary>
    internal static IReadOnlyList<TextSegment> Highlight(string text, IEnumerable<DashboardReason> reasons)
    {
        var spans = reasons.Select(r => (Start: Math.Clamp(r.Start, 0, text.Length), End: Math.Clamp(r.Start + Math.Max(r.Length, 0), 0, text.Length)))
            .Where(s => s.End > s.Start).OrderBy(s => s.Start).ToList();
        var segments = new List<TextSegment>();
        var at = 0;
        foreach (var (start, end) in spans)
        {
            if (end <= at)
            {
                continue;
            }

            var from = Math.Max(start, at);
            if (from > at)
            {
                segments.Add(new TextSegment(text[at..from], false));
            }

            segments.Add(new TextSegment(text[from..end], true));
            at = end;
        }

        if (at < text.Length)
        {
            segments.Add(new TextSegment(text[at..], false));
        }

        return segments;
    }

    private async Task AnnounceAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        if (await db.Escalations.AsNoTracking().SingleOrDefaultAsync(e => e.Id == id, cancellationToken) is { } e)
        {
            events.Publish(ToEvent("changed", e));
        }
    }

    [LoggerMessage(8010, LogLevel.Information, "Dashboard action {Action} on escalation {EscalationId}")]
    private static partial void Acted(ILogger logger, string action, Guid escalationId);
}
