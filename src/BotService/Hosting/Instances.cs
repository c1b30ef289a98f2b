using System.Runtime.CompilerServices;
using BotService.Storage.Data;
using BotService.Storage.Transcripts;
using Npgsql;

namespace BotService.Hosting;

/// <summary>
/// What the service instances sharing one PostgreSQL database tell each other, through the database's own
/// <c>LISTEN</c>/<c>NOTIFY</c> (decision 0017): a transcript commit names the conversations it wrote
/// (<see cref="TranscriptStore.NotifyChannel"/>, sent inside the writer's transaction, so delivered at commit), an
/// escalation's change names its id and kind (<see cref="EscalationChannel"/>), the Teams sender is woken
/// (<see cref="TeamsChannel"/>), and a slow turn's typing indicator names its conversation (<see cref="TypingChannel"/>:
/// typing is not stored, so the transcript's notification never carries it to a socket on another instance). Payloads
/// are ids only, never text, tagged with the sending instance (<see cref="ServiceInstance"/>). One connection of its
/// own listens; when it is lost (a server restart) it reconnects with backoff and raises <see cref="Reconnected"/>,
/// since anything sent meanwhile was missed: listeners then treat every open stream as possibly behind. On SQLite (one
/// instance) nothing is sent or listened to.
/// </summary>
internal sealed partial class InstanceSignals : BackgroundService
{
    public const string EscalationChannel = "botservice_escalation";
    public const string TeamsChannel = "botservice_teams";
    public const string TypingChannel = "botservice_typing";

    private static readonly string[] Channels = [TranscriptStore.NotifyChannel, EscalationChannel, TeamsChannel, TypingChannel];
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(10);

    private readonly StorageTarget _target;
    private readonly System.Data.Common.DbDataSource? _senders; // an NpgsqlDataSource, typed by its base class so that SQLite never loads Npgsql
    private readonly ILogger _log;
    private volatile bool _listening;

    public InstanceSignals(StorageTarget target, ILogger<InstanceSignals> log)
    {
        _target = target;
        _log = log;
        if (!target.IsSqlite)
        {
            _senders = Senders(target.ConnectionString);
        }
    }

    /// <summary>A method of its own, so that on SQLite Npgsql is never loaded (decision 0021).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static System.Data.Common.DbDataSource Senders(string connectionString) => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString)
    {
        ApplicationName = "botservice-signals", Timeout = 3, CommandTimeout = 5,
    });

    /// <summary>True when there may be other instances to tell (PostgreSQL).</summary>
    public bool Enabled => _senders is not null;

    /// <summary>Listening now (false before the first connection and while reconnecting).</summary>
    public bool Listening => _listening;

    /// <summary>A notification from another instance: the channel, and the message without its sender.</summary>
    public event Action<string, string>? Received;

    /// <summary>The listening connection was lost and is back: notifications sent meanwhile were missed.</summary>
    public event Action? Reconnected;

    /// <summary>Tells the other instances (fire and forget: a failure is logged; each receiver also re-reads after a
    /// reconnect or on its own timer).</summary>
    public void Send(string channel, string message)
    {
        if (_senders is null)
        {
            return;
        }

        _ = SendAsync(channel, message);
    }

    private async Task SendAsync(string channel, string message)
    {
        try
        {
            await using var command = _senders!.CreateCommand("SELECT pg_notify($1, $2)");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = channel });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ServiceInstance.Payload(message) });
            await command.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            SendFailed(_log, channel, e.GetType().Name);
        }
    }

    // Not async itself: the loop's state machine refers to Npgsql, and compiling it would load Npgsql on SQLite too.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _senders is null ? Task.CompletedTask : ListenAsync(stoppingToken);

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var retry = FirstRetry;
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_target.ConnectionString)
                {
                    ApplicationName = "botservice-listener", Pooling = false, Timeout = 5, KeepAlive = 10,
                }.ToString());
                connection.Notification += OnNotification;
                await connection.OpenAsync(stoppingToken);
                await using (var listen = connection.CreateCommand())
                {
                    listen.CommandText = string.Concat(Channels.Select(c => $"LISTEN {c};"));
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                _listening = true;
                retry = FirstRetry;
                if (!first)
                {
                    ListeningAgain(_log);
                    Reconnected?.Invoke();
                }

                first = false;
                while (true)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _listening = false;
                first = false;
                Lost(_log, e.GetType().Name, retry.TotalSeconds);
                try
                {
                    await Task.Delay(retry, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, MaxRetry.Ticks));
            }
        }

        _listening = false;
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (!ServiceInstance.TryParse(e.Payload, out var origin, out var message) || ServiceInstance.IsSelf(origin))
        {
            return; // this instance already acted on its own change
        }

        try
        {
            Received?.Invoke(e.Channel, message);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            HandlerFailed(_log, e.Channel, ex.GetType().Name);
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _senders?.Dispose();
    }

    [LoggerMessage(2301, LogLevel.Warning, "Instance signals: the listening connection failed ({Error}); reconnecting in {Seconds} s, open streams re-read then")]
    private static partial void Lost(ILogger logger, string error, double seconds);

    [LoggerMessage(2302, LogLevel.Information, "Instance signals: listening again; open streams and claimed conversations re-read")]
    private static partial void ListeningAgain(ILogger logger);

    [LoggerMessage(2303, LogLevel.Warning, "Instance signals: a notification on {Channel} could not be sent ({Error})")]
    private static partial void SendFailed(ILogger logger, string channel, string error);

    [LoggerMessage(2304, LogLevel.Error, "Instance signals: handling a notification on {Channel} failed ({Error})")]
    private static partial void HandlerFailed(ILogger logger, string channel, string error);
}

/// <summary>
/// The background work that must run on one instance at a time when several share a PostgreSQL database: the Teams
/// alert sender (the database's outbox of notifications), the overdue watch and the retention purge (decision 0017).
/// Whoever holds a session-level advisory lock (<c>pg_try_advisory_lock</c>) on a connection of its own does it; the
/// others try again every <see cref="Retry"/>. If the holder dies its session ends, the server releases the lock, and
/// another instance takes it at its next try. The holder checks its session every <see cref="Retry"/> too, so a lost
/// session (a server restart) stops its work within that time. On SQLite (one instance) it always holds.
/// </summary>
internal sealed partial class SingleInstanceWork : BackgroundService
{
    /// <summary>The advisory lock's key: the same in every instance of this service on a database.</summary>
    public const long LockKey = 0x426F_7453_7276_0001; // "BotSrv", 1

    public static readonly TimeSpan Retry = TimeSpan.FromSeconds(2);

    private readonly StorageTarget _target;
    private readonly ILogger _log;
    private volatile bool _held;

    public SingleInstanceWork(StorageTarget target, ILogger<SingleInstanceWork> log)
    {
        _target = target;
        _log = log;
        _held = target.IsSqlite;
    }

    /// <summary>This instance is the one to do the single-instance work now.</summary>
    public bool IsHeld => _held;

    /// <summary>This instance has just become the one (after start, or when the previous holder went away).</summary>
    public event Action? Acquired;

    // Not async itself: the loop's state machine refers to Npgsql, and compiling it would load Npgsql on SQLite too.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _target.IsSqlite ? Task.CompletedTask : HoldLockAsync(stoppingToken);

    private async Task HoldLockAsync(CancellationToken stoppingToken)
    {
        var told = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_target.ConnectionString)
                {
                    ApplicationName = "botservice-single-instance", Pooling = false, Timeout = 5, CommandTimeout = 5, KeepAlive = 10,
                }.ToString());
                await connection.OpenAsync(stoppingToken);
                await using var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection);
                tryLock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = LockKey });
                await using var check = new NpgsqlCommand("SELECT 1", connection);
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (!_held)
                    {
                        if ((bool)(await tryLock.ExecuteScalarAsync(stoppingToken))!)
                        {
                            _held = true;
                            told = false;
                            Took(_log);
                            Acquired?.Invoke();
                        }
                        else if (!told)
                        {
                            told = true;
                            Waiting(_log);
                        }
                    }
                    else
                    {
                        await check.ExecuteScalarAsync(stoppingToken); // the session (and with it the lock) is still there
                    }

                    await Task.Delay(Retry, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (_held)
                {
                    Lost(_log, e.GetType().Name);
                }

                _held = false;
                try
                {
                    await Task.Delay(Retry, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        _held = false; // the connection is closed: the lock is released for another instance
    }

    [LoggerMessage(2311, LogLevel.Information, "Single-instance work (Teams alerts, overdue watch, retention) runs on this instance")]
    private static partial void Took(ILogger logger);

    [LoggerMessage(2312, LogLevel.Information, "Single-instance work (Teams alerts, overdue watch, retention) runs on another instance; this one takes over if it goes")]
    private static partial void Waiting(ILogger logger);

    [LoggerMessage(2313, LogLevel.Warning, "Single-instance work: the lock's session was lost ({Error}); stopped here until the lock is taken again")]
    private static partial void Lost(ILogger logger, string error);
}
