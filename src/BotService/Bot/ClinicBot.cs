using BotService.Knowledge;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;

namespace BotService.Bot;

/// <summary>
/// The clinic's bot on every channel. By the time a message reaches it, the safety middleware has classified it and
/// sent any crisis wording (an emergency never gets here). It answers from the clinic's articles with the source as a
/// citation and the article's other sections as follow-up suggestions, and welcomes people who join.
/// </summary>
internal sealed class ClinicBot(KnowledgeBase knowledge, Microsoft.Extensions.Options.IOptions<TeamsOptions> teams, Hosting.SafetyGate gate,
    ConversationTopics topics, Safety.ISafetyClassifier classifier, Feedback.AnswerLog answers) : ActivityHandler
{
    /// <summary>The name of the event a web page sends when the chat opens (Web Chat sends no conversationUpdate until the first message).</summary>
    public const string JoinEvent = "webchat/join";

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Knowledge.Answers.Answer, Activity> WebReplies = new();
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Knowledge.Answers.Answer, Activity> TeamsReplies = new();

    /// <summary>The event the chat page's "Talk to staff" button sends: a normal-priority escalation, then a reply saying so.</summary>
    public const string HandoffRequestEvent = "handoff.request";

    protected override async Task OnMessageActivityAsync(ITurnContext turnContext, CancellationToken cancellationToken)
    {
        var text = turnContext.Activity.Text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        // The conversation's recent topic, for a message too vague alone ("how much is it?"); the safety middleware has
        // already classified the message as written.
        var channel = turnContext.Activity.ChannelId ?? "unknown";
        var conversationId = turnContext.IsOneOff() ? null : turnContext.Activity.Conversation?.Id;
        var (topic, chosen) = conversationId is null ? (null, null) : topics.Read(channel, conversationId, text);
        Knowledge.Answers.Answer answer;
        try
        {
            answer = knowledge.Ask(text, turnContext.Audience(), topic, chosen);
        }
        catch (KnowledgeNotReadyException)
        {
            turnContext.SetKnowledgeNotReady();
            await turnContext.SendActivityAsync(Replies.NotReady(), cancellationToken);
            return;
        }

        if (answer.ReadAs is { } readAs && await CheckReadingAsync(turnContext, readAs, cancellationToken))
        {
            return; // read with its topic, the message is an emergency: the crisis reply is the whole answer
        }

        if (conversationId is not null)
        {
            topics.Record(channel, conversationId, answer);
        }

        turnContext.SetAnswer(answer);
        if (!answer.Answered && turnContext.Safety()?.Reply is not null)
        {
            return; // an urgent message the articles don't cover: the advice already sent is the whole reply
        }

        // The reply depends only on the answer (and the channel's format), and a repeated question gets the same Answer
        // object from the knowledge's cache: build its reply once, for as long as that answer lives.
        var teamsCard = turnContext.Activity.IsTeams();
        var audience = turnContext.Audience();
        var reply = (teamsCard ? TeamsReplies : WebReplies).GetValue(answer, a =>
        {
            var followUps = a.Answered
                ? knowledge.RelatedSections(a.Sources[0].Path, a.Sources[0].Section, audience, 3)
                : Replies.StarterQuestions;
            return a.DidYouMean.Count > 0 ? Replies.DidYouMean(a, teamsCard)
                : teamsCard ? Replies.AnswerCard(a, followUps, teams.Value.PublicBaseUrl) : Replies.Answer(a, followUps);
        });
        await answers.SendAsync(turnContext, answer, reply, cancellationToken); // with feedback buttons on an answer; recorded for review
    }

    /// <summary>
    /// A follow-up is read with words of earlier messages ("how many would it take" about an overdose is only clear with
    /// its topic), so the reading is classified too. Only a level higher than the message's own goes through the gate
    /// (escalated as the reading, under its own key) and gets its wording; an emergency ends the turn like the safety
    /// middleware does. True if it did.
    /// </summary>
    private async Task<bool> CheckReadingAsync(ITurnContext turnContext, string readAs, CancellationToken cancellationToken)
    {
        var own = turnContext.Safety()?.Assessment.Level ?? Safety.SafetyLevel.None;
        var reading = classifier.Classify(readAs);
        if (reading.Level <= own)
        {
            return false;
        }

        var activity = turnContext.Activity;
        var outcome = gate.Check(readAs, activity.ChannelId ?? "unknown", activity.Conversation?.Id ?? "unknown",
            (activity.Id ?? Guid.NewGuid().ToString("n")) + "#followup", reading); // classified once, just above
        turnContext.SetSafety(outcome);
        if (outcome.Reply is { } reply)
        {
            await turnContext.SendActivityAsync(Replies.Crisis(reply), cancellationToken);
        }

        return outcome.Assessment.Level == Safety.SafetyLevel.Emergency;
    }

    protected override Task OnMembersAddedAsync(IReadOnlyList<ChannelAccount> membersAdded, ITurnContext turnContext, CancellationToken cancellationToken) =>
        turnContext.SendActivityAsync(turnContext.Activity.IsTeams() ? Replies.StaffWelcome() : Replies.Welcome(), cancellationToken);

    protected override Task OnEventActivityAsync(ITurnContext turnContext, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        switch (activity.Name)
        {
            case JoinEvent:
                return turnContext.SendActivityAsync(Replies.Welcome(), cancellationToken);
            case HandoffRequestEvent when activity.Conversation?.Id is { Length: > 0 } conversationId:
                // Retried until it lands, like every escalation, so the reply can say so at once.
                gate.RequestStaff(activity.ChannelId ?? "unknown", conversationId, activity.Id ?? Guid.NewGuid().ToString("n"));
                return turnContext.SendActivityAsync(Replies.StaffRequested(), cancellationToken);
            default:
                return Task.CompletedTask; // other events (handoff.status among them) are accepted and ignored, never rejected
        }
    }
}
