using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Storage.Transcripts;

namespace BotService.Bot;

/// <summary>
/// Records every turn in the transcript, whatever the channel: the incoming activity before the bot sees it (so an
/// escalation's message is already numbered when the dispatcher looks for it), and every outgoing batch through
/// <see cref="ITurnContext.OnSendActivities"/>. Typing indicators are not part of a transcript. An adapter that must
/// store activities itself to number them (Direct Line: ids and watermarks come from the transcript) sets
/// <see cref="RecordedByAdapter"/> and this middleware stands aside.
/// <para>
/// The transcript must never hold up a crisis reply, so nothing here waits on the database before the turn goes on or
/// before a reply is sent: appends are queued in the turn's order and written by the store's group commit meanwhile;
/// only at the end of the turn does it wait, at most <see cref="CommitBudget"/>, for the commits, so that in normal operation a channel's
/// 200 means the turn is on the disk (except for an escalated turn, whose durable record is the escalation outbox:
/// its reply never waits on the database). A failed or slow write is logged (never the text) and the turn goes on.
/// </para>
/// </summary>
internal sealed partial class TranscriptMiddleware(TranscriptStore transcript, ILogger<TranscriptMiddleware> log) : Protocol.Turns.IMiddleware
{
    /// <summary>Turn state key: the adapter has stored this turn's activities already.</summary>
    public const string RecordedByAdapter = "BotService.Transcript.RecordedByAdapter";

    internal static readonly TimeSpan CommitBudget = TimeSpan.FromSeconds(2);

    public async Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        var incoming = turnContext.Activity;
        var conversationId = incoming.Conversation?.Id;
        if (turnContext.TurnState.ContainsKey(RecordedByAdapter) || string.IsNullOrEmpty(conversationId))
        {
            await next(cancellationToken);
            return;
        }

        var channel = incoming.ChannelId ?? "unknown";
        var writes = new List<Task<TranscriptWrite?>>();
        Task<TranscriptWrite?>? last = null;
        if (incoming.Type != ActivityTypes.Typing)
        {
            last = Queue(null, [ToAppend(incoming, conversationId, channel, incoming.From?.Role == "bot" ? TranscriptRoles.Bot : TranscriptRoles.Visitor)], channel);
            writes.Add(last);
        }

        turnContext.OnSendActivities((_, activities, send, _) =>
        {
            var items = activities.Where(a => a.Type != ActivityTypes.Typing)
                .Select(a => ToAppend(a, a.Conversation?.Id ?? conversationId, channel, TranscriptRoles.Bot)).ToArray();
            if (items.Length > 0)
            {
                lock (writes)
                {
                    last = Queue(last, items, channel);
                    writes.Add(last);
                }
            }

            return send(); // not after the write: a reply never waits on the disk
        });

        await next(cancellationToken);
        if (turnContext.Safety()?.Escalated == true)
        {
            // A crisis turn's record that counts is the escalation, already durable in its outbox; its reply must not
            // wait for a database that may be locked or gone.
            return;
        }

        Task<TranscriptWrite?>[] queued;
        lock (writes)
        {
            queued = [.. writes];
        }

        if (queued.Length == 0)
        {
            return;
        }

        try
        {
            // The store commits in queue order, so the last append done means every earlier one is done too.
            await CommittedAsync(queued[^1], channel).WaitAsync(CommitBudget, cancellationToken);
            foreach (var earlier in queued.AsSpan(0, queued.Length - 1))
            {
                if (earlier.Result is { Completion.IsFaulted: true } failed)
                {
                    AppendFailed(log, channel, failed.Reserved.Count, failed.Completion.Exception!.InnerException!.GetType().Name);
                }
            }
        }
        catch (TimeoutException)
        {
            CommitSlow(log, channel, (int)CommitBudget.TotalMilliseconds);
        }
    }

    /// <summary>
    /// Queues an append after the one before it, so the transcript keeps the turn's order. In the common case (the
    /// store knows the conversation, the append before is queued) that is done at once on this thread; otherwise on a
    /// thread-pool thread, since a new conversation's first number is read from the database, and the first use of the
    /// database builds its model: neither may delay the turn. Failures are logged here and yield null.
    /// </summary>
    private Task<TranscriptWrite?> Queue(Task<TranscriptWrite?>? after, TranscriptAppend[] items, string channel)
    {
        if (after is null || after.IsCompletedSuccessfully)
        {
            try
            {
                if (transcript.TryBeginAppend(items, out var write))
                {
                    return Task.FromResult<TranscriptWrite?>(write);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                AppendFailed(log, channel, items.Length, e.GetType().Name); // shutting down
                return Task.FromResult<TranscriptWrite?>(null);
            }
        }

        return Task.Run(async () =>
        {
            if (after is not null)
            {
                await after; // never throws: failures become null
            }

            try
            {
                // Off the turn's path (the turn goes on meanwhile): ride out a database restart rather than lose the turn.
                return await transcript.BeginAppendAsync(items, CancellationToken.None, rideOutOutage: true);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                AppendFailed(log, channel, items.Length, e.GetType().Name);
                return null;
            }
        });
    }

    private async Task CommittedAsync(Task<TranscriptWrite?> queued, string channel)
    {
        if (await queued is not { } write)
        {
            return;
        }

        try
        {
            await write.Completion;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            AppendFailed(log, channel, write.Reserved.Count, e.GetType().Name);
        }
    }

    /// <summary>
    /// The row for an activity: its text, type and role, without the activity's JSON, which only a channel that replays
    /// activities to its client needs (Direct Line stores its own). Less health data kept twice, and less work on the
    /// store's single writer per turn.
    /// </summary>
    private static TranscriptAppend ToAppend(Activity activity, string conversationId, string channel, string role) => new(
        conversationId, channel, role, activity.Type, activity.Id, activity.Text, RenderJson: null);

    [LoggerMessage(7301, LogLevel.Error, "Transcript: {Count} activities on {Channel} could not be stored ({Error}); the turn goes on")]
    private static partial void AppendFailed(ILogger logger, string channel, int count, string error);

    [LoggerMessage(7302, LogLevel.Warning, "Transcript: the turn's activities on {Channel} were not committed within {BudgetMs} ms; answered anyway, the write goes on")]
    private static partial void CommitSlow(ILogger logger, string channel, int budgetMs);
}
