using System.Buffers;
using System.Net;
using System.Text.Json;
using System.Threading.RateLimiting;
using BotService.Protocol.Telemetry;
using BotService.Safety;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>One token bucket: <see cref="Burst"/> requests at once, refilled at <see cref="PerMinute"/>.</summary>
public sealed class BucketOptions
{
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000)]
    public int Burst { get; set; }

    [System.ComponentModel.DataAnnotations.Range(1, 6_000_000)]
    public int PerMinute { get; set; }

    internal TokenBucketRateLimiterOptions ToLimiter() => new()
    {
        TokenLimit = Burst,
        // Whole tokens: one every 60/PerMinute seconds up to one a second, then PerMinute/60 every second.
        TokensPerPeriod = PerMinute <= 60 ? 1 : (int)Math.Round(PerMinute / 60.0),
        ReplenishmentPeriod = PerMinute <= 60 ? TimeSpan.FromMinutes(1) / PerMinute : TimeSpan.FromSeconds(1),
        QueueLimit = 0, // a request over the limit is answered 429 at once, never held
        AutoReplenishment = true,
    };
}

/// <summary>
/// Request rate limits (configuration section <c>RateLimits</c>), applied when a request is admitted, before any of it
/// is processed. See docs/decisions/0014-rate-limits-and-the-safety-lane.md.
/// </summary>
public sealed class RateLimitOptions
{
    public const string SectionName = "RateLimits";

    public bool Enabled { get; set; } = true;

    /// <summary>Every request from one client address (except health, metrics and the chat page's static files).</summary>
    public BucketOptions PerAddress { get; set; } = new() { Burst = 120, PerMinute = 600 };

    /// <summary>Messages into one conversation (Direct Line activities, <c>/api/messages</c>, <c>/api/ask</c> with a conversation id).</summary>
    public BucketOptions PerConversation { get; set; } = new() { Burst = 20, PerMinute = 30 };

    /// <summary>
    /// The safety lane: a message over a limit is still let through if the safety gate would escalate it (or it asks for
    /// staff), within these buckets (per conversation, and per address), so a flood of crisis words cannot flood staff.
    /// </summary>
    public BucketOptions SafetyLanePerConversation { get; set; } = new() { Burst = 10, PerMinute = 10 };

    public BucketOptions SafetyLanePerAddress { get; set; } = new() { Burst = 30, PerMinute = 30 };

    /// <summary>
    /// Client networks (CIDR, separated by spaces or commas) the per-address limits do not apply to. Default: loopback
    /// (this machine's probes and warm-up; and, unless <c>ForwardedHeaders</c> is configured, a reverse proxy on this
    /// machine, behind which every visitor would otherwise share one address).
    /// </summary>
    public string ExemptNetworks { get; set; } = "127.0.0.0/8 ::1/128";
}

/// <summary>
/// Marks an endpoint that takes a person's message: its body is read (bounded) when the request is admitted, so the
/// rate limits know its conversation and, for a message over a limit, the safety lane can read its text.
/// </summary>
/// <param name="Route">A short name for metrics and logs.</param>
/// <param name="MaxBytes">The endpoint's own body limit; a longer body gets <paramref name="TooLarge"/> at once.</param>
/// <param name="IsActivity">True for a Bot Framework activity (only <c>message</c> activities carry text the safety gate reads).</param>
/// <param name="RouteConversation">The route value that names the conversation (Direct Line), or null to read it from the body.</param>
internal sealed record MessageEndpoint(string Route, long MaxBytes, Func<IResult> TooLarge, bool IsActivity, string? RouteConversation = null);

/// <summary>What admission read from a message request's body.</summary>
internal sealed record AdmissionInfo(string? ConversationKey, string? Text, bool AsksForStaff)
{
    public static readonly AdmissionInfo None = new(null, null, false);
}

internal static partial class Admission
{
    private const string InfoKey = "admission.info";
    private const string VerdictKey = "admission.safety";
    public const string WebChatTokenPolicy = "webchat-token";

    public static IServiceCollection AddAdmission(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>, IOptions<DirectLine.DirectLineOptions>, IServiceProvider>(
            (o, limits, directLine, sp) =>
            {
                o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                o.OnRejected = RejectAsync;
                var exempt = ClientNetworks.Parse(limits.Value.ExemptNetworks, RateLimitOptions.SectionName, typeof(RateLimitOptions));
                if (limits.Value.Enabled)
                {
                    o.GlobalLimiter = new AdmissionLimiter(limits.Value, exempt, sp);
                }

                // POST /api/webchat/token: a fixed number per client address and minute (each call makes a new conversation).
                var perMinute = directLine.Value.TokenRequestsPerMinute;
                o.AddPolicy(WebChatTokenPolicy, http => RateLimitPartition.GetFixedWindowLimiter(Address(http),
                    _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            });
        return services;
    }

    /// <summary>Reads message bodies (bounded), then applies the limits. Before authentication, sign-in and every endpoint.</summary>
    public static WebApplication UseAdmission(this WebApplication app)
    {
        app.Use(ReadMessageAsync);
        app.UseRateLimiter();
        return app;
    }

    /// <summary>
    /// For an endpoint that takes a message: reads its body up to the endpoint's limit into memory (the endpoint then
    /// reads it from there) and notes its conversation, text and whether it asks for staff. Nothing is stored or run.
    /// </summary>
    private static async Task ReadMessageAsync(HttpContext http, RequestDelegate next)
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<MessageEndpoint>() is not { } endpoint || !HttpMethods.IsPost(http.Request.Method)
            || http.Request.ContentLength > endpoint.MaxBytes)
        {
            await next(http); // no message, or the endpoint answers 413 from the header without reading
            return;
        }

        // Sized from the header when there is one (at most the endpoint's limit, checked above), and handed on as it is:
        // no growing, no copy.
        var buffer = new MemoryStream(http.Request.ContentLength is { } declared ? (int)declared : 8192);
        var chunk = ArrayPool<byte>.Shared.Rent(8192);
        try
        {
            int read;
            while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > endpoint.MaxBytes)
                {
                    await endpoint.TooLarge().ExecuteAsync(http);
                    return;
                }
            }
        }
        catch (BadHttpRequestException e)
        {
            http.Response.StatusCode = e.StatusCode; // malformed framing, a body that stalls: nothing was admitted
            return;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            return; // the client went away mid-body
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        var length = (int)buffer.Length;
        http.Request.Body = new MemoryStream(buffer.GetBuffer(), 0, length, writable: false, publiclyVisible: true);
        http.Items[InfoKey] = Parse(buffer.GetBuffer().AsSpan(0, length), endpoint, http);
        await next(http);
    }

    /// <summary>
    /// The body admission read into memory, for the endpoint to parse from there without going through a stream; false
    /// when admission did not read it (not a message endpoint).
    /// </summary>
    internal static bool TryGetReadBody(HttpContext http, out ReadOnlyMemory<byte> body)
    {
        if (http.Request.Body is MemoryStream { Position: 0 } stream && http.Items.ContainsKey(InfoKey) && stream.TryGetBuffer(out var segment))
        {
            body = segment;
            return true;
        }

        body = default;
        return false;
    }

    /// <summary>The conversation, the text and a staff request from a message body; none of it if the body is not JSON (the endpoint answers 400).</summary>
    internal static AdmissionInfo Parse(ReadOnlySpan<byte> json, MessageEndpoint endpoint, HttpContext http)
    {
        string? text = null, type = null, name = null, channel = null, conversation = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    // Activities are read case-insensitively (JSON web defaults), /api/ask's fields exactly.
                    var property = reader.GetString()!;
                    var comparison = endpoint.IsActivity ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                    reader.Read();
                    if (property.Equals("text", comparison))
                    {
                        text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                    else if (endpoint.IsActivity && property.Equals("type", comparison))
                    {
                        type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                    else if (endpoint.IsActivity && property.Equals("name", comparison))
                    {
                        name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                    else if (endpoint.IsActivity && property.Equals("channelId", comparison))
                    {
                        channel = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                    else if (!endpoint.IsActivity && property.Equals("conversationId", comparison))
                    {
                        conversation = reader.TokenType == JsonTokenType.String ? "api:" + reader.GetString() : null;
                    }
                    else if (endpoint.IsActivity && property.Equals("conversation", comparison) && reader.TokenType == JsonTokenType.StartObject)
                    {
                        conversation = null;
                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            var inner = reader.GetString()!;
                            reader.Read();
                            if (inner.Equals("id", comparison) && reader.TokenType == JsonTokenType.String)
                            {
                                conversation = reader.GetString();
                            }
                            else
                            {
                                reader.Skip();
                            }
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not JSON, too deep, or a string that is not valid UTF-8 / UTF-16 (a lone surrogate escape): the endpoint
            // says so (400). Keyed by its route alone, without a text.
            text = null;
        }

        if (endpoint.RouteConversation is { } routeValue)
        {
            conversation = http.GetRouteValue(routeValue) is string id ? "directline:" + id : null;
        }
        else if (endpoint.IsActivity && conversation is not null)
        {
            conversation = (channel ?? "unknown") + ":" + conversation;
        }

        var isMessage = !endpoint.IsActivity || string.Equals(type, "message", StringComparison.OrdinalIgnoreCase);
        var asksForStaff = endpoint.IsActivity && string.Equals(type, "event", StringComparison.OrdinalIgnoreCase)
                                               && name == Bot.ClinicBot.HandoffRequestEvent;
        return new AdmissionInfo(conversation, isMessage ? text : null, asksForStaff);
    }

    internal static AdmissionInfo Info(HttpContext http) => http.Items.TryGetValue(InfoKey, out var info) ? (AdmissionInfo)info! : AdmissionInfo.None;

    /// <summary>
    /// Whether a message over a limit goes into the safety lane: the safety classifier (in memory, the same one the
    /// turn runs) would escalate it, or it is the visitor's request for staff. Decided once per request.
    /// </summary>
    internal static bool NeedsSafetyLane(HttpContext http, ISafetyClassifier classifier)
    {
        if (http.Items.TryGetValue(VerdictKey, out var known))
        {
            return (bool)known!;
        }

        var info = Info(http);
        var relevant = info.AsksForStaff
                       || (!string.IsNullOrWhiteSpace(info.Text) && classifier.Classify(info.Text).Level != SafetyLevel.None);
        http.Items[VerdictKey] = relevant;
        return relevant;
    }

    internal static string Address(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        return address is null ? "unknown" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
    }

    /// <summary>429 with Retry-After (whole seconds, at least 1), as problem details; Direct Line's routes add its <c>error</c> object.</summary>
    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var route = http.GetEndpoint()?.Metadata.GetMetadata<MessageEndpoint>()?.Route ?? "other";
        Rejected(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(Admission).FullName!), route, seconds);
        var message = $"Too many requests; try again in {seconds} s.";
        var extensions = new Dictionary<string, object?>();
        if (http.Request.Path.StartsWithSegments(DirectLine.DirectLineApi.BasePath) || http.Request.Path.StartsWithSegments("/api/webchat"))
        {
            extensions["error"] = JsonSerializer.SerializeToElement(new DirectLine.DirectLineError("Throttled", message),
                DirectLine.DirectLineJsonContext.Default.DirectLineError);
        }

        await TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: message, extensions: extensions).ExecuteAsync(http);
    }

    [LoggerMessage(9001, LogLevel.Debug, "Rate limit: a request to {Route} was refused (429, Retry-After {Seconds} s)")]
    private static partial void Rejected(ILogger logger, string route, int seconds);

    [LoggerMessage(9002, LogLevel.Warning, "Rate limit: a message to {Route} over the limit was let through by the safety lane (conversation {ConversationHash})")]
    internal static partial void SafetyLaneAdmitted(ILogger logger, string route, string conversationHash);
}

/// <summary>
/// The global limiter: per client address and per conversation (token buckets), and, for a message they refuse, the
/// safety lane (its own, smaller buckets) when the safety classifier would escalate it. The classifier runs only on a
/// refused message, never on one within the limits.
/// </summary>
internal sealed class AdmissionLimiter : PartitionedRateLimiter<HttpContext>
{
    private readonly PartitionedRateLimiter<HttpContext> _ordinary;
    private readonly PartitionedRateLimiter<HttpContext> _safetyLane;
    private readonly IServiceProvider _services;

    public AdmissionLimiter(RateLimitOptions options, IPNetwork[] exempt, IServiceProvider services)
    {
        _services = services;
        _ordinary = PartitionedRateLimiter.CreateChained(PerAddress(options.PerAddress, exempt), PerConversation(options.PerConversation));
        _safetyLane = PartitionedRateLimiter.CreateChained(PerAddress(options.SafetyLanePerAddress, exempt), PerConversation(options.SafetyLanePerConversation));
    }

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => _ordinary.GetStatistics(resource);

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount)
    {
        var lease = _ordinary.AttemptAcquire(resource, permitCount);
        if (lease.IsAcquired || resource.GetEndpoint()?.Metadata.GetMetadata<MessageEndpoint>() is not { } endpoint
            || !Admission.NeedsSafetyLane(resource, _services.GetRequiredService<ISafetyClassifier>()))
        {
            return lease;
        }

        var lane = _safetyLane.AttemptAcquire(resource, permitCount);
        if (!lane.IsAcquired)
        {
            lane.Dispose();
            return lease;
        }

        lease.Dispose();
        _services.GetRequiredService<BotMetrics>().SafetyAdmission(endpoint.Route);
        Admission.SafetyLaneAdmitted(_services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(Admission).FullName!), endpoint.Route,
            ProtocolTelemetry.ConversationHash(Admission.Info(resource).ConversationKey));
        return lane;
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(resource, permitCount)); // never queued

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _ordinary.Dispose();
            _safetyLane.Dispose();
        }

        base.Dispose(disposing);
    }

    private static PartitionedRateLimiter<HttpContext> PerAddress(BucketOptions bucket, IPNetwork[] exempt)
    {
        var options = bucket.ToLimiter();
        return PartitionedRateLimiter.Create<HttpContext, string>(http =>
        {
            var path = http.Request.Path;
            if (path.StartsWithSegments("/healthz") || path.StartsWithSegments(Telemetry.MetricsPath) || path.StartsWithSegments(WebChat.WebChatPage.FilesPath)
                || ClientNetworks.Contains(exempt, http.Connection.RemoteIpAddress))
            {
                return RateLimitPartition.GetNoLimiter("exempt");
            }

            return RateLimitPartition.GetTokenBucketLimiter("address:" + Admission.Address(http), _ => options);
        });
    }

    private static PartitionedRateLimiter<HttpContext> PerConversation(BucketOptions bucket)
    {
        var options = bucket.ToLimiter();
        return PartitionedRateLimiter.Create<HttpContext, string>(http =>
            http.GetEndpoint()?.Metadata.GetMetadata<MessageEndpoint>() is { } endpoint && Admission.Info(http).ConversationKey is { } key
                ? RateLimitPartition.GetTokenBucketLimiter(endpoint.Route + "|" + key, _ => options)
                : RateLimitPartition.GetNoLimiter("no conversation"));
    }
}
