using System.Diagnostics;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.EntityFrameworkCore;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// The escalation path under real faults: every escalation is accepted at once, and lands exactly once (one row,
/// one delivery per notifier) after the fault is cleared.
/// </summary>
public sealed class EscalationDispatcherTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));

    public void Dispose()
    {
        TestStorage.DropUnder(_root);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    [Fact]
    public async Task Submit_HealthyDisk_LandsOnceAndNotifiesOnce()
    {
        // Arrange
        var notifier = new RecordingNotifier();
        await using var h = new DispatcherHarness(_root, notifier);
        await h.StartAsync();

        // Act: the same escalation submitted twice (a client retry).
        Assert.True(h.Dispatcher.Submit(DispatcherHarness.Sample()));
        h.Dispatcher.Submit(DispatcherHarness.Sample());
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        // Assert
        Assert.Equal(1, h.CountStored("k1"));
        Assert.Equal(1, notifier.Calls["k1"]);
        Assert.Empty(h.Outbox.ReadPending());
    }

    /// <summary>
    /// The dispatcher writes with hand-written SQL (decision 0031); read back through EF Core's model, its rows are in
    /// the model's own formats (key, times, text), and it adds only what is missing: the transcript had stored the
    /// conversation and the message already.
    /// </summary>
    [Fact]
    public async Task Submit_ConversationAndMessageStoredAlready_AddsOnlyTheEscalation_InTheModelsFormats()
    {
        // Arrange
        var notifier = new RecordingNotifier();
        await using var h = new DispatcherHarness(_root, notifier);
        h.Database.EnsureReady();
        var earlier = DateTimeOffset.UtcNow.AddHours(-1);
        await using (var db = h.Open())
        {
            db.Conversations.Add(new ConversationRecord { Id = "conv-k1", Channel = "test", CreatedAt = earlier, LastActivityAt = earlier });
            db.Messages.Add(new MessageRecord { ConversationId = "conv-k1", ActivityId = "m-k1", Role = "visitor", Text = "stored by the transcript", CreatedAt = earlier, Seq = 1 });
            await db.SaveChangesAsync();
        }

        var sample = DispatcherHarness.Sample();
        await h.StartAsync();

        // Act
        h.Dispatcher.Submit(sample);
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        // Assert
        await using var read = h.Open();
        var escalation = Assert.Single(read.Escalations.AsNoTracking().Where(e => e.Key == "k1"));
        Assert.NotEqual(Guid.Empty, escalation.Id);
        Assert.True(read.Escalations.Any(e => e.Id == escalation.Id), "EF Core finds the row by the key the dispatcher wrote (the dashboard's look-up)");
        Assert.Equal(("conv-k1", "m-k1", "test", "emergency", "open", 0), (escalation.ConversationId, escalation.MessageActivityId, escalation.Channel, escalation.Level, escalation.Status, escalation.ReopenCount));
        Assert.Contains("\"overdose\"", escalation.ReasonsJson, StringComparison.Ordinal);
        Assert.Equal(sample.CreatedAt.UtcTicks, escalation.CreatedAt.UtcTicks, tolerance: 10_000); // within a millisecond
        var message = Assert.Single(read.Messages.AsNoTracking().Where(m => m.ConversationId == "conv-k1"));
        Assert.Equal((1L, "stored by the transcript"), (message.Seq, message.Text));
        var conversation = Assert.Single(read.Conversations.AsNoTracking().Where(c => c.Id == "conv-k1"));
        Assert.Equal(sample.CreatedAt.UtcTicks, conversation.LastActivityAt.UtcTicks, tolerance: 10_000);
        var delivery = Assert.Single(read.EscalationDeliveries.AsNoTracking().Where(d => d.EscalationKey == "k1"));
        Assert.Equal("recording", delivery.Notifier);
        Assert.True(Math.Abs((DateTimeOffset.UtcNow - delivery.DeliveredAt).TotalMinutes) < 1);
    }

    /// <summary>Another instance stored the same escalation first (PostgreSQL, several instances): its row stays, one per key.</summary>
    [Fact]
    public async Task Submit_StoredFirstByAnotherInstance_KeepsThatRowAndStillNotifies()
    {
        // Arrange
        var notifier = new RecordingNotifier();
        await using var h = new DispatcherHarness(_root, notifier);
        h.Database.EnsureReady();
        var theirs = Guid.NewGuid();
        var at = DateTimeOffset.UtcNow;
        await using (var db = h.Open())
        {
            db.Conversations.Add(new ConversationRecord { Id = "conv-k1", Channel = "test", CreatedAt = at, LastActivityAt = at });
            db.Escalations.Add(new EscalationRecord
            {
                Id = theirs, Key = "k1", ConversationId = "conv-k1", MessageActivityId = "m-k1", Channel = "test", Level = "emergency",
                ReasonsJson = "[]", CreatedAt = at, Status = "open",
            });
            await db.SaveChangesAsync();
        }

        await h.StartAsync();

        // Act
        h.Dispatcher.Submit(DispatcherHarness.Sample());
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        // Assert
        await using var read = h.Open();
        Assert.Equal(theirs, Assert.Single(read.Escalations.AsNoTracking().Where(e => e.Key == "k1")).Id);
        Assert.Equal(1, notifier.Calls["k1"]);
    }

    [Fact]
    public async Task Submit_NotifierThrowsThenRecovers_IsRetriedUntilDelivered()
    {
        var notifier = new RecordingNotifier { FailuresLeft = 3 };
        await using var h = new DispatcherHarness(_root, notifier);
        await h.StartAsync();

        h.Dispatcher.Submit(DispatcherHarness.Sample());
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(4, notifier.Calls["k1"]);
        Assert.Equal(1, h.CountStored("k1"));
    }

    [Fact]
    public async Task Submit_NotifierHangs_TimesOutRetriesAndOtherNotifiersAreNotHeldUp()
    {
        // Arrange: one escalation through first, so the time below is the dispatcher's and not the database's first
        // use in this process (migrating and compiling queries is slower on PostgreSQL), then the notifier hangs once.
        var hanging = new RecordingNotifier("hanging");
        var healthy = new RecordingNotifier("healthy");
        await using var h = new DispatcherHarness(_root, hanging, healthy);
        await h.StartAsync();
        h.Dispatcher.Submit(DispatcherHarness.Sample("warm"));
        await h.WaitIdleAsync(TimeSpan.FromSeconds(20));
        hanging.HangsLeft = 1;

        // Act
        var watch = Stopwatch.StartNew();
        h.Dispatcher.Submit(DispatcherHarness.Sample());
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        // Assert
        Assert.Equal(1, healthy.Calls["k1"]);
        Assert.Equal(2, hanging.Calls["k1"]);
        Assert.Empty(h.Dispatcher.Health().NotifierErrors); // recovered
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Submit_DatabaseLockedByAnotherProcess_AcceptsAtOnceAndLandsOnceUnlocked()
    {
        // Arrange: the database exists and another process holds an exclusive lock on it.
        var notifier = new RecordingNotifier();
        await using var h = new DispatcherHarness(_root, notifier);
        h.Database.EnsureReady();
        await h.StartAsync();
        var locker = await Faults.LockDatabaseAsync(h.DataPath);

        // Act
        var watch = Stopwatch.StartNew();
        var durable = h.Dispatcher.Submit(DispatcherHarness.Sample());
        var accepted = watch.Elapsed;
        await Task.Delay(700); // the dispatcher is retrying against the lock meanwhile
        Assert.False(h.Dispatcher.IsIdle);
        locker.Dispose();
        await h.WaitIdleAsync(TimeSpan.FromSeconds(30));

        // Assert
        Assert.True(durable);
        Assert.True(accepted < TimeSpan.FromSeconds(1), $"accepting took {accepted}");
        Assert.Equal(1, h.CountStored("k1"));
        Assert.Equal(1, notifier.Calls["k1"]);
    }

    [SqliteFact]
    public async Task Submit_DatabaseDeletedWhileRunning_RecreatesItAndLands()
    {
        await using var h = new DispatcherHarness(_root, new RecordingNotifier());
        await h.StartAsync();
        h.Dispatcher.Submit(DispatcherHarness.Sample("before"));
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        foreach (var f in Directory.GetFiles(_root, "botservice.db*"))
        {
            File.Delete(f);
        }

        h.Dispatcher.Submit(DispatcherHarness.Sample("after"));
        await h.WaitIdleAsync(TimeSpan.FromSeconds(10));

        Assert.True(File.Exists(h.DatabaseFile));
        Assert.Equal(1, h.CountStored("after"));
    }

    [SqliteFact]
    public async Task Submit_DatabaseFileReadOnly_LandsOnceItIsWritableAgain()
    {
        // Arrange: a database from an earlier run, made read-only before the service starts.
        Assert.True(Faults.IsRoot, "fault tests mount file systems and need root (CI runs as root)");
        await using (var earlier = new DispatcherHarness(_root))
        {
            earlier.Database.EnsureReady();
        }

        var notifier = new RecordingNotifier();
        await using var h = new DispatcherHarness(_root, notifier);
        var readOnly = Faults.ReadOnlyFile(h.DatabaseFile);
        await h.StartAsync();

        // Act
        Assert.True(h.Dispatcher.Submit(DispatcherHarness.Sample()));
        await Task.Delay(700);
        Assert.False(h.Dispatcher.IsIdle);
        Assert.NotNull(h.Dispatcher.Health().DatabaseError);
        readOnly.Dispose();
        await h.WaitIdleAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, h.CountStored("k1"));
        Assert.Equal(1, notifier.Calls["k1"]);
        Assert.Null(h.Dispatcher.Health().DatabaseError);
    }

    [Fact]
    public async Task Submit_DiskFull_AcceptsInMemoryAndLandsOnceSpaceIsFreed()
    {
        // Arrange: the data folder on a 512 KiB tmpfs, filled to the brim after the database was created.
        Assert.True(Faults.IsRoot, "fault tests mount file systems and need root (CI runs as root)");
        using var disk = Faults.Tmpfs(512);
        var notifier = new RecordingNotifier();
        await using var h = new DispatcherHarness(disk.Path, notifier);
        h.Database.EnsureReady();
        await h.StartAsync();
        var filler = Faults.Fill(disk.Path);

        // Act
        var watch = Stopwatch.StartNew();
        var durable = h.Dispatcher.Submit(DispatcherHarness.Sample());
        var accepted = watch.Elapsed;
        await Task.Delay(700);
        Assert.NotNull(h.Dispatcher.Health().OutboxError);
        File.Delete(filler);
        await h.WaitIdleAsync(TimeSpan.FromSeconds(30));

        // Assert
        Assert.False(durable);
        Assert.True(accepted < TimeSpan.FromSeconds(1), $"accepting took {accepted}");
        Assert.Equal(1, h.CountStored("k1"));
        Assert.Equal(1, notifier.Calls["k1"]);
    }

    [Fact]
    public async Task Restart_WithEscalationsNotYetLanded_ReplaysTheOutboxAndLandsThemOnce()
    {
        // Arrange: an escalation accepted while the database was locked, then the process "dies".
        var first = new DispatcherHarness(_root, new RecordingNotifier());
        first.Database.EnsureReady();
        var locker = await Faults.LockDatabaseAsync(first.DataPath);
        await first.StartAsync();
        first.Dispatcher.Submit(DispatcherHarness.Sample());
        await first.DisposeAsync();
        locker.Dispose();
        using (var check = new EscalationOutbox(_root))
        {
            Assert.Single(check.ReadPending());
        }

        // Act: a new process starts on the same data folder.
        var notifier = new RecordingNotifier();
        await using var second = new DispatcherHarness(_root, notifier);
        await second.StartAsync();
        await second.WaitIdleAsync(TimeSpan.FromSeconds(10));

        // Assert
        Assert.True(1 == second.CountStored("k1"), $"stored {second.CountStored("k1")}, health {second.Dispatcher.Health()}");
        Assert.Equal(1, notifier.Calls["k1"]);
        Assert.Empty(second.Outbox.ReadPending());
    }

    [Fact]
    public void Outbox_TornLastLine_IsSkippedAndTheRestReplayed()
    {
        using var outbox = new EscalationOutbox(_root);
        outbox.Append(DispatcherHarness.Sample("a"));
        outbox.Append(DispatcherHarness.Sample("b"));
        outbox.MarkDone("a");
        File.AppendAllText(outbox.FilePath, "{\"add\":{\"key\":\"c\",\"conv");

        var pending = outbox.ReadPending();

        Assert.Equal(["b"], pending.Select(p => p.Key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(outbox.FilePath));
    }
}
