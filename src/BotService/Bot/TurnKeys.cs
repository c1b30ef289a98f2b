using BotService.Hosting;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Protocol.Turns;

namespace BotService.Bot;

/// <summary>
/// What the parts of a turn hand each other through <see cref="ITurnContext.TurnState"/>: the channel adapter says
/// whose articles the sender may see, the safety middleware leaves its verdict, the bot leaves its answer (which
/// <c>/api/ask</c> turns into its JSON).
/// </summary>
internal static class TurnKeys
{
    private const string AudienceKey = "clinic.audience";
    private const string SafetyKey = "clinic.safety";
    private const string AnswerKey = "clinic.answer";
    private const string NotReadyKey = "clinic.knowledgeNotReady";
    private const string OneOffKey = "clinic.oneOff";

    public static Audience Audience(this ITurnContext turn) =>
        turn.TurnState.TryGetValue(AudienceKey, out var a) && a is Audience audience ? audience : Knowledge.Articles.Audience.Public;

    public static void SetAudience(this ITurnContext turn, Audience audience) => turn.TurnState[AudienceKey] = audience;

    public static SafetyOutcome? Safety(this ITurnContext turn) =>
        turn.TurnState.TryGetValue(SafetyKey, out var s) ? s as SafetyOutcome : null;

    public static void SetSafety(this ITurnContext turn, SafetyOutcome outcome) => turn.TurnState[SafetyKey] = outcome;

    public static Answer? Answer(this ITurnContext turn) =>
        turn.TurnState.TryGetValue(AnswerKey, out var a) ? a as Answer : null;

    public static void SetAnswer(this ITurnContext turn, Answer answer) => turn.TurnState[AnswerKey] = answer;

    public static bool KnowledgeNotReady(this ITurnContext turn) => turn.TurnState.ContainsKey(NotReadyKey);

    public static void SetKnowledgeNotReady(this ITurnContext turn) => turn.TurnState[NotReadyKey] = true;

    /// <summary>
    /// The turn is a message of no conversation (<c>/api/ask</c> without a conversation id): nothing is remembered for a
    /// next message that cannot come.
    /// </summary>
    public static bool IsOneOff(this ITurnContext turn) => turn.TurnState.ContainsKey(OneOffKey);

    public static void SetOneOff(this ITurnContext turn) => turn.TurnState[OneOffKey] = true;
}
