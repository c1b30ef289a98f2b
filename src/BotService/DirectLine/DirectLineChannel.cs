using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using BotService.Bot;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Storage.Transcripts;
using Microsoft.Extensions.Options;

namespace BotService.DirectLine;

/// <summary>A Direct Line conversation as the channel knows it while it is in use: its owner and its one socket.</summary>
internal sealed class DirectLineConversation(string id, string userId)
{
    public string Id { get; } = id;

    public string UserId { get; } = userId;

    /// <summary>The conversation's stream; a newer one replaces it (the older is closed with <c>collision</c>).</summary>
    public StreamConnection? Stream { get; set; }
}

/// <summary>
/// The Direct Line channel adapter: conversations, their sockets, and turns. Every activity of a conversation goes
/// into the transcript first (its sequence number is the watermark and its id <c>{conversationId}|{seq:D7}</c>), then
/// to the conversation's socket; a socket that connects is first replayed what it missed from the transcript, so
/// REST polling, WebSocket push and reconnects all read one ordered, durable list. Turns run through the same
/// <see cref="BotPipeline"/> as every channel; since this adapter has to store activities to number them, it marks the
/// turn so the transcript middleware does not store them again.
/// </summary>
internal sealed partial class DirectLineChannel(
    TranscriptStore transcript,
    BotPipeline pipeline,
    IOptions<DirectLineOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<DirectLineChannel> log)
{
    public const string ChannelId = "directline";
    private const int MaxCached = 20_000;

    private readonly ConcurrentDictionary<string, DirectLineConversation> _conversations = new(StringComparer.Ordinal);
    private readonly DirectLineOptions _options = options.Value;

    public ChannelAccount Bot => new() { Id = _options.BotId, Name = _options.BotName, Role = "bot" };

    public static string NewConversationId() =>
        Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string NewUserId() => "dl_" + NewConversationId();

    /// <summary>The conversation, from memory or the transcript; null if there is no Direct Line conversation of that id.</summary>
    public async Task<DirectLineConversation?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (_conversations.TryGetValue(id, out var known))
        {
            return known;
        }

        var stored = await transcript.FindConversationAsync(id, cancellationToken);
        if (stored is null || stored.Channel != ChannelId || stored.UserId is null)
        {
            return null;
        }

        return Remember(new DirectLineConversation(stored.Id, stored.UserId));
    }

    /// <summary>Starts a conversation: stores it, then runs the bot's <c>conversationUpdate</c> turn in the background.
    /// Returns false if it exists already.</summary>
    public async Task<bool> StartAsync(string id, string userId, string? locale, CancellationToken cancellationToken)
    {
        if (!await transcript.CreateConversationAsync(id, ChannelId, userId, cancellationToken))
        {
            return false;
        }

        var conversation = Remember(new DirectLineConversation(id, userId));
        Started(log, id);
        var update = new Activity
        {
            Type = ActivityTypes.ConversationUpdate,
            ChannelId = ChannelId,
            Conversation = new ConversationAccount { Id = id },
            From = new ChannelAccount { Id = userId, Role = "user" },
            Recipient = Bot,
            MembersAdded = [new ChannelAccount { Id = userId }],
            Locale = locale,
        };
        // Not awaited: the client should get its conversation at once; the welcome reaches it through the transcript.
        _ = Task.Run(async () =>
        {
            try
            {
                await ReceiveAsync(conversation, update, lifetime.ApplicationStopping);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                TurnFailed(log, id, update.Type, e.GetType().Name); // the update could not be stored
            }
        }, CancellationToken.None);
        return true;
    }

    /// <summary>
    /// Takes an activity from the client: stamps it (id, time, channel, conversation, the token's user, the bot as
    /// recipient), stores it, echoes it to the socket, and runs the turn. Returns its id once it is stored.
    /// </summary>
    public async Task<string> ReceiveAsync(DirectLineConversation conversation, Activity activity, CancellationToken cancellationToken)
    {
        var stamped = activity with
        {
            Id = null,
            ChannelId = ChannelId,
            Conversation = new ConversationAccount { Id = conversation.Id },
            From = new ChannelAccount { Id = conversation.UserId, Name = activity.From?.Name, Role = "user" },
            Recipient = Bot,
            Timestamp = time.GetUtcNow(),
            ServiceUrl = null,
        };

        // The activity gets its number and id at once; the turn runs while it is being committed, and the POST is
        // answered (and the echo pushed) only once it is on the disk. Replies are numbered after it, so they can
        // never be committed, or reach the socket, before it.
        var id = string.Empty;
        Task<IReadOnlyList<TranscriptPosition>>? stored = null;
        long seq = 0;
        if (stamped.Type != ActivityTypes.Typing) // typing is WebSocket-only and not part of the transcript
        {
            var write = await transcript.BeginAppendAsync([ToAppend(conversation, stamped, TranscriptRoles.Visitor)], cancellationToken);
            (seq, id, _) = write.Reserved[0];
            stamped = stamped with { Id = id };
            stored = write.Completion;
        }

        var turn = RunTurnAsync(conversation, stamped);
        if (stored is not null)
        {
            await stored;
            await PushAsync(conversation, [new Pushed(seq, stamped.Type, Serialize(stamped))]);
        }

        await turn;
        return id;
    }

    private async Task RunTurnAsync(DirectLineConversation conversation, Activity activity)
    {
        await Task.Yield(); // let the caller go on to wait for its commit
        TurnContext? turn = null;
        turn = new TurnContext(activity, (replies, ct) =>
            SendAsync(conversation, replies, TranscriptRoles.Bot, transcriptText: null, urgent: turn!.Safety()?.Escalated == true, ct));
        turn.TurnState[TranscriptMiddleware.RecordedByAdapter] = true;
        try
        {
            // The turn runs to its end even if the client goes away: an emergency is escalated and answered regardless.
            await pipeline.RunTurnAsync(turn, lifetime.ApplicationStopping);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TurnFailed(log, conversation.Id, activity.Type, e.GetType().Name);
        }
    }

    /// <summary>
    /// A staff member's reply from the dashboard, from <paramref name="staff"/> (<see cref="DirectLineReplySender.StaffAccount"/>):
    /// stored in the transcript as role <c>staff</c> and pushed to the visitor's socket (or read by polling and on reload).
    /// Null if there is no Direct Line conversation of that id.
    /// </summary>
    public async Task<string?> SendStaffReplyAsync(string conversationId, ChannelAccount staff, string text, CancellationToken cancellationToken)
    {
        if (await FindAsync(conversationId, cancellationToken) is not { } conversation)
        {
            return null;
        }

        // The text is the staff member's words only: the sender says a person wrote it (the chat page labels it).
        var reply = new Activity { Type = ActivityTypes.Message, Text = text, TextFormat = "plain", From = staff };
        var ids = await SendAsync(conversation, [reply], TranscriptRoles.Staff, transcriptText: null, urgent: false, cancellationToken);
        return ids[0];
    }

    /// <summary>Sends the bot's (or staff's, by <paramref name="role"/>) replies: stored (numbered) in one group commit, then pushed; typing is pushed only.</summary>
    /// <param name="urgent">A reply of an escalated (crisis) turn: pushed after at most the wait budget even if its write has
    /// not landed. Every other reply is pushed only once committed, so the stream's watermarks never run ahead of the
    /// transcript (a reconnect after a watermark can then never skip an earlier activity still being written).</param>
    /// <param name="transcriptText">For a single reply: the text the transcript records, if not the activity's.</param>
    private async Task<IReadOnlyList<string?>> SendAsync(DirectLineConversation conversation, IReadOnlyList<Activity> replies, string role,
        string? transcriptText, bool urgent, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var stamped = replies.Select(r => r with
        {
            ChannelId = ChannelId,
            Conversation = new ConversationAccount { Id = conversation.Id },
            From = r.From is null ? Bot : r.From with { Role = r.From.Role ?? "bot" },
            Timestamp = now,
            ServiceUrl = null,
        }).ToArray();

        var ids = new string?[stamped.Length];
        var seqs = new long[stamped.Length]; // 0: typing, pushed but not stored
        var stored = Enumerable.Range(0, stamped.Length).Where(i => stamped[i].Type != ActivityTypes.Typing).ToArray();
        if (stored.Length > 0)
        {
            // Pushed once committed; a crisis reply after at most the budget if the database is slow or locked: it must
            // reach the visitor now; it keeps its number, and its write goes on (a reload shows it once it has landed).
            var write = await transcript.BeginAppendAsync(
                stored.Select(i => ToAppend(conversation, stamped[i], role) is var append && transcriptText is not null ? append with { Text = transcriptText } : append)
                    .ToArray(), lifetime.ApplicationStopping);
            var positions = write.Reserved;
            if (!urgent || await Task.WhenAny(write.Completion, Task.Delay(TranscriptMiddleware.WaitBudget, lifetime.ApplicationStopping)) == write.Completion)
            {
                positions = await write.Completion;
            }
            else
            {
                SlowStore(log, conversation.Id, stored.Length);
                _ = write.Completion.ContinueWith(t => TurnFailed(log, conversation.Id, "reply store", t.Exception!.InnerException!.GetType().Name),
                    CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }

            for (var k = 0; k < stored.Length; k++)
            {
                var i = stored[k];
                ids[i] = positions[k].ActivityId;
                seqs[i] = positions[k].Seq;
                stamped[i] = stamped[i] with { Id = positions[k].ActivityId };
            }
        }

        var pushed = stamped.Select((a, i) => new Pushed(seqs[i], a.Type, Serialize(a))).ToArray();
        await PushAsync(conversation, pushed);
        return ids;
    }

    private TranscriptAppend ToAppend(DirectLineConversation conversation, Activity activity, string role) => new(
        conversation.Id, ChannelId, role, activity.Type, activity.Id, activity.Text,
        (id, _) => Serialize(activity with { Id = id }), conversation.UserId);

    public static string Serialize(Activity activity) => JsonSerializer.Serialize(activity, ProtocolJsonContext.Default.Activity);

    /// <summary>Pushes freshly stored activities to the conversation's socket, if it has one.</summary>
    private static async Task PushAsync(DirectLineConversation conversation, IReadOnlyList<Pushed> activities)
    {
        if (conversation.Stream is { } stream)
        {
            await stream.PushAsync(activities);
        }
    }

    /// <summary>Activities for a client: everything but <c>conversationUpdate</c>, which Direct Line never shows clients.</summary>
    public static bool VisibleToClient(string type) => type != ActivityTypes.ConversationUpdate;

    /// <summary>Activities after a watermark for the polling GET, as <c>{"activities":[...],"watermark":"N"}</c>.</summary>
    public async Task<string> ActivitySetAfterAsync(string conversationId, long watermark, CancellationToken cancellationToken)
    {
        var entries = await transcript.ReadAfterAsync(conversationId, watermark, 500, cancellationToken);
        var last = entries.Count > 0 ? entries[^1].Seq : watermark;
        return ActivitySet(entries.Where(e => VisibleToClient(e.Type) && e.ActivityJson is not null).Select(e => e.ActivityJson!), last);
    }

    public static string ActivitySet(IEnumerable<string> activityJson, long? watermark)
    {
        var sb = new StringBuilder("{\"activities\":[");
        var first = true;
        foreach (var json in activityJson)
        {
            if (!first)
            {
                sb.Append(',');
            }

            sb.Append(json);
            first = false;
        }

        sb.Append(']');
        if (watermark is { } w)
        {
            sb.Append(",\"watermark\":\"").Append(w.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('"');
        }

        return sb.Append('}').ToString();
    }

    /// <summary>Serves a conversation's WebSocket until it closes: replay after the watermark, then live pushes and keep-alives.</summary>
    public async Task RunStreamAsync(DirectLineConversation conversation, WebSocket socket, long watermark, CancellationToken requestAborted)
    {
        var stream = new StreamConnection(socket, conversation.Id, transcript, watermark, time);
        var previous = conversation.Stream;
        conversation.Stream = stream;
        Remember(conversation);
        if (previous is not null)
        {
            Collision(log, conversation.Id);
            await previous.CloseAsync(WebSocketCloseStatus.PolicyViolation, "collision");
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, lifetime.ApplicationStopping);
        try
        {
            await stream.ReplayAsync(stop.Token);
            await Task.WhenAny(stream.ReceiveUntilClosedAsync(stop.Token), stream.KeepAliveAsync(_options.KeepAliveInterval, stop.Token));
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            StreamEnded(log, conversation.Id, e.GetType().Name);
        }
        finally
        {
            await stop.CancelAsync(); // ends the keep-alive loop with the socket
            if (ReferenceEquals(conversation.Stream, stream))
            {
                conversation.Stream = null;
            }

            await stream.CloseAsync(WebSocketCloseStatus.NormalClosure, "closed");
        }
    }

    private DirectLineConversation Remember(DirectLineConversation conversation)
    {
        if (_conversations.Count > MaxCached)
        {
            foreach (var (key, value) in _conversations)
            {
                if (value.Stream is null)
                {
                    _conversations.TryRemove(key, out _);
                }
            }
        }

        return _conversations.GetOrAdd(conversation.Id, conversation);
    }

    [LoggerMessage(8001, LogLevel.Information, "Direct Line conversation {ConversationId} started")]
    private static partial void Started(ILogger logger, string conversationId);

    [LoggerMessage(8002, LogLevel.Error, "Direct Line turn of {ConversationId} ({Type}) failed: {Error}")]
    private static partial void TurnFailed(ILogger logger, string conversationId, string type, string error);

    [LoggerMessage(8005, LogLevel.Warning, "Direct Line: {Count} replies of {ConversationId} pushed before their transcript write landed (slow database)")]
    private static partial void SlowStore(ILogger logger, string conversationId, int count);

    [LoggerMessage(8003, LogLevel.Information, "Direct Line stream of {ConversationId} replaced by a newer one (closed with collision)")]
    private static partial void Collision(ILogger logger, string conversationId);

    [LoggerMessage(8004, LogLevel.Debug, "Direct Line stream of {ConversationId} ended ({Reason})")]
    private static partial void StreamEnded(ILogger logger, string conversationId, string reason);
}

/// <summary>An activity on its way to a socket: its watermark (0 for typing, which is not stored) and its JSON.</summary>
internal readonly record struct Pushed(long Seq, string Type, string Json);

/// <summary>
/// One conversation's WebSocket. Sends are serialised by a lock and tracked by the last watermark sent, so the replay
/// on connect and the live pushes that race with it never duplicate or reorder: a push that would leave a gap (an
/// activity committed but not yet pushed) is filled from the transcript first.
/// </summary>
internal sealed class StreamConnection(WebSocket socket, string conversationId, TranscriptStore transcript, long watermark, TimeProvider time)
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _sent = watermark;
    private readonly HashSet<long> _holes = []; // numbers passed over when a reply went ahead of a slow commit
    private DateTimeOffset _lastSend = DateTimeOffset.MinValue;
    private int _closed;

    public async Task ReplayAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            await CatchUpAsync(cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task PushAsync(IReadOnlyList<Pushed> activities)
    {
        if (Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(SendTimeout);
        try
        {
            await _lock.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return; // a stuck socket; the client catches up from the transcript when it reconnects
        }

        try
        {
            var typing = activities.Where(a => a.Seq == 0).ToArray();
            var late = activities.Where(a => a.Seq > 0 && a.Seq <= _sent && _holes.Remove(a.Seq)).ToArray();
            if (late.Length > 0)
            {
                // Landed after a later activity was pushed: send it now; the watermark never goes back.
                await SendAsync(DirectLineChannel.ActivitySet(late.Where(a => DirectLineChannel.VisibleToClient(a.Type)).Select(a => a.Json), _sent), timeout.Token);
            }

            var stored = activities.Where(a => a.Seq > _sent).ToArray();
            if (stored.Length > 0)
            {
                if (stored[0].Seq != _sent + 1 || stored.Zip(stored.Skip(1)).Any(p => p.Second.Seq != p.First.Seq + 1))
                {
                    await CatchUpAsync(timeout.Token); // something committed in between was not pushed yet: read it all in order
                    stored = stored.Where(a => a.Seq > _sent).ToArray(); // pushed ahead of a slow commit: not in the database yet
                }

                if (stored.Length > 0)
                {
                    for (var seq = _sent + 1; seq < stored[^1].Seq && _holes.Count < 1000; seq++)
                    {
                        if (!stored.Any(a => a.Seq == seq))
                        {
                            _holes.Add(seq);
                        }
                    }

                    await SendAsync(DirectLineChannel.ActivitySet(
                        stored.Where(a => DirectLineChannel.VisibleToClient(a.Type)).Select(a => a.Json), stored[^1].Seq), timeout.Token);
                    _sent = stored[^1].Seq;
                }
            }

            if (typing.Length > 0)
            {
                await SendAsync(DirectLineChannel.ActivitySet(typing.Select(a => a.Json), null), timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client is gone or stuck; it catches up from the transcript when it reconnects.
            Interlocked.Exchange(ref _closed, 1);
            socket.Abort();
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var entries = await transcript.ReadAfterAsync(conversationId, _sent, 200, cancellationToken);
            if (entries.Count == 0)
            {
                return;
            }

            var visible = entries.Where(e => DirectLineChannel.VisibleToClient(e.Type) && e.ActivityJson is not null).Select(e => e.ActivityJson!).ToArray();
            if (visible.Length > 0)
            {
                await SendAsync(DirectLineChannel.ActivitySet(visible, entries[^1].Seq), cancellationToken);
            }

            _sent = entries[^1].Seq;
        }
    }

    private async Task SendAsync(string frame, CancellationToken cancellationToken)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        _lastSend = time.GetUtcNow();
    }

    /// <summary>Reads (and ignores) what the client sends, such as its empty keep-alives, until it closes.</summary>
    public async Task ReceiveUntilClosedAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        while (socket.State == WebSocketState.Open)
        {
            var result = await socket.ReceiveAsync(buffer, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
        }
    }

    /// <summary>Sends an empty message whenever nothing else was sent for a while, as Direct Line does.</summary>
    public async Task KeepAliveAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            if (time.GetUtcNow() - _lastSend < interval)
            {
                continue;
            }

            await _lock.WaitAsync(cancellationToken);
            try
            {
                await SendAsync(string.Empty, cancellationToken);
            }
            finally
            {
                _lock.Release();
            }
        }
    }

    /// <summary>Closes with a reason (<c>collision</c> when a newer socket took over); aborts if that cannot be sent.</summary>
    public async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _lock.WaitAsync(timeout.Token); // a close is a send: never at the same time as a push
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(status, reason, timeout.Token);
                }
            }
            finally
            {
                _lock.Release();
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            socket.Abort();
        }
    }
}
