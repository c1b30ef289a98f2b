using System.Text.Json;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Storage.Transcripts;

namespace BotService.Bot;

/// <summary>
/// Records every turn in the transcript, whatever the channel: the incoming activity before the bot sees it (so an
/// escalation's message is already stored when the dispatcher looks for it), and every outgoing batch through
/// <see cref="ITurnContext.OnSendActivities"/> before it is sent. Typing indicators are not part of a transcript.
/// An adapter that must store activities itself to number them (Direct Line: ids and watermarks come from the
/// transcript) sets <see cref="RecordedByAdapter"/> and this middleware stands aside. The transcript must never hold
/// up a crisis reply: a turn waits for its write at most <see cref="WaitBudget"/> (a locked or slow database), then
/// goes on while the write finishes in the background; a failed write is logged (without text).
/// </summary>
internal sealed partial class TranscriptMiddleware(TranscriptStore transcript, ILogger<TranscriptMiddleware> log) : Protocol.Turns.IMiddleware
{
    /// <summary>Turn state key: the adapter has stored this turn's activities already.</summary>
    public const string RecordedByAdapter = "BotService.Transcript.RecordedByAdapter";

    /// <summary>The longest a turn waits for the transcript (as the escalation outbox's write budget).</summary>
    public static readonly TimeSpan WaitBudget = TimeSpan.FromMilliseconds(300);

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
        if (incoming.Type != ActivityTypes.Typing)
        {
            await TryAppendAsync([ToAppend(incoming, conversationId, channel, incoming.From?.Role == "bot" ? TranscriptRoles.Bot : TranscriptRoles.Visitor)],
                channel, cancellationToken);
        }

        turnContext.OnSendActivities(async (_, activities, send, ct) =>
        {
            var toStore = activities.Select((a, i) => (a, i)).Where(x => x.a.Type != ActivityTypes.Typing).ToArray();
            var positions = await TryAppendAsync(
                toStore.Select(x => ToAppend(x.a, x.a.Conversation?.Id ?? conversationId, channel, TranscriptRoles.Bot)).ToArray(), channel, ct);
            var sent = await send();
            if (positions is null)
            {
                return sent;
            }

            // The channel's own ids win; where it gave none, the transcript's id is the reply's stable id.
            var ids = sent.ToArray();
            for (var k = 0; k < toStore.Length && k < positions.Count; k++)
            {
                var i = toStore[k].i;
                if (i < ids.Length)
                {
                    ids[i] ??= positions[k].ActivityId;
                }
            }

            return ids;
        });

        await next(cancellationToken);
    }

    private async Task<IReadOnlyList<TranscriptPosition>?> TryAppendAsync(TranscriptAppend[] items, string channel, CancellationToken cancellationToken)
    {
        if (items.Length == 0)
        {
            return [];
        }

        try
        {
            var write = await transcript.BeginAppendAsync(items, cancellationToken);
            var landed = await Task.WhenAny(write.Completion, Task.Delay(WaitBudget, cancellationToken));
            if (landed == write.Completion)
            {
                return await write.Completion;
            }

            Slow(log, channel, items.Length, WaitBudget.TotalMilliseconds);
            _ = write.Completion.ContinueWith(t => AppendFailed(log, channel, items.Length, t.Exception!.InnerException!.GetType().Name),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            return write.Reserved;
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            AppendFailed(log, channel, items.Length, e.GetType().Name);
            return null;
        }
    }

    private static TranscriptAppend ToAppend(Activity activity, string conversationId, string channel, string role) => new(
        conversationId, channel, role, activity.Type, activity.Id, activity.Text,
        (id, _) => JsonSerializer.Serialize(activity with { Id = id }, ProtocolJsonContext.Default.Activity));

    [LoggerMessage(7102, LogLevel.Warning, "Transcript: {Count} activities on {Channel} not stored within {Ms} ms; the turn goes on, the write continues")]
    private static partial void Slow(ILogger logger, string channel, int count, double ms);

    [LoggerMessage(7101, LogLevel.Error, "Transcript: {Count} activities on {Channel} could not be stored ({Error}); the turn goes on")]
    private static partial void AppendFailed(ILogger logger, string channel, int count, string error);
}
