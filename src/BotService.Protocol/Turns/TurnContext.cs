using BotService.Protocol.Schema;
using BotService.Protocol.Telemetry;

namespace BotService.Protocol.Turns;

/// <summary>Continues the pipeline. Unlike the SDK's token-less delegates, every step passes the token on.</summary>
public delegate Task NextDelegate(CancellationToken cancellationToken);

/// <summary>Sends the replies of a turn; the adapter decides where (Connector REST, a buffer, Direct Line).</summary>
public delegate Task<IReadOnlyList<string?>> SendActivitiesHandler(IReadOnlyList<Activity> activities, CancellationToken cancellationToken);

/// <summary>
/// Sees a turn's outgoing activities before they are sent (the SDK's <c>OnSendActivities</c>): a transcript logger
/// records them, a hook may change or drop them. Call <paramref name="next"/> to send.
/// </summary>
public delegate Task<IReadOnlyList<string?>> SendActivitiesHook(
    ITurnContext turnContext, IReadOnlyList<Activity> activities, Func<Task<IReadOnlyList<string?>>> next, CancellationToken cancellationToken);

/// <summary>What the bot answers to an <c>invoke</c> activity: an HTTP status and a body (the SDK's <c>InvokeResponse</c>).</summary>
public sealed record InvokeResponse(int Status, object? Body = null);

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

    /// <summary>Sends several activities in order, as one batch through the send hooks.</summary>
    Task<IReadOnlyList<string?>> SendActivitiesAsync(IReadOnlyList<Activity> activities, CancellationToken cancellationToken);

    /// <summary>Adds a hook that sees every outgoing batch of this turn; hooks run in the order they were added.</summary>
    ITurnContext OnSendActivities(SendActivitiesHook hook);

    /// <summary>The answer to an invoke, set by sending an activity of type <c>invokeResponse</c> with an <see cref="InvokeResponse"/>.</summary>
    InvokeResponse? InvokeResponse { get; }

    /// <summary>Records the answer to an invoke (the SDK sends an <c>invokeResponse</c> activity; this is the typed form).</summary>
    void SetInvokeResponse(InvokeResponse response);
}

/// <summary>
/// The turn context. Replies are addressed from the incoming activity (conversation, from/recipient swapped, reply
/// to its id, same channel, service URL and locale) before the adapter sends them.
/// </summary>
public sealed class TurnContext(Activity activity, SendActivitiesHandler send) : ITurnContext
{
    private readonly List<SendActivitiesHook> _hooks = [];

    public Activity Activity { get; } = activity;

    public bool Responded { get; private set; }

    public IDictionary<string, object> TurnState { get; } = new Dictionary<string, object>(StringComparer.Ordinal);

    public InvokeResponse? InvokeResponse { get; private set; }

    public void SetInvokeResponse(InvokeResponse response) => InvokeResponse = response;

    public ITurnContext OnSendActivities(SendActivitiesHook hook)
    {
        _hooks.Add(hook);
        return this;
    }

    public Task<string?> SendActivityAsync(string text, CancellationToken cancellationToken) =>
        SendActivityAsync(new Activity { Type = ActivityTypes.Message, Text = text }, cancellationToken);

    public async Task<string?> SendActivityAsync(Activity activity, CancellationToken cancellationToken)
    {
        var ids = await SendActivitiesAsync([activity], cancellationToken);
        return ids.Count > 0 ? ids[0] : null;
    }

    public async Task<IReadOnlyList<string?>> SendActivitiesAsync(IReadOnlyList<Activity> activities, CancellationToken cancellationToken)
    {
        if (activities.Count == 0)
        {
            return [];
        }

        var addressed = activities.Select(Address).ToArray();
        var ids = await RunHooks(0, addressed, cancellationToken);
        Responded = true;
        return ids;
    }

    private Task<IReadOnlyList<string?>> RunHooks(int index, IReadOnlyList<Activity> activities, CancellationToken cancellationToken) =>
        index == _hooks.Count
            ? send(activities, cancellationToken)
            : _hooks[index](this, activities, () => RunHooks(index + 1, activities, cancellationToken), cancellationToken);

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
/// <remarks>With a trace listener, each middleware and the bot run in a span of their own (named after the type), so a
/// trace shows where a turn spent its time.</remarks>
public sealed class MiddlewareSet(IEnumerable<IMiddleware> middleware)
{
    private readonly IMiddleware[] _middleware = middleware.ToArray();

    public Task RunAsync(ITurnContext turnContext, Func<ITurnContext, CancellationToken, Task> bot, CancellationToken cancellationToken) =>
        RunAsync(0, turnContext, bot, cancellationToken);

    private Task RunAsync(int index, ITurnContext turnContext, Func<ITurnContext, CancellationToken, Task> bot, CancellationToken cancellationToken)
    {
        if (ProtocolTelemetry.Source.HasListeners())
        {
            return TracedAsync(index, turnContext, bot, cancellationToken);
        }

        return index == _middleware.Length
            ? bot(turnContext, cancellationToken)
            : _middleware[index].OnTurnAsync(turnContext, ct => RunAsync(index + 1, turnContext, bot, ct), cancellationToken);
    }

    // Async, so the span is Activity.Current only inside this step (and the steps it calls), never for the caller.
    private async Task TracedAsync(int index, ITurnContext turnContext, Func<ITurnContext, CancellationToken, Task> bot, CancellationToken cancellationToken)
    {
        var last = index == _middleware.Length;
        using var span = ProtocolTelemetry.Source.StartActivity(last ? "bot" : "middleware " + _middleware[index].GetType().Name);
        if (last)
        {
            await bot(turnContext, cancellationToken);
        }
        else
        {
            await _middleware[index].OnTurnAsync(turnContext, ct => RunAsync(index + 1, turnContext, bot, ct), cancellationToken);
        }
    }
}

/// <summary>
/// Runs turns: the middleware in order, then the bot (the part of the SDK's <c>BotAdapter</c> every channel shares).
/// A channel adapter (<c>/api/messages</c>, Direct Line, <c>/api/ask</c>) builds the <see cref="TurnContext"/> with its
/// own way of sending and hands it here. Each turn is a span (<c>turn</c>: channel, activity type, conversation hash)
/// when traces are collected.
/// </summary>
public sealed class BotPipeline(IEnumerable<IMiddleware> middleware, IBot bot)
{
    private readonly MiddlewareSet _middleware = new(middleware);

    public Task RunTurnAsync(ITurnContext turnContext, CancellationToken cancellationToken) =>
        ProtocolTelemetry.Source.HasListeners()
            ? TracedAsync(turnContext, cancellationToken)
            : _middleware.RunAsync(turnContext, bot.OnTurnAsync, cancellationToken);

    private async Task TracedAsync(ITurnContext turnContext, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        using var span = ProtocolTelemetry.Source.StartActivity("turn");
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("bot.channel", activity.ChannelId);
            span.SetTag("bot.activity.type", activity.Type);
            span.SetTag("bot.conversation.hash", ProtocolTelemetry.ConversationHash(activity.Conversation?.Id));
        }

        try
        {
            await _middleware.RunAsync(turnContext, bot.OnTurnAsync, cancellationToken);
        }
        catch (Exception e)
        {
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.GetType().Name); // the type only: a message could quote input
            throw;
        }
    }
}
