using BotService.Knowledge;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>
/// Builds the index from knowledge/ once the host has started (so /healthz can answer 503 until it is ready), then
/// rebuilds it whenever a file there changes. A failed rebuild keeps the previous index.
/// </summary>
internal sealed partial class KnowledgeLoader(
    KnowledgeBase knowledge,
    IOptions<KnowledgeOptions> options,
    IHostEnvironment env,
    TimeProvider time,
    BotMetrics metrics,
    ILogger<KnowledgeLoader> log) : BackgroundService
{
    private KnowledgeWatcher? _watcher;

    public string Root { get; } = Path.GetFullPath(Path.Combine(env.ContentRootPath, options.Value.Path));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // let the host finish starting; the first build runs in the background

        // Watch before the first build, so an edit made while it runs is not missed.
        if (Directory.Exists(Root))
        {
            _watcher = new KnowledgeWatcher(Root, options.Value.ReloadDelay, Reload, time);
        }
        else
        {
            FolderMissing(log, Root);
        }

        Reload();
        knowledge.WarmUp();
    }

    public override void Dispose()
    {
        _watcher?.Dispose();
        base.Dispose();
    }

    private void Reload()
    {
        try
        {
            var before = knowledge.Status.Generation;
            knowledge.Load(Root);
            if (knowledge.Status is { } built && built.Generation != before)
            {
                metrics.IndexBuilt(built.BuildTime);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ReloadFailed(log, e);
        }
    }

    [LoggerMessage(3001, LogLevel.Error, "Rebuilding the knowledge index failed; the previous index stays in use")]
    private static partial void ReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(3002, LogLevel.Error, "The knowledge folder {Path} does not exist; no article can be answered from")]
    private static partial void FolderMissing(ILogger logger, string path);
}

/// <summary>Unhealthy (503) until the first index is loaded and the request path has been warmed up.</summary>
internal sealed class KnowledgeHealthCheck(KnowledgeBase knowledge, WarmUpState warmUp) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var s = knowledge.Status;
        var data = new Dictionary<string, object>
        {
            ["generation"] = s.Generation,
            ["articles"] = s.Articles,
            ["passages"] = s.Passages,
            ["problems"] = s.Problems,
        };
        return Task.FromResult(!s.Ready
            ? HealthCheckResult.Unhealthy("the knowledge index is loading", data: data)
            : !warmUp.Done
                ? HealthCheckResult.Unhealthy("warming up", data: data)
                : HealthCheckResult.Healthy($"{s.Articles} articles loaded", data));
    }
}
