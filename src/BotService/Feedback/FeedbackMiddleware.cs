using BotService.Bot;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using IMiddleware = BotService.Protocol.Turns.IMiddleware; // not ASP.NET Core's

namespace BotService.Feedback;

/// <summary>
/// Takes votes on answers (<see cref="FeedbackReplies.Parse"/>) out of the turn before the bot sees them, and stores
/// them (<see cref="AnswerLog.VoteAsync"/>). In the pipeline after the Teams tenant gate, so only the clinic's tenant
/// votes in Teams. A vote that cannot be stored gets a reply saying why (and is still in the transcript, like every
/// activity); a stored one gets a thank-you in Teams, where a card button shows no pressed state, and nothing in Web
/// Chat, whose button shows it is pressed.
/// </summary>
internal sealed class FeedbackMiddleware(AnswerLog answers) : IMiddleware
{
    public const string ThanksText = "Thanks for the feedback. It helps the clinic improve its articles.";
    public const string RefusedPrefix = "Sorry, that feedback could not be recorded: ";

    public async Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        var parsed = FeedbackReplies.Parse(turnContext.Activity);
        if (!parsed.IsFeedback)
        {
            await next(cancellationToken);
            return;
        }

        var problem = parsed.Problem;
        if (problem is null)
        {
            var conversationId = turnContext.Activity.Conversation?.Id ?? string.Empty;
            problem = await answers.VoteAsync(parsed.AnswerId!, conversationId, parsed.Vote, cancellationToken) switch
            {
                VoteOutcome.Stored => null,
                VoteOutcome.NotAnAnswer => "the bot did not answer that question, so there is nothing to rate",
                VoteOutcome.NotYetStored => "the clinic's system is busy; please try again in a minute",
                _ => "it does not name an answer given in this conversation",
            };
        }

        if (problem is not null)
        {
            await turnContext.SendActivityAsync(Say(RefusedPrefix + problem + "."), cancellationToken);
        }
        else if (turnContext.Activity.IsTeams())
        {
            await turnContext.SendActivityAsync(Say(ThanksText), cancellationToken);
        }
    }

    private static Activity Say(string text) => new() { Type = ActivityTypes.Message, Text = text, TextFormat = "plain" };
}
