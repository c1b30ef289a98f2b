using System.Net.Http.Json;
using BotService.Dashboard;
using BotService.Hosting;
using BotService.IntegrationTests.Dashboard;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using BotService.Storage.Staff;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// Decision 0031: an instance on a database brought up to date by the deployment's <c>migrate</c> step never builds
/// EF Core's model for what visitors do and what runs on its own (answers and their records, a crisis message and its
/// escalation with the dashboard notice, the overdue watch, the retention purge, the claimed-conversation set at
/// start). EF Core logs "initialized 'BotDbContext'" (event 10403, at Debug) when the first context of a process is
/// created, and every command it runs (20101); a staff action through ASP.NET Core Identity shows the check sees it.
/// </summary>
public sealed class EfCoreOffVisitorPathsTests : IAsyncLifetime
{
    private const string ContextInitialized = "[10403]";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", "ef-" + Guid.NewGuid().ToString("n"));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        TestStorage.DropUnder(_root);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task VisitorTrafficAndBackgroundJobs_OnAMigratedDatabase_NeverCreateAnEfCoreContext()
    {
        // Arrange: the deployment step, then the service on that database
        var data = Path.Combine(_root, "data");
        var knowledge = Path.Combine(RepoPaths.Root, "knowledge");
        var output = new StringWriter();
        var error = new StringWriter();
        var migrated = await MigrateCommand.RunAsync(
            [$"--Data:Path={data}", $"--Knowledge:Path={knowledge}", .. TestStorage.ServiceArgs(data)], output, error);
        Assert.True(migrated == 0, error.ToString());
        Assert.Contains("migrated to " + StorageSetup.LatestMigration, output.ToString(), StringComparison.Ordinal);

        var logs = new LogCapture();
        await using var service = await RunningService.StartHealthyAsync(knowledge, _root, b => b.Logging.AddProvider(logs),
            "--Logging:LogLevel:Microsoft.EntityFrameworkCore.Infrastructure=Debug"); // where the context's initialisation is logged
        var services = service.App.Services;

        // Act: a question, a crisis message, a Bot Framework turn; the escalation lands and is announced; the answer
        // records are written; the overdue watch and the retention purge run once.
        (await service.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion?" })).EnsureSuccessStatusCode();
        (await service.Http.PostAsJsonAsync("/api/ask", new { text = "I want to end my life tonight" })).EnsureSuccessStatusCode();
        (await service.Http.PostAsJsonAsync("/api/messages", new
        {
            type = "message", id = "m1", channelId = "emulator", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
            from = new { id = "visitor-1", role = "user" }, recipient = new { id = "bot", role = "bot" },
            conversation = new { id = "ef-conversation-1" }, text = "is ketamine safe?",
        })).EnsureSuccessStatusCode();
        var dispatcher = services.GetRequiredService<EscalationDispatcher>();
        var database = services.GetRequiredService<Database>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!dispatcher.IsIdle || await CountAsync(database, "answers", timeout.Token) < 3)
        {
            await Task.Delay(50, timeout.Token);
        }

        var hosted = services.GetServices<IHostedService>().ToList();
        await hosted.OfType<OverdueWatch>().Single().CheckOnceAsync(CancellationToken.None);
        await hosted.OfType<RetentionJob>().Single().PurgeOnceAsync(CancellationToken.None);

        // Assert: everything landed, without a context
        Assert.Equal(1, await CountAsync(database, "escalations", CancellationToken.None));
        Assert.Equal(2, await CountAsync(database, "escalation_deliveries", CancellationToken.None)); // the log and the dashboard notifiers
        Assert.DoesNotContain(logs.Lines, l => l.Contains(ContextInitialized, StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("Microsoft.EntityFrameworkCore.Database.Command[", StringComparison.Ordinal));

        // ... and the check sees a context when one is made: a staff account through ASP.NET Core Identity
        await DashboardSeed.UserAsync(services, StaffRoles.Staff);
        Assert.Contains(logs.Lines, l => l.Contains(ContextInitialized, StringComparison.Ordinal));
    }

    private static async Task<long> CountAsync(Database database, string table, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {table}";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }
}
