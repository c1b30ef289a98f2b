using System.Text.Json.Serialization.Metadata;
using BotService.Api;
using BotService.Bot;
using BotService.DirectLine;
using BotService.Hosting;
using BotService.Knowledge;
using BotService.Knowledge.Answers;
using Microsoft.Extensions.Options;

namespace BotService;

/// <summary>
/// Builds the service. Program.cs and the integration tests both call <see cref="Build"/>, so tests run the real host
/// on a real socket. Reads like a table of contents: options, parts, endpoints.
/// </summary>
public static class BotServiceApp
{
    public const string DefaultUrl = "http://127.0.0.1:3978";

    public static WebApplication Build(string[] args) => Build(args, configure: null);

    /// <param name="configure">Tests add their own services here (a notifier that fails, a log capture).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure)
    {
        StorageServices.RestrictNewFilesToOwner();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = SettingsFiles.WithoutDefaultWatcher(args),
            ContentRootPath = ContentRoot.Find(),
        });
        if (SettingsFiles.ReloadWanted(args))
        {
            SettingsFiles.ReloadByPolling(builder.Configuration, builder.Environment.ContentRootPath);
        }
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // Options, validated at start-up so a typo in appsettings.json stops the service with a clear message.
        builder.Services.AddOptions<DataOptions>().BindConfiguration(DataOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<KnowledgeOptions>().BindConfiguration(KnowledgeOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<AnswerOptions>().BindConfiguration(AnswerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();

        // Parts.
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new KnowledgeBase(
            sp.GetRequiredService<IOptions<AnswerOptions>>().Value,
            sp.GetRequiredService<ILogger<KnowledgeBase>>(),
            sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddHostedService<DataFolder>();
        builder.Services.AddStorage();
        builder.Services.AddSafety();
        builder.Services.AddHostedService<KnowledgeLoader>();
        builder.Services.AddBotFramework(builder.Configuration);
        builder.Services.AddDirectLine();
        builder.Services.AddSingleton<WarmUpState>();
        builder.AddTelemetry(); // metrics at /metrics, traces if configured, trace ids in logs
        builder.Services.AddTrustedProxies(); // X-Forwarded-For from the configured load balancers only
        builder.Services.AddAdmission(); // rate limits (per address, per conversation, the safety lane)
        builder.Services.AddBaselineSecurityHeaders();
        builder.Services.AddHostedService<HttpWarmUp>();
        Dashboard.DashboardApi.AddDashboard(builder.Services, builder.Configuration); // staff sign-in, escalation dashboard, audit, retention

        // HTTP plumbing: generated JSON, RFC 7807 problem details, health.
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            // The contexts' own WhenWritingNull applies only when a context is used directly; through the host's options
            // it is the options' setting that counts. Without this every reply Activity carried ~40 null fields.
            o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Insert(1, BotService.Protocol.Schema.ProtocolJsonContext.Default);
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddServiceHealthChecks(); // /healthz/live, /healthz/ready (dependencies), /healthz

        configure?.Invoke(builder);
        Dashboard.StaffAuth.ReadKeyRingOnFirstUse(builder.Services);
        var app = builder.Build();
        app.UseTrustedProxies(); // first: everything after sees the client's address, not the load balancer's
        app.UseBaselineSecurityHeaders(); // on every response, errors included
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapMetrics();
        app.UseAdmission(); // message bodies read (bounded), then the rate limits: before sign-in and every endpoint
        Dashboard.DashboardApi.MapDashboard(app);
        app.MapServiceHealthChecks();
        app.MapAskApi();
        Bot.MessagesApi.MapMessagesApi(app);
        app.MapDirectLineApi();
        WebChat.WebChatPage.MapWebChatPage(app); // GET /: the visitors' chat page
        return app;
    }
}
