using System.Collections.Concurrent;
using System.Data.Common;
using System.Threading.Channels;
using BotService.Bot;
using BotService.Knowledge.Answers;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Storage.Data;

namespace BotService.Feedback;

/// <summary>What became of a vote.</summary>
internal enum VoteOutcome
{
    Stored,
    UnknownAnswer,
    NotAnAnswer,

    /// <summary>The answer's record has not reached the database yet (it is unavailable and the write is being retried).</summary>
    NotYetStored,
}

/// <summary>
/// Records every answer and decline the bot sends (the <c>answers</c> table: question, confidence, cited source), and
/// the asker's thumbs up or down on an answer. An answer's reply carries an unguessable answer id in its feedback
/// buttons (<see cref="FeedbackReplies"/>); a vote names that id and must come from the same conversation. The records
/// are written by one background writer in batches, after the reply has gone, so an answer never waits on the
/// database; a vote that arrives before its answer's record has landed waits for it. Nothing here logs a question.
/// </summary>
internal sealed partial class AnswerLog(Database database, BotService.Storage.Transcripts.TranscriptStore transcript, TimeProvider time, ILogger<AnswerLog> log) : BackgroundService
{
    /// <summary>Channels whose turns are not a visitor's (the start-up warm-up).</summary>
    private const string WarmUpChannel = "warmup";

    /// <summary>Most records queued while the database is unavailable; beyond it new ones are dropped (counted, and the count logged).</summary>
    private const int MaxQueued = 50_000;

    /// <summary>Most records one transaction writes.</summary>
    private const int MaxBatch = 1024;

    private static readonly TimeSpan PendingWait = TimeSpan.FromSeconds(5);

    /// <summary>How long the writer lets records gather before it writes them (a vote arriving meanwhile waits for its record).</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Records that end the <see cref="Linger"/> early. SQLite has one write lock, and the transcript's writer waits
    /// behind ours: a batch of the ~660 records 2 s of the Direct Line load run gathers (330 answers a second) held it
    /// for ~50 ms of EF Core work and commit, and every message committed meanwhile waited (the load run's p99). A batch
    /// of 64 holds it for a few ms; at a clinic's usual pace records still gather for the whole 2 s.
    /// </summary>
    internal const int EarlyBatch = 64;

    private readonly Channel<AnswerRecord> _queue = Channel.CreateUnbounded<AnswerRecord>(new UnboundedChannelOptions { SingleReader = true });
    // The answers whose records are not yet in the database. A vote on one waits for the batches written meanwhile
    // (_written completes after each), not for a completion of its own: one object per batch, not two per answer.
    private readonly ConcurrentDictionary<string, bool> _pending = new(StringComparer.Ordinal);
    private TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RowInserter<AnswerRecord>? _inserter;
    private int _queued;
    private int _dropped;
    private TaskCompletionSource? _enough; // completed once EarlyBatch records wait, to end the linger

    /// <summary>The random part of an answer id: 10 bytes (80 bits), after the 6 bytes of its time.</summary>
    private const int RandomBytes = 10;

    /// <summary>Random bytes fetched at once per thread (32 ids' worth): each RandomNumberGenerator.Fill is a call into OpenSSL that takes its lock.</summary>
    private const int RandomBlock = RandomBytes * 32;

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_randomUsed;

    /// <summary>
    /// A new answer id, base64url (22 characters) of 16 bytes: <paramref name="now"/> in Unix milliseconds (6 bytes,
    /// big-endian), then 10 random bytes from the system's cryptographic generator. The time leads so that the answers
    /// written together have ids near each other in the <c>answers</c> table's unique index: with 16 random bytes each
    /// insert dirtied an index page of its own, one more page for the transcript's writer to write and flush in every
    /// commit (decision 0027). 80 random bits keep an id unguessable; the time it shows is when the answer was sent,
    /// which whoever holds the id already knows.
    /// </summary>
    public static string NewAnswerId(DateTimeOffset now)
    {
        var block = t_random;
        if (block is null || t_randomUsed >= block.Length)
        {
            block = t_random ??= new byte[RandomBlock];
            System.Security.Cryptography.RandomNumberGenerator.Fill(block);
            t_randomUsed = 0;
        }

        Span<byte> bytes = stackalloc byte[16];
        var milliseconds = (ulong)now.ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--, milliseconds >>= 8)
        {
            bytes[i] = (byte)milliseconds;
        }

        var random = block.AsSpan(t_randomUsed, RandomBytes);
        random.CopyTo(bytes[6..]);
        random.Clear(); // used once, then gone
        t_randomUsed += RandomBytes;
        var id = System.Buffers.Text.Base64Url.EncodeToString(bytes);
        bytes.Clear();
        return id;
    }

    /// <summary>An answer id as <see cref="NewAnswerId"/> makes them (anything else is refused before the database is asked).</summary>
    public static bool IsAnswerId(string? id) => id is { Length: 22 } && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>
    /// Sends the bot's reply to a question, with feedback buttons when it is an answer, then queues its record. The
    /// reply is sent whatever happens to the record.
    /// </summary>
    public async Task SendAsync(ITurnContext turn, Answer answer, Activity reply, CancellationToken cancellationToken)
    {
        var activity = turn.Activity;
        // A "did you mean" is neither an answer nor a decline: the visitor's pick comes back as a question of its own.
        if (activity.Conversation?.Id is not { Length: > 0 } conversationId || activity.ChannelId == WarmUpChannel || answer.DidYouMean.Count > 0)
        {
            await turn.SendActivityAsync(reply, cancellationToken);
            return;
        }

        var answerId = NewAnswerId(time.GetUtcNow());
        _pending[answerId] = true; // before the reply leaves: a vote on it waits for its record
        string? replyId = null;
        try
        {
            var withFeedback = answer.Answered && answer.Sources.Count > 0 ? FeedbackReplies.WithFeedback(reply, answerId) : reply;
            replyId = await turn.SendActivityAsync(withFeedback, cancellationToken);
        }
        finally
        {
            var source = answer.Answered && answer.Sources.Count > 0 ? answer.Sources[0] : null;
            Enqueue(new AnswerRecord
            {
                AnswerId = answerId,
                ConversationId = conversationId,
                Channel = activity.ChannelId ?? "unknown",
                QuestionActivityId = activity.Id,
                ReplyActivityId = replyId,
                Question = StoredText.Of(activity.Text?.Trim()),
                Answered = answer.Answered,
                Confidence = double.IsFinite(answer.Confidence) ? answer.Confidence : 0,
                SourcePath = source?.Path,
                SourceSection = source?.Section,
                CreatedAt = time.GetUtcNow(),
            });
        }
    }

    private void Enqueue(AnswerRecord record)
    {
        var queued = Interlocked.Increment(ref _queued);
        if (queued > MaxQueued || !_queue.Writer.TryWrite(record))
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Increment(ref _dropped); // logged by the writer, once per batch with the count: not a line per answer under load
            _pending.TryRemove(record.AnswerId, out _);
            Signal(); // a vote waiting for it looks in the database now (and does not find it)
        }
        else if (queued >= EarlyBatch)
        {
            Volatile.Read(ref _enough)?.TrySetResult();
        }
    }

    /// <summary>Wakes the votes waiting for records: some left <see cref="_pending"/>.</summary>
    private void Signal() =>
        Interlocked.Exchange(ref _written, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>
    /// Stores a vote (<c>1</c> up, <c>-1</c> down) on an answer of <paramref name="conversationId"/>, replacing an earlier
    /// one. An id this conversation was not given is <see cref="VoteOutcome.UnknownAnswer"/> (whether or not another
    /// conversation has it); a decline cannot be voted on.
    /// </summary>
    public async Task<VoteOutcome> VoteAsync(string answerId, string conversationId, int vote, CancellationToken cancellationToken)
    {
        if (!IsAnswerId(answerId) || vote is not (1 or -1))
        {
            return VoteOutcome.UnknownAnswer;
        }

        var waitUntil = time.GetUtcNow() + PendingWait;
        while (_pending.ContainsKey(answerId))
        {
            // Read the signal before looking again: a batch written after the look completes this one (or a later one).
            var written = Volatile.Read(ref _written);
            var left = waitUntil - time.GetUtcNow();
            if (!_pending.ContainsKey(answerId))
            {
                break;
            }

            if (left <= TimeSpan.Zero)
            {
                return VoteOutcome.NotYetStored; // the record is still being retried: the vote is not lost for a wrong reason
            }

            await written.Task.WaitAsync(left, time, cancellationToken).ContinueWith(static _ => { }, CancellationToken.None,
                TaskContinuationOptions.None, TaskScheduler.Default);
            if (cancellationToken.IsCancellationRequested)
            {
                return VoteOutcome.NotYetStored;
            }
        }

        database.EnsureReady();
        await using var connection = await database.OpenConnectionAsync(cancellationToken); // plain SQL: a visitor's path (decision 0031)
        var row = await FindVoteTargetAsync(connection, answerId, cancellationToken);
        // With several instances (PostgreSQL) the answer may have been given by another one, whose writer lets records
        // gather for Linger: look again for a little longer before saying it is unknown. (SQLite: one process per
        // data folder, so an answer not pending here and not in the database was never given.)
        var until = time.GetUtcNow() + Linger + TimeSpan.FromSeconds(2);
        while (row is null && !database.Target.IsSqlite && time.GetUtcNow() < until)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken);
            row = await FindVoteTargetAsync(connection, answerId, cancellationToken);
        }

        if (row is not { } found || found.ConversationId != conversationId)
        {
            return VoteOutcome.UnknownAnswer;
        }

        if (!found.Answered)
        {
            return VoteOutcome.NotAnAnswer;
        }

        await using var update = connection.CreateCommand();
        // A new down-vote is new work for the review page: it is no longer handled.
        update.CommandText = vote == -1 && found.Vote != -1
            ? "UPDATE answers SET \"Vote\" = @vote, \"VotedAt\" = @at, \"HandledAt\" = NULL, \"HandledBy\" = NULL WHERE \"AnswerId\" = @id"
            : "UPDATE answers SET \"Vote\" = @vote, \"VotedAt\" = @at WHERE \"AnswerId\" = @id";
        update.AddParameter("@vote", vote);
        update.AddParameter("@at", database.TimeToDb(time.GetUtcNow()));
        update.AddParameter("@id", answerId);
        await update.ExecuteNonQueryAsync(cancellationToken);
        return VoteOutcome.Stored;
    }

    private static async Task<(string ConversationId, bool Answered, int? Vote)?> FindVoteTargetAsync(
        DbConnection connection, string answerId, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT \"ConversationId\", \"Answered\", \"Vote\" FROM answers WHERE \"AnswerId\" = @id";
        command.AddParameter("@id", answerId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.GetString(0), reader.GetBoolean(1), reader.IsDBNull(2) ? null : reader.GetInt32(2))
            : null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _queue.Reader;
        var batch = new List<AnswerRecord>(MaxBatch);
        var delay = TimeSpan.FromMilliseconds(250);
        var backlog = false;
        try
        {
            // Not the stopping token for reading: what was queued is written before the writer ends (StopAsync
            // completes the queue). A batch that failed is kept and tried again before anything new is awaited.
            while (batch.Count > 0 || await reader.WaitToReadAsync(CancellationToken.None))
            {
                if (batch.Count == 0 && !backlog && !stoppingToken.IsCancellationRequested)
                {
                    // Let a batch gather: a few commits a second instead of one per answer, each of which would
                    // contend with the transcript's writer for the database's write lock (SQLite has one). Not after
                    // a full batch: then more are waiting, and lingering would cap the writer at MaxBatch per Linger
                    // (256 a second), far below what the service answers under load.
                    // Or until EarlyBatch records wait (the signal is set before the count is read, and Enqueue counts
                    // before it reads the signal, so one of the two sees the other).
                    var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Interlocked.Exchange(ref _enough, enough);
                    if (Volatile.Read(ref _queued) < EarlyBatch)
                    {
                        using var linger = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                        await Task.WhenAny(Task.Delay(Linger, time, linger.Token), enough.Task);
                        await linger.CancelAsync();
                    }
                }

                while (batch.Count < MaxBatch && reader.TryRead(out var record))
                {
                    batch.Add(record);
                }

                backlog = batch.Count == MaxBatch;
                ReportDropped();

                try
                {
                    await WriteAsync(batch);
                    delay = TimeSpan.FromMilliseconds(250);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The database may be locked, full or restarting: kept and retried with backoff, unless stopping.
                    WriteFailed(log, batch.Count, e.GetType().Name);
                    database.Invalidate();
                    if (stoppingToken.IsCancellationRequested)
                    {
                        break;
                    }

                    await Task.Delay(delay, time, stoppingToken).ContinueWith(static _ => { }, CancellationToken.None,
                        TaskContinuationOptions.None, TaskScheduler.Default);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                    continue;
                }

                Done(batch);
            }
        }
        finally
        {
            Done(batch);
        }
    }

    private void ReportDropped()
    {
        if (Volatile.Read(ref _dropped) > 0 && Interlocked.Exchange(ref _dropped, 0) is var count and > 0)
        {
            Dropped(log, count);
        }
    }

    private void Done(List<AnswerRecord> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        foreach (var record in batch)
        {
            Interlocked.Decrement(ref _queued);
            _pending.TryRemove(record.AnswerId, out _);
        }

        batch.Clear();
        Signal();
    }

    private async Task WriteAsync(List<AnswerRecord> batch)
    {
        if (_inserter is null)
        {
            database.EnsureReady();
            _inserter = AnswerRows.Inserter(database.Target);
        }

        // In the transcript writer's next group commit, with multi-row inserts (AnswerRows): not a second
        // writer taking SQLite's one write lock between the transcript's commits, and not AddRange + SaveChanges, whose
        // change tracking cost more CPU per answer than the rest of the turn (docs/benchmarks.md).
        var inserter = _inserter;
        var rows = batch.ToArray(); // the batch list is reused once this completes
        await transcript.WriteRowsAsync((connection, transaction) => inserter.Insert(connection, transaction, rows));
    }

    /// <summary>Writes what is queued, then stops (the queue is completed first, so nothing new arrives).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    [LoggerMessage(7401, LogLevel.Warning, "Answers: {Count} answer records could not be written ({Error}); trying again")]
    private static partial void WriteFailed(ILogger logger, int count, string error);

    [LoggerMessage(7402, LogLevel.Error, "Answers: {Count} answer records were dropped: too many were waiting for the database")]
    private static partial void Dropped(ILogger logger, int count);
}
