using System.Buffers;
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

/// <summary>A Direct Line conversation as the channel knows it while it is in use: its owner, and the order in which its
/// activities reach its clients, with its one socket.</summary>
internal sealed class DirectLineConversation(string id, string userId, ConversationDelivery delivery)
{
    public string Id { get; } = id;

    public string UserId { get; } = userId;

    public ConversationDelivery Delivery { get; } = delivery;

    /// <summary>The conversation's stream; a newer one replaces it (the older is closed with <c>collision</c>).</summary>
    public StreamConnection? Stream => Delivery.Stream;
}

/// <summary>
/// The Direct Line channel adapter: conversations, their sockets, and turns. Every activity of a conversation goes
/// into the transcript first (its sequence number is the watermark and its id <c>{conversationId}|{seq:D7}</c>), then
/// to the conversation's socket; a socket that connects is first replayed what it missed from the transcript, so
/// REST polling, WebSocket push and reconnects all read one ordered, durable list, in the order
/// <see cref="ConversationDelivery"/> keeps (the transcript's numbering, whatever order the writes land in). Turns run through the same
/// <see cref="BotPipeline"/> as every channel; since this adapter has to store activities to number them, it marks the
/// turn so the transcript middleware does not store them again.
/// </summary>
internal sealed partial class DirectLineChannel
{
    public const string ChannelId = "directline";
    private const int MaxCached = 20_000;

    private readonly ConcurrentDictionary<string, DirectLineConversation> _conversations = new(StringComparer.Ordinal);
    private readonly DirectLineOptions _options;
    private readonly TranscriptStore transcript;
    private readonly BotPipeline pipeline;
    private readonly TimeProvider time;
    private readonly IHostApplicationLifetime lifetime;
    private readonly ILogger<DirectLineChannel> log;
    private readonly Hosting.InstanceSignals? _signals;

    public DirectLineChannel(TranscriptStore transcript, BotPipeline pipeline, IOptions<DirectLineOptions> options, TimeProvider time,
        IHostApplicationLifetime lifetime, ILogger<DirectLineChannel> log, Hosting.InstanceSignals? signals = null)
    {
        this.transcript = transcript;
        this.pipeline = pipeline;
        _options = options.Value;
        this.time = time;
        this.lifetime = lifetime;
        this.log = log;
        _signals = signals;
        if (signals is not null)
        {
            // Another instance committed activities of a conversation (its welcome, a reply, a staff message): wake
            // this instance's socket of it, which reads the transcript after its watermark. Or it is running a slow
            // turn of it: show the bot typing here too. After the listener was reconnected, every socket may be
            // behind: wake them all.
            signals.Received += (channel, conversationId) =>
            {
                if (!_conversations.TryGetValue(conversationId, out var c))
                {
                    return;
                }

                if (channel == TranscriptStore.NotifyChannel)
                {
                    c.Stream?.Wake();
                }
                else if (channel == Hosting.InstanceSignals.TypingChannel)
                {
                    c.Stream?.SendTyping(Serialize(Outgoing(new Activity { Type = ActivityTypes.Typing }, c.Id, time.GetUtcNow())));
                }
            };
            signals.Reconnected += () =>
            {
                foreach (var c in _conversations.Values)
                {
                    c.Stream?.Wake();
                }
            };
        }
    }

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

        return Remember(New(stored.Id, stored.UserId));
    }

    private DirectLineConversation New(string id, string userId) => new(id, userId, new ConversationDelivery(id, transcript, time, log));

    /// <summary>Starts a conversation: stores it, then runs the bot's <c>conversationUpdate</c> turn in the background.
    /// Returns false if it exists already.</summary>
    public async Task<bool> StartAsync(string id, string userId, string? locale, CancellationToken cancellationToken)
    {
        if (!await transcript.CreateConversationAsync(id, ChannelId, userId, cancellationToken))
        {
            return false;
        }

        var conversation = Remember(New(id, userId));
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
        // answered only once it is on the disk (the echo goes then too, or earlier with a crisis reply). Replies are
        // numbered after it, so they can never reach a client before it (ConversationDelivery).
        conversation = Current(conversation);
        var id = string.Empty;
        Task<IReadOnlyList<TranscriptPosition>>? stored = null;
        if (stamped.Type != ActivityTypes.Typing) // typing is WebSocket-only and not part of the transcript
        {
            try
            {
                var write = await conversation.Delivery.AppendAsync([ToAppend(conversation, stamped, TranscriptRoles.Visitor)], urgent: false, cancellationToken);
                id = write.Reserved[0].ActivityId;
                stored = write.Completion;
            }
            catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException && transcript.NumbersFromDatabase)
            {
                // Its number could not be reserved (the database is down): the activity is not stored and the POST
                // fails, but its turn still runs, so an emergency is escalated (the outbox) and answered (unnumbered).
                id = conversation.Id + "|u" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
                stored = Task.FromException<IReadOnlyList<TranscriptPosition>>(e);
            }

            stamped = stamped with { Id = id };
        }

        var turn = RunTurnAsync(conversation, stamped);
        if (stored is not null)
        {
            await stored;
        }

        await turn;
        return id;
    }

    private async Task RunTurnAsync(DirectLineConversation conversation, Activity activity)
    {
        await Task.Yield(); // let the caller go on to wait for its commit
        TurnContext? turn = null;
        turn = new TurnContext(activity, (replies, ct) =>
            SendAsync(conversation, replies, TranscriptRoles.Bot, urgent: turn!.Safety()?.Escalated == true, ct));
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
        var ids = await SendAsync(conversation, [reply], TranscriptRoles.Staff, urgent: false, cancellationToken);
        return ids[0];
    }

    /// <summary>Sends the bot's (or staff's, by <paramref name="role"/>) replies: stored (numbered) in one group commit and
    /// sent to the conversation's clients in their place in its order; typing goes to the socket only, at once.</summary>
    /// <param name="urgent">A reply of an escalated (crisis) turn: it goes to the client at once, with everything numbered
    /// before it, without waiting for any commit (its write goes on, and the turn waits for it at most 300 ms after
    /// the reply has gone; decision 0016). Every other reply goes once committed and after everything before it, so
    /// the stream's watermarks never run ahead of the transcript (a reconnect after a watermark can then never skip an
    /// earlier activity still being written).</param>
    private async Task<IReadOnlyList<string?>> SendAsync(DirectLineConversation conversation, IReadOnlyList<Activity> replies, string role,
        bool urgent, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var stamped = replies.Select(r => Outgoing(r, conversation.Id, now)).ToArray();

        conversation = Current(conversation);
        var ids = new string?[stamped.Length];
        foreach (var typing in stamped.Where(a => a.Type == ActivityTypes.Typing))
        {
            conversation.Stream?.SendTyping(Serialize(typing));
            _signals?.Send(Hosting.InstanceSignals.TypingChannel, conversation.Id); // the visitor's socket may be on another instance
        }

        var stored = Enumerable.Range(0, stamped.Length).Where(i => stamped[i].Type != ActivityTypes.Typing).ToArray();
        if (stored.Length > 0)
        {
            var write = await conversation.Delivery.AppendAsync(
                stored.Select(i => ToAppend(conversation, stamped[i], role)).ToArray(), urgent, lifetime.ApplicationStopping);
            for (var k = 0; k < stored.Length; k++)
            {
                ids[stored[k]] = write.Reserved[k].ActivityId;
            }

            if (!urgent)
            {
                await write.Completion;
            }
            else if (await Task.WhenAny(write.Completion, Task.Delay(UrgentWriteWait, time, lifetime.ApplicationStopping)) != write.Completion)
            {
                // Already on its way to the visitor; the turn goes on, and a slow or failed write is only reported
                // (a reload shows the reply once it has landed).
                SlowStore(log, conversation.Id, stored.Length);
                _ = write.Completion.ContinueWith(t => TurnFailed(log, conversation.Id, "reply store", t.Exception!.InnerException!.GetType().Name),
                    CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
            else if (write.Completion.IsFaulted)
            {
                TurnFailed(log, conversation.Id, "reply store", write.Completion.Exception!.InnerException!.GetType().Name);
            }
        }

        return ids;
    }

    /// <summary>How long the rest of a crisis turn waits for its reply's write, once the reply has gone to the visitor
    /// (so that in normal operation the POST is answered with the turn on the disk, as for any other turn).</summary>
    private static readonly TimeSpan UrgentWriteWait = TimeSpan.FromMilliseconds(300);

    private TranscriptAppend ToAppend(DirectLineConversation conversation, Activity activity, string role) => new(
        conversation.Id, ChannelId, role, activity.Type, activity.Id, activity.Text,
        (id, _) => Serialize(activity with { Id = id }), conversation.UserId);

    /// <summary>A reply as this channel sends it: its conversation, its time, and from the bot unless it names a sender.</summary>
    private Activity Outgoing(Activity reply, string conversationId, DateTimeOffset now) => reply with
    {
        ChannelId = ChannelId,
        Conversation = new ConversationAccount { Id = conversationId },
        From = reply.From is null ? Bot : reply.From with { Role = reply.From.Role ?? "bot" },
        Timestamp = now,
        ServiceUrl = null,
    };

    public static string Serialize(Activity activity) => JsonSerializer.Serialize(activity, ProtocolJsonContext.Default.Activity);

    /// <summary>Activities for a client: everything but <c>conversationUpdate</c>, which Direct Line never shows clients.</summary>
    public static bool VisibleToClient(string type) => type != ActivityTypes.ConversationUpdate;

    /// <summary>Activities after a watermark for the polling GET, as <c>{"activities":[...],"watermark":"N"}</c>: the same
    /// order and the same activities as the socket gets.</summary>
    public async Task<string> ActivitySetAfterAsync(DirectLineConversation conversation, long watermark, CancellationToken cancellationToken)
    {
        var page = await conversation.Delivery.ReadAfterAsync(watermark, 500, cancellationToken);
        return ActivitySet(page.Activities.Where(a => VisibleToClient(a.Type)).Select(a => a.Json), page.Watermark);
    }

    public static string ActivitySet(IEnumerable<string> activityJson, long? watermark)
    {
        var utf8 = new ArrayBufferWriter<byte>();
        WriteActivitySet(utf8, activityJson, watermark);
        return Encoding.UTF8.GetString(utf8.WrittenSpan);
    }

    /// <summary>
    /// Writes <c>{"activities":[...],"watermark":"N"}</c> (no watermark when null) as UTF-8: the one place the
    /// activity set's shape is written, for the polling GET and for every frame of the WebSocket.
    /// </summary>
    public static void WriteActivitySet(IBufferWriter<byte> output, IEnumerable<string> activityJson, long? watermark)
    {
        output.Write("{\"activities\":["u8);
        var first = true;
        foreach (var json in activityJson)
        {
            if (!first)
            {
                output.Write(","u8);
            }

            Encoding.UTF8.GetBytes(json, output);
            first = false;
        }

        output.Write("]"u8);
        if (watermark is { } w)
        {
            output.Write(",\"watermark\":\""u8);
            var digits = output.GetSpan(20);
            w.TryFormat(digits, out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
            output.Advance(written);
            output.Write("\""u8);
        }

        output.Write("}"u8);
    }

    /// <summary>Serves a conversation's WebSocket until it closes: replay after the watermark, then live activities and keep-alives.</summary>
    public async Task RunStreamAsync(DirectLineConversation conversation, WebSocket socket, long watermark, CancellationToken requestAborted)
    {
        conversation = Remember(conversation);
        var stream = new StreamConnection(socket, conversation.Delivery, watermark, time);
        var previous = conversation.Delivery.Attach(stream);
        if (previous is not null)
        {
            Collision(log, conversation.Id);
            await previous.CloseAsync(WebSocketCloseStatus.PolicyViolation, "collision");
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, lifetime.ApplicationStopping);
        var receiving = stream.ReceiveUntilClosedAsync(stop.Token);
        var sending = stream.SendUntilClosedAsync(_options.KeepAliveInterval, stop.Token);
        try
        {
            var first = await Task.WhenAny(sending, receiving);
            await first; // a socket error ends the stream
            if (first == sending)
            {
                await receiving.WaitAsync(TimeSpan.FromSeconds(2), time); // closed by us (a newer socket): the client's close reply
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or TimeoutException or System.Data.Common.DbException)
        {
            StreamEnded(log, conversation.Id, e.GetType().Name); // the client reconnects after its watermark
        }
        finally
        {
            await stop.CancelAsync(); // ends both loops
            conversation.Delivery.Detach(stream);
            await Task.WhenAll(sending, receiving).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            await stream.CloseAsync(WebSocketCloseStatus.NormalClosure, "closed");
        }
    }

    /// <summary>The instance the channel holds for this conversation (the one a new socket attaches to), keeping this one
    /// if it was forgotten meanwhile; so a long turn's replies never go to a forgotten instance's (absent) socket.</summary>
    private DirectLineConversation Current(DirectLineConversation conversation) => _conversations.GetOrAdd(conversation.Id, conversation);

    private DirectLineConversation Remember(DirectLineConversation conversation)
    {
        if (_conversations.Count > MaxCached)
        {
            foreach (var (key, value) in _conversations)
            {
                if (value.Delivery.IsIdle) // no socket, nothing being written or sent
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

    [LoggerMessage(8005, LogLevel.Warning, "Direct Line: {Count} crisis replies of {ConversationId} sent, their transcript write not landed after 300 ms (slow database)")]
    private static partial void SlowStore(ILogger logger, string conversationId, int count);

    [LoggerMessage(8003, LogLevel.Information, "Direct Line stream of {ConversationId} replaced by a newer one (closed with collision)")]
    private static partial void Collision(ILogger logger, string conversationId);

    [LoggerMessage(8004, LogLevel.Debug, "Direct Line stream of {ConversationId} ended ({Reason})")]
    private static partial void StreamEnded(ILogger logger, string conversationId, string reason);
}

/// <summary>
/// One conversation's WebSocket. One loop sends everything (the replay after the client's watermark, then each activity
/// once it may go, typing, keep-alives and the close), so frames can neither race nor overtake each other: it reads
/// the activities after the last one it sent from the conversation's <see cref="ConversationDelivery"/>, which gives
/// them in the transcript's order, and sends each in a frame of its own whose watermark is its number. One activity
/// per frame because botframework-directlinejs (and Web Chat with it) emits a frame's activities one timer tick at a
/// time and interleaves a frame that arrives meanwhile with them.
/// </summary>
internal sealed class StreamConnection(WebSocket socket, ConversationDelivery delivery, long watermark, TimeProvider time)
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _typing = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, byte> _ahead = new(); // sent before their turn
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _wake = new();
    private CancellationToken _stopping; // the send loop's
    private CancellationTokenSource? _sendTimeout; // the send loop's: linked to _stopping, re-armed per frame
    private readonly ArrayBufferWriter<byte> _frame = new(); // the send loop's: one frame at a time
    private long _sent = watermark;
    private DateTimeOffset _lastSend = time.GetUtcNow();
    private CloseRequest? _close;
    private int _closing;

    /// <summary>The watermark of the last activity sent (or passed over).</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>Something may be ready to send.</summary>
    public void Wake() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>A typing indicator: not part of the transcript, sent as soon as the loop gets to it.</summary>
    public void SendTyping(string json)
    {
        if (_typing.Count < 100)
        {
            _typing.Enqueue(json);
            Wake();
        }
    }

    /// <summary>An activity sent at once without a watermark, as typing is: a crisis reply whose numbers could not be
    /// reserved in time (never dropped, unlike typing over the bound).</summary>
    public void SendUnnumbered(string json)
    {
        _typing.Enqueue(json);
        Wake();
    }

    /// <summary>This socket already has the activity numbered <paramref name="seq"/> (sent ahead of its turn): when its
    /// turn comes it is passed over, not sent again.</summary>
    public void MarkSentAhead(long seq) => _ahead.TryAdd(seq, 0);

    /// <summary>The send loop: until the socket fails, <paramref name="cancellationToken"/> fires, or a close is asked for.</summary>
    public async Task SendUntilClosedAsync(TimeSpan keepAliveInterval, CancellationToken cancellationToken)
    {
        // A wait ends when something may be ready (Wake), at the keep-alive or a hold's deadline (the alarm), or when
        // the socket is done (the token): each wakes the loop, which then looks.
        using var alarm = time.CreateTimer(static s => ((StreamConnection)s!).Wake(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        using var stopping = cancellationToken.UnsafeRegister(static s => ((StreamConnection)s!).Wake(), this);
        _stopping = cancellationToken;
        _sendTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (true)
            {
                // A fresh signal before looking, so a wake while this pass reads or sends is never missed. Its
                // continuation (the next pass) runs on the thread that wakes it, as a push did: no extra hop through
                // the thread pool between a commit landing and its frame going out. Nobody wakes it holding a lock.
                var woken = new TaskCompletionSource();
                Volatile.Write(ref _wake, woken);
                if (Volatile.Read(ref _close) is { } close)
                {
                    if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                    {
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                        await socket.CloseOutputAsync(close.Status, close.Reason, timeout.Token);
                    }

                    return;
                }

                while (_typing.TryDequeue(out var typing))
                {
                    await SendFrameAsync(typing, null);
                }

                DeliveryPage page;
                do
                {
                    page = await delivery.ReadAfterAsync(_sent, 200, cancellationToken);
                    foreach (var activity in page.Activities.Where(a => DirectLineChannel.VisibleToClient(a.Type)))
                    {
                        if (_ahead.IsEmpty || !_ahead.TryRemove(activity.Seq, out _))
                        {
                            await SendFrameAsync(activity.Json, activity.Seq);
                        }

                        Volatile.Write(ref _sent, activity.Seq);
                    }

                    // Crisis replies waiting behind another instance's write: now, without moving the watermark.
                    foreach (var activity in page.Ahead ?? [])
                    {
                        if (DirectLineChannel.VisibleToClient(activity.Type) && _ahead.TryAdd(activity.Seq, 0))
                        {
                            await SendFrameAsync(activity.Json, _sent);
                        }
                    }

                    Volatile.Write(ref _sent, page.Watermark);
                    delivery.Prune();
                }
                while (page.More && Volatile.Read(ref _close) is null);

                var now = time.GetUtcNow();
                var idle = now - _lastSend;
                if (idle >= keepAliveInterval)
                {
                    await SendAsync(ReadOnlyMemory<byte>.Empty); // as Direct Line does on an idle socket
                    idle = TimeSpan.Zero;
                }

                var wait = keepAliveInterval - idle;
                if (delivery.NextHoldDeadline() is { } held && held - now < wait)
                {
                    wait = held - now + TimeSpan.FromMilliseconds(1);
                }

                if (wait > TimeSpan.Zero)
                {
                    alarm.Change(wait, Timeout.InfiniteTimeSpan); // one timer for the socket's life, not one per wait
                    await woken.Task;
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
            socket.Abort(); // the client is gone or stuck; it catches up after its watermark when it reconnects
            throw;
        }
        finally
        {
            _sendTimeout.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>Sends <c>{"activities":[json],"watermark":"N"}</c> (no watermark for typing), written as UTF-8 into the
    /// socket's own reused buffer: no frame string, no byte array per frame.</summary>
    private Task SendFrameAsync(string json, long? watermark)
    {
        _frame.ResetWrittenCount();
        DirectLineChannel.WriteActivitySet(_frame, [json], watermark);
        return SendAsync(_frame.WrittenMemory);
    }

    private async Task SendAsync(ReadOnlyMemory<byte> frame)
    {
        // The send loop's own timeout source, re-armed for each frame (one at a time) instead of a new one per frame.
        _sendTimeout!.CancelAfter(SendTimeout);
        try
        {
            await socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, _sendTimeout.Token);
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            throw new IOException("The client did not take a frame within the send timeout.");
        }

        if (!_sendTimeout.TryReset())
        {
            // It fired just as the frame went: a fresh one for the next frame.
            _sendTimeout.Dispose();
            _sendTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        }

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

    /// <summary>Closes with a reason (<c>collision</c> when a newer socket took over), through the send loop so the
    /// close never goes out in the middle of a frame; aborts if that cannot be done within 2 s.</summary>
    public async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _close, new CloseRequest(status, reason));
        Wake();
        try
        {
            if (!_stopped.Task.IsCompleted)
            {
                await _stopped.Task.WaitAsync(TimeSpan.FromSeconds(2), time);
            }
            else if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(status, reason, timeout.Token); // the loop has ended: nothing else sends
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException or TimeoutException)
        {
            socket.Abort();
        }
    }

    private sealed record CloseRequest(WebSocketCloseStatus Status, string Reason);
}
