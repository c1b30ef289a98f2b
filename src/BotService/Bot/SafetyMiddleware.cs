using BotService.Hosting;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using IMiddleware = BotService.Protocol.Turns.IMiddleware; // not ASP.NET Core's
using BotService.Safety;

namespace BotService.Bot;

/// <summary>Whether a member of staff has the dashboard open right now (on this instance).</summary>
internal interface IStaffPresence
{
    bool AnyoneOnDuty { get; }
}

/// <summary>
/// The safety gate as the first step of every message turn, on every channel: classifies the text (with the
/// conversation's last few messages, decision 0029), escalates an
/// emergency or urgent message (the gate hands it to the durable outbox and returns within its budget), and sends
/// the crisis wording at once, before anything else is looked up. An emergency ends the turn there: the visitor
/// gets the resources and nothing that could bury them. Depends only on what is in memory, so it works with the
/// index, the database and Teams all down.
/// </summary>
internal sealed class SafetyMiddleware(SafetyGate gate, IStaffPresence presence) : IMiddleware
{
    public async Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        if (activity.Type != ActivityTypes.Message || string.IsNullOrWhiteSpace(activity.Text))
        {
            await next(cancellationToken);
            return;
        }

        var channel = activity.ChannelId ?? "unknown";
        var messageId = activity.Id ?? Guid.NewGuid().ToString("n");
        var outcome = activity.Conversation?.Id is { Length: > 0 } conversationId && !turnContext.IsOneOff()
            ? gate.CheckInConversation(activity.Text, channel, conversationId, messageId)
            : gate.Check(activity.Text, channel, activity.Conversation?.Id ?? "unknown", messageId);
        turnContext.SetSafety(outcome);
        if (outcome.Reply is { } reply)
        {
            await turnContext.SendActivityAsync(Replies.Crisis(reply), cancellationToken);
            if (outcome.Escalated && !presence.AnyoneOnDuty)
            {
                // Say it plainly rather than let "staff have been alerted" suggest someone is reading now.
                await turnContext.SendActivityAsync(Replies.NoStaffOnline(outcome.Assessment.Level), cancellationToken);
            }
        }

        if (outcome.Assessment.Level == SafetyLevel.Emergency)
        {
            return;
        }

        await next(cancellationToken);
    }
}
