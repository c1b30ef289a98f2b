using BotService.Hosting;
using BotService.Knowledge;
using BotService.Knowledge.Articles;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Safety;

namespace BotService.Bot;

/// <summary>
/// The clinic's bot on every Bot Framework channel: the safety gate first, then an answer from the clinic's articles.
/// An emergency gets the crisis wording and nothing else; an urgent message gets the advice, then the answer.
/// </summary>
internal sealed class ClinicBot(SafetyGate safety, KnowledgeBase knowledge) : ActivityHandler
{
    protected override async Task OnMessageActivityAsync(ITurnContext turnContext, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        var text = activity.Text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        var outcome = safety.Check(text, activity.ChannelId ?? "unknown", activity.Conversation?.Id ?? "unknown",
            activity.Id ?? Guid.NewGuid().ToString("n"));
        if (outcome.Assessment.Level == SafetyLevel.Emergency)
        {
            await turnContext.SendActivityAsync(outcome.Reply!.Text, cancellationToken);
            return;
        }

        if (outcome.Reply is { } urgent)
        {
            await turnContext.SendActivityAsync(urgent.Text, cancellationToken);
        }

        string reply;
        try
        {
            reply = knowledge.Ask(text, Audience.Public).Text;
        }
        catch (KnowledgeNotReadyException)
        {
            reply = "I'm just starting up and can't look that up yet. Please ask again in a moment.";
        }

        await turnContext.SendActivityAsync(reply, cancellationToken);
    }
}
