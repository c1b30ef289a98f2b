using System.Collections.Concurrent;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.IntegrationTests.Storage;

/// <summary>A notifier that records each call and can be told to fail or hang.</summary>
internal sealed class RecordingNotifier(string name = "recording") : INotifierControl
{
    public ConcurrentDictionary<string, int> Calls { get; } = new();

    public int FailuresLeft;

    public int HangsLeft;

    public string Name { get; } = name;

    public async Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken)
    {
        Calls.AddOrUpdate(escalation.Key, 1, (_, n) => n + 1);
        if (Interlocked.Decrement(ref HangsLeft) >= 0)
        {
            await Task.Delay(Timeout.Infinite, CancellationToken.None); // ignores cancellation on purpose
        }

        if (Interlocked.Decrement(ref FailuresLeft) >= 0)
        {
            throw new HttpRequestException("notifier down");
        }
    }
}

internal interface INotifierControl : IEscalationNotifier;

/// <summary>
/// An escalation dispatcher over a real database (a SQLite file in the folder, or the folder's PostgreSQL database in
/// the PostgreSQL pass) and outbox in a folder of the test's choosing.
/// </summary>
internal sealed class DispatcherHarness : IAsyncDisposable
{
    private readonly DbContextOptions<BotDbContext> _options;

    public DispatcherHarness(string dataPath, params IEscalationNotifier[] notifiers)
    {
        DataPath = dataPath;
        Directory.CreateDirectory(dataPath);
        _options = TestStorage.ContextOptions(dataPath);
        Outbox = new EscalationOutbox(dataPath);
        Database = new Database(new Factory(_options), TestStorage.Target(dataPath));
        Options = new EscalationOptions
        {
            NotifierTimeout = TimeSpan.FromMilliseconds(300),
            FirstRetry = TimeSpan.FromMilliseconds(50),
            MaxRetry = TimeSpan.FromMilliseconds(300),
        };
        Dispatcher = new EscalationDispatcher(Outbox, Database, notifiers, Options, TimeProvider.System,
            NullLogger<EscalationDispatcher>.Instance);
    }

    public string DataPath { get; }

    public EscalationOutbox Outbox { get; }

    public Database Database { get; }

    public EscalationOptions Options { get; }

    public EscalationDispatcher Dispatcher { get; }

    public string DatabaseFile => Path.Combine(DataPath, StorageSetup.DatabaseFileName);

    public Task StartAsync() => Dispatcher.StartAsync(CancellationToken.None);

    public static Escalation Sample(string key = "k1", string text = "I took all my pills") =>
        new(key, "conv-" + key, "test", EscalationLevel.Emergency,
            [new EscalationReason("overdose", EscalationLevel.Emergency, 7, 12)], "m-" + key, text, DateTimeOffset.UtcNow);

    /// <summary>Counts escalations with this key in a fresh connection (not the dispatcher's).</summary>
    public int CountStored(string key)
    {
        using var db = new BotDbContext(_options);
        return db.Escalations.Count(e => e.Key == key);
    }

    /// <summary>A context on the harness's database, for arranging rows and reading them back through EF Core's model.</summary>
    public BotDbContext Open() => new(_options);

    public async Task WaitIdleAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!Dispatcher.IsIdle)
        {
            await Task.Delay(20, cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Dispatcher.StopAsync(CancellationToken.None);
        Dispatcher.Dispose();
        Outbox.Dispose();
        TestStorage.ClearPools();
    }

    private sealed class Factory(DbContextOptions<BotDbContext> options) : IDbContextFactory<BotDbContext>
    {
        public BotDbContext CreateDbContext() => new(options);
    }
}
