namespace BotService.Storage.Data;

/// <summary>
/// One answer (or decline) the bot gave to a question, with what it was based on, and the asker's vote on it. The
/// staff review page reads declined and down-voted rows. <see cref="Question"/> is health data, like transcript
/// text: shown only on the access-controlled, audited review page, never logged, and purged with the transcript
/// (<c>RetentionJob</c>).
/// </summary>
public sealed class AnswerRecord
{
    public long Id { get; set; }

    /// <summary>The answer's public id: random, carried by the reply's feedback buttons; unique.</summary>
    public required string AnswerId { get; set; }

    public required string ConversationId { get; set; }

    public required string Channel { get; set; }

    /// <summary>The transcript message of the question (its activity id in the conversation), when the channel gave it one.</summary>
    public string? QuestionActivityId { get; set; }

    /// <summary>The reply's id as the channel knows it (Direct Line: its transcript id), when known.</summary>
    public string? ReplyActivityId { get; set; }

    /// <summary>The question as asked (after a Teams @mention is removed).</summary>
    public required string Question { get; set; }

    /// <summary>False: the bot said the articles don't cover it.</summary>
    public bool Answered { get; set; }

    /// <summary>The answer's confidence (docs/decisions/0003-confidence.md), also for a decline.</summary>
    public double Confidence { get; set; }

    /// <summary>The cited article's path under <c>knowledge/</c> and its section; null for a decline.</summary>
    public string? SourcePath { get; set; }

    public string? SourceSection { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary><c>1</c> (thumbs up), <c>-1</c> (thumbs down), null (no vote). A second vote replaces the first.</summary>
    public int? Vote { get; set; }

    public DateTimeOffset? VotedAt { get; set; }

    /// <summary>When staff marked it handled on the review page (an article, synonym or phrasing added); null while open.</summary>
    public DateTimeOffset? HandledAt { get; set; }

    /// <summary>Who marked it handled (user name), kept for display.</summary>
    public string? HandledBy { get; set; }
}

/// <summary>How the answer log writes <see cref="AnswerRecord"/> rows without EF Core (decision 0031).</summary>
public static class AnswerRows
{
    /// <summary>Every column but the store-generated key, each value as the provider stores it.</summary>
    public static RowInserter<AnswerRecord> Inserter(StorageTarget target) => new("answers", target.IsSqlite,
    [
        ("AnswerId", a => a.AnswerId),
        ("ConversationId", a => a.ConversationId),
        ("Channel", a => a.Channel),
        ("QuestionActivityId", a => a.QuestionActivityId),
        ("ReplyActivityId", a => a.ReplyActivityId),
        ("Question", a => a.Question),
        ("Answered", a => a.Answered),
        ("Confidence", a => a.Confidence),
        ("SourcePath", a => a.SourcePath),
        ("SourceSection", a => a.SourceSection),
        ("CreatedAt", a => target.TimeToDb(a.CreatedAt)),
        ("Vote", a => a.Vote),
        ("VotedAt", a => a.VotedAt is { } t ? target.TimeToDb(t) : null),
        ("HandledAt", a => a.HandledAt is { } t ? target.TimeToDb(t) : null),
        ("HandledBy", a => a.HandledBy),
    ]);
}
