using BotService.Storage.Transcripts;

namespace BotService.DirectLine;

/// <summary>An activity on its way to a client: its number in the transcript (the watermark), its type and its JSON.</summary>
internal readonly record struct Deliverable(long Seq, string Type, string Json);

/// <summary>What a client gets after a watermark: activities in the transcript's order, and the watermark after them
/// (past numbers that hold nothing for a client, such as a write that failed). <paramref name="More"/>: read again.</summary>
/// <param name="Ahead">Numbers from several instances only (<see cref="TranscriptStore.NumbersFromDatabase"/>): crisis
/// replies of this instance that wait behind another instance's write in progress. A socket sends them at once without
/// moving its watermark, and passes over them when their turn comes; a poll does not take them.</param>
internal sealed record DeliveryPage(IReadOnlyList<Deliverable> Activities, long Watermark, bool More, IReadOnlyList<Deliverable>? Ahead = null);

/// <summary>
/// The order in which one conversation's activities reach its clients (the WebSocket and the polling GET): strictly
/// the transcript's numbering, each number once, by construction rather than by timing.
/// <para>
/// Every activity the channel numbers goes through <see cref="AppendAsync"/>, which numbers it in the transcript and
/// takes it in here in one step (no other numbering of this conversation in between), so this list always knows every
/// number handed out after the ones it has let go. A client gets the numbers after its watermark up to the first one
/// that is still being written: that one holds back every later one, whatever the order the commits land in. A write
/// that fails for good no longer holds anything back; its number is passed over (the transcript never holds it).
/// </para>
/// <para>
/// Two exceptions let an activity go to clients before its write has landed, still in its place in the order: a
/// crisis reply (<c>urgent</c>) goes at once, and with it every activity numbered before it (the visitor's own message,
/// a welcome still being written); and an activity whose write has neither landed nor failed after
/// <see cref="MaxHold"/> stops holding the stream back. Either way the client may then have seen an activity that a
/// write failing later leaves out of the transcript (decision 0016).
/// </para>
/// <para>
/// With numbers from the database (PostgreSQL, where several instances may append to one conversation; decision 0017)
/// this list knows only this instance's numbers: the others' arrive as committed rows (each commit notifies every
/// instance, which wakes the socket). A client then gets the contiguous run after its watermark, from the transcript
/// and from here; a missing number with later ones present is a write in progress elsewhere (or one that failed
/// there) and holds back the later ones for at most <see cref="MaxHold"/> from when it was first seen, then is passed
/// over. A crisis reply of this instance does not wait behind such a gap: the socket sends it at once without moving
/// its watermark (<see cref="DeliveryPage.Ahead"/>), and if its numbers cannot be reserved in time, unnumbered.
/// </para>
/// <para>
/// Numbers at or below <c>_final</c> are final (committed, so in any read of the transcript begun since, or never to be
/// stored) and are read from the transcript; later ones are served from here. Entries are let go in order once final
/// and sent by the attached socket (at once when none is attached), so this holds only what is being written or not
/// yet sent.
/// </para>
/// </summary>
internal sealed partial class ConversationDelivery(string conversationId, TranscriptStore transcript, TimeProvider time, ILogger log)
{
    /// <summary>The longest an activity whose write neither lands nor fails holds back the ones after it.</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromSeconds(15);

    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _numbering = new(1, 1);
    /// <summary>How long a crisis reply waits for its numbers from the database before it is sent unnumbered.</summary>
    public static readonly TimeSpan UrgentReserveBudget = TimeSpan.FromMilliseconds(500);

    private readonly List<Entry> _entries = []; // in number order, all above _final
    private readonly HashSet<long> _failed = []; // numbers from the database: this instance's writes that failed for good
    private readonly Dictionary<long, DateTimeOffset> _gaps = []; // numbers from the database: missing, since when
    private long? _final; // null: nothing numbered here yet (everything in the transcript then is final)
    private long _firstNumbered;
    private StreamConnection? _stream;

    public string ConversationId => conversationId;

    /// <summary>The conversation's one socket, if it has one.</summary>
    public StreamConnection? Stream
    {
        get
        {
            lock (_lock)
            {
                return _stream;
            }
        }
    }

    /// <summary>Nothing being written or waiting for the socket, and no socket: the conversation may be forgotten.</summary>
    public bool IsIdle
    {
        get
        {
            lock (_lock)
            {
                return _stream is null && _entries.Count == 0;
            }
        }
    }

    /// <summary>Attaches a new socket; returns the one it replaces, if any.</summary>
    public StreamConnection? Attach(StreamConnection stream)
    {
        lock (_lock)
        {
            var previous = _stream;
            _stream = stream;
            return previous;
        }
    }

    public void Detach(StreamConnection stream)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_stream, stream))
            {
                _stream = null;
            }

            Prune();
        }
    }

    /// <summary>
    /// Numbers activities in the transcript (queued for its group commit) and takes them into the delivery order.
    /// <paramref name="urgent"/>: they go to clients at once, with everything numbered before them, without waiting
    /// for any commit. The returned write completes when they are on the disk.
    /// </summary>
    public async Task<TranscriptWrite> AppendAsync(IReadOnlyList<TranscriptAppend> items, bool urgent, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(items.Count);
        await _numbering.WaitAsync(cancellationToken);
        TranscriptWrite write;
        string?[]? pushedUnnumbered = null;
        try
        {
            if (urgent && transcript.NumbersFromDatabase)
            {
                // The numbers are a round trip away; a crisis reply does not wait for a database that is down or slow.
                var reserving = transcript.BeginAppendAsync(items, cancellationToken).AsTask();
                if (await Task.WhenAny(reserving, Task.Delay(UrgentReserveBudget, time, CancellationToken.None)) != reserving || reserving.IsFaulted)
                {
                    pushedUnnumbered = PushUnnumbered(items);
                }

                try
                {
                    write = await reserving;
                }
                catch (Exception e) when (e is not OutOfMemoryException && pushedUnnumbered is not null)
                {
                    // Sent, not stored: the caller reports the failed write (its escalation is in the outbox).
                    var provisional = pushedUnnumbered.Select((id, i) => new TranscriptPosition(0, id ?? ProvisionalId(), false)).ToArray();
                    return new TranscriptWrite(provisional, Task.FromException<IReadOnlyList<TranscriptPosition>>(e));
                }
            }
            else
            {
                write = await transcript.BeginAppendAsync(items, cancellationToken);
            }

            var now = time.GetUtcNow();
            var entries = new Entry[write.Reserved.Count];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = new Entry(write.Reserved[i].Seq, items[i].Type, write.ActivityJson(i), now);
            }

            lock (_lock)
            {
                if (_final is null)
                {
                    _firstNumbered = entries[0].Seq;
                    _final = _firstNumbered - 1;
                }

                foreach (var entry in entries)
                {
                    _entries.Add(entry); // numbered one caller at a time: always after the ones before
                }

                if (urgent)
                {
                    foreach (var entry in _entries)
                    {
                        entry.Released = true;
                    }
                }

                if (pushedUnnumbered is not null)
                {
                    foreach (var entry in entries)
                    {
                        _stream?.MarkSentAhead(entry.Seq); // this socket has it already (unnumbered)
                    }
                }
            }
        }
        finally
        {
            _numbering.Release();
        }

        _ = TrackAsync(write);
        if (urgent)
        {
            Stream?.Wake(); // released now; anything else can go only once its write lands (TrackAsync wakes the socket then)
        }

        return write;
    }

    /// <summary>
    /// A crisis reply whose numbers could not be had in time: sent to this instance's socket now, without a watermark
    /// (as typing is), so it reaches the visitor whatever the database does. Returns the provisional ids used.
    /// </summary>
    private string?[] PushUnnumbered(IReadOnlyList<TranscriptAppend> items)
    {
        var ids = new string?[items.Count];
        var stream = Stream;
        for (var i = 0; i < items.Count; i++)
        {
            ids[i] = items[i].ActivityId ?? ProvisionalId();
            if (items[i].RenderJson is { } render && DirectLineChannel.VisibleToClient(items[i].Type))
            {
                stream?.SendUnnumbered(render(ids[i]!, 0));
            }
        }

        SentUnnumbered(log, conversationId, items.Count, stream is not null);
        return ids;
    }

    private string ProvisionalId() => conversationId + "|u" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    private async Task TrackAsync(TranscriptWrite write)
    {
        IReadOnlyList<TranscriptPosition>? landed = null;
        try
        {
            landed = await write.Completion;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Failed for good (the caller reports it): these numbers stay empty in the transcript.
        }

        StreamConnection? stream;
        lock (_lock)
        {
            for (var i = 0; i < write.Reserved.Count; i++)
            {
                var entry = _entries.Find(e => e.Seq == write.Reserved[i].Seq);
                if (entry is not null)
                {
                    // A retried id keeps its first place; nothing new was stored under this number.
                    entry.State = landed is not null && landed[i].Seq == entry.Seq && !landed[i].AlreadyStored ? EntryState.Stored : EntryState.Failed;
                    if (entry.State == EntryState.Failed && transcript.NumbersFromDatabase)
                    {
                        if (_failed.Count > 10_000)
                        {
                            _failed.Clear(); // bounded; a number forgotten here is passed over after MaxHold instead
                        }

                        _failed.Add(entry.Seq); // never in the transcript: not a gap to wait for
                    }
                }
            }

            Prune();
            stream = _stream;
        }

        stream?.Wake();
    }

    /// <summary>Lets go of the final entries at the front that the socket has sent (all of them when there is no socket).</summary>
    public void Prune()
    {
        lock (_lock)
        {
            var sent = _stream?.Sent ?? long.MaxValue;
            var n = 0;
            while (n < _entries.Count && _entries[n].State != EntryState.Writing && _entries[n].Seq <= sent)
            {
                n++;
            }

            if (n > 0)
            {
                _final = _entries[n - 1].Seq;
                _entries.RemoveRange(0, n);
            }
        }
    }

    /// <summary>When the first activity that holds the others back stops doing so by <see cref="MaxHold"/>; null if none does.</summary>
    public DateTimeOffset? NextHoldDeadline()
    {
        lock (_lock)
        {
            var holding = _entries.Find(e => e.State == EntryState.Writing && !e.Released)?.Numbered + MaxHold;
            if (_gaps.Count > 0)
            {
                var gap = _gaps.Values.Min() + MaxHold;
                holding = holding is { } h && h < gap ? h : gap;
            }

            return holding;
        }
    }

    /// <summary>The activities after <paramref name="after"/> that may go to a client now, in order, at most <paramref name="max"/>.</summary>
    public async Task<DeliveryPage> ReadAfterAsync(long after, int max, CancellationToken cancellationToken)
    {
        if (transcript.NumbersFromDatabase)
        {
            return await ReadContiguousAsync(after, max, cancellationToken);
        }

        long? final;
        Entry[] pending;
        var now = time.GetUtcNow();
        lock (_lock)
        {
            final = _final;
            pending = [.. _entries.Where(e => e.Seq > after)];
        }

        var activities = new List<Deliverable>();
        var watermark = after;
        if (final is null || final > after)
        {
            // Final numbers come from the transcript. With nothing numbered here when this began, everything in it was
            // final then, except what was numbered here since (those are read from here next time).
            var rows = await transcript.ReadAfterAsync(conversationId, after, max, cancellationToken);
            long cap;
            if (final is { } known)
            {
                cap = known;
            }
            else
            {
                lock (_lock)
                {
                    cap = _final is null ? long.MaxValue : _firstNumbered - 1;
                }
            }

            foreach (var row in rows.TakeWhile(r => r.Seq <= cap))
            {
                if (row.ActivityJson is not null)
                {
                    activities.Add(new Deliverable(row.Seq, row.Type, row.ActivityJson));
                }

                watermark = row.Seq;
            }

            if (rows.Count == max && rows[^1].Seq <= cap)
            {
                return new DeliveryPage(activities, watermark, More: true); // more final ones to read first
            }

            if (final is null)
            {
                return new DeliveryPage(activities, watermark, More: false);
            }

            watermark = Math.Max(watermark, final.Value); // a final number missing from the transcript never will be there
        }

        foreach (var entry in pending)
        {
            if (entry.State == EntryState.Writing && !entry.Released)
            {
                if (now - entry.Numbered < MaxHold)
                {
                    break; // still being written: holds back everything after it
                }

                entry.Released = true;
                HeldTooLong(log, conversationId, entry.Seq, MaxHold.TotalSeconds);
            }

            if (activities.Count == max)
            {
                return new DeliveryPage(activities, watermark, More: true);
            }

            if (entry.State != EntryState.Failed && entry.Json is not null)
            {
                activities.Add(new Deliverable(entry.Seq, entry.Type, entry.Json));
            }

            watermark = entry.Seq;
        }

        return new DeliveryPage(activities, watermark, More: false);
    }

    /// <summary>
    /// <see cref="ReadAfterAsync"/> when several instances number the conversation: the committed rows after the
    /// watermark and this instance's entries, merged by number, handed out while contiguous. A number that is missing
    /// while later ones exist (reserved elsewhere, not committed yet) holds back the rest for <see cref="MaxHold"/>
    /// from when it was first seen; this instance's own writes hold back as on one instance.
    /// </summary>
    private async Task<DeliveryPage> ReadContiguousAsync(long after, int max, CancellationToken cancellationToken)
    {
        IReadOnlyList<TranscriptEntry> rows;
        try
        {
            rows = await transcript.ReadAfterAsync(conversationId, after, max, cancellationToken);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException or InvalidOperationException or IOException
            && !cancellationToken.IsCancellationRequested)
        {
            // The database cannot be read (down, refusing connections): this instance's own entries still go out, a
            // crisis reply among them; what another instance committed meanwhile shows as a gap and is held as usual.
            // The next wake or keep-alive reads the database again. Ending the socket here lost the crisis reply.
            rows = [];
        }

        var now = time.GetUtcNow();
        var known = new SortedDictionary<long, (Entry? Local, TranscriptEntry? Row)>();
        foreach (var row in rows)
        {
            known[row.Seq] = (null, row);
        }

        var activities = new List<Deliverable>();
        List<Deliverable>? ahead = null;
        var watermark = after;
        var more = false;
        lock (_lock)
        {
            foreach (var entry in _entries.Where(e => e.Seq > after))
            {
                known[entry.Seq] = (entry, known.TryGetValue(entry.Seq, out var k) ? k.Row : null);
            }

            var last = known.Count > 0 ? known.Keys.Max() : after;
            var expected = after + 1;
            while (expected <= last)
            {
                if (activities.Count == max)
                {
                    more = true;
                    break;
                }

                if (known.TryGetValue(expected, out var at))
                {
                    _gaps.Remove(expected);
                    if (at.Row is null && at.Local is { State: EntryState.Writing, Released: false } writing)
                    {
                        if (now - writing.Numbered < MaxHold)
                        {
                            break; // this instance's write in progress holds back the rest
                        }

                        writing.Released = true;
                        HeldTooLong(log, conversationId, writing.Seq, MaxHold.TotalSeconds);
                    }

                    var json = at.Row is { } r ? r.ActivityJson : at.Local!.State == EntryState.Failed ? null : at.Local.Json;
                    if (json is not null)
                    {
                        activities.Add(new Deliverable(expected, at.Row?.Type ?? at.Local!.Type, json));
                    }
                }
                else if (!_failed.Contains(expected))
                {
                    // Reserved by another instance and not committed yet, or failed there: wait for it, for a while.
                    if (!_gaps.TryGetValue(expected, out var since))
                    {
                        _gaps[expected] = since = now;
                    }

                    if (now - since < MaxHold)
                    {
                        ahead = [.. known.Where(k => k.Key > expected && k.Value.Local is { Released: true, State: not EntryState.Failed, Json: not null })
                            .Select(k => new Deliverable(k.Key, k.Value.Local!.Type, k.Value.Local.Json!))];
                        break;
                    }

                    _gaps.Remove(expected);
                    GapPassed(log, conversationId, expected, MaxHold.TotalSeconds);
                }

                watermark = expected;
                expected++;
            }

            if (_gaps.Count > 1_000)
            {
                _gaps.Clear(); // bounded: a gap forgotten is waited for afresh
            }
        }

        if (!more && rows.Count == max && watermark >= rows[^1].Seq)
        {
            more = true; // more committed rows to read
        }

        return new DeliveryPage(activities, watermark, more, ahead is { Count: > 0 } ? ahead : null);
    }

    private enum EntryState
    {
        Writing,
        Stored,
        Failed,
    }

    private sealed class Entry(long seq, string type, string? json, DateTimeOffset numbered)
    {
        public long Seq { get; } = seq;

        public string Type { get; } = type;

        public string? Json { get; } = json;

        public DateTimeOffset Numbered { get; } = numbered;

        // Written under the delivery's lock; read under it or from a snapshot (a stale read only delays a send).
        public volatile EntryState State;

        public volatile bool Released;
    }

    [LoggerMessage(8007, LogLevel.Warning, "Direct Line: activity {Seq} of {ConversationId} was not in the transcript {Seconds} s after a later one (reserved by another instance, not committed); passed over")]
    private static partial void GapPassed(ILogger logger, string conversationId, long seq, double seconds);

    [LoggerMessage(8008, LogLevel.Error, "Direct Line: {Count} crisis replies of {ConversationId} sent unnumbered (to a socket: {Socket}): their sequence numbers could not be reserved in time")]
    private static partial void SentUnnumbered(ILogger logger, string conversationId, int count, bool socket);

    [LoggerMessage(8006, LogLevel.Warning, "Direct Line: activity {Seq} of {ConversationId} was neither stored nor failed after {Seconds} s; sent ahead of its write so it stops holding back the conversation")]
    private static partial void HeldTooLong(ILogger logger, string conversationId, long seq, double seconds);
}
