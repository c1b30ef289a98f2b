using System.Text.Json;
using BotService.Protocol.Authentication;
using BotService.Protocol.Connector;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using Microsoft.AspNetCore.Http.Features;

namespace BotService.Bot;

/// <summary>
/// <c>POST /api/messages</c>: the Bot Framework channel adapter (the SDK's <c>CloudAdapter.ProcessAsync</c>), with the
/// status codes of shared/protocol.md §2:
/// <list type="bullet">
/// <item>400 problem details for a body that is not an Activity, 413 over <see cref="MaxActivityBytes"/>;</item>
/// <item>401 for any authentication failure, before anything of the activity is processed;</item>
/// <item>200 <c>{"activities":[…]}</c> for <c>deliveryMode: expectReplies</c> (nothing goes through the Connector);</item>
/// <item>for an invoke, the bot's <see cref="InvokeResponse"/>, or 501 if it gave none;</item>
/// <item>otherwise 200, the replies having been posted to the activity's serviceUrl as the bot sent them, so a
/// crisis reply leaves before the rest of the turn runs.</item>
/// </list>
/// A Connector failure is logged (never the text) and does not fail the turn: the escalation already happened. In
/// anonymous local mode replies go only to a loopback serviceUrl, so an unauthenticated caller cannot make the bot
/// post to an address it names.
/// </summary>
internal static partial class MessagesApi
{
    /// <summary>Larger than any channel sends (Teams caps messages near 100 KB), small enough to bound memory.</summary>
    public const long MaxActivityBytes = 256 * 1024;

    public static IEndpointRouteBuilder MapMessagesApi(this IEndpointRouteBuilder app)
    {
        // One logger for the endpoint: ILoggerFactory.CreateLogger takes the factory's lock, so not once per request.
        var log = app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("BotService.Bot.Messages");
        app.MapPost("/api/messages", (HttpContext http, BotPipeline pipeline, BotFrameworkAuthenticator authenticator, ConnectorClient connector,
                CancellationToken cancellationToken) => HandleAsync(http, pipeline, authenticator, connector, log, cancellationToken))
            .WithMetadata(new Hosting.MessageEndpoint("messages", MaxActivityBytes, TooLarge, IsActivity: true)); // rate limits, safety lane
        return app;
    }

    internal static async Task<IResult> HandleAsync(HttpContext http, BotPipeline pipeline, BotFrameworkAuthenticator authenticator,
        ConnectorClient connector, ILogger log, CancellationToken cancellationToken)
    {
        var (read, problem) = await ReadAsync(http, cancellationToken);
        if (read is null)
        {
            return problem!;
        }

        var activity = read;

        var auth = await authenticator.AuthenticateAsync(http.Request.Headers.Authorization.ToString(), activity, cancellationToken);
        if (!auth.Succeeded)
        {
            return TypedResults.Unauthorized();
        }

        if (activity.IsTeams())
        {
            activity = activity.RemoveRecipientMention(); // "<at>Clinic Bot</at> what is KAP?" → "what is KAP?"
        }

        var expectReplies = activity.DeliveryMode == DeliveryModes.ExpectReplies;
        var canSend = !auth.IsAnonymous || IsLoopback(activity.ServiceUrl);
        var buffered = new List<Activity>();
        var refused = 0;
        var context = new TurnContext(activity, async (activities, ct) =>
        {
            if (expectReplies)
            {
                lock (buffered)
                {
                    buffered.AddRange(activities);
                }

                return activities.Select(_ => (string?)null).ToArray();
            }

            var ids = new string?[activities.Count];
            for (var i = 0; i < activities.Count; i++)
            {
                if (!canSend)
                {
                    Interlocked.Increment(ref refused);
                    continue;
                }

                try
                {
                    ids[i] = (await connector.SendAsync(activities[i], ct))?.Id;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or BotTokenException
                                              or Polly.Timeout.TimeoutRejectedException or ArgumentException)
                {
                    SendFailed(log, activity.ChannelId, activities[i].Type, e.GetType().Name);
                }
            }

            return ids;
        });
        if (auth.Identity is { } identity)
        {
            context.TurnState["BotIdentity"] = identity;
        }

        try
        {
            await pipeline.RunTurnAsync(context, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // As the SDK's OnTurnError: log, tell the person something went wrong (with the way to urgent help), answer 200.
            TurnFailed(log, activity.ChannelId, e.GetType().Name);
            await context.SendActivityAsync(Replies.TurnError(), cancellationToken);
        }

        if (refused > 0)
        {
            RepliesRefused(log, refused, activity.ChannelId);
        }

        if (activity.Type == ActivityTypes.Invoke)
        {
            return context.InvokeResponse is { } invoke
                ? Results.Json(invoke.Body, statusCode: invoke.Status)
                : Results.StatusCode(StatusCodes.Status501NotImplemented);
        }

        // Serialized with the protocol's own options (nulls omitted, unknown fields kept), not the API's.
        return expectReplies ? TypedResults.Json(new ExpectedReplies(buffered), ProtocolJsonContext.Default.ExpectedReplies) : TypedResults.Ok();
    }

    private static async Task<(Activity? Activity, IResult? Problem)> ReadAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (http.Request.ContentLength > MaxActivityBytes)
        {
            return (null, TooLarge());
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxActivityBytes;
        }

        Activity? activity;
        try
        {
            activity = Hosting.Admission.TryGetReadBody(http, out var body) // in memory since admission: no stream to go through
                ? JsonSerializer.Deserialize(body.Span, ProtocolJsonContext.Inbound.Activity)
                : await JsonSerializer.DeserializeAsync(http.Request.Body, ProtocolJsonContext.Inbound.Activity, cancellationToken);
        }
        catch (JsonException)
        {
            activity = null;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }

        if (activity is null || string.IsNullOrWhiteSpace(activity.Type))
        {
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The body is not an Activity.",
                detail: "Send a Bot Framework Activity as JSON, with at least a \"type\"."));
        }

        if (ActivityIds.FirstMalformed(activity) is { } field)
        {
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The activity has a malformed id.",
                detail: $"\"{field}\" must be printable ASCII without spaces (a channel id: letters, digits, '.', '_', '-')."));
        }

        return (activity, null);
    }

    private static IResult TooLarge() => TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "The activity is too large.", detail: $"An activity may be at most {MaxActivityBytes / 1024} KiB.");

    private static bool IsLoopback(string? serviceUrl) =>
        Uri.TryCreate(serviceUrl, UriKind.Absolute, out var uri) && uri.IsLoopback;

    [LoggerMessage(7001, LogLevel.Warning, "{Count} replies on {Channel} not sent: in anonymous mode replies go only to a loopback serviceUrl")]
    private static partial void RepliesRefused(ILogger logger, int count, string? channel);

    [LoggerMessage(7002, LogLevel.Error, "Sending a {Type} activity on {Channel} through the Connector failed ({Error})")]
    private static partial void SendFailed(ILogger logger, string? channel, string type, string error);

    [LoggerMessage(7003, LogLevel.Error, "A turn on {Channel} failed with {Error}; the sender was told something went wrong")]
    private static partial void TurnFailed(ILogger logger, string? channel, string error);
}
