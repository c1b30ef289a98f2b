using BotService.Protocol.Schema;

namespace BotService.Protocol.Turns;

/// <summary>
/// Shows the typing indicator while a slow turn runs, as the SDK's <c>ShowTypingMiddleware</c> does: if a message
/// turn has not finished after <paramref name="delay"/>, sends a <c>typing</c> activity, then one every
/// <paramref name="period"/> until it ends (channels show it for about three seconds, A6000). Fast turns send none.
/// Not for <c>expectReplies</c>: a typing activity in a buffered reply would mean nothing.
/// </summary>
public sealed class ShowTypingMiddleware(TimeSpan delay, TimeSpan period, TimeProvider time) : IMiddleware
{
    public ShowTypingMiddleware() : this(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), TimeProvider.System)
    {
    }

    public async Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        if (activity.Type != ActivityTypes.Message || activity.DeliveryMode == DeliveryModes.ExpectReplies)
        {
            await next(cancellationToken);
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var typing = SendTypingAsync(turnContext, stop.Token);
        try
        {
            await next(cancellationToken);
        }
        finally
        {
            await stop.CancelAsync();
            await typing;
        }
    }

    private async Task SendTypingAsync(ITurnContext turnContext, CancellationToken stop)
    {
        try
        {
            // Most turns end before the first indicator: the delay's cancellation is then the normal case, not thrown
            // (an exception per turn cost CPU on every Direct Line message).
            await Task.Delay(delay, time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            while (!stop.IsCancellationRequested)
            {
                await turnContext.SendActivityAsync(new Activity { Type = ActivityTypes.Typing }, stop);
                await Task.Delay(period, time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        catch (OperationCanceledException)
        {
            // The turn ended.
        }
    }
}
