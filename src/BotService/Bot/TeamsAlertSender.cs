using System.Collections.Concurrent;
using System.Net;
using BotService.Dashboard;
using BotService.Protocol.Authentication;
using BotService.Protocol.Connector;
using BotService.Protocol.Schema;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace BotService.Bot;

/// <summary>What the Teams sender is doing, for /healthz.</summary>
internal sealed record TeamsSenderHealth(int WaitingAlerts, bool NoChannel, string? ConnectorError, TimeSpan FailingFor);

/// <summary>
/// Everything the service posts to the Teams staff channel, from the database, in one place and one order: queued
/// alerts (emergencies first, then oldest) to the configured channel, else the learned one (with neither they wait,
/// said once in the log and on /healthz), overdue re-alerts (a reply in the alert's thread), then cards whose
/// escalation has changed since they were posted (claimed, resolved, reopened: updated in place with a PUT). It
/// compares what each card shows with the escalation's row, so an update cannot be lost: the dashboard's action is
/// committed before the sender is woken, nothing else needs to be remembered, and after a restart or an outage the
/// next pass finds whatever is still out of date. Neither the dispatcher (whose notifier only queues) nor the
/// dashboard ever waits on it.
/// <para>
/// A Connector that fails (5xx, 429, a timeout, no token; each call already retried within the resilience handler)
/// pauses the whole pass with backoff (<c>Escalations:FirstRetry</c> doubling up to <c>Escalations:MaxRetry</c>), so an
/// outage costs one probe per backoff, not one per waiting alert, and everything goes out, once, when it is back. An
/// alert is never dropped: if the Connector refuses it, it is retried the same way. An update or re-alert the
/// Connector refuses for good (4xx: the message was deleted, the bot was removed) is recorded and not tried again.
/// </para>
/// </summary>
internal sealed partial class TeamsAlertSender : BackgroundService, IEscalationChangeListener, IOverdueListener
{
    private const int Batch = 50;
    private static readonly TimeSpan Rescan = TimeSpan.FromSeconds(30);

    private readonly Database _database;
    private readonly IServiceProvider _services;
    private readonly TeamsAlertChannels _channels;
    private readonly TrustedServiceUrls _trusted;
    private readonly IOptions<TeamsOptions> _teams;
    private readonly EscalationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _wake = new(0);

    /// <summary>Alerts the Connector took whose record has not reached the database yet: never posted twice for that.</summary>
    private readonly ConcurrentDictionary<Guid, Posted> _unrecorded = new();

    private int _failures;
    private DateTimeOffset _retryAt;
    private long _failingSinceTicks; // 0: not failing; read by /healthz from another thread
    private volatile string? _connectorError;
    private volatile int _waiting;
    private volatile bool _noChannel;
    private bool _toldNoChannel;

    private readonly Hosting.InstanceSignals? _signals;
    private readonly Hosting.SingleInstanceWork? _single;

    public TeamsAlertSender(Database database, IServiceProvider services, TeamsAlertChannels channels, TrustedServiceUrls trusted,
        IOptions<TeamsOptions> teams, IOptions<EscalationOptions> options, TimeProvider time, ILogger<TeamsAlertSender> log,
        Hosting.InstanceSignals? signals = null, Hosting.SingleInstanceWork? single = null)
    {
        // Several instances (decision 0017): only the holder of the single-instance lock sends; the others' wake-ups
        // reach it through the database's notifications, and it looks again when it takes the lock over.
        _signals = signals;
        _single = single;
        if (signals is { Enabled: true })
        {
            signals.Received += (channel, _) =>
            {
                if (channel is Hosting.InstanceSignals.TeamsChannel or Hosting.InstanceSignals.EscalationChannel)
                {
                    WakeHere();
                }
            };
        }

        if (single is not null)
        {
            single.Acquired += WakeHere;
        }

        _database = database;
        _services = services;
        _channels = channels;
        _trusted = trusted;
        _teams = teams;
        _options = options.Value;
        _time = time;
        _log = log;
        channels.Changed += Wake;
    }

    /// <summary>Something may be waiting: run a pass soon (not before a backoff in progress ends), here or on the
    /// instance that sends.</summary>
    public void Wake()
    {
        WakeHere();
        if (_single is { IsHeld: false })
        {
            _signals?.Send(Hosting.InstanceSignals.TeamsChannel, "wake");
        }
    }

    private void WakeHere()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    public void Changed(Guid escalationId) => Wake();

    /// <summary>
    /// Records that this emergency is overdue in its current open stretch, once (the key is the escalation and its
    /// <see cref="EscalationRecord.ReopenCount"/>), so however often the watch calls, and across restarts, one
    /// re-alert is posted.
    /// </summary>
    public async Task OverdueAsync(EscalationRecord escalation, CancellationToken cancellationToken)
    {
        await using (var db = _database.Open())
        {
            if (!await db.TeamsOverdueAlerts.AnyAsync(o => o.EscalationId == escalation.Id && o.Episode == escalation.ReopenCount, cancellationToken))
            {
                db.TeamsOverdueAlerts.Add(new TeamsOverdueAlertRecord
                {
                    EscalationId = escalation.Id, Episode = escalation.ReopenCount, State = TeamsOverdueAlertRecord.Due, DueAt = _time.GetUtcNow(),
                });
                try
                {
                    await db.SaveChangesAsync(cancellationToken);
                }
                catch (DbUpdateException)
                {
                    // recorded by an earlier call whose answer was lost: fine
                }
            }
        }

        Wake();
    }

    public TeamsSenderHealth Health() =>
        new(_waiting, _noChannel, _connectorError,
            Volatile.Read(ref _failingSinceTicks) is var since and > 0 ? _time.GetUtcNow() - new DateTimeOffset(since, TimeSpan.Zero) : TimeSpan.Zero);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = Rescan;
            var now = _time.GetUtcNow();
            if (now < _retryAt)
            {
                wait = _retryAt - now; // a wake-up during a backoff does not cut it short
            }
            else if (_single is { IsHeld: false })
            {
                // Another instance sends; this one waits to be woken (it may take the lock over).
                _waiting = 0;
                _noChannel = false;
            }
            else
            {
                bool more;
                try
                {
                    more = await PassAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // The database, most likely: the queue is in it, so wait and look again.
                    StepFailed(_log, e.GetType().Name);
                    _database.Invalidate();
                    Backoff(e.GetType().Name);
                    more = false;
                }

                if (more)
                {
                    continue;
                }

                if (_retryAt > _time.GetUtcNow())
                {
                    wait = _retryAt - _time.GetUtcNow();
                }
            }

            try
            {
                await _wake.WaitAsync(wait, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One pass over the queue; true when a batch was full and another pass should follow at once.</summary>
    private async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        _database.EnsureReady();
        var connector = _services.GetRequiredService<ConnectorClient>(); // per pass: the factory rotates its handlers
        var publicBaseUrl = _teams.Value.PublicBaseUrl;
        var target = await _channels.CurrentAsync(cancellationToken);

        // 1. Alerts not posted yet.
        List<(TeamsAlertRecord Alert, EscalationRecord Escalation)> queued;
        await using (var db = _database.Open())
        {
            queued = (await (from a in db.TeamsAlerts.AsNoTracking()
                             where a.State == TeamsAlertRecord.Queued
                             join e in db.Escalations.AsNoTracking() on a.EscalationId equals e.Id
                             orderby e.Level == "emergency" descending, a.QueuedAt
                             select new { a, e }).Take(Batch).ToListAsync(cancellationToken))
                .Select(x => (x.a, x.e)).ToList();
        }

        var progress = 0; // rows settled this pass: a full batch with none settled must not make the worker spin
        foreach (var (alert, escalation) in queued)
        {
            if (_unrecorded.TryGetValue(alert.EscalationId, out var posted))
            {
                await RecordPostedAsync(posted, cancellationToken);
                progress++;
                continue;
            }

            if (escalation.Status == EscalationBoard.Resolved)
            {
                // Resolved before it could be posted: nothing left for the channel to act on (the dashboard has it all).
                await SetAlertStateAsync(alert.EscalationId, TeamsAlertRecord.Skipped, cancellationToken);
                progress++;
                continue;
            }

            if (target is null)
            {
                continue; // waits for a channel
            }

            // Stored only from configuration or an installation authenticated by the channel's token: trusted.
            _trusted.Add(target.ServiceUrl);
            var activity = TeamsAlertCards.Alert(escalation, publicBaseUrl) with
            {
                ServiceUrl = target.ServiceUrl,
                ChannelId = TeamsActivity.ChannelId,
                Conversation = new ConversationAccount { Id = target.ConversationId, IsGroup = true, ConversationType = "channel", TenantId = target.TenantId },
            };
            var result = await CallAsync(c => connector.SendAsync(activity, c), cancellationToken);
            if (!result.Sent)
            {
                return Failed(result.Error!, "alert"); // an alert is never dropped: even a 4xx waits and is tried again
            }

            var record = new Posted(escalation, target.ServiceUrl, target.ConversationId, result.Id, _time.GetUtcNow());
            _unrecorded[alert.EscalationId] = record;
            await RecordPostedAsync(record, cancellationToken);
            progress++;
            AlertPosted(_log, escalation.Id);
        }

        int waiting;
        await using (var db = _database.Open())
        {
            waiting = await db.TeamsAlerts.CountAsync(a => a.State == TeamsAlertRecord.Queued, cancellationToken);
        }

        _waiting = waiting;
        _noChannel = target is null && waiting > 0;
        if (_noChannel && !_toldNoChannel)
        {
            _toldNoChannel = true;
            NoChannel(_log, waiting);
        }
        else if (target is not null)
        {
            _toldNoChannel = false;
        }

        // 2. Overdue re-alerts, as replies in the alert's thread.
        List<(TeamsOverdueAlertRecord Overdue, TeamsAlertRecord Alert, EscalationRecord Escalation)> due;
        await using (var db = _database.Open())
        {
            due = (await (from o in db.TeamsOverdueAlerts.AsNoTracking()
                          where o.State == TeamsOverdueAlertRecord.Due
                          join a in db.TeamsAlerts.AsNoTracking() on o.EscalationId equals a.EscalationId
                          join e in db.Escalations.AsNoTracking() on o.EscalationId equals e.Id
                          orderby o.DueAt
                          select new { o, a, e }).Take(Batch).ToListAsync(cancellationToken))
                .Select(x => (x.o, x.a, x.e)).ToList();
        }

        foreach (var (overdue, alert, escalation) in due)
        {
            if (escalation.Status != EscalationBoard.Open || escalation.ReopenCount != overdue.Episode || alert.State == TeamsAlertRecord.Skipped)
            {
                // Claimed or resolved since, or a later open stretch (it has its own), or its alert was never posted.
                await SetOverdueStateAsync(overdue, TeamsOverdueAlertRecord.Skipped, null, cancellationToken);
                progress++;
                continue;
            }

            if (alert.State != TeamsAlertRecord.Posted || alert.ServiceUrl is null || alert.ConversationId is null)
            {
                continue; // the alert itself goes first
            }

            _trusted.Add(alert.ServiceUrl); // where this bot posted the alert with its token
            var activity = TeamsAlertCards.Overdue(escalation, _time.GetUtcNow(), publicBaseUrl) with
            {
                ServiceUrl = alert.ServiceUrl,
                ChannelId = TeamsActivity.ChannelId,
                Conversation = new ConversationAccount { Id = alert.ConversationId, IsGroup = true, ConversationType = "channel" },
                ReplyToId = alert.ActivityId, // the thread; without an id, a new post in the channel
            };
            var result = await CallAsync(c => connector.SendAsync(activity, c), cancellationToken);
            if (result.Permanent)
            {
                await SetOverdueStateAsync(overdue, TeamsOverdueAlertRecord.Failed, null, cancellationToken);
                progress++;
                GaveUp(_log, "overdue re-alert", escalation.Id, result.Error!);
                continue;
            }

            if (!result.Sent)
            {
                return Failed(result.Error!, "overdue re-alert");
            }

            await SetOverdueStateAsync(overdue, TeamsOverdueAlertRecord.Posted, result.Id, cancellationToken);
            progress++;
            OverduePosted(_log, escalation.Id);
        }

        // 3. Cards whose escalation changed since they were posted or last updated.
        List<(TeamsAlertRecord Alert, EscalationRecord Escalation)> stale;
        await using (var db = _database.Open())
        {
            stale = (await (from a in db.TeamsAlerts.AsNoTracking()
                            where a.State == TeamsAlertRecord.Posted && a.ActivityId != null && a.UpdateError == null
                            join e in db.Escalations.AsNoTracking() on a.EscalationId equals e.Id
                            where a.ShownStatus != e.Status || a.ShownOwner != e.ClaimedByName || a.ShownOutcome != e.Outcome
                                  || a.ShownReopenCount != e.ReopenCount
                            select new { a, e }).Take(Batch).ToListAsync(cancellationToken))
                .Select(x => (x.a, x.e)).ToList();
        }

        foreach (var (alert, escalation) in stale)
        {
            _trusted.Add(alert.ServiceUrl!); // where this bot posted the alert with its token
            var activity = TeamsAlertCards.Alert(escalation, publicBaseUrl) with
            {
                Id = alert.ActivityId,
                ServiceUrl = alert.ServiceUrl,
                ChannelId = TeamsActivity.ChannelId,
                Conversation = new ConversationAccount { Id = alert.ConversationId, IsGroup = true, ConversationType = "channel" },
            };
            var result = await CallAsync(c => connector.UpdateAsync(activity, c), cancellationToken);
            if (result.Permanent)
            {
                await using var db = _database.Open();
                await db.TeamsAlerts.Where(a => a.EscalationId == alert.EscalationId)
                    .ExecuteUpdateAsync(s => s.SetProperty(a => a.UpdateError, result.Error), cancellationToken);
                GaveUp(_log, "card update", escalation.Id, result.Error!);
                progress++;
                continue;
            }

            if (!result.Sent)
            {
                return Failed(result.Error!, "card update");
            }

            await using (var db = _database.Open())
            {
                // What this card now shows: the escalation as read before the PUT. A change since then makes it stale again.
                await db.TeamsAlerts.Where(a => a.EscalationId == alert.EscalationId).ExecuteUpdateAsync(s => s
                    .SetProperty(a => a.ShownStatus, escalation.Status)
                    .SetProperty(a => a.ShownOwner, escalation.ClaimedByName)
                    .SetProperty(a => a.ShownOutcome, escalation.Outcome)
                    .SetProperty(a => a.ShownReopenCount, escalation.ReopenCount), cancellationToken);
            }

            progress++;
            CardUpdated(_log, escalation.Id, escalation.Status);
        }

        Recovered();
        return progress > 0 && (queued.Count == Batch || due.Count == Batch || stale.Count == Batch);
    }

    private async Task RecordPostedAsync(Posted posted, CancellationToken cancellationToken)
    {
        var e = posted.Escalation;
        await using (var db = _database.Open())
        {
            await db.TeamsAlerts.Where(a => a.EscalationId == e.Id).ExecuteUpdateAsync(s => s
                .SetProperty(a => a.State, TeamsAlertRecord.Posted)
                .SetProperty(a => a.PostedAt, posted.At)
                .SetProperty(a => a.ServiceUrl, posted.ServiceUrl)
                .SetProperty(a => a.ConversationId, posted.ConversationId)
                .SetProperty(a => a.ActivityId, posted.ActivityId)
                .SetProperty(a => a.UpdateError, posted.ActivityId == null ? "no activity id" : null)
                .SetProperty(a => a.ShownStatus, e.Status)
                .SetProperty(a => a.ShownOwner, e.ClaimedByName)
                .SetProperty(a => a.ShownOutcome, e.Outcome)
                .SetProperty(a => a.ShownReopenCount, e.ReopenCount), cancellationToken);
        }

        _unrecorded.TryRemove(e.Id, out _);
    }

    private async Task SetAlertStateAsync(Guid escalationId, string state, CancellationToken cancellationToken)
    {
        await using var db = _database.Open();
        await db.TeamsAlerts.Where(a => a.EscalationId == escalationId).ExecuteUpdateAsync(s => s.SetProperty(a => a.State, state), cancellationToken);
    }

    private async Task SetOverdueStateAsync(TeamsOverdueAlertRecord overdue, string state, string? activityId, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        await using var db = _database.Open();
        await db.TeamsOverdueAlerts.Where(o => o.EscalationId == overdue.EscalationId && o.Episode == overdue.Episode)
            .ExecuteUpdateAsync(s => s
                .SetProperty(o => o.State, state)
                .SetProperty(o => o.DoneAt, now)
                .SetProperty(o => o.ActivityId, activityId), cancellationToken);
    }

    /// <summary>One Connector call (already retried within the resilience handler), sorted into sent, failing for now, or refused for good.</summary>
    private static async Task<CallResult> CallAsync(Func<CancellationToken, Task<ResourceResponse?>> call, CancellationToken cancellationToken)
    {
        try
        {
            return new CallResult(true, false, (await call(cancellationToken))?.Id, null);
        }
        catch (HttpRequestException e) when (e.StatusCode is { } status && IsRefusal(status))
        {
            return new CallResult(false, true, null, $"HTTP {(int)status}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var error = e is HttpRequestException { StatusCode: { } status } ? $"HTTP {(int)status}" : e.GetType().Name;
            return new CallResult(false, false, null, error);
        }
    }

    /// <summary>
    /// A 4xx that trying again will not fix (the message or conversation is gone, the bot was removed, the body is
    /// refused). Not 401 (our token: fixable by configuration), 408, 412 or 429 (Teams asks for a retry).
    /// </summary>
    private static bool IsRefusal(HttpStatusCode status) =>
        (int)status is >= 400 and < 500 and not (401 or 408 or 412 or 429);

    private bool Failed(string error, string what)
    {
        if (_connectorError is null)
        {
            ConnectorFailing(_log, what, error); // once per outage, not once per attempt
        }

        Backoff(error);
        return false;
    }

    private void Backoff(string error)
    {
        _connectorError = error;
        if (Volatile.Read(ref _failingSinceTicks) == 0)
        {
            Volatile.Write(ref _failingSinceTicks, _time.GetUtcNow().UtcTicks);
        }

        _failures++;
        var backoff = TimeSpan.FromTicks(Math.Min(_options.MaxRetry.Ticks, _options.FirstRetry.Ticks * (1L << Math.Min(_failures - 1, 16))));
        var jitter = TimeSpan.FromTicks((long)(backoff.Ticks * 0.2 * Random.Shared.NextDouble()));
        _retryAt = _time.GetUtcNow() + backoff + jitter;
    }

    private void Recovered()
    {
        var since = Volatile.Read(ref _failingSinceTicks);
        if (_connectorError is not null && since > 0)
        {
            ConnectorBack(_log, (_time.GetUtcNow() - new DateTimeOffset(since, TimeSpan.Zero)).TotalSeconds);
        }

        _connectorError = null;
        Volatile.Write(ref _failingSinceTicks, 0);
        _failures = 0;
        _retryAt = DateTimeOffset.MinValue;
    }

    private sealed record Posted(EscalationRecord Escalation, string ServiceUrl, string ConversationId, string? ActivityId, DateTimeOffset At);

    private readonly record struct CallResult(bool Sent, bool Permanent, string? Id, string? Error);

    [LoggerMessage(8510, LogLevel.Information, "Teams: alert for escalation {EscalationId} posted")]
    private static partial void AlertPosted(ILogger logger, Guid escalationId);

    [LoggerMessage(8511, LogLevel.Information, "Teams: card of escalation {EscalationId} updated ({Status})")]
    private static partial void CardUpdated(ILogger logger, Guid escalationId, string status);

    [LoggerMessage(8512, LogLevel.Warning, "Teams: overdue re-alert for escalation {EscalationId} posted")]
    private static partial void OverduePosted(ILogger logger, Guid escalationId);

    [LoggerMessage(8513, LogLevel.Error,
        "Teams: {Count} escalation alerts are waiting: no alert channel is configured (Teams:AlertChannel) or learned (add the app to the staff team); they are posted once one is known")]
    private static partial void NoChannel(ILogger logger, int count);

    [LoggerMessage(8514, LogLevel.Error, "Teams: the Connector is failing ({Error}, on a {What}); alerts and card updates wait and are retried with backoff")]
    private static partial void ConnectorFailing(ILogger logger, string what, string error);

    [LoggerMessage(8515, LogLevel.Warning, "Teams: the Connector answers again after {Seconds:F0} s; what waited is being sent")]
    private static partial void ConnectorBack(ILogger logger, double seconds);

    [LoggerMessage(8516, LogLevel.Warning, "Teams: the Connector refused the {What} of escalation {EscalationId} for good ({Error}); not tried again")]
    private static partial void GaveUp(ILogger logger, string what, Guid escalationId, string error);

    [LoggerMessage(8517, LogLevel.Error, "Teams: a sender pass failed ({Error}); tried again with backoff")]
    private static partial void StepFailed(ILogger logger, string error);
}

/// <summary>Degraded (still 200) while Teams alerts cannot go out: the Connector failing, or no alert channel known.</summary>
internal sealed class TeamsHealthCheck(TeamsAlertSender sender) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var h = sender.Health();
        var data = new Dictionary<string, object> { ["waitingAlerts"] = h.WaitingAlerts };
        var problems = new List<string>();
        if (h.ConnectorError is { } error)
        {
            problems.Add($"the Connector is failing ({error}) for {h.FailingFor.TotalSeconds:F0} s; retried with backoff");
        }

        if (h.NoChannel)
        {
            problems.Add($"{h.WaitingAlerts} alerts wait for an alert channel: set Teams:AlertChannel or add the app to the staff team");
        }

        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy("alerts go out", data)
            : HealthCheckResult.Degraded(string.Join("; ", problems), data: data));
    }
}
