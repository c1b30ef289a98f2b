using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using BotService.Protocol.Schema;
using Microsoft.Extensions.Options;

namespace BotService.DirectLine;

/// <summary>
/// Direct Line 3.0 under <c>/v3/directline</c> (shared/protocol.md §5; botframework-directlinejs 0.15 is the client it
/// is checked against) and <c>POST /api/webchat/token</c> for the website. Status codes follow the real service as
/// directlinejs reacts to them: 401 without a credential, 403 for a bad, expired (code <c>TokenExpired</c>) or
/// someone else's token, 404 for a conversation that does not exist, 400 for a body that is not an activity, 413
/// for an oversize one. Errors are RFC 7807 problem details that also carry Direct Line's <c>error: {code, message}</c>.
/// </summary>
internal static partial class DirectLineApi
{
    public const string BasePath = "/v3/directline";

    public static IServiceCollection AddDirectLine(this IServiceCollection services)
    {
        services.AddOptions<DirectLineOptions>().BindConfiguration(DirectLineOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<DirectLineTokens>();
        services.AddSingleton<DirectLineChannel>();
        return services;
    }

    public static WebApplication MapDirectLineApi(this WebApplication app)
    {
        app.UseWebSockets(); // protocol-level pings are Kestrel's; Direct Line's empty keep-alive messages are ours
        var dl = app.MapGroup(BasePath);
        dl.MapPost("/tokens/generate", GenerateAsync);
        dl.MapPost("/tokens/refresh", RefreshAsync);
        dl.MapPost("/conversations", StartAsync);
        dl.MapGet("/conversations/{conversationId}", ReconnectAsync);
        var maxActivityBytes = app.Services.GetRequiredService<IOptions<DirectLineOptions>>().Value.MaxActivityBytes;
        dl.MapPost("/conversations/{conversationId}/activities", PostActivityAsync) // rate limits (per conversation), safety lane
            .WithMetadata(new Hosting.MessageEndpoint("directline", maxActivityBytes, () => TooLarge(maxActivityBytes), IsActivity: true, RouteConversation: "conversationId"));
        dl.MapGet("/conversations/{conversationId}/activities", GetActivitiesAsync);
        dl.MapGet("/conversations/{conversationId}/stream", StreamAsync);
        app.MapPost("/api/webchat/token", WebChatTokenAsync).RequireRateLimiting(Hosting.Admission.WebChatTokenPolicy); // DirectLine:TokenRequestsPerMinute per address
        return app;
    }

    /// <summary><c>tokens/generate</c>: the backend's secret buys a token bound to a user and a new conversation.</summary>
    internal static async Task<IResult> GenerateAsync(HttpContext http, DirectLineTokens tokens, ILoggerFactory loggers)
    {
        if (!tokens.SecretConfigured)
        {
            return Error(StatusCodes.Status403Forbidden, "SecretDisabled", "No Direct Line secret is configured (DirectLine:Secret); use POST /api/webchat/token.");
        }

        var credential = await tokens.CheckAsync(Bearer(http), DirectLineTokens.ConversationScope);
        if (credential.Kind != CredentialKind.Secret)
        {
            return Denied(credential, "tokens/generate needs the Direct Line secret.");
        }

        var (body, problem) = await ReadOptionalAsync(http, DirectLineJsonContext.Default.TokenParameters);
        if (problem is not null)
        {
            return problem;
        }

        var userId = string.IsNullOrWhiteSpace(body?.User?.Id) ? DirectLineChannel.NewUserId() : body.User.Id;
        var conversationId = DirectLineChannel.NewConversationId();
        var (token, expires) = tokens.Issue(userId, conversationId);
        Generated(loggers.CreateLogger(typeof(DirectLineApi).FullName!), conversationId);
        return Json(StatusCodes.Status200OK, new ConversationResponse(conversationId, token, tokens.SecondsLeft(expires), null),
            DirectLineJsonContext.Default.ConversationResponse);
    }

    /// <summary><c>tokens/refresh</c>: a valid token for a fresh one, same user and conversation (directlinejs every 15 min).</summary>
    internal static async Task<IResult> RefreshAsync(HttpContext http, DirectLineTokens tokens)
    {
        var credential = await tokens.CheckAsync(Bearer(http), DirectLineTokens.ConversationScope);
        if (credential.Kind != CredentialKind.Token)
        {
            return Denied(credential, "tokens/refresh needs an unexpired token.");
        }

        var (token, expires) = tokens.Issue(credential.UserId!, credential.ConversationId!);
        return Json(StatusCodes.Status200OK, new ConversationResponse(credential.ConversationId!, token, tokens.SecondsLeft(expires), null),
            DirectLineJsonContext.Default.ConversationResponse);
    }

    /// <summary>
    /// <c>POST conversations</c>: with a token, starts the token's conversation (201; 200 if it was started before);
    /// with the secret, a new conversation for the body's user. Either way the reply has a token and a streamUrl.
    /// </summary>
    internal static async Task<IResult> StartAsync(HttpContext http, DirectLineTokens tokens, DirectLineChannel channel, CancellationToken cancellationToken)
    {
        var credential = await tokens.CheckAsync(Bearer(http), DirectLineTokens.ConversationScope);
        if (credential.Kind is not (CredentialKind.Token or CredentialKind.Secret))
        {
            return Denied(credential, "Starting a conversation needs a token or the secret.");
        }

        var (body, problem) = await ReadOptionalAsync(http, DirectLineJsonContext.Default.TokenParameters);
        if (problem is not null)
        {
            return problem;
        }

        string conversationId, userId, token;
        DateTimeOffset expires;
        if (credential.Kind == CredentialKind.Secret)
        {
            userId = string.IsNullOrWhiteSpace(body?.User?.Id) ? DirectLineChannel.NewUserId() : body.User.Id;
            conversationId = DirectLineChannel.NewConversationId();
            (token, expires) = tokens.Issue(userId, conversationId);
        }
        else
        {
            (conversationId, userId, token, expires) = (credential.ConversationId!, credential.UserId!, Bearer(http)!, credential.Expires);
        }

        var existing = await channel.FindAsync(conversationId, cancellationToken);
        if (existing is not null && existing.UserId != userId)
        {
            return Error(StatusCodes.Status403Forbidden, "Forbidden", "This conversation belongs to another user.");
        }

        var created = existing is null && await channel.StartAsync(conversationId, userId, body?.Locale, cancellationToken);
        var stream = StreamUrl(http, conversationId, userId, watermark: null, tokens);
        return Json(created ? StatusCodes.Status201Created : StatusCodes.Status200OK,
            new ConversationResponse(conversationId, token, tokens.SecondsLeft(expires), stream), DirectLineJsonContext.Default.ConversationResponse);
    }

    /// <summary><c>GET conversations/{id}?watermark=</c>: a new streamUrl (resuming after the watermark) and the token.</summary>
    internal static async Task<IResult> ReconnectAsync(HttpContext http, string conversationId, DirectLineTokens tokens, DirectLineChannel channel,
        CancellationToken cancellationToken)
    {
        var (conversation, credential, denied) = await AuthorizeAsync(http, conversationId, tokens, channel, cancellationToken);
        if (denied is not null)
        {
            return denied;
        }

        if (!TryWatermark(http, out var watermark))
        {
            return BadWatermark();
        }

        var (token, expires) = credential!.Kind == CredentialKind.Token
            ? (Bearer(http)!, credential.Expires)
            : tokens.Issue(conversation!.UserId, conversation.Id);
        return Json(StatusCodes.Status200OK, new ConversationResponse(conversation!.Id, token, tokens.SecondsLeft(expires), StreamUrl(http, conversation.Id, conversation.UserId, watermark, tokens)),
            DirectLineJsonContext.Default.ConversationResponse);
    }

    /// <summary>
    /// <c>POST conversations/{id}/activities</c>: the activity is stored (its <c>{id}</c> is returned only then), echoed
    /// to the conversation's socket with its id and the client's <c>channelData.clientActivityID</c>, and the turn runs.
    /// </summary>
    internal static async Task<IResult> PostActivityAsync(HttpContext http, string conversationId, DirectLineTokens tokens, DirectLineChannel channel,
        IOptions<DirectLineOptions> options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (conversation, _, denied) = await AuthorizeAsync(http, conversationId, tokens, channel, cancellationToken);
        if (denied is not null)
        {
            return denied;
        }

        ReadOnlyMemory<byte> body;
        if (!Hosting.Admission.TryGetReadBody(http, out body)) // in memory since admission (bounded there): no copy, no stream
        {
            var (read, tooLarge) = await ReadBoundedAsync(http, options.Value.MaxActivityBytes, cancellationToken);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            body = read;
        }

        Activity? activity;
        try
        {
            activity = body.Length == 0 ? null : JsonSerializer.Deserialize(body.Span, ProtocolJsonContext.Inbound.Activity);
        }
        catch (JsonException)
        {
            activity = null;
        }

        if (activity is null || string.IsNullOrWhiteSpace(activity.Type))
        {
            return Error(StatusCodes.Status400BadRequest, "BadArgument", "The body must be an Activity as JSON, with at least a \"type\".");
        }

        if (!ActivityIds.IsType(activity.Type))
        {
            // It is stored and replayed: letters, digits, '.', '_', '-' only (PostgreSQL refuses a NUL in it).
            return Error(StatusCodes.Status400BadRequest, "BadArgument", "The activity's \"type\" must be letters, digits, '.', '_' or '-'.");
        }

        if (activity.Type == ActivityTypes.ConversationUpdate)
        {
            return Error(StatusCodes.Status400BadRequest, "BadArgument", "Clients cannot send conversationUpdate activities on Direct Line.");
        }

        string id;
        try
        {
            id = await channel.ReceiveAsync(conversation!, activity, cancellationToken);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or IOException)
        {
            // The transcript could not store it, so it has no id: directlinejs retries a 5xx ("retry").
            StoreFailed(loggers.CreateLogger(typeof(DirectLineApi).FullName!), conversation!.Id, e.GetType().Name);
            http.Response.Headers.RetryAfter = "1";
            return Error(StatusCodes.Status503ServiceUnavailable, "ServiceUnavailable", "The message could not be stored; try again.");
        }

        return Json(StatusCodes.Status200OK, new ResourceResponse(id), DirectLineJsonContext.Default.ResourceResponse);
    }

    /// <summary><c>GET conversations/{id}/activities?watermark=</c>: polling (directlinejs with <c>webSocket: false</c>).</summary>
    internal static async Task<IResult> GetActivitiesAsync(HttpContext http, string conversationId, DirectLineTokens tokens, DirectLineChannel channel,
        CancellationToken cancellationToken)
    {
        var (conversation, _, denied) = await AuthorizeAsync(http, conversationId, tokens, channel, cancellationToken);
        if (denied is not null)
        {
            return denied;
        }

        if (!TryWatermark(http, out var watermark))
        {
            return BadWatermark();
        }

        var body = await channel.ActivitySetAfterAsync(conversation!, watermark ?? 0, cancellationToken);
        return Results.Text(body, "application/json; charset=utf-8", statusCode: StatusCodes.Status200OK);
    }

    /// <summary>The WebSocket behind a streamUrl: authorised by its short-lived <c>t</c> ticket, one per conversation.</summary>
    internal static async Task<IResult> StreamAsync(HttpContext http, string conversationId, DirectLineTokens tokens, DirectLineChannel channel,
        CancellationToken cancellationToken)
    {
        var credential = await tokens.CheckAsync(http.Request.Query["t"].ToString(), DirectLineTokens.StreamScope);
        if (credential.Kind != CredentialKind.Token)
        {
            return Denied(credential, "The streamUrl's ticket is missing, invalid or expired; GET the conversation for a new streamUrl.");
        }

        if (credential.ConversationId != conversationId)
        {
            return Error(StatusCodes.Status403Forbidden, "Forbidden", "This streamUrl is for another conversation.");
        }

        var conversation = await channel.FindAsync(conversationId, cancellationToken);
        if (conversation is null)
        {
            return Error(StatusCodes.Status404NotFound, "BadArgument", "Conversation not found.");
        }

        if (conversation.UserId != credential.UserId)
        {
            return Error(StatusCodes.Status403Forbidden, "Forbidden", "This conversation belongs to another user.");
        }

        if (!http.WebSockets.IsWebSocketRequest)
        {
            return Error(StatusCodes.Status400BadRequest, "BadArgument", "The stream is a WebSocket.");
        }

        if (!TryWatermark(http, out var watermark))
        {
            return BadWatermark();
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        await channel.RunStreamAsync(conversation, socket, watermark ?? 0, http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>
    /// <c>POST /api/webchat/token</c>: the website's way to a token, never exposing the secret. Each call makes a new
    /// user id (<c>dl_…</c>, which Web Chat reads from the token's <c>user</c> claim) and a new conversation id bound into
    /// the token; nothing is stored until the page starts the conversation, so the call is cheap. Limited per client
    /// address by the rate limiter's <see cref="Hosting.Admission.WebChatTokenPolicy"/> (<c>DirectLine:TokenRequestsPerMinute</c>,
    /// 429 with <c>Retry-After</c>).
    /// </summary>
    internal static IResult WebChatTokenAsync(HttpContext http, DirectLineTokens tokens)
    {
        var userId = DirectLineChannel.NewUserId();
        var conversationId = DirectLineChannel.NewConversationId();
        var (token, expires) = tokens.Issue(userId, conversationId);
        http.Response.Headers.CacheControl = "no-store";
        return Json(StatusCodes.Status200OK, new WebChatTokenResponse(token, conversationId, tokens.SecondsLeft(expires), userId),
            DirectLineJsonContext.Default.WebChatTokenResponse);
    }

    private static async Task<(DirectLineConversation? Conversation, Credential? Credential, IResult? Denied)> AuthorizeAsync(
        HttpContext http, string conversationId, DirectLineTokens tokens, DirectLineChannel channel, CancellationToken cancellationToken)
    {
        var credential = await tokens.CheckAsync(Bearer(http), DirectLineTokens.ConversationScope);
        if (credential.Kind is not (CredentialKind.Token or CredentialKind.Secret))
        {
            return (null, null, Denied(credential, "This route needs a Direct Line token (or the secret)."));
        }

        if (credential.Kind == CredentialKind.Token && credential.ConversationId != conversationId)
        {
            return (null, null, Error(StatusCodes.Status403Forbidden, "Forbidden", "This token is for another conversation."));
        }

        var conversation = await channel.FindAsync(conversationId, cancellationToken);
        if (conversation is null)
        {
            return (null, null, Error(StatusCodes.Status404NotFound, "BadArgument", "Conversation not found (start it with POST /v3/directline/conversations)."));
        }

        if (credential.Kind == CredentialKind.Token && conversation.UserId != credential.UserId)
        {
            return (null, null, Error(StatusCodes.Status403Forbidden, "Forbidden", "This conversation belongs to another user."));
        }

        return (conversation, credential, null);
    }

    private static IResult Denied(Credential credential, string what) => credential.Kind switch
    {
        CredentialKind.Missing => Error(StatusCodes.Status401Unauthorized, "Unauthorized", what),
        CredentialKind.Expired => Error(StatusCodes.Status403Forbidden, "TokenExpired", "The token has expired; get a new one."),
        CredentialKind.Secret => Error(StatusCodes.Status403Forbidden, "Forbidden", what),
        _ => Error(StatusCodes.Status403Forbidden, "BadToken", "The token is not valid."),
    };

    private static IResult TooLarge(int max) =>
        Error(StatusCodes.Status413PayloadTooLarge, "MessageSizeTooBig", $"An activity may be at most {max} bytes of JSON.");

    private static IResult BadWatermark() => Error(StatusCodes.Status400BadRequest, "BadArgument", "The watermark is not one this service gave out.");

    /// <summary>RFC 7807 problem details that also carry Direct Line's own <c>{"error": {"code", "message"}}</c>.</summary>
    private static IResult Error(int status, string code, string message) => TypedResults.Problem(
        statusCode: status, title: message, extensions: new Dictionary<string, object?>
        {
            ["error"] = JsonSerializer.SerializeToElement(new DirectLineError(code, message), DirectLineJsonContext.Default.DirectLineError),
        });

    private static IResult Json<T>(int status, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        Results.Json(value, type, statusCode: status);

    private static string? Bearer(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    /// <summary>Missing or empty means "from the start"; otherwise the sequence number this service gave out.</summary>
    private static bool TryWatermark(HttpContext http, out long? watermark)
    {
        var raw = http.Request.Query["watermark"].ToString();
        watermark = null;
        if (string.IsNullOrEmpty(raw))
        {
            return true;
        }

        if (long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var w))
        {
            watermark = w;
            return true;
        }

        return false;
    }

    private static async Task<(T? Body, IResult? Problem)> ReadOptionalAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        if (http.Request.ContentLength is 0 || (http.Request.ContentLength is null && !http.Request.Headers.ContentType.Any()))
        {
            return (null, null);
        }

        var (body, tooLarge) = await ReadBoundedAsync(http, 16 * 1024, http.RequestAborted);
        if (tooLarge is not null)
        {
            return (null, tooLarge);
        }

        if (body.Count == 0)
        {
            return (null, null);
        }

        try
        {
            return (JsonSerializer.Deserialize(body.AsSpan(), type), null);
        }
        catch (JsonException)
        {
            return (null, Error(StatusCodes.Status400BadRequest, "BadArgument", "The body is not valid JSON."));
        }
    }

    /// <summary>The request body in memory, or a 413 problem (Direct Line's <c>MessageSizeTooBig</c>) if it is over <paramref name="max"/> bytes.</summary>
    private static async Task<(ArraySegment<byte> Body, IResult? TooLarge)> ReadBoundedAsync(HttpContext http, int max, CancellationToken cancellationToken)
    {
        if (http.Request.ContentLength > max)
        {
            return (default, TooLarge(max));
        }

        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > max)
            {
                return (default, TooLarge(max));
            }
        }

        return (new ArraySegment<byte>(buffer.GetBuffer(), 0, (int)buffer.Length), null);
    }

    /// <summary>The WebSocket URL, with a ticket that only opens this conversation's stream and only for a minute.</summary>
    private static string StreamUrl(HttpContext http, string conversationId, string userId, long? watermark, DirectLineTokens tokens)
    {
        var ticket = tokens.Issue(userId, conversationId, tokens.StreamLifetime, DirectLineTokens.StreamScope).Token;
        var scheme = http.Request.IsHttps ? "wss" : "ws";
        var query = watermark is { } w ? $"?watermark={w}&t={ticket}" : $"?t={ticket}";
        return $"{scheme}://{http.Request.Host}{http.Request.PathBase}{BasePath}/conversations/{conversationId}/stream{query}";
    }

    [LoggerMessage(8102, LogLevel.Error, "Direct Line: an activity of {ConversationId} could not be stored ({Error}); answered 503")]
    private static partial void StoreFailed(ILogger logger, string conversationId, string error);

    [LoggerMessage(8101, LogLevel.Information, "Direct Line token generated for conversation {ConversationId}")]
    private static partial void Generated(ILogger logger, string conversationId);
}

/// <summary>The body of <c>tokens/generate</c> and <c>POST conversations</c> (all optional).</summary>
internal sealed record TokenParameters(ChannelAccount? User, string? Locale, IReadOnlyList<string>? TrustedOrigins);

/// <summary>A conversation as Direct Line returns it.</summary>
internal sealed record ConversationResponse(
    string ConversationId,
    string Token,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    string? StreamUrl);

internal sealed record ResourceResponse(string Id);

internal sealed record WebChatTokenResponse(
    string Token,
    string ConversationId,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    string UserId);

internal sealed record DirectLineError(string Code, string Message);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TokenParameters))]
[JsonSerializable(typeof(ConversationResponse))]
[JsonSerializable(typeof(ResourceResponse))]
[JsonSerializable(typeof(WebChatTokenResponse))]
[JsonSerializable(typeof(DirectLineError))]
internal sealed partial class DirectLineJsonContext : JsonSerializerContext;
