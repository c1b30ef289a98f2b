using System.Runtime.InteropServices;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using BotService.Storage.Transcripts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace BotService.Hosting;

internal static partial class StorageServices
{
    /// <summary>
    /// The database (SQLite under <c>Data:Path</c>, or PostgreSQL: <c>Storage:Provider</c>,
    /// <c>ConnectionStrings:BotService</c>), the escalation outbox (a file under <c>Data:Path</c> either way) and its
    /// dispatcher.
    /// </summary>
    public static IServiceCollection AddStorage(this IServiceCollection services)
    {
        services.AddOptions<EscalationOptions>().BindConfiguration(EscalationOptions.SectionName);
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.SectionName);
        services.AddSingleton(sp => StorageTarget.From(sp.GetRequiredService<IOptions<StorageOptions>>().Value,
            sp.GetRequiredService<IConfiguration>().GetConnectionString(StorageOptions.ConnectionStringName), DataPath(sp)));
        services.AddDbContextFactory<BotDbContext>((sp, o) => StorageSetup.Configure(o, sp.GetRequiredService<StorageTarget>()));
        services.AddSingleton(sp => new Database(sp.GetRequiredService<IDbContextFactory<BotDbContext>>(), sp.GetRequiredService<StorageTarget>()));
        services.AddSingleton(sp => new EscalationOutbox(DataPath(sp)));
        services.AddSingleton<IEscalationNotifier, LogEscalationNotifier>();
        services.AddSingleton(sp => new EscalationDispatcher(
            sp.GetRequiredService<EscalationOutbox>(),
            sp.GetRequiredService<Database>(),
            sp.GetServices<IEscalationNotifier>(),
            sp.GetRequiredService<IOptions<EscalationOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<EscalationDispatcher>>()));
        services.AddHostedService<DatabaseStartup>();
        services.AddOptions<TranscriptOptions>().BindConfiguration(TranscriptOptions.SectionName);
        services.AddSingleton(sp => new TranscriptStore(sp.GetRequiredService<Database>(), sp.GetRequiredService<IOptions<TranscriptOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<TranscriptStore>>(), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddHostedService(sp => sp.GetRequiredService<TranscriptStore>());
        services.AddHostedService(sp => sp.GetRequiredService<EscalationDispatcher>());

        // Several instances on one PostgreSQL database: notifications between them, and the one that does the
        // single-instance work (decision 0017). On SQLite both stand aside.
        services.AddSingleton<InstanceSignals>();
        services.AddHostedService(sp => sp.GetRequiredService<InstanceSignals>());
        services.AddSingleton<SingleInstanceWork>();
        services.AddHostedService(sp => sp.GetRequiredService<SingleInstanceWork>());
        return services;
    }

    private static string DataPath(IServiceProvider sp) =>
        DataFolder.Resolve(sp.GetRequiredService<IOptions<DataOptions>>().Value, sp.GetRequiredService<IHostEnvironment>());

    /// <summary>Files this process creates are readable by its own user only: transcripts are health data.</summary>
    public static void RestrictNewFilesToOwner()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            _ = umask(0b000_111_111); // 077
        }
    }

    [LibraryImport("libc", EntryPoint = "umask")]
    private static partial uint umask(uint mask);
}

/// <summary>
/// Migrates the database at start. A failure is logged and reported by /healthz but does not stop the service:
/// the crisis path must work while the database is down, and the dispatcher keeps retrying. A storage configuration
/// that cannot work (PostgreSQL without a connection string) does stop it, with the key to set.
/// </summary>
internal sealed partial class DatabaseStartup(Database database, ILogger<DatabaseStartup> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Using(log, database.Target.Describe());
        try
        {
            database.EnsureReady();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failed(log, e.GetType().Name, e.Message);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(2100, LogLevel.Information, "Storage: {Database}")]
    private static partial void Using(ILogger logger, string database);

    [LoggerMessage(2101, LogLevel.Error, "The database could not be opened at start ({Error}: {Detail}); escalations wait in the outbox")]
    private static partial void Failed(ILogger logger, string error, string detail);
}

/// <summary>Degraded (still 200, with the failing part named) while escalations cannot land.</summary>
internal sealed class EscalationHealthCheck(EscalationDispatcher dispatcher, IOptions<EscalationOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var h = dispatcher.Health();
        var data = new Dictionary<string, object>
        {
            ["pending"] = h.Pending,
            ["oldestPendingSeconds"] = Math.Round(h.OldestPending.TotalSeconds, 1),
        };
        var problems = new List<string>();
        if (h.OutboxError is { } outbox)
        {
            problems.Add("outbox: " + outbox);
        }

        if (h.DatabaseError is { } db)
        {
            problems.Add("database: " + db);
        }

        foreach (var (name, error) in h.NotifierErrors)
        {
            problems.Add($"notifier {name}: {error}");
        }

        if (h.Pending > 0 && h.OldestPending > options.Value.OverdueAfter)
        {
            problems.Add($"{h.Pending} escalations not landed after {h.OldestPending.TotalSeconds:F0} s");
        }

        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy("escalations land", data)
            : HealthCheckResult.Degraded(string.Join("; ", problems), data: data));
    }
}
