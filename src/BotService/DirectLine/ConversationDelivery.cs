using BotService.Storage.Transcripts;

namespace BotService.DirectLine;

/// <summary>An activity on its way to a client: its number in the transcript (the watermark), its type and its JSON.</summary>
internal readonly record struct Deliverable(long Seq, string Type, string Json);

/// <summary>What a client gets after a watermark: activities in the transcript's order, and the watermark after them
/// (past numbers that hold nothing for a client, such as a write that failed). <paramref name="More"/>: read again.</summary>
internal sealed record DeliveryPage(IReadOnlyList<Deliverable> Activities, long Watermark, bool More);

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
    private readonly List<Entry> _entries = []; // in number order, all above _final
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
        try
        {
            write = await transcript.BeginAppendAsync(items, cancellationToken);
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
            }
        }
        finally
        {
            _numbering.Release();
        }

        _ = TrackAsync(write);
        Stream?.Wake();
        return write;
    }

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
            var holding = _entries.Find(e => e.State == EntryState.Writing && !e.Released);
            return holding?.Numbered + MaxHold;
        }
    }

    /// <summary>The activities after <paramref name="after"/> that may go to a client now, in order, at most <paramref name="max"/>.</summary>
    public async Task<DeliveryPage> ReadAfterAsync(long after, int max, CancellationToken cancellationToken)
    {
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

    [LoggerMessage(8006, LogLevel.Warning, "Direct Line: activity {Seq} of {ConversationId} was neither stored nor failed after {Seconds} s; sent ahead of its write so it stops holding back the conversation")]
    private static partial void HeldTooLong(ILogger logger, string conversationId, long seq, double seconds);
}
