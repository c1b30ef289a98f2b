using BotService.Hosting;
using BotService.Knowledge.Articles;
using BotService.Protocol.Turns;

namespace BotService.Bot;

/// <summary>
/// The clinic's bot on every Bot Framework channel: the safety gate first, then an answer from the clinic's articles.
/// An emergency gets the crisis wording and nothing else; an urgent message gets the advice, then the answer.
/// </summary>
internal sealed class ClinicBot(Responder responder) : ActivityHandler
{
    protected override async Task OnMessageActivityAsync(ITurnContext turnContext, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        var text = activity.Text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        var response = responder.Respond(text, Audience.Public, activity.ChannelId ?? "unknown", activity.Conversation?.Id ?? "unknown",
            activity.Id ?? Guid.NewGuid().ToString("n"));
        if (response.Safety.Reply is { } advice)
        {
            await turnContext.SendActivityAsync(advice.Text, cancellationToken);
        }

        if (response.IsEmergency)
        {
            return;
        }

        await turnContext.SendActivityAsync(
            response.Answer?.Text ?? "I'm just starting up and can't look that up yet. Please ask again in a moment.",
            cancellationToken);
    }
}
