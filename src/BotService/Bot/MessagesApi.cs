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
/// get 401 with nothing processed (fail closed). Replies for normal delivery go through the Connector (next step);
/// until then they are accepted and dropped with a warning.
/// </summary>
internal static partial class MessagesApi
{
    public static IEndpointRouteBuilder MapMessagesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/messages", HandleAsync);
        return app;
    }

    internal static async Task<Results<Ok<ExpectedReplies>, Ok, ProblemHttpResult, UnauthorizedHttpResult>> HandleAsync(
        HttpContext http, ClinicBot bot, Microsoft.Extensions.Options.IOptions<BotOptions> options, ILoggerFactory loggers,
        CancellationToken cancellationToken)
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
        await bot.OnTurnAsync(context, cancellationToken);

        if (activity.DeliveryMode == DeliveryModes.ExpectReplies)
        {
            return TypedResults.Ok(new ExpectedReplies(replies));
        }

        if (replies.Count > 0)
        {
            RepliesDropped(loggers.CreateLogger("BotService.Bot.Messages"), replies.Count, activity.ChannelId);
        }

        return TypedResults.Ok();
    }

    [LoggerMessage(7001, LogLevel.Warning, "{Count} replies on {Channel} not sent: the Connector client is not built yet (use deliveryMode expectReplies)")]
    private static partial void RepliesDropped(ILogger logger, int count, string? channel);
}

/// <summary>The body of an <c>expectReplies</c> response.</summary>
internal sealed record ExpectedReplies(IReadOnlyList<Activity> Activities);
