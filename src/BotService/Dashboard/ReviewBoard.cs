using System.Globalization;
using System.Text;
using BotService.Knowledge;
using BotService.Knowledge.Review;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;

namespace BotService.Dashboard;

/// <summary>Which questions a review group holds: ones the bot declined, or answers the asker voted down.</summary>
internal enum ReviewKind
{
    Declined,
    DownVoted,
}

/// <summary>A cited source of the down-voted answers in a group, and how often it was cited.</summary>
/// <param name="Path">The article's path under <c>knowledge/</c>.</param>
internal sealed record ReviewSource(string Path, string? Section, int Count)
{
    /// <summary>The file to edit, from the repository root: <c>knowledge/articles/….md</c>.</summary>
    public string File => "knowledge/" + Path;
}

/// <summary>Similar questions (<see cref="QuestionGroups"/>), newest example first. <see cref="Ids"/> are what marking it handled marks.</summary>
internal sealed record ReviewGroup(
    ReviewKind Kind,
    int Count,
    IReadOnlyList<string> Examples,
    DateTimeOffset LastSeen,
    IReadOnlyList<ReviewSource> Sources,
    IReadOnlyList<long> Ids);

internal sealed record ReviewView(int Days, DateTimeOffset Since, IReadOnlyList<ReviewGroup> Declined, IReadOnlyList<ReviewGroup> DownVoted, bool Truncated);

/// <summary>
/// The staff review of questions the bot could not answer well: declined questions and down-voted answers over a
/// period, not yet marked handled, grouped by similarity with the knowledge's own analysis. Question text is health
/// data: every view, export and change is audited (as a transcript view is), and the page is for staff and admins only.
/// </summary>
internal sealed class ReviewBoard(Database database, KnowledgeBase knowledge, AuditLog audit, TimeProvider time)
{
    /// <summary>The periods a reviewer can choose, in days.</summary>
    public static readonly int[] Periods = [7, 30, 90, 365];

    public const int DefaultDays = 30;

    /// <summary>Most questions read for one view (the newest); the page says when there were more.</summary>
    public const int MaxRows = 5000;

    public const int MaxExamples = 3;

    public static int Period(int? days) => days is { } d && Periods.Contains(d) ? d : DefaultDays;

    /// <summary>The groups of the last <paramref name="days"/> days; the view is audited first.</summary>
    public async Task<ReviewView> ViewAsync(Actor actor, int days, string auditAction, CancellationToken cancellationToken)
    {
        var since = time.GetUtcNow() - TimeSpan.FromDays(days);
        database.EnsureReady();
        await using var db = database.Open();
        var rows = await db.Answers.AsNoTracking()
            .Where(a => a.CreatedAt >= since && a.HandledAt == null && (!a.Answered || a.Vote == -1))
            .OrderByDescending(a => a.Id)
            .Take(MaxRows + 1)
            .ToListAsync(cancellationToken);
        var truncated = rows.Count > MaxRows;
        if (truncated)
        {
            rows.RemoveAt(rows.Count - 1);
        }

        var declined = Group(ReviewKind.Declined, rows.Where(r => !r.Answered).ToList());
        var downVoted = Group(ReviewKind.DownVoted, rows.Where(r => r.Answered).ToList());
        audit.Add(db, actor, auditAction, detail: string.Create(CultureInfo.InvariantCulture,
            $"{days} days: {declined.Count} declined groups ({declined.Sum(g => g.Count)} questions), {downVoted.Count} down-voted groups ({downVoted.Sum(g => g.Count)} answers)"));
        await db.SaveChangesAsync(cancellationToken);
        return new ReviewView(days, since, declined, downVoted, truncated);
    }

    private List<ReviewGroup> Group(ReviewKind kind, List<AnswerRecord> rows)
    {
        // Rows are newest first, so each group's first row is its latest.
        var terms = knowledge.QuestionTerms(rows.Select(r => r.Question));
        return QuestionGroups.Group(terms).Select(members =>
        {
            var group = members.Select(i => rows[i]).ToList();
            var examples = group.Select(r => r.Question).Where(q => q.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase).Take(MaxExamples).ToArray();
            var sources = group.Where(r => r.SourcePath is not null)
                .GroupBy(r => (r.SourcePath!, r.SourceSection))
                .Select(s => new ReviewSource(s.Key.Item1, s.Key.SourceSection, s.Count()))
                .OrderByDescending(s => s.Count).ThenBy(s => s.Path, StringComparer.Ordinal)
                .ToArray();
            return new ReviewGroup(kind, group.Count, examples, group.Max(r => r.CreatedAt), sources, group.Select(r => r.Id).ToArray());
        }).ToList();
    }

    /// <summary>Marks questions handled (they leave the page; a new down-vote brings an answer back). Returns how many were marked.</summary>
    public async Task<int> MarkHandledAsync(Actor actor, IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return 0;
        }

        database.EnsureReady();
        await using var db = database.Open();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var now = time.GetUtcNow();
        var marked = await db.Answers.Where(a => ids.Contains(a.Id) && a.HandledAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.HandledAt, now).SetProperty(a => a.HandledBy, actor.Name), cancellationToken);
        audit.Add(db, actor, AuditActions.ReviewHandled, detail: string.Create(CultureInfo.InvariantCulture, $"{marked} questions marked handled"));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return marked;
    }

    /// <summary>The groups as CSV (RFC 4180, spreadsheet-safe): kind, count, last seen, sources, examples. Audited.</summary>
    public async Task WriteCsvAsync(Actor actor, int days, Stream output, CancellationToken cancellationToken)
    {
        var view = await ViewAsync(actor, days, AuditActions.ReviewExport, cancellationToken);
        await using var writer = new StreamWriter(output, new UTF8Encoding(false), leaveOpen: true);
        await writer.WriteAsync("kind,count,last_seen,sources,examples\r\n");
        foreach (var g in view.Declined.Concat(view.DownVoted))
        {
            await writer.WriteAsync(string.Join(',',
                g.Kind == ReviewKind.Declined ? "declined" : "down-voted",
                g.Count.ToString(CultureInfo.InvariantCulture),
                g.LastSeen.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                AuditLog.Csv(string.Join(" | ", g.Sources.Select(s => s.File + (s.Section is null ? string.Empty : " > " + s.Section)))),
                AuditLog.Csv(string.Join(" | ", g.Examples))) + "\r\n");
        }

        await writer.FlushAsync(cancellationToken);
    }
}
