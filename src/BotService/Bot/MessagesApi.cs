using System.Text.Json;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using Microsoft.AspNetCore.Http.HttpResults;

namespace BotService.Bot;

/// <summary>Bot identity (configuration keys as the SDK's: <c>MicrosoftAppId</c>, <c>MicrosoftAppPassword</c>, <c>MicrosoftAppTenantId</c>).</summary>
internal sealed class BotOptions
{
    public string? MicrosoftAppId { get; set; }
}

/// <summary>
/// <c>POST /api/messages</c> (issue 5, in progress). Reads an Activity (400 problem details if it is not one), runs the
/// turn, and answers 200 with <c>{"activities": [...]}</c> for <c>deliveryMode: expectReplies</c>. Authentication:
/// with no <c>MicrosoftAppId</c> the bot runs in the SDK's anonymous local mode (for the Emulator on one machine); a
/// present Authorization header, or a configured app id, needs JWT validation, which is not built yet, so such requests
/// get 401 with nothing processed (fail closed). Replies for normal delivery go to the activity's serviceUrl through
/// the Connector; in anonymous mode only to a loopback serviceUrl, so an unauthenticated caller cannot make the bot
/// post to any address it names.
/// </summary>
internal static partial class MessagesApi
{
    public static IEndpointRouteBuilder MapMessagesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/messages", HandleAsync);
        return app;
    }

    internal static async Task<Results<Ok<ExpectedReplies>, Ok, ProblemHttpResult, UnauthorizedHttpResult>> HandleAsync(
        HttpContext http, BotPipeline pipeline, Microsoft.Extensions.Options.IOptions<BotOptions> options, ILoggerFactory loggers,
        Protocol.Connector.ConnectorClient connector, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrEmpty(options.Value.MicrosoftAppId) || http.Request.Headers.Authorization.Count > 0)
        {
            return TypedResults.Unauthorized();
        }

        Activity? activity;
        try
        {
            activity = await JsonSerializer.DeserializeAsync(http.Request.Body, ProtocolJsonContext.Default.Activity, cancellationToken);
        }
        catch (JsonException)
        {
            activity = null;
        }

        if (activity is null || string.IsNullOrWhiteSpace(activity.Type))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The body is not an Activity.",
                detail: "Send a Bot Framework Activity as JSON, with at least a \"type\".");
        }

        var replies = new List<Activity>();
        var context = new TurnContext(activity, (activities, _) =>
        {
            replies.AddRange(activities);
            return Task.FromResult<IReadOnlyList<string?>>(activities.Select(_ => (string?)null).ToArray());
        });
        await pipeline.RunTurnAsync(context, cancellationToken);

        if (activity.DeliveryMode == DeliveryModes.ExpectReplies)
        {
            return TypedResults.Ok(new ExpectedReplies(replies));
        }

        var log = loggers.CreateLogger("BotService.Bot.Messages");
        if (replies.Count > 0 && !IsLoopback(activity.ServiceUrl))
        {
            RepliesRefused(log, replies.Count, activity.ChannelId);
            return TypedResults.Ok();
        }

        foreach (var reply in replies)
        {
            try
            {
                await connector.SendAsync(reply, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or ArgumentException)
            {
                // Logged without message text; the turn itself (and any escalation) has already happened.
                SendFailed(log, activity.ChannelId, e.GetType().Name);
            }
        }

        return TypedResults.Ok();
    }

    private static bool IsLoopback(string? serviceUrl) =>
        Uri.TryCreate(serviceUrl, UriKind.Absolute, out var uri) && uri.IsLoopback;

    [LoggerMessage(7001, LogLevel.Warning, "{Count} replies on {Channel} not sent: in anonymous mode replies go only to a loopback serviceUrl")]
    private static partial void RepliesRefused(ILogger logger, int count, string? channel);

    [LoggerMessage(7002, LogLevel.Error, "Sending a reply on {Channel} through the Connector failed ({Error})")]
    private static partial void SendFailed(ILogger logger, string? channel, string error);
}

/// <summary>The body of an <c>expectReplies</c> response.</summary>
internal sealed record ExpectedReplies(IReadOnlyList<Activity> Activities);
