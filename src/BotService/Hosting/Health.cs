using BotService.Protocol.Authentication;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BotService.Hosting;

/// <summary>
/// The health endpoints (ASP.NET Core health checks):
/// <list type="bullet">
/// <item><c>/healthz/live</c>: 200 while the process serves requests; runs no check (a restart would not cure a
/// dependency).</item>
/// <item><c>/healthz/ready</c>: every dependency with its status; 503 while this instance cannot do its work (the index is
/// not loaded, the database cannot be written, the data folder cannot take an escalation), 200 <c>degraded</c> for what
/// it can work around (a notifier or the Connector failing, a rejected rules edit, escalations late).</item>
/// <item><c>/healthz</c>: as it always was, for the scripts and tests that poll it: every check but the disk probes
/// (polling it changes nothing on a failing disk), 503 only while the index is loading, otherwise 200 with
/// <c>degraded</c> naming whatever fails.</item>
/// </list>
/// </summary>
internal static class Health
{
    /// <summary>The checks that write to the disk; <c>/healthz</c> leaves them out.</summary>
    private const string DiskProbe = "disk-probe";

    public static IServiceCollection AddServiceHealthChecks(this IServiceCollection services)
    {
        services.AddSingleton<DatabaseHealthCheck>();
        services.AddSingleton<DataFolderHealthCheck>();
        services.AddHealthChecks()
            .AddCheck<KnowledgeHealthCheck>("knowledge")
            .AddCheck<SafetyHealthCheck>("safety")
            .AddCheck<DatabaseHealthCheck>("database", tags: [DiskProbe])
            .AddCheck<DataFolderHealthCheck>("outbox", tags: [DiskProbe])
            .AddCheck<EscalationHealthCheck>("escalations")
            .AddCheck<ConnectorHealthCheck>("connector"); // other parts add their own (Teams alerts: "teams")
        return services;
    }

    public static WebApplication MapServiceHealthChecks(this WebApplication app)
    {
        app.MapHealthChecks("/healthz/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = HealthResponse.WriteAsync });
        app.MapHealthChecks("/healthz/ready", new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync }); // every check
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = r => !r.Tags.Contains(DiskProbe), ResponseWriter = HealthResponse.WriteSummaryAsync });
        return app;
    }
}

/// <summary>
/// Whether the database takes a write now: made ready as before every write (migrated, created again if its file was
/// deleted), then <see cref="StorageSetup.ProbeWrites"/> on a connection of its own (SQLite: one small write of the
/// header's <c>user_version</c>; PostgreSQL: connected and not read-only). Unhealthy on any failure (read-only, deleted
/// folder, locked for over a second, server unreachable). The result is kept for a second, so a busy prober cannot queue behind the lock.
/// </summary>
internal sealed class DatabaseHealthCheck(Database database, TimeProvider time) : IHealthCheck
{
    private readonly CachedProbe _probe = new(time);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_probe.Get(() =>
        {
            database.EnsureReady();
            StorageSetup.ProbeWrites(database.Target);
            return HealthCheckResult.Healthy("the database takes writes");
        }, "database"));
}

/// <summary>
/// Whether the data folder takes an escalation: a small file written, forced to the disk and deleted there (the outbox's
/// own path), plus the last outbox write's error. Unhealthy if not: a crisis message would then be escalated from memory
/// only. Kept for a second like the database probe.
/// </summary>
internal sealed class DataFolderHealthCheck(EscalationOutbox outbox, EscalationDispatcher dispatcher, TimeProvider time) : IHealthCheck
{
    private readonly CachedProbe _probe = new(time);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_probe.Get(() =>
        {
            var folder = Path.GetDirectoryName(outbox.FilePath)!;
            var probe = Path.Combine(folder, $".health-{Environment.ProcessId}.probe");
            try
            {
                using (var stream = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
                {
                    stream.WriteByte(1);
                    stream.Flush(flushToDisk: true);
                }
            }
            finally
            {
                try
                {
                    File.Delete(probe);
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }

            return dispatcher.Health().OutboxError is { } error
                ? HealthCheckResult.Degraded("the last outbox write failed: " + error)
                : HealthCheckResult.Healthy("the outbox folder takes writes");
        }, "outbox"));
}

/// <summary>
/// The Bot Framework Connector, when the bot has an identity (<c>MicrosoftAppId</c>): degraded while the bot cannot get
/// its token (replies to Teams wait; the Teams alerts have their own check, <c>teams</c>). Not a reason to take the
/// instance out of rotation: the website chat does not need it.
/// </summary>
internal sealed class ConnectorHealthCheck(BotFrameworkAuthenticationOptions auth, BotTokenProvider tokens) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(auth.IsAnonymous
            ? HealthCheckResult.Healthy("not configured (no MicrosoftAppId: anonymous local mode)")
            : tokens.LastFailure is { } failure
                ? HealthCheckResult.Degraded("bot token: " + failure)
                : HealthCheckResult.Healthy("configured"));
}

/// <summary>Runs a probe at most once a second; a failure is Unhealthy with the exception's type and message (file paths and SQLite codes, never data).</summary>
internal sealed class CachedProbe(TimeProvider time)
{
    private static readonly TimeSpan Keep = TimeSpan.FromSeconds(1);
    private readonly Lock _lock = new();
    private (HealthCheckResult Result, DateTimeOffset At)? _last;

    public HealthCheckResult Get(Func<HealthCheckResult> probe, string what)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_last is { } last && now - last.At < Keep)
            {
                return last.Result;
            }

            HealthCheckResult result;
            try
            {
                result = probe();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                result = HealthCheckResult.Unhealthy($"{what}: {e.GetType().Name}: {e.Message}");
            }

            _last = (result, now);
            return result;
        }
    }
}
