using System.Collections.Concurrent;
using System.Text.Json;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
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
                try
                {
                    await StoreAsync(item, stoppingToken);
                }
                catch (DbUpdateException)
                {
                    // The transcript may have stored the conversation or the message between our look-up and our
                    // insert (it writes them concurrently): look again at once rather than after a backoff.
                    await StoreAsync(item, stoppingToken);
                }
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

    private async Task StoreAsync(Pending item, CancellationToken cancellationToken)
    {
        var e = item.Escalation;
        _database.EnsureReady();
        await using var db = _database.Open();
        if (!await db.Escalations.AnyAsync(x => x.Key == e.Key, cancellationToken))
        {
            var conversation = await db.Conversations.FindAsync([e.ConversationId], cancellationToken);
            if (conversation is null)
            {
                db.Conversations.Add(new ConversationRecord
                {
                    Id = e.ConversationId, Channel = e.Channel, CreatedAt = e.CreatedAt, LastActivityAt = e.CreatedAt,
                });
            }
            else if (conversation.LastActivityAt < e.CreatedAt)
            {
                conversation.LastActivityAt = e.CreatedAt;
            }

            if (!await db.Messages.AnyAsync(m => m.ConversationId == e.ConversationId && m.ActivityId == e.MessageActivityId, cancellationToken))
            {
                db.Messages.Add(new MessageRecord
                {
                    ConversationId = e.ConversationId, ActivityId = e.MessageActivityId, Role = "visitor", Text = StoredText.Of(e.MessageText),
                    CreatedAt = e.CreatedAt,
                });
            }

            db.Escalations.Add(new EscalationRecord
            {
                Id = Guid.NewGuid(),
                Key = e.Key,
                ConversationId = e.ConversationId,
                MessageActivityId = e.MessageActivityId,
                Channel = e.Channel,
                Level = e.Level == EscalationLevel.Emergency ? "emergency" : "urgent",
                ReasonsJson = JsonSerializer.Serialize(e.Reasons.Select(r => new ReasonJson(r.Rule, r.Level == EscalationLevel.Emergency ? "emergency" : "urgent", r.Start, r.Length)).ToArray(),
                    StorageJsonContext.Default.ReasonJsonArray),
                CreatedAt = e.CreatedAt,
                Status = "open",
            });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Another instance may have stored it first: then the unique key did its job.
                if (!await AlreadyStoredAsync(e.Key, cancellationToken))
                {
                    throw;
                }
            }
        }

        await using var read = _database.Open();
        foreach (var name in await read.EscalationDeliveries.Where(d => d.EscalationKey == e.Key).Select(d => d.Notifier).ToListAsync(cancellationToken))
        {
            item.Delivered.Add(name);
        }
    }

    private async Task<bool> AlreadyStoredAsync(string key, CancellationToken cancellationToken)
    {
        await using var db = _database.Open();
        return await db.Escalations.AnyAsync(x => x.Key == key, cancellationToken);
    }

    private async Task<bool> NotifyAsync(IEscalationNotifier notifier, Pending item, CancellationToken stoppingToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(_options.NotifierTimeout);
            await notifier.NotifyAsync(item.Escalation, timeout.Token).WaitAsync(_options.NotifierTimeout, _time, stoppingToken);
            await using (var db = _database.Open())
            {
                db.EscalationDeliveries.Add(new EscalationDeliveryRecord
                {
                    EscalationKey = item.Escalation.Key, Notifier = notifier.Name, DeliveredAt = _time.GetUtcNow(),
                });
                try
                {
                    await db.SaveChangesAsync(stoppingToken);
                }
                catch (DbUpdateException)
                {
                    // Recorded already (a previous attempt's write landed): fine.
                }
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
