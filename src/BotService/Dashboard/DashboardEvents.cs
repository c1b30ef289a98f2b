using System.Collections.Concurrent;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using BotService.Storage.Data;
using BotService.Storage.Escalations;

namespace BotService.Dashboard;

/// <summary>
/// What a signed-in dashboard is told live: which escalation changed and the facts the queue shows anyway (level, rule
/// ids, channel, status, owner). Never message text; the page fetches its rows (server-rendered) after an event.
/// </summary>
internal sealed record DashboardEvent(string Kind, Guid EscalationId, string Level, IReadOnlyList<string> Rules, string Channel,
    string Status, string? Owner, DateTimeOffset CreatedAt);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(DashboardEvent))]
[JsonSerializable(typeof(DashboardReason[]))]
[JsonSerializable(typeof(QueueItem[]))]
internal sealed partial class DashboardJsonContext : JsonSerializerContext;

/// <summary>
/// Fans dashboard events out to every open SSE stream. Each subscriber has a small bounded buffer; a stalled browser
/// loses old events (it re-fetches the whole queue on the next one), never slows the others.
/// </summary>
internal sealed partial class DashboardEvents(ILogger<DashboardEvents> log, Hosting.InstanceSignals? signals = null) : Bot.IStaffPresence
{
    /// <summary>A signed-in dashboard holds an event stream open: that is a member of staff on duty.</summary>
    public bool AnyoneOnDuty => !_subscribers.IsEmpty;

    private readonly ConcurrentDictionary<Guid, Channel<DashboardEvent>> _subscribers = new();

    public int Subscribers => _subscribers.Count;

    /// <summary>Tells this instance's open dashboards, and the other instances' (ids and kind only: each reads the row
    /// and tells its own; decision 0017).</summary>
    public void Publish(DashboardEvent e)
    {
        PublishLocal(e);
        signals?.Send(Hosting.InstanceSignals.EscalationChannel, $"{e.Kind} {e.EscalationId:D}");
    }

    /// <summary>Tells this instance's open dashboards only (an event another instance announced).</summary>
    public void PublishLocal(DashboardEvent e)
    {
        foreach (var channel in _subscribers.Values)
        {
            channel.Writer.TryWrite(e);
        }

        Published(log, e.Kind, e.EscalationId, _subscribers.Count);
    }

    /// <summary>
    /// The SSE stream: a <c>ready</c> event first (so a client knows it is subscribed), then each change, with a
    /// <c>ping</c> when idle; it ends after <paramref name="maxDuration"/>, so the browser reconnects and its cookie is
    /// checked again (a signed-out or disabled user stops getting events).
    /// </summary>
    /// <param name="stopping">The host's stopping token: an open stream must not hold up a graceful shutdown.</param>
    public async IAsyncEnumerable<SseItem<string>> StreamAsync(TimeSpan maxDuration, CancellationToken stopping,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        var channel = Channel.CreateBounded<DashboardEvent>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest });
        _subscribers[id] = channel;
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        lifetime.CancelAfter(maxDuration);
        try
        {
            yield return new SseItem<string>("{}", "ready") { ReconnectionInterval = TimeSpan.FromSeconds(3) };
            while (!lifetime.IsCancellationRequested)
            {
                DashboardEvent? next = null;
                try
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Token);
                    idle.CancelAfter(TimeSpan.FromSeconds(25));
                    next = await channel.Reader.ReadAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!lifetime.IsCancellationRequested)
                {
                    // idle: fall through to a ping
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }

                yield return next is null
                    ? new SseItem<string>("{}", "ping")
                    : new SseItem<string>(JsonSerializer.Serialize(next, DashboardJsonContext.Default.DashboardEvent), next.Kind);
            }
        }
        finally
        {
            _subscribers.TryRemove(id, out _);
        }
    }

    [LoggerMessage(8001, LogLevel.Debug, "Dashboard event {Kind} for escalation {EscalationId} sent to {Subscribers} streams")]
    private static partial void Published(ILogger logger, string kind, Guid escalationId, int subscribers);
}

/// <summary>
/// Tells open dashboards about each new escalation. The dispatcher calls it once the escalation is stored (and
/// retries it like any notifier), so the row the page then fetches is already there.
/// </summary>
internal sealed class DashboardNotifier(Database database, DashboardEvents events) : IEscalationNotifier
{
    public string Name => "dashboard";

    public async Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken)
    {
        var record = await EscalationRows.FindByKeyAsync(database, escalation.Key, cancellationToken)
            ?? throw new InvalidOperationException("The escalation is not stored yet."); // the dispatcher retries
        events.Publish(EscalationBoard.ToEvent("escalation", record));
    }
}

/// <summary>
/// Keeps this instance's dashboards and claimed conversations in step with the other instances' (PostgreSQL): an
/// escalation stored, claimed, resolved, reopened or overdue elsewhere arrives as its kind and id; the row is read
/// here, <see cref="ClaimedConversations"/> updated first (so the bot is quiet here as soon as a dashboard could show
/// the claim), then the event goes to this instance's open queues. After the listener reconnects, the claimed set is
/// read again in full (changes meanwhile were missed).
/// </summary>
internal sealed partial class DashboardSignals(
    Hosting.InstanceSignals signals, Database database, DashboardEvents events, ClaimedConversations claimed, ILogger<DashboardSignals> log)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (signals.Enabled)
        {
            signals.Received += OnReceived;
            signals.Reconnected += OnReconnected;
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        signals.Received -= OnReceived;
        signals.Reconnected -= OnReconnected;
        return Task.CompletedTask;
    }

    private void OnReceived(string channel, string message)
    {
        var space = message.IndexOf(' ', StringComparison.Ordinal);
        if (channel == Hosting.InstanceSignals.EscalationChannel && space > 0 && Guid.TryParse(message.AsSpan(space + 1), out var id))
        {
            _ = AnnounceAsync(message[..space], id);
        }
    }

    private void OnReconnected() => _ = claimed.ReloadAsync(CancellationToken.None);

    private async Task AnnounceAsync(string kind, Guid id)
    {
        try
        {
            if (await EscalationRows.FindAsync(database, id, CancellationToken.None) is { } e)
            {
                await claimed.RefreshAsync(e.ConversationId, CancellationToken.None);
                events.PublishLocal(EscalationBoard.ToEvent(kind, e));
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failed(log, id, e.GetType().Name);
        }
    }

    [LoggerMessage(8040, LogLevel.Warning, "An escalation change from another instance ({EscalationId}) could not be read ({Error}); this instance's dashboards see it on their next refresh")]
    private static partial void Failed(ILogger logger, Guid escalationId, string error);
}
