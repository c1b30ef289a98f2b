using BotService.Protocol.Schema;

namespace BotService.Protocol.Turns;

/// <summary>Continues the pipeline. Unlike the SDK's token-less delegates, every step passes the token on.</summary>
public delegate Task NextDelegate(CancellationToken cancellationToken);

/// <summary>Sends the replies of a turn; the adapter decides where (Connector REST, a buffer, Direct Line).</summary>
public delegate Task<IReadOnlyList<string?>> SendActivitiesHandler(IReadOnlyList<Activity> activities, CancellationToken cancellationToken);

/// <summary>One turn: the incoming activity and the means to reply (shaped like the SDK's <c>ITurnContext</c>).</summary>
public interface ITurnContext
{
    Activity Activity { get; }

    /// <summary>True once anything has been sent this turn.</summary>
    bool Responded { get; }

    /// <summary>State for the length of the turn (middleware hands data to the bot here).</summary>
    IDictionary<string, object> TurnState { get; }

    Task<string?> SendActivityAsync(Activity activity, CancellationToken cancellationToken);

    Task<string?> SendActivityAsync(string text, CancellationToken cancellationToken);
}

/// <summary>
/// The turn context. Replies are addressed from the incoming activity (conversation, from/recipient swapped, reply
/// to its id, same channel, service URL and locale) before the adapter sends them.
/// </summary>
public sealed class TurnContext(Activity activity, SendActivitiesHandler send) : ITurnContext
{
    public Activity Activity { get; } = activity;

    public bool Responded { get; private set; }

    public IDictionary<string, object> TurnState { get; } = new Dictionary<string, object>(StringComparer.Ordinal);

    public Task<string?> SendActivityAsync(string text, CancellationToken cancellationToken) =>
        SendActivityAsync(new Activity { Type = ActivityTypes.Message, Text = text }, cancellationToken);

    public async Task<string?> SendActivityAsync(Activity activity, CancellationToken cancellationToken)
    {
        var ids = await send([Address(activity)], cancellationToken);
        Responded = true;
        return ids.Count > 0 ? ids[0] : null;
    }

    /// <summary>Fills in what a reply needs from the activity it answers; what the bot set itself wins.</summary>
    public Activity Address(Activity reply) => reply with
    {
        ChannelId = reply.ChannelId ?? Activity.ChannelId,
        ServiceUrl = reply.ServiceUrl ?? Activity.ServiceUrl,
        Conversation = reply.Conversation ?? Activity.Conversation,
        From = reply.From ?? Activity.Recipient,
        Recipient = reply.Recipient ?? Activity.From,
        ReplyToId = reply.ReplyToId ?? Activity.Id,
        Locale = reply.Locale ?? Activity.Locale,
    };
}

/// <summary>Code that runs around every turn (logging, safety, transcript), in order.</summary>
public interface IMiddleware
{
    Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken);
}

/// <summary>The bot: what runs at the end of the middleware.</summary>
public interface IBot
{
    Task OnTurnAsync(ITurnContext turnContext, CancellationToken cancellationToken);
}

/// <summary>Runs middleware in order, then the bot; a middleware that does not call next ends the turn there.</summary>
public sealed class MiddlewareSet(IEnumerable<IMiddleware> middleware)
{
    private readonly IMiddleware[] _middleware = middleware.ToArray();

    public Task RunAsync(ITurnContext turnContext, Func<ITurnContext, CancellationToken, Task> bot, CancellationToken cancellationToken) =>
        RunAsync(0, turnContext, bot, cancellationToken);

    private Task RunAsync(int index, ITurnContext turnContext, Func<ITurnContext, CancellationToken, Task> bot, CancellationToken cancellationToken) =>
        index == _middleware.Length
            ? bot(turnContext, cancellationToken)
            : _middleware[index].OnTurnAsync(turnContext, ct => RunAsync(index + 1, turnContext, bot, ct), cancellationToken);
}
