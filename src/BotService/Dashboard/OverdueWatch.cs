using System.Collections.Concurrent;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace BotService.Dashboard;

/// <summary>
/// The service-level clock: every 30 s, an emergency still unclaimed after <see cref="DashboardOptions.OverdueAfterMinutes"/>
/// is re-alerted once: an <c>overdue</c> event to every open dashboard (the page announces it) and a warning in the
/// log (ids only). Teams re-alerting hooks in here when that channel exists. After a restart an overdue emergency is
/// alerted again, which errs on the side of telling someone.
/// </summary>
internal sealed partial class OverdueWatch(
    Database database, DashboardEvents events, IOptions<DashboardOptions> options, TimeProvider time, ILogger<OverdueWatch> log) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, byte> _alerted = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(30), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
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
        await using var db = database.Open();
        var overdue = await db.Escalations.AsNoTracking()
            .Where(e => e.Level == "emergency" && e.Status == EscalationBoard.Open && e.CreatedAt < cutoff)
            .ToListAsync(cancellationToken);
        var alerted = 0;
        foreach (var e in overdue.Where(e => _alerted.TryAdd(e.Id, 0)))
        {
            events.Publish(EscalationBoard.ToEvent("overdue", e));
            Overdue(log, e.Id, options.Value.OverdueAfterMinutes);
            alerted++;
        }

        // Forget escalations that are no longer overdue (claimed or resolved), so a reopened one alerts again.
        var still = overdue.Select(e => e.Id).ToHashSet();
        foreach (var id in _alerted.Keys.Where(id => !still.Contains(id)))
        {
            _alerted.TryRemove(id, out _);
        }

        return alerted;
    }

    [LoggerMessage(8030, LogLevel.Warning, "OVERDUE emergency escalation {EscalationId}: unclaimed for more than {Minutes} minutes")]
    private static partial void Overdue(ILogger logger, Guid escalationId, int minutes);

    [LoggerMessage(8031, LogLevel.Error, "Overdue check failed ({Error}); tried again in 30 s")]
    private static partial void Failed(ILogger logger, string error);
}
