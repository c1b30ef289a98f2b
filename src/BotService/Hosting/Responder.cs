using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Safety;

namespace BotService.Hosting;

/// <summary>What the bot has to say to one message, before a channel puts it into its own shape.</summary>
/// <param name="Answer">The answer from the articles; null for an emergency (nothing but the crisis wording) or when
/// the index is not loaded yet.</param>
internal sealed record Response(SafetyOutcome Safety, Answer? Answer, bool KnowledgeNotReady)
{
    public bool IsEmergency => Safety.Assessment.Level == SafetyLevel.Emergency;
}

/// <summary>
/// The one order every channel follows: the safety gate first; an emergency gets the crisis wording and nothing
/// else, whether or not the index is up; anything else is also answered from the clinic's articles (an urgent message
/// after its advice).
/// </summary>
internal sealed class Responder(SafetyGate safety, KnowledgeBase knowledge)
{
    public Response Respond(string text, Audience audience, string channel, string conversationId, string messageId)
    {
        var outcome = safety.Check(text, channel, conversationId, messageId);
        if (outcome.Assessment.Level == SafetyLevel.Emergency)
        {
            return new Response(outcome, null, false);
        }

        try
        {
            return new Response(outcome, knowledge.Ask(text, audience), false);
        }
        catch (KnowledgeNotReadyException)
        {
            return new Response(outcome, null, true);
        }
    }
}
