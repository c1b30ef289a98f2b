using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using BotService.Storage.Data;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace BotService.Storage.Transcripts;

/// <summary>How the transcript is written (configuration section <c>Transcript</c>).</summary>
public sealed class TranscriptOptions
{
    public const string SectionName = "Transcript";

    /// <summary>
    /// <c>Full</c> (default): every commit is flushed to the disk (fsync) before anyone is told it is stored, so an
    /// acknowledged message survives a power cut. <c>Normal</c>: SQLite's WAL <c>synchronous=NORMAL</c>: a commit
    /// survives the process crashing but the last ones may be lost with the machine; the WAL is flushed at checkpoints.
    /// For disks whose flushes are slow or erratic (shared or network storage), where fsync dominates reply latency.
    /// On PostgreSQL <c>Normal</c> is the writer session's <c>synchronous_commit=off</c> (the same promise: a crash of
    /// the database server may lose the last commits, never corrupt them).
    /// </summary>
    public TranscriptDurability Durability { get; set; } = TranscriptDurability.Full;

    /// <summary>
    /// PostgreSQL only: how long the writer keeps trying a batch while the server cannot be reached or ends its sessions
    /// (a restart, a failover), before the batch fails. Meanwhile callers wait (a Direct Line POST is answered once its
    /// message is stored) and later appends queue up behind it. Zero: one new session is tried, then the batch fails.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan OutageRetry { get; set; } = TimeSpan.FromSeconds(10);
}

public enum TranscriptDurability
{
    Full,
    Normal,
}

/// <summary>Who wrote an activity of a transcript.</summary>
public static class TranscriptRoles
{
    public const string Visitor = "visitor";
    public const string Bot = "bot";
    public const string Staff = "staff";
}

/// <summary>One activity to add to a conversation's transcript.</summary>
/// <param name="ActivityId">The channel's id for it; null lets the store give it <c>{conversationId}|{seq:D7}</c>
/// (the Direct Line form). An id already stored in the conversation is not stored again (a retry).</param>
/// <param name="RenderJson">Makes the activity's JSON once its id and sequence number are known (runs once, on the
/// writer or on the caller's thread through <see cref="TranscriptWrite.ActivityJson"/>, so keep it to serialization);
/// null stores no JSON.</param>
/// <param name="UserId">The visitor the conversation belongs to, recorded if the conversation is new.</param>
public sealed record TranscriptAppend(
    string ConversationId,
    string Channel,
    string Role,
    string Type,
    string? ActivityId,
    string? Text,
    Func<string, long, string>? RenderJson,
    string? UserId = null);

/// <summary>Where an appended activity landed: its sequence number (the watermark) and id.</summary>
/// <param name="AlreadyStored">True if the conversation already held this activity id (nothing new was written).</param>
public readonly record struct TranscriptPosition(long Seq, string ActivityId, bool AlreadyStored);

/// <summary>An append on its way: the numbers and ids it was given, and its completion once it is on the disk.</summary>
public sealed record TranscriptWrite(IReadOnlyList<TranscriptPosition> Reserved, Task<IReadOnlyList<TranscriptPosition>> Completion)
{
    internal TranscriptStore.Request? Request { get; init; }

    /// <summary>
    /// The <paramref name="index"/>th activity's JSON (<see cref="TranscriptAppend.RenderJson"/> with its reserved id and
    /// number), rendered once whether the caller or the store's writer asks first; null if the append has no JSON.
    /// </summary>
    public string? ActivityJson(int index) => Request?.JsonAt(index);
}

/// <summary>One stored activity, as a channel replays it.</summary>
public sealed record TranscriptEntry(long Seq, string ActivityId, string Role, string Type, string? ActivityJson);

/// <summary>A conversation as the transcript knows it.</summary>
public sealed record TranscriptConversation(string Id, string Channel, string? UserId, DateTimeOffset CreatedAt);

/// <summary>
/// The transcript of every conversation on every channel, in the database (the <c>messages</c> table), with a
/// per-conversation sequence number that Direct Line uses as its watermark.
/// <para>
/// Writes are durable before they are acknowledged, and fast under concurrency through group commit: one background
/// writer takes every append waiting in its queue, writes them in one transaction (one WAL fsync), and only then
/// completes the callers' tasks. Under load a batch forms by itself while the previous commit is on the disk, so the
/// cost per message falls as concurrency rises, and SQLite never sees two writers of ours contend.
/// Sequence numbers are handed out when an append is queued (under a lock, in queue order, which the single writer
/// keeps as commit order), so a caller knows its activity's id at once and can start work on it (run the turn)
/// while the commit is on its way: <see cref="BeginAppendAsync"/>. A conversation's numbers only grow; a write that
/// fails for good, or a retry of an id already stored, leaves a gap, which a watermark does not mind.
/// Reads go straight to the database (WAL readers never wait for the writer). Nothing here logs text: transcripts are
/// health data.
/// </para>
/// <para>
/// Where the numbers come from depends on the provider (decision 0017). SQLite: this process's memory
/// (<c>_lastSeq</c>), one writer process per database file. PostgreSQL, where several instances may append to one
/// conversation: the database, one autocommitted round trip per append (<c>conversation_seqs</c>, an upsert that adds
/// the count and returns the new last number), so the early id is kept. Numbers then need not commit in number order
/// (a number reserved on one instance may land after a higher one from another), so a reader must never move a
/// client's watermark past a number that is reserved but not yet stored (<see cref="NumbersFromDatabase"/>; Direct
/// Line's ConversationDelivery waits for such a gap). Each PostgreSQL commit also sends <see cref="NotifyChannel"/>
/// with the id of every conversation it wrote (delivered to listeners at commit), so the other instances' streams
/// learn of it.
/// </para>
/// </summary>
public sealed partial class TranscriptStore : BackgroundService
{
    /// <summary>The meter of <c>bot.transcript.commit.size</c> and <c>bot.transcript.commit.duration</c> (one point per group commit).</summary>
    public const string MeterName = "BotService.Storage";

    /// <summary>The PostgreSQL channel each commit notifies with the id of every conversation it wrote.</summary>
    public const string NotifyChannel = "botservice_transcript";

    /// <summary>Most requests one transaction takes; more wait for the next one (keeps one commit short).</summary>
    private const int MaxBatch = 512;

    private readonly Database _database;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Channel<Request> _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    // Last number handed out per conversation. Never trimmed: a number handed out but not yet committed must never be
    // handed out again from a stale database read (about 100 bytes per conversation).
    private readonly Dictionary<string, long> _lastSeq = new(StringComparer.Ordinal);
    private readonly Lock _reserve = new();
    private readonly StorageTarget _target;
    private readonly string _connectionString;

    /// <summary>SQLite: how long the writer waits for another connection's lock (the busy timeout and Microsoft.Data.Sqlite's own budget, the same).</summary>
    private const int WriterTimeoutSeconds = 6;

    private readonly string _sessionSetup;
    private readonly DbDataSource? _reservations; // PostgreSQL: where sequence numbers are reserved (an NpgsqlDataSource; typed by its base class so that SQLite never loads Npgsql)
    private Writer? _writer; // the writer thread's alone
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly TimeSpan _outageRetry;

    private readonly Histogram<int>? _commitSize;
    private readonly Histogram<double>? _commitDuration;

    public TranscriptStore(Database database, TranscriptOptions options, TimeProvider time, ILogger<TranscriptStore> log, IMeterFactory? meters = null)
    {
        if (meters?.Create(MeterName) is { } meter)
        {
            _commitSize = meter.CreateHistogram("bot.transcript.commit.size", "{activity}", "Activities written in one group commit",
                advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
            _commitDuration = meter.CreateHistogram("bot.transcript.commit.duration", "s", "Time to write and commit one group of activities",
                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });
        }

        // Its own pool (a different busy timeout, or application name, makes a different pool key), so the durability
        // setting of the writer's session never leaks into the connections the rest of the service borrows.
        var normal = options.Durability == TranscriptDurability.Normal;
        _target = database.Target;
        if (_target.IsSqlite)
        {
            _connectionString = new SqliteConnectionStringBuilder(_target.ConnectionString) { DefaultTimeout = WriterTimeoutSeconds }.ToString();
            _sessionSetup = (normal ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=FULL;") + StorageSetup.SqliteBusyTimeoutPragma(WriterTimeoutSeconds);
        }
        else
        {
            _connectionString = PostgreSqlWriterConnection(_target.ConnectionString);
            _sessionSetup = normal ? "SET synchronous_commit = off;" : "SET synchronous_commit = on;";
            _reservations = PostgreSqlReservations(_target.ConnectionString);
        }

        _database = database;
        _time = time;
        _log = log;
        _outageRetry = options.OutageRetry;
    }

    // PostgreSQL's pieces are built in methods of their own: the JIT loads the assemblies a method refers to when it
    // compiles it, taken branch or not, so on SQLite Npgsql is never loaded (decision 0021).

    /// <summary>The writer's connection string: statements used twice are prepared on the server, so a batch costs its rows and one commit.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string PostgreSqlWriterConnection(string connectionString) => new NpgsqlConnectionStringBuilder(connectionString)
    {
        ApplicationName = "botservice-transcript-writer", MaxAutoPrepare = 8, AutoPrepareMinUsages = 2,
    }.ToString();

    /// <summary>
    /// Reservations are short autocommitted upserts on a pool of their own; a row lock held elsewhere (another process
    /// locking the table) fails them after 2 s rather than holding a turn indefinitely.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static DbDataSource PostgreSqlReservations(string connectionString) => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString)
    {
        ApplicationName = "botservice-transcript-numbers", Timeout = 3, CommandTimeout = 5, Options = "-c lock_timeout=2000", MinPoolSize = 1,
        MaxAutoPrepare = 4, AutoPrepareMinUsages = 2,
    });

    /// <summary>
    /// True when sequence numbers come from the database (PostgreSQL): several instances may number one conversation,
    /// and a number may commit after a higher one. False (SQLite): this process numbers and commits in number order.
    /// </summary>
    public bool NumbersFromDatabase => _reservations is not null;

    /// <summary>The Direct Line style id of the <paramref name="seq"/>th activity of a conversation.</summary>
    public static string ActivityIdFor(string conversationId, long seq) => $"{conversationId}|{seq:D7}";

    /// <summary>
    /// Appends activities to their conversations (in this order) and returns once they are committed to the disk.
    /// The conversation row is created if missing. Throws if the database cannot be written.
    /// </summary>
    public async Task<IReadOnlyList<TranscriptPosition>> AppendAsync(IReadOnlyList<TranscriptAppend> items, CancellationToken cancellationToken)
    {
        var write = await BeginAppendAsync(items, cancellationToken);
        return await write.Completion.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Queues activities and returns at once with their numbers and ids (<see cref="TranscriptWrite.Reserved"/>);
    /// <see cref="TranscriptWrite.Completion"/> finishes when they are on the disk, with the final positions (an id
    /// that was stored before keeps its first position).
    /// </summary>
    /// <param name="rideOutOutage">PostgreSQL: while the server cannot be reached, keep trying to reserve the numbers
    /// for up to <see cref="TranscriptOptions.OutageRetry"/> (decision 0018) rather than fail after one new session. Only
    /// for a caller whose turn does not wait on the reservation (the transcript middleware): Direct Line runs a
    /// visitor's turn, perhaps a crisis, only after its message is numbered, so it must fail fast.</param>
    public async ValueTask<TranscriptWrite> BeginAppendAsync(IReadOnlyList<TranscriptAppend> items, CancellationToken cancellationToken, bool rideOutOutage = false)
    {
        if (_reservations is not null && items.Count > 0)
        {
            return await ReserveAndQueueAsync(items, rideOutOutage, cancellationToken);
        }

        if (TryBeginAppend(items, out var queued))
        {
            return queued;
        }

        foreach (var conversation in items.Select(i => i.ConversationId).Distinct(StringComparer.Ordinal))
        {
            bool known;
            lock (_reserve)
            {
                known = _lastSeq.ContainsKey(conversation);
            }

            if (!known)
            {
                var max = await MaxSeqAsync(conversation, cancellationToken);
                lock (_reserve)
                {
                    _lastSeq.TryAdd(conversation, max); // someone else's entry wins: it already counts what they reserved
                }
            }
        }

        if (!TryBeginAppend(items, out var write))
        {
            throw new InvalidOperationException("A conversation's numbers were forgotten while it was being appended to.");
        }

        return write;
    }

    /// <summary>
    /// <see cref="BeginAppendAsync"/> without waiting for anything: succeeds when every conversation of
    /// <paramref name="items"/> has been seen since the start (its last number is known), which is every turn after a
    /// conversation's first; false, with nothing queued, when one would have to be read from the database.
    /// </summary>
    public bool TryBeginAppend(IReadOnlyList<TranscriptAppend> items, [NotNullWhen(true)] out TranscriptWrite? write)
    {
        if (items.Count == 0)
        {
            write = new TranscriptWrite([], Task.FromResult<IReadOnlyList<TranscriptPosition>>([]));
            return true;
        }

        if (_reservations is not null)
        {
            write = null; // numbers come from the database: a round trip
            return false;
        }

        var request = new Request(items, null);
        var reserved = new TranscriptPosition[items.Count];
        lock (_reserve)
        {
            foreach (var item in items)
            {
                if (!_lastSeq.ContainsKey(item.ConversationId))
                {
                    write = null;
                    return false;
                }
            }

            for (var i = 0; i < items.Count; i++)
            {
                var seq = ++System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_lastSeq, items[i].ConversationId);
                reserved[i] = new TranscriptPosition(seq, items[i].ActivityId ?? ActivityIdFor(items[i].ConversationId, seq), false);
            }

            request.Reserved = reserved;
            Enqueue(request); // inside the lock: queue order is number order
        }

        write = new TranscriptWrite(reserved, Completion(request)) { Request = request };
        return true;
    }

    /// <summary>
    /// PostgreSQL: reserves each conversation's numbers in the database (one autocommitted upsert per conversation of
    /// the append), then queues the append. Numbers reserved here may commit after higher ones reserved by another
    /// instance; readers wait for such gaps (<see cref="NumbersFromDatabase"/>).
    /// </summary>
    private async Task<TranscriptWrite> ReserveAndQueueAsync(IReadOnlyList<TranscriptAppend> items, bool rideOutOutage, CancellationToken cancellationToken)
    {
        _database.EnsureReady();
        var reserved = new TranscriptPosition[items.Count];
        foreach (var group in Enumerable.Range(0, items.Count).GroupBy(i => items[i].ConversationId, StringComparer.Ordinal))
        {
            var indexes = group.ToArray();
            long last;
            try
            {
                last = await ReserveAsync(group.Key, indexes.Length, cancellationToken);
            }
            catch (NpgsqlException e) when (e.IsTransient)
            {
                // A pooled session the server ended (a restart, a failover) fails once: try again on a new one, and
                // while the server cannot be reached, with backoff within Transcript:OutageRetry.
                ReservationSessionLost(_log, e.GetType().Name, e.Message);
                ClearReservations();
                last = rideOutOutage
                    ? await RetryingTransientAsync(ct => ReserveAsync(group.Key, indexes.Length, ct), ClearReservations, cancellationToken)
                    : await ReserveAsync(group.Key, indexes.Length, cancellationToken);
            }

            for (var k = 0; k < indexes.Length; k++)
            {
                var seq = last - indexes.Length + 1 + k;
                var item = items[indexes[k]];
                reserved[indexes[k]] = new TranscriptPosition(seq, item.ActivityId ?? ActivityIdFor(item.ConversationId, seq), false);
            }
        }

        var request = new Request(items, null) { Reserved = reserved };
        Enqueue(request);
        return new TranscriptWrite(reserved, Completion(request)) { Request = request };
    }

    private void ClearReservations() => ((NpgsqlDataSource)_reservations!).Clear();

    private async Task<long> ReserveAsync(string conversationId, int count, CancellationToken cancellationToken)
    {
        await using var command = _reservations!.CreateCommand("""
            INSERT INTO conversation_seqs ("ConversationId", "LastSeq") VALUES ($1, $2)
            ON CONFLICT ("ConversationId") DO UPDATE SET "LastSeq" = conversation_seqs."LastSeq" + excluded."LastSeq"
            RETURNING "LastSeq"
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = conversationId });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = count });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<IReadOnlyList<TranscriptPosition>> Completion(Request request)
    {
        await request.Done.Task;
        return request.Positions!;
    }

    private async Task<long> MaxSeqAsync(string conversationId, CancellationToken cancellationToken)
    {
        _database.EnsureReady();
        await using var connection = await _database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT MAX(\"Seq\") FROM messages WHERE \"ConversationId\" = @conversation";
        command.AddParameter("@conversation", conversationId);
        return await command.ExecuteScalarAsync(cancellationToken) is long max ? max : 0;
    }

    /// <summary>
    /// The server is restarting or unreachable: a refused or broken connection, or the server ending or not yet taking
    /// sessions (57P01, 57P02, 57P03, class 08). Not a database that refuses connections on purpose
    /// (<c>ALLOW_CONNECTIONS false</c>, 55000) or is read-only: those fail at once, as before.
    /// </summary>
    private static bool IsServerGone(DbException e) => e switch
    {
        PostgresException p => p.SqlState is "57P01" or "57P02" or "57P03" || p.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException n => n.InnerException is System.Net.Sockets.SocketException or IOException or EndOfStreamException,
        _ => false,
    };

    /// <summary>
    /// PostgreSQL: runs <paramref name="operation"/> again with backoff while the server cannot be reached (a restart,
    /// a failover), for up to <see cref="TranscriptOptions.OutageRetry"/>, as the writer does with its batches. The
    /// soak's PostgreSQL restart (tests/load/soak.sh) lost /api/messages turns whose numbers could not be reserved: the
    /// append failed, and such a turn goes on and answers 200. EF Core reports a transient provider error as an
    /// <see cref="InvalidOperationException"/> around it. SQLite: run once (a locked file is waited for by the busy timeout).
    /// </summary>
    private async Task<T> RetryingTransientAsync<T>(Func<CancellationToken, Task<T>> operation, Action? beforeRetry, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return await operation(cancellationToken);
            }
            catch (Exception e) when (!_target.IsSqlite && (e as DbException ?? e.InnerException as DbException) is { } failure && IsServerGone(failure)
                && Stopwatch.GetElapsedTime(started) + delay < _outageRetry)
            {
                ServerUnreachable(_log, failure.GetType().Name, failure.Message, (int)delay.TotalMilliseconds);
                beforeRetry?.Invoke();
                await Task.Delay(delay, _time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
    }

    /// <summary>Creates a conversation (durably, through the same writer); false if the id exists already.</summary>
    public async Task<bool> CreateConversationAsync(string id, string channel, string? userId, CancellationToken cancellationToken)
    {
        var request = new Request([], new TranscriptConversation(id, channel, userId, _time.GetUtcNow()));
        Enqueue(request);
        await request.Done.Task.WaitAsync(cancellationToken);
        return request.Created;
    }

    /// <summary>
    /// Writes other rows in the writer's next group commit, through <paramref name="write"/> on the writer's own
    /// connection and transaction (the answer log's records): one writer and one commit for both, instead of a second
    /// writer taking SQLite's one write lock between the transcript's commits. Completes once committed; faults if the
    /// write or the commit failed (a failing <paramref name="write"/> fails only its own request: the rest of the
    /// batch is then written request by request).
    /// </summary>
    public Task WriteRowsAsync(Action<DbConnection, DbTransaction> write)
    {
        var request = new Request([], null) { Rows = write };
        Enqueue(request);
        return request.Done.Task;
    }

    public async Task<TranscriptConversation?> FindConversationAsync(string id, CancellationToken cancellationToken)
    {
        return await RetryingTransientAsync(async ct =>
        {
            _database.EnsureReady();
            await using var connection = await _database.OpenConnectionAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT \"Channel\", \"UserId\", \"CreatedAt\" FROM conversations WHERE \"Id\" = @id";
            command.AddParameter("@id", id);
            await using var reader = await command.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct)
                ? new TranscriptConversation(id, reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), _database.TimeFromDb(reader, 2))
                : null;
        }, null, cancellationToken);
    }

    /// <summary>The conversation's activities after <paramref name="afterSeq"/>, in order, at most <paramref name="max"/>.</summary>
    public async Task<IReadOnlyList<TranscriptEntry>> ReadAfterAsync(string conversationId, long afterSeq, int max, CancellationToken cancellationToken)
    {
        _database.EnsureReady();
        await using var connection = await _database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT "Seq", "ActivityId", "Role", "Type", "ActivityJson" FROM messages
            WHERE "ConversationId" = @conversation AND "Seq" > @after ORDER BY "Seq" LIMIT @max
            """;
        command.AddParameter("@conversation", conversationId);
        command.AddParameter("@after", afterSeq);
        command.AddParameter("@max", max);
        var entries = new List<TranscriptEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(new TranscriptEntry(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
        }

        return entries;
    }

    /// <summary>Lets the writer finish what callers are waiting for, then stops it.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        base.Dispose();
        _wake.Dispose();
        _reservations?.Dispose();
    }

    /// <summary>Queues a request. A caller may stop waiting for it; the write still happens (it may be on the disk already).</summary>
    private void Enqueue(Request request)
    {
        if (!_queue.Writer.TryWrite(request))
        {
            throw new InvalidOperationException("The transcript store is shutting down.");
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_reservations is not null)
        {
            // One reservation session opened now (and kept: MinPoolSize), so the first turn, perhaps a crisis, does
            // not pay for a connection on top of its round trip.
            _ = Task.Run(async () =>
            {
                try
                {
                    await using var warm = await _reservations.OpenConnectionAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // the database is not there yet: the first reservation opens it
                }
            }, CancellationToken.None);
        }

        return StartWriter();
    }

    private Task StartWriter() =>
        // Its own thread: SQLite's calls are synchronous (a commit waits for the disk's flush), and a thread-pool
        // thread blocked on fsync is one of two on this kind of machine. PostgreSQL's commit is a round trip that
        // waits for the server's flush; the same synchronous writer serves it.
        Task.Factory.StartNew(RunWriter, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void RunWriter()
    {
        var batch = new List<Request>(MaxBatch);
        var reader = _queue.Reader;
        try
        {
            // Not the stopping token: requests already accepted are written before the writer ends (StopAsync completes the queue).
            while (WaitForWork(reader))
            {
                while (batch.Count < MaxBatch && reader.TryRead(out var request))
                {
                    batch.Add(request);
                }

                Write(batch);
                batch.Clear();
            }
        }
        finally
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    /// <summary>
    /// Blocks the writer's thread until the queue has something (true) or is completed (false), without the spinning
    /// of <c>Task.Wait</c>, which on two cores takes turns away from the requests the writer is waiting for.
    /// </summary>
    private bool WaitForWork(ChannelReader<Request> reader)
    {
        var wait = reader.WaitToReadAsync(CancellationToken.None);
        if (!wait.IsCompleted)
        {
            _wake.Reset();
            var awaiter = wait.GetAwaiter();
            awaiter.UnsafeOnCompleted(_wake.Set);
            _wake.Wait();
            return awaiter.GetResult();
        }

        return wait.Result;
    }

    private void Write(List<Request> batch)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            WriteBatchRetryingEndedSession(batch);
            foreach (var request in batch)
            {
                request.Done.TrySetResult();
            }

            var activities = batch.Sum(r => r.Items.Count);
            var elapsed = Stopwatch.GetElapsedTime(started);
            _commitSize?.Record(activities);
            _commitDuration?.Record(elapsed.TotalSeconds);
            BatchWritten(_log, batch.Count, activities, elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            WriteFailed(_log, batch.Count, e.GetType().Name, e.Message); // SQLite and PostgreSQL messages name codes, never values
            _writer?.Dispose(); // the next write opens the database afresh
            _writer = null;
            _database.Invalidate();
            if (batch.Count == 1)
            {
                batch[0].Done.TrySetException(e);
                return;
            }

            // One bad request must not fail its neighbours: write each on its own.
            foreach (var request in batch)
            {
                try
                {
                    WriteBatch([request]);
                    request.Done.TrySetResult();
                }
                catch (Exception single) when (single is not OutOfMemoryException)
                {
                    _writer?.Dispose();
                    _writer = null;
                    request.Done.TrySetException(single);
                }
            }
        }
    }

    /// <summary>
    /// A PostgreSQL session kept open between batches may have been ended by the server meanwhile (a restart, a
    /// failover, an administrator): a batch that fails on such a session is tried once more on a new one at once. While
    /// the server cannot be reached (a restart takes seconds) the batch is tried again with backoff for up to
    /// <see cref="TranscriptOptions.OutageRetry"/>, so a short outage delays the writes instead of losing them: the
    /// soak's PostgreSQL restart (tests/load/soak.sh) lost messages that /api/messages had acknowledged, because its
    /// turn goes on when a write fails. (A SQLite connection cannot be ended from outside, and a locked file is waited
    /// for by the busy timeout: a second try there would only wait out a lock twice.) If an earlier try's commit did
    /// land, the next finds the rows and leaves them as they are.
    /// </summary>
    private void WriteBatchRetryingEndedSession(List<Request> batch)
    {
        var reused = _writer is not null && !_target.IsSqlite;
        var started = Stopwatch.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                WriteBatch(batch);
                return;
            }
            catch (DbException e) when (reused)
            {
                reused = false;
                SessionLost(_log, e.GetType().Name, e.Message);
                _writer?.Dispose();
                _writer = null;
            }
            catch (DbException e) when (!_target.IsSqlite && IsServerGone(e) && Stopwatch.GetElapsedTime(started) + delay < _outageRetry)
            {
                ServerUnreachable(_log, e.GetType().Name, e.Message, (int)delay.TotalMilliseconds);
                _writer?.Dispose();
                _writer = null;
                Thread.Sleep(delay); // the writer's own thread; later appends queue up meanwhile
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
    }

    private void WriteBatch(List<Request> batch)
    {
        var generation = _database.EnsureReady();
        if (_writer is { } open && open.Generation != generation)
        {
            open.Dispose(); // the file was created again since: this connection writes to the old one
            _writer = null;
        }

        var sql = _writer ??= Writer.Open(_target.IsSqlite, _connectionString, _sessionSetup, generation);
        var now = _time.GetUtcNow();
        var nowDb = _target.TimeToDb(now); // as the model stores it (SQLite: EF Core's binary time; PostgreSQL: timestamptz, UTC)
        var touched = new HashSet<string>(StringComparer.Ordinal); // one conversation-row update per conversation per batch
        using var tx = sql.Begin();
        foreach (var request in batch)
        {
            if (request.Rows is { } rows)
            {
                rows(sql.Connection, tx);
                continue;
            }

            if (request.NewConversation is { } c)
            {
                request.Created = sql.CreateConversation.Run(c.Id, c.Channel, (object?)c.UserId ?? DBNull.Value, nowDb) == 1;
                continue;
            }

            var positions = new TranscriptPosition[request.Items.Count];
            for (var i = 0; i < request.Items.Count; i++)
            {
                var item = request.Items[i];
                var (seq, id, _) = request.Reserved![i];
                if (touched.Add(item.ConversationId))
                {
                    sql.TouchConversation.Run(item.ConversationId, item.Channel, (object?)item.UserId ?? DBNull.Value, nowDb);
                }

                // Inserts, or gives its place to a row the escalation dispatcher wrote first (no Seq); a row already in
                // the transcript under this id is left alone and keeps its position (a retried append).
                var json = (object?)request.JsonAt(i) ?? DBNull.Value;
                if (sql.UpsertActivity.Run(item.ConversationId, id, item.Role, StoredText.Of(item.Text), nowDb, seq, item.Type, json) == 1)
                {
                    positions[i] = new TranscriptPosition(seq, id, false);
                }
                else
                {
                    positions[i] = new TranscriptPosition(Convert.ToInt64(sql.FindActivity.Scalar(item.ConversationId, id), System.Globalization.CultureInfo.InvariantCulture), id, true);
                }
            }

            request.Positions = positions;
        }

        if (sql.Notify is { } notify)
        {
            foreach (var conversation in touched)
            {
                notify.Scalar(NotifyChannel, ServiceInstance.Payload(conversation)); // delivered to every listener at commit, not before
            }
        }

        tx.Commit();
        lock (_reserve)
        {
            foreach (var request in batch.Where(r => r.Created))
            {
                _lastSeq.TryAdd(request.NewConversation!.Id, 0); // new and empty: no need to ask the database later
            }
        }
    }

    internal sealed class Request(IReadOnlyList<TranscriptAppend> items, TranscriptConversation? newConversation)
    {
        public IReadOnlyList<TranscriptAppend> Items { get; } = items;

        public TranscriptConversation? NewConversation { get; } = newConversation;

        /// <summary>Other rows to write in the batch's transaction (<see cref="WriteRowsAsync"/>).</summary>
        public Action<DbConnection, DbTransaction>? Rows { get; init; }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TranscriptPosition[]? Reserved { get; set; }

        public TranscriptPosition[]? Positions { get; set; }

        // Each item's JSON once rendered: by the writer, or first by the caller (Direct Line sends it before the commit).
        private string?[]? _json;

        /// <summary>
        /// The <paramref name="i"/>th item's JSON, rendered at most once in practice (two threads asking at the same
        /// instant may both render it; they get the same text).
        /// </summary>
        public string? JsonAt(int i)
        {
            if (Items[i].RenderJson is not { } render)
            {
                return null;
            }

            var slots = Volatile.Read(ref _json);
            if (slots is null)
            {
                Interlocked.CompareExchange(ref _json, new string?[Items.Count], null);
                slots = _json!;
            }

            if (Volatile.Read(ref slots[i]) is { } rendered)
            {
                return rendered;
            }

            var (seq, id, _) = Reserved![i];
            rendered = render(id, seq);
            Volatile.Write(ref slots[i], rendered);
            return rendered;
        }

        public bool Created { get; set; }
    }

    /// <summary>
    /// The writer's own connection, kept open between batches with its statements compiled once: a batch costs its
    /// rows and one commit, not an open, a pragma and five statement compilations. Dropped after any failure, and
    /// when the database file was created again (<see cref="Database.EnsureReady"/>'s generation). The statements are
    /// the same for SQLite and PostgreSQL (quoted identifiers, <c>@p</c> parameters, <c>INSERT … ON CONFLICT</c>).
    /// </summary>
    private sealed class Writer : IDisposable
    {
        private readonly DbConnection _connection;

        private Writer(DbConnection connection, bool sqlite, int generation)
        {
            _connection = connection;
            Generation = generation;
            TouchConversation = new(connection, """
                INSERT INTO conversations ("Id", "Channel", "UserId", "CreatedAt", "LastActivityAt") VALUES (@p0, @p1, @p2, @p3, @p3)
                ON CONFLICT ("Id") DO UPDATE SET "LastActivityAt" = excluded."LastActivityAt"
                """);
            CreateConversation = new(connection, """
                INSERT INTO conversations ("Id", "Channel", "UserId", "CreatedAt", "LastActivityAt") VALUES (@p0, @p1, @p2, @p3, @p3)
                ON CONFLICT ("Id") DO NOTHING
                """);
            FindActivity = new(connection, """
                SELECT "Seq" FROM messages WHERE "ConversationId" = @p0 AND "ActivityId" = @p1
                """);
            UpsertActivity = new(connection, """
                INSERT INTO messages ("ConversationId", "ActivityId", "Role", "Text", "CreatedAt", "Seq", "Type", "ActivityJson")
                VALUES (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7)
                ON CONFLICT ("ConversationId", "ActivityId") DO UPDATE SET "Seq" = excluded."Seq", "Type" = excluded."Type",
                    "ActivityJson" = excluded."ActivityJson" WHERE messages."Seq" IS NULL
                """);
            Notify = sqlite ? null : new(connection, "SELECT pg_notify(@p0, @p1)");
        }

        public int Generation { get; }

        public Statement TouchConversation { get; }

        public Statement CreateConversation { get; }

        public Statement FindActivity { get; }

        public Statement UpsertActivity { get; }

        /// <summary>PostgreSQL only: tells the other instances which conversations a commit wrote.</summary>
        public Statement? Notify { get; }

        [MethodImpl(MethodImplOptions.NoInlining)] // so that SQLite never loads Npgsql
        private static DbConnection PostgreSqlConnection(string connectionString) => new NpgsqlConnection(connectionString);

        public static Writer Open(bool sqlite, string connectionString, string sessionSetup, int generation)
        {
            DbConnection connection = sqlite ? new SqliteConnection(connectionString) : PostgreSqlConnection(connectionString);
            try
            {
                connection.Open();
                using (var setup = connection.CreateCommand())
                {
                    setup.CommandText = sessionSetup;
                    setup.ExecuteNonQuery();
                }

                return new Writer(connection, sqlite, generation);
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }

        public DbConnection Connection => _connection;

        public DbTransaction Begin()
        {
            var tx = _connection.BeginTransaction();
            TouchConversation.Enlist(tx);
            CreateConversation.Enlist(tx);
            FindActivity.Enlist(tx);
            UpsertActivity.Enlist(tx);
            Notify?.Enlist(tx);
            return tx;
        }

        public void Dispose()
        {
            TouchConversation.Dispose();
            CreateConversation.Dispose();
            FindActivity.Dispose();
            UpsertActivity.Dispose();
            Notify?.Dispose();
            _connection.Dispose(); // back to its pool, which Database.Invalidate clears when the database is in doubt
        }
    }

    /// <summary>
    /// A statement of the writer's, compiled once. On SQLite a <see cref="SqliteRawStatement"/>: its parameters bound by
    /// position, not looked up by name on every run as a <see cref="DbCommand"/> does (the largest part of the writer's
    /// CPU under the <c>/api/messages</c> load, docs/benchmarks.md). On PostgreSQL a command prepared by Npgsql.
    /// </summary>
    private sealed class Statement : IDisposable
    {
        private readonly DbCommand? _command;
        private readonly SqliteRawStatement? _raw;

        public Statement(DbConnection connection, string sql)
        {
            var names = new List<string>();
            for (var i = 0; i < 8 && sql.Contains($"@p{i}", StringComparison.Ordinal); i++)
            {
                names.Add($"@p{i}");
            }

            if (connection is SqliteConnection sqlite)
            {
                _raw = new SqliteRawStatement(sqlite, sql, names);
                return;
            }

            _command = connection.CreateCommand();
            _command.CommandText = sql;
            foreach (var name in names)
            {
                var parameter = _command.CreateParameter();
                parameter.ParameterName = name;
                _command.Parameters.Add(parameter);
            }
        }

        public void Enlist(DbTransaction tx)
        {
            if (_command is not null)
            {
                _command.Transaction = tx; // a raw SQLite statement runs in the connection's open transaction
            }
        }

        private void Bind(object[] values)
        {
            for (var i = 0; i < values.Length; i++)
            {
                _command!.Parameters[i].Value = values[i];
            }
        }

        public int Run(params object[] values)
        {
            if (_raw is not null)
            {
                return _raw.Run(values);
            }

            Bind(values);
            return _command!.ExecuteNonQuery();
        }

        public object? Scalar(params object[] values)
        {
            if (_raw is not null)
            {
                return _raw.Scalar(values);
            }

            Bind(values);
            return _command!.ExecuteScalar();
        }

        public void Dispose()
        {
            _command?.Dispose();
            _raw?.Dispose();
        }
    }

    [LoggerMessage(2201, LogLevel.Trace, "Transcript: {Requests} requests, {Activities} activities committed in {Ms:F2} ms")]
    private static partial void BatchWritten(ILogger logger, int requests, int activities, double ms);

    [LoggerMessage(2203, LogLevel.Warning, "Transcript: the writer's database session failed ({Error}: {Detail}); writing the batch again on a new one")]
    private static partial void SessionLost(ILogger logger, string error, string detail);

    [LoggerMessage(2204, LogLevel.Warning, "Transcript: reserving sequence numbers failed on a pooled session ({Error}: {Detail}); trying once more on a new one")]
    private static partial void ReservationSessionLost(ILogger logger, string error, string detail);

    [LoggerMessage(2205, LogLevel.Warning, "Transcript: the database cannot be reached ({Error}: {Detail}); trying again in {DelayMs} ms")]
    private static partial void ServerUnreachable(ILogger logger, string error, string detail, int delayMs);

    [LoggerMessage(2202, LogLevel.Error, "Transcript: a batch of {Requests} requests could not be written ({Error}: {Detail})")]
    private static partial void WriteFailed(ILogger logger, int requests, string error, string detail);
}
