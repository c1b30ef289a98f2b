using System.Collections.Concurrent;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.Extensions.Options;

namespace BotService.Dashboard;

/// <summary>
/// Told about each emergency that is overdue (still unclaimed past the limit), at least once per open stretch
/// (<see cref="EscalationRecord.ReopenCount"/>) and possibly again after a restart: it keeps its own durable record
/// if it must not repeat itself (Teams does).
/// </summary>
internal interface IOverdueListener
{
    Task OverdueAsync(EscalationRecord escalation, CancellationToken cancellationToken);
}

/// <summary>
/// The service-level clock: every 30 s, an emergency still unclaimed after <see cref="DashboardOptions.OverdueAfterMinutes"/>
/// is re-alerted once: an <c>overdue</c> event to every open dashboard (the page announces it), a warning in the
/// log (ids only), and the <see cref="IOverdueListener"/>s (Teams: a reply in the alert's thread). After a restart an
/// overdue emergency is alerted again on the dashboard, which errs on the side of telling someone; Teams remembers.
/// With several instances it runs on the one holding <see cref="Hosting.SingleInstanceWork"/> (each would alert every
/// dashboard once more); its events reach the others' dashboards through <see cref="DashboardEvents.Publish"/>.
/// </summary>
internal sealed partial class OverdueWatch(
    Database database, DashboardEvents events, IOptions<DashboardOptions> options, IEnumerable<IOverdueListener> listeners, TimeProvider time,
    ILogger<OverdueWatch> log, Hosting.SingleInstanceWork? single = null) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, byte> _alerted = new();

    /// <summary>Escalation and open stretch the listeners have been told about (a failed call is tried again next time).</summary>
    private readonly ConcurrentDictionary<(Guid Id, int Episode), byte> _told = new();

    private readonly IOverdueListener[] _listeners = [.. listeners];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(30), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (single is { IsHeld: false })
                {
                    continue; // another instance watches (its overdue events reach this one's dashboards too)
                }

                try
                {
                    await CheckOnceAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Failed(log, e.GetType().Name);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>Alerts each newly overdue emergency; returns how many were alerted this time.</summary>
    public async Task<int> CheckOnceAsync(CancellationToken cancellationToken)
    {
        database.EnsureReady();
        var cutoff = time.GetUtcNow() - TimeSpan.FromMinutes(options.Value.OverdueAfterMinutes);
        var overdue = await EscalationRows.OpenEmergenciesBeforeAsync(database, cutoff, cancellationToken);
        var alerted = 0;
        foreach (var e in overdue.Where(e => _alerted.TryAdd(e.Id, 0)))
        {
            events.Publish(EscalationBoard.ToEvent("overdue", e));
            Overdue(log, e.Id, options.Value.OverdueAfterMinutes);
            alerted++;
        }

        foreach (var e in overdue.Where(e => _listeners.Length > 0 && _told.TryAdd((e.Id, e.ReopenCount), 0)))
        {
            try
            {
                foreach (var listener in _listeners)
                {
                    await listener.OverdueAsync(e, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _told.TryRemove((e.Id, e.ReopenCount), out _); // next check tries again
                ListenerFailed(log, e.Id, ex.GetType().Name);
            }
        }

        // Forget escalations that are no longer overdue (claimed or resolved), so a reopened one alerts again.
        var still = overdue.Select(e => e.Id).ToHashSet();
        foreach (var id in _alerted.Keys.Where(id => !still.Contains(id)))
        {
            _alerted.TryRemove(id, out _);
        }

        foreach (var key in _told.Keys.Where(k => !still.Contains(k.Id)))
        {
            _told.TryRemove(key, out _);
        }

        return alerted;
    }

    [LoggerMessage(8030, LogLevel.Warning, "OVERDUE emergency escalation {EscalationId}: unclaimed for more than {Minutes} minutes")]
    private static partial void Overdue(ILogger logger, Guid escalationId, int minutes);

    [LoggerMessage(8032, LogLevel.Error, "Overdue escalation {EscalationId}: telling a listener failed ({Error}); tried again in 30 s")]
    private static partial void ListenerFailed(ILogger logger, Guid escalationId, string error);

    [LoggerMessage(8031, LogLevel.Error, "Overdue check failed ({Error}); tried again in 30 s")]
    private static partial void Failed(ILogger logger, string error);
}
