using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using BotService.Knowledge;
using BotService.Protocol.Telemetry;
using BotService.Storage.Escalations;
using BotService.Storage.Transcripts;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace BotService.Hosting;

/// <summary>Where traces go (configuration section <c>Telemetry</c>).</summary>
public enum TraceExporter
{
    /// <summary>No spans are collected (the default): the instrumentation costs one check per step.</summary>
    None,

    /// <summary>Spans are written to standard output (for a look on one machine).</summary>
    Console,

    /// <summary>Spans go to an OpenTelemetry collector over OTLP (<c>Telemetry:Otlp:Endpoint</c>, or the standard <c>OTEL_EXPORTER_OTLP_*</c> variables).</summary>
    Otlp,
}

/// <summary>Traces and the metrics endpoint (configuration section <c>Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    public const string SectionName = "Telemetry";

    public TraceExporter Traces { get; set; } = TraceExporter.None;

    /// <summary>The collector for <see cref="TraceExporter.Otlp"/>, e.g. <c>http://collector:4318/v1/traces</c> (HTTP/protobuf) or <c>http://collector:4317</c> (gRPC).</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary><c>HttpProtobuf</c> (default) or <c>Grpc</c>.</summary>
    public OtlpExportProtocol OtlpProtocol { get; set; } = OtlpExportProtocol.HttpProtobuf;

    /// <summary>
    /// Networks (CIDR, separated by spaces or commas) whose addresses may read <c>/metrics</c> without a token.
    /// Default: loopback only. Empty: only with the token.
    /// </summary>
    public string MetricsAllowedNetworks { get; set; } = "127.0.0.0/8 ::1/128";

    /// <summary>A bearer token that lets a scraper read <c>/metrics</c> from any address (keep it in the environment).</summary>
    public string? MetricsScrapeToken { get; set; }

    /// <summary>
    /// The most series (distinct tag combinations) one metric keeps; measurements beyond it are counted in the series
    /// tagged <c>otel.metric.overflow</c>. Our tags are channels, levels, outcomes, routes and status codes, so a few
    /// dozen is typical. OpenTelemetry's default, 2,000, preallocates ~140 KB per metric: ~8 MB for the ~55 metrics
    /// here, for series that never come (decision 0021).
    /// </summary>
    [Range(1, 100_000)]
    public int MetricSeriesLimit { get; set; } = 200;
}

/// <summary>
/// The service's own metrics (meter <see cref="MeterName"/>), next to ASP.NET Core's request metrics: answers and
/// declines, escalations by level, the escalation outbox's depth, index build time, and the requests the rate limits let
/// through because the safety gate would escalate them. Tags are channels, levels and outcomes, never ids or text.
/// </summary>
internal sealed class BotMetrics
{
    public const string MeterName = "BotService";

    private readonly Counter<long> _answers;
    private readonly Counter<long> _escalations;
    private readonly Counter<long> _safetyAdmissions;
    private readonly Histogram<double> _buildTime;

    public BotMetrics(IMeterFactory meters, EscalationDispatcher dispatcher, KnowledgeBase knowledge)
    {
        var meter = meters.Create(MeterName);
        _answers = meter.CreateCounter<long>("bot.answers", "{answer}",
            "Questions the bot answered from the articles (outcome=answered) or declined (outcome=declined), by channel");
        _escalations = meter.CreateCounter<long>("bot.escalations", "{escalation}",
            "Escalations accepted for staff, by level (emergency, urgent) and source (safety rules, or the visitor's request)");
        _safetyAdmissions = meter.CreateCounter<long>("bot.rate_limit.safety_admissions", "{request}",
            "Requests over a rate limit that were let through because the safety gate would escalate their message");
        _buildTime = meter.CreateHistogram("bot.knowledge.build.duration", "s", "Time to build the knowledge index from the articles",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        meter.CreateObservableGauge("bot.escalations.pending", () => dispatcher.Health().Pending, "{escalation}",
            "Escalations in the outbox that have not landed in the database and with every notifier yet");
        meter.CreateObservableGauge("bot.escalations.oldest_pending.age", () => dispatcher.Health().OldestPending.TotalSeconds, "s",
            "How long the oldest escalation still in the outbox has waited");
        meter.CreateObservableGauge("bot.knowledge.passages", () => knowledge.Status.Passages, "{passage}",
            "Passages in the index in use");
        meter.CreateObservableGauge("bot.knowledge.generation", () => knowledge.Status.Generation, "{generation}",
            "How many times the index has been built since the start");
    }

    public void Answered(string? channel, bool answered) =>
        _answers.Add(1, new KeyValuePair<string, object?>("channel", Channel(channel)), new KeyValuePair<string, object?>("outcome", answered ? "answered" : "declined"));

    public void Escalated(EscalationLevel level, string source) =>
        _escalations.Add(1, new KeyValuePair<string, object?>("level", level == EscalationLevel.Emergency ? "emergency" : "urgent"),
            new KeyValuePair<string, object?>("source", source));

    public void SafetyAdmission(string route) => _safetyAdmissions.Add(1, new KeyValuePair<string, object?>("route", route));

    public void IndexBuilt(TimeSpan elapsed) => _buildTime.Record(elapsed.TotalSeconds);

    /// <summary>Channel ids are a short fixed set; anything else is counted as "other" so a client cannot add series.</summary>
    private static string Channel(string? channel) => channel switch
    {
        "directline" or "msteams" or "emulator" or "webchat" or "api" or "test" => channel,
        _ => "other",
    };
}

/// <summary>
/// The first step of every turn: a log scope with the conversation's hash and the channel (so every line a turn logs
/// can be tied to its conversation without the id or any text), and, once the turn is over, the answer metrics.
/// </summary>
internal sealed class TurnTelemetryMiddleware(BotMetrics metrics, ILogger<TurnTelemetryMiddleware> log) : Protocol.Turns.IMiddleware
{
    public async Task OnTurnAsync(Protocol.Turns.ITurnContext turnContext, Protocol.Turns.NextDelegate next, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        using (log.BeginScope(new TurnScope(activity.ChannelId, activity.Conversation?.Id)))
        {
            await next(cancellationToken);
        }

        if (Bot.TurnKeys.Answer(turnContext) is { } answer)
        {
            metrics.Answered(activity.ChannelId, answer.Answered);
        }
    }

    /// <summary>
    /// A structured scope: the JSON console formatter writes its pairs as properties. The hash is taken the first time
    /// a line written in the turn reads the scope, so a turn that logs nothing (the usual one) hashes nothing.
    /// </summary>
    private sealed class TurnScope(string? channel, string? conversationId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private KeyValuePair<string, object?>[]? _pairs;

        // Read from any thread that logs in the turn; two of them at once build the same pairs.
        private KeyValuePair<string, object?>[] Pairs => _pairs ??=
        [
            new("Channel", channel),
            new("ConversationHash", ProtocolTelemetry.ConversationHash(conversationId)),
        ];

        public int Count => 2;

        public KeyValuePair<string, object?> this[int index] => Pairs[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)Pairs).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => Pairs.GetEnumerator();

        public override string ToString() => $"Channel:{Pairs[0].Value} ConversationHash:{Pairs[1].Value}";
    }
}

internal static class Telemetry
{
    /// <summary>The host's own spans (the safety check).</summary>
    public const string SourceName = "BotService";

    public static readonly ActivitySource Source = new(SourceName);

    public const string MetricsPath = "/metrics";

    /// <summary>
    /// OpenTelemetry: metrics always (read at <c>/metrics</c> in Prometheus' text format), traces only when an exporter
    /// is configured. Logs stay with the host's logging (JSON on the console by configuration).
    /// </summary>
    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        builder.Services.AddSingleton<BotMetrics>();

        // Log lines carry the trace and span ids of the request or turn they were written in.
        builder.Logging.Configure(o => o.ActivityTrackingOptions =
            ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId | ActivityTrackingOptions.ParentId);

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("botservice", serviceInstanceId: Environment.MachineName + ":" + Environment.ProcessId))
            .WithMetrics(m => m
                .AddView(_ => new MetricStreamConfiguration { CardinalityLimit = options.MetricSeriesLimit })
                .AddAspNetCoreInstrumentation() // http.server.request.duration, Kestrel connections, rate limiting, ...
                .AddMeter(BotMetrics.MeterName, TranscriptStore.MeterName, "Microsoft.AspNetCore.RateLimiting", "Microsoft.AspNetCore.Diagnostics",
                    "System.Runtime") // .NET's own: GC heap size, working set, thread pool, exceptions
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)); // every scrape is of now
        if (options.Traces != TraceExporter.None)
        {
            otel.WithTracing(t =>
            {
                t.AddAspNetCoreInstrumentation(o => o.RecordException = false) // an exception's message could quote input
                    .AddSource(SourceName, ProtocolTelemetry.SourceName, KnowledgeBase.ActivitySourceName, "System.Net.Http");
                if (options.Traces == TraceExporter.Console)
                {
                    t.AddConsoleExporter();
                }
                else
                {
                    t.AddOtlpExporter(o =>
                    {
                        o.Protocol = options.OtlpProtocol;
                        if (options.OtlpEndpoint is { } endpoint)
                        {
                            o.Endpoint = endpoint;
                        }
                    });
                }
            });
        }

        return builder;
    }

    /// <summary>
    /// <c>GET /metrics</c>, for a Prometheus scraper on the same machine or a listed network, or one that sends the
    /// scrape token; anyone else gets 404, as if there were nothing there (the service faces the public).
    /// </summary>
    public static WebApplication MapMetrics(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<TelemetryOptions>>().Value;
        var networks = ClientNetworks.Parse(options.MetricsAllowedNetworks, TelemetryOptions.SectionName, typeof(TelemetryOptions),
            "Telemetry:MetricsAllowedNetworks: ");
        var token = string.IsNullOrEmpty(options.MetricsScrapeToken) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.MetricsScrapeToken));
        app.UseWhen(http => http.Request.Path.StartsWithSegments(MetricsPath), branch => branch.Use(async (http, next) =>
        {
            if (!MayReadMetrics(http, networks, token))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            await next(http);
        }));
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        return app;
    }

    private static bool MayReadMetrics(HttpContext http, IPNetwork[] networks, byte[]? token)
    {
        if (token is not null && http.Request.Headers.Authorization.ToString() is { } header
            && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim())), token))
        {
            return true;
        }

        return ClientNetworks.Contains(networks, http.Connection.RemoteIpAddress);
    }
}
