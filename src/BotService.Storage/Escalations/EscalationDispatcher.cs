using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using BotService.Storage.Data;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BotService.Storage.Escalations;

/// <summary>Timeouts and backoff of the escalation path (configuration section <c>Escalations</c>).</summary>
public sealed class EscalationOptions
{
    public const string SectionName = "Escalations";

    /// <summary>How long the request path waits for the outbox write before replying anyway.</summary>
    public TimeSpan OutboxWriteBudget { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How long one notifier may take before it counts as failed (and is tried again later).</summary>
    public TimeSpan NotifierTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan FirstRetry { get; set; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxRetry { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>An escalation still not landed after this long makes the health check report it.</summary>
    public TimeSpan OverdueAfter { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>What the escalation path is doing, for /healthz.</summary>
public sealed record EscalationHealth(
    int Pending,
    TimeSpan OldestPending,
    string? OutboxError,
    string? DatabaseError,
    IReadOnlyDictionary<string, string> NotifierErrors);

/// <summary>
/// Takes escalations from the safety path and makes sure each one lands exactly once: first in the outbox file
/// (fsync'd), then in the database, then with every notifier; each step is retried with backoff until it succeeds,
/// across restarts (the outbox is replayed at start). <see cref="Submit"/> never throws and never waits longer than
/// <see cref="EscalationOptions.OutboxWriteBudget"/>, so the crisis reply is never held up.
/// </summary>
public sealed partial class EscalationDispatcher : BackgroundService
{
    private readonly EscalationOutbox _outbox;
    private readonly Database _database;
    private readonly IReadOnlyList<IEscalationNotifier> _notifiers;
    private readonly EscalationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _notifierErrors = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private string? _outboxError;
    private string? _databaseError;

    public EscalationDispatcher(EscalationOutbox outbox, Database database, IEnumerable<IEscalationNotifier> notifiers,
        EscalationOptions options, TimeProvider time, ILogger<EscalationDispatcher> log)
    {
        _outbox = outbox;
        _database = database;
        _notifiers = notifiers.ToArray();
        _options = options;
        _time = time;
        _log = log;
    }

    /// <summary>
    /// Accepts an escalation. Returns true when it is already on disk in the outbox, false when it is held in memory
    /// only for now (the disk refused it); either way it is retried until it lands.
    /// </summary>
    public bool Submit(Escalation escalation)
    {
        var item = new Pending(escalation, _time.GetUtcNow());
        if (!_pending.TryAdd(escalation.Key, item))
        {
            return _pending.TryGetValue(escalation.Key, out var existing) && existing.InOutbox;
        }

        // Written on the caller's thread (a hop to the thread pool costs milliseconds on an idle machine), but never
        // waiting longer than the budget for a write that another request has stuck on a hung disk.
        bool durable;
        try
        {
            durable = _outbox.TryAppend(escalation, _options.OutboxWriteBudget);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            OutboxFailed(e);
            durable = false;
        }

        if (durable)
        {
            item.InOutbox = true;
            _outboxError = null;
        }

        Accepted(_log, escalation.Key, escalation.Level, string.Join(',', escalation.Reasons.Select(r => r.Rule).Distinct()),
            escalation.Channel, durable);
        _wake.Release();
        return durable;
    }

    public EscalationHealth Health()
    {
        var now = _time.GetUtcNow();
        var oldest = _pending.Values.Select(p => now - p.AcceptedAt).DefaultIfEmpty(TimeSpan.Zero).Max();
        return new EscalationHealth(_pending.Count, oldest, _outboxError, _databaseError,
            new Dictionary<string, string>(_notifierErrors));
    }

    /// <summary>True when nothing is waiting (tests and shutdown).</summary>
    public bool IsIdle => _pending.IsEmpty;

    /// <summary>Reloads what the outbox holds before the host counts the service as started.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Replay();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = _time.GetUtcNow();
            var wait = Timeout.InfiniteTimeSpan;
            foreach (var item in _pending.Values.OrderByDescending(p => p.Escalation.Level).ThenBy(p => p.AcceptedAt))
            {
                if (item.NextAttempt > now)
                {
                    wait = Min(wait, item.NextAttempt - now);
                    continue;
                }

                try
                {
                    await ProcessAsync(item, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Every step catches its own failures; this is the last line, so one bad item can never stop
                    // the worker (a dead worker would be a silent failure).
                    WorkerStepFailed(_log, item.Escalation.Key, e.GetType().Name);
                    item.NextAttempt = _time.GetUtcNow() + _options.MaxRetry;
                }
                if (_pending.ContainsKey(item.Escalation.Key))
                {
                    wait = Min(wait, item.NextAttempt - _time.GetUtcNow());
                }
            }

            try
            {
                await _wake.WaitAsync(wait == Timeout.InfiniteTimeSpan ? wait : wait < TimeSpan.Zero ? TimeSpan.Zero : wait, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private void Replay()
    {
        try
        {
            var replayed = 0;
            foreach (var e in _outbox.ReadPending())
            {
                if (_pending.TryAdd(e.Key, new Pending(e, _time.GetUtcNow()) { InOutbox = true }))
                {
                    replayed++;
                }
            }

            if (replayed > 0)
            {
                Replayed(_log, replayed);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            OutboxFailed(e);
        }
    }

    private async Task ProcessAsync(Pending item, CancellationToken stoppingToken)
    {
        var e = item.Escalation;
        var failed = false;
        if (!item.InOutbox)
        {
            try
            {
                _outbox.Append(e);
                item.InOutbox = true;
                _outboxError = null;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                OutboxFailed(ex);
                failed = true;
            }
        }

        if (!item.Stored)
        {
            try
            {
                // The transcript may store the conversation or the message concurrently: StoreAsync's inserts give
                // way to rows already there, so that race needs no second attempt.
                await StoreAsync(item, stoppingToken);
                item.Stored = true;
                _databaseError = null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                DatabaseFailed(ex);
                _database.Invalidate();
                failed = true;
            }
        }

        if (item.Stored)
        {
            var waiting = _notifiers.Where(n => !item.Delivered.Contains(n.Name)).ToArray();
            var results = await Task.WhenAll(waiting.Select(n => NotifyAsync(n, item, stoppingToken)));
            failed |= results.Contains(false);
        }

        if (item.InOutbox && item.Stored && item.Delivered.Count >= _notifiers.Count)
        {
            try
            {
                _outbox.MarkDone(e.Key);
                _pending.TryRemove(e.Key, out _);
                Landed(_log, e.Key, (_time.GetUtcNow() - item.AcceptedAt).TotalMilliseconds);
                _outbox.CompactIfLarge();
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                OutboxFailed(ex);
                failed = true;
            }
        }

        if (failed)
        {
            item.Attempts++;
            var backoff = TimeSpan.FromTicks(Math.Min(_options.MaxRetry.Ticks,
                _options.FirstRetry.Ticks * (1L << Math.Min(item.Attempts - 1, 16))));
            var jitter = TimeSpan.FromTicks((long)(backoff.Ticks * 0.2 * Random.Shared.NextDouble()));
            item.NextAttempt = _time.GetUtcNow() + backoff + jitter;
        }
    }

    /// <summary>
    /// Stores the escalation with its conversation and message unless it is stored already, then reads which notifiers
    /// have delivered it. Plain SQL for both providers (decision 0031): each insert gives way to a row that is there
    /// (another instance, or an earlier attempt whose commit landed), so a race leaves one escalation per key.
    /// </summary>
    private async Task StoreAsync(Pending item, CancellationToken cancellationToken)
    {
        var e = item.Escalation;
        _database.EnsureReady();
        await using var connection = await _database.OpenConnectionAsync(cancellationToken);
        if (!await IsStoredAsync(connection, e.Key, cancellationToken))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = """
                    INSERT INTO conversations ("Id", "Channel", "CreatedAt", "LastActivityAt") VALUES (@conversation, @channel, @at, @at)
                    ON CONFLICT ("Id") DO UPDATE SET "LastActivityAt" = excluded."LastActivityAt"
                    WHERE conversations."LastActivityAt" < excluded."LastActivityAt";
                    INSERT INTO messages ("ConversationId", "ActivityId", "Role", "Text", "CreatedAt", "Type") VALUES (@conversation, @activity, 'visitor', @text, @at, 'message')
                    ON CONFLICT ("ConversationId", "ActivityId") DO NOTHING;
                    INSERT INTO escalations ("Id", "Key", "ConversationId", "MessageActivityId", "Channel", "Level", "ReasonsJson", "CreatedAt", "Status", "ReopenCount")
                    VALUES (@id, @key, @conversation, @activity, @channel, @level, @reasons, @at, 'open', 0)
                    ON CONFLICT ("Key") DO NOTHING;
                    """;
                command.AddParameter("@conversation", e.ConversationId);
                command.AddParameter("@channel", e.Channel);
                command.AddParameter("@at", _database.TimeToDb(e.CreatedAt));
                command.AddParameter("@activity", e.MessageActivityId);
                command.AddParameter("@text", StoredText.Of(e.MessageText));
                command.AddParameter("@id", _database.GuidToDb(Guid.NewGuid()));
                command.AddParameter("@key", e.Key);
                command.AddParameter("@level", e.Level == EscalationLevel.Emergency ? "emergency" : "urgent");
                command.AddParameter("@reasons", JsonSerializer.Serialize(
                    e.Reasons.Select(r => new ReasonJson(r.Rule, r.Level == EscalationLevel.Emergency ? "emergency" : "urgent", r.Start, r.Length)).ToArray(),
                    StorageJsonContext.Default.ReasonJsonArray));
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        await using var read = connection.CreateCommand();
        read.CommandText = "SELECT \"Notifier\" FROM escalation_deliveries WHERE \"EscalationKey\" = @key";
        read.AddParameter("@key", e.Key);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            item.Delivered.Add(reader.GetString(0));
        }
    }

    private static async Task<bool> IsStoredAsync(DbConnection connection, string key, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM escalations WHERE \"Key\" = @key";
        command.AddParameter("@key", key);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) > 0;
    }

    private async Task<bool> NotifyAsync(IEscalationNotifier notifier, Pending item, CancellationToken stoppingToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(_options.NotifierTimeout);
            await notifier.NotifyAsync(item.Escalation, timeout.Token).WaitAsync(_options.NotifierTimeout, _time, stoppingToken);
            await using (var connection = await _database.OpenConnectionAsync(stoppingToken))
            await using (var command = connection.CreateCommand())
            {
                // Recorded already (a previous attempt's write landed): nothing to do.
                command.CommandText = """
                    INSERT INTO escalation_deliveries ("EscalationKey", "Notifier", "DeliveredAt") VALUES (@key, @notifier, @at)
                    ON CONFLICT ("EscalationKey", "Notifier") DO NOTHING
                    """;
                command.AddParameter("@key", item.Escalation.Key);
                command.AddParameter("@notifier", notifier.Name);
                command.AddParameter("@at", _database.TimeToDb(_time.GetUtcNow()));
                await command.ExecuteNonQueryAsync(stoppingToken);
            }

            item.Delivered.Add(notifier.Name);
            _notifierErrors.TryRemove(notifier.Name, out _);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            _notifierErrors[notifier.Name] = Describe(ex);
            NotifierFailed(_log, notifier.Name, item.Escalation.Key, ex.GetType().Name);
            return false;
        }
    }

    private void OutboxFailed(Exception e)
    {
        _outboxError = Describe(e);
        OutboxWriteFailed(_log, e.GetType().Name, e.Message);
    }

    private void DatabaseFailed(Exception e)
    {
        _databaseError = Describe(e);
        DatabaseWriteFailed(_log, e.GetType().Name, e.Message);
    }

    // Exception messages from I/O, SQLite and PostgreSQL name files and error codes, never message text.
    private static string Describe(Exception e) => $"{e.GetType().Name}: {(e.InnerException ?? e).Message}";

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a == Timeout.InfiniteTimeSpan ? b : b < a ? b : a;

    private sealed class Pending(Escalation escalation, DateTimeOffset acceptedAt)
    {
        public Escalation Escalation { get; } = escalation;

        public DateTimeOffset AcceptedAt { get; } = acceptedAt;

        public volatile bool InOutbox;

        public bool Stored { get; set; }

        public HashSet<string> Delivered { get; } = new(StringComparer.Ordinal);

        public int Attempts { get; set; }

        public DateTimeOffset NextAttempt { get; set; }
    }

    [LoggerMessage(5001, LogLevel.Warning, "Escalation {Key} accepted: {Level} ({Rules}) on {Channel}; on disk: {Durable}")]
    private static partial void Accepted(ILogger logger, string key, EscalationLevel level, string rules, string channel, bool durable);

    [LoggerMessage(5002, LogLevel.Information, "Escalation {Key} landed in {Ms:F0} ms")]
    private static partial void Landed(ILogger logger, string key, double ms);

    [LoggerMessage(5003, LogLevel.Error, "Escalation outbox write failed ({Error}: {Detail}); escalations are held in memory and retried")]
    private static partial void OutboxWriteFailed(ILogger logger, string error, string detail);

    [LoggerMessage(5004, LogLevel.Error, "Escalation database write failed ({Error}: {Detail}); retrying with backoff")]
    private static partial void DatabaseWriteFailed(ILogger logger, string error, string detail);

    [LoggerMessage(5005, LogLevel.Error, "Notifier {Notifier} failed for escalation {Key} ({Error}); retrying with backoff")]
    private static partial void NotifierFailed(ILogger logger, string notifier, string key, string error);

    [LoggerMessage(5007, LogLevel.Critical, "Escalation {Key}: unexpected {Error} in the dispatcher; retrying later")]
    private static partial void WorkerStepFailed(ILogger logger, string key, string error);

    [LoggerMessage(5006, LogLevel.Warning, "Replayed {Count} escalations from the outbox")]
    private static partial void Replayed(ILogger logger, int count);
}

internal sealed record ReasonJson(string Rule, string Level, int Start, int Length);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ReasonJson[]))]
internal sealed partial class StorageJsonContext : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Tells the operator's log about every escalation (no message text), whatever else is configured.</summary>
public sealed partial class LogEscalationNotifier(ILogger<LogEscalationNotifier> log) : IEscalationNotifier
{
    public string Name => "log";

    public Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken)
    {
        Escalated(log, escalation.Level, escalation.Key, escalation.ConversationId, escalation.Channel,
            string.Join(',', escalation.Reasons.Select(r => r.Rule).Distinct()));
        return Task.CompletedTask;
    }

    [LoggerMessage(5100, LogLevel.Warning, "ESCALATION {Level} {Key}: conversation {ConversationId} on {Channel}, rules {Rules}")]
    private static partial void Escalated(ILogger logger, EscalationLevel level, string key, string conversationId, string channel, string rules);
}
