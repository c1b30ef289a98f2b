using BotService.Storage.Data;

namespace BotService.Hosting;

/// <summary>
/// <c>dotnet BotService.dll migrate [--Key=value ...]</c>: brings the configured database up to date, then exits (0 if
/// it is, 1 if it could not be). The deployment step before starting or upgrading instances (docs/operations.md). An
/// instance finds an up-to-date database with one plain query and never loads EF Core's model for it; one that has to
/// migrate itself at start keeps that model resident until it restarts (decision 0031).
/// </summary>
internal static class MigrateCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        await using var app = BotServiceApp.Build(args);
        var database = app.Services.GetRequiredService<Database>();
        // The data folder as the service prepares it (created owner-only, its lock taken): on SQLite a running instance
        // on the same folder makes this refuse rather than migrate under it.
        var folder = app.Services.GetServices<IHostedService>().OfType<DataFolder>().Single();
        try
        {
            await folder.StartAsync(CancellationToken.None);
            var wasUpToDate = StorageSetup.IsUpToDate(database.Target);
            database.EnsureReady();
            await output.WriteLineAsync(wasUpToDate
                ? $"migrate: {database.Target.Describe()} is up to date ({StorageSetup.LatestMigration})"
                : $"migrate: {database.Target.Describe()} migrated to {StorageSetup.LatestMigration}");
            return 0;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Provider messages name files, hosts and error codes, never the password (Describe() leaves it out too).
            await error.WriteLineAsync($"migrate: {database.Target.Describe()} could not be migrated ({e.GetType().Name}: {e.Message})");
            return 1;
        }
        finally
        {
            await folder.StopAsync(CancellationToken.None);
        }
    }
}
