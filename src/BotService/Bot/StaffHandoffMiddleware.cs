using BotService.Dashboard;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using IMiddleware = BotService.Protocol.Turns.IMiddleware; // not ASP.NET Core's

namespace BotService.Bot;

/// <summary>
/// After the safety gate: while a staff member has claimed an escalation of the conversation, the visitor's messages
/// are for that person, so the bot does not answer them (they are still in the transcript for the dashboard). The
/// safety gate runs before this, so a crisis message still gets the crisis reply and a new escalation. Only messages
/// are held back; events (such as "Talk to staff") still reach the bot.
/// </summary>
internal sealed class StaffHandoffMiddleware(ClaimedConversations claimed) : IMiddleware
{
    public Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        return activity.Type == ActivityTypes.Message && activity.Conversation?.Id is { } id && claimed.IsClaimed(id)
            ? Task.CompletedTask
            : next(cancellationToken);
    }
}
