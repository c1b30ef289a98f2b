using BotService.Protocol.Authentication;
using BotService.Protocol.Connector;
using BotService.Protocol.Turns;
using IMiddleware = BotService.Protocol.Turns.IMiddleware; // not ASP.NET Core's
using Microsoft.Extensions.Options;

namespace BotService.Bot;

/// <summary>The bot, its turn pipeline, and the Bot Framework's authentication and Connector client.</summary>
internal static class BotFrameworkServices
{
    public static IServiceCollection AddBotFramework(this IServiceCollection services, IConfiguration configuration)
    {
        // The SDK's keys, read from the configuration root (MicrosoftAppId, MicrosoftAppPassword, ...), so an SDK bot's
        // appsettings.json or environment works unchanged.
        services.AddOptions<BotFrameworkAuthenticationOptions>().Bind(configuration);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<BotFrameworkAuthenticationOptions>>().Value);
        services.AddSingleton(sp => new TrustedServiceUrls(sp.GetRequiredService<BotFrameworkAuthenticationOptions>().TrustedServiceUrls));

        services.AddHttpClient("BotFramework.Metadata", c => c.Timeout = TimeSpan.FromSeconds(10)).AddStandardResilienceHandler();
        services.AddSingleton(sp => new BotFrameworkAuthenticator(
            sp.GetRequiredService<BotFrameworkAuthenticationOptions>(),
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("BotFramework.Metadata"),
            sp.GetRequiredService<TrustedServiceUrls>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<BotFrameworkAuthenticator>>()));

        services.AddHttpClient("BotFramework.Token", c => c.Timeout = TimeSpan.FromSeconds(10)).AddStandardResilienceHandler();
        services.AddSingleton(sp => new BotTokenProvider(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("BotFramework.Token"),
            sp.GetRequiredService<BotFrameworkAuthenticationOptions>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<BotTokenProvider>>()));
        services.AddTransient<BotTokenHandler>();
        var connector = services.AddHttpClient<ConnectorClient>(c => c.Timeout = TimeSpan.FromSeconds(30));
        // Retries 429 (honouring Retry-After), 5xx and timeouts with backoff; all attempts together stay under the
        // channel's 15 s wait for our answer to its POST.
        connector.AddStandardResilienceHandler(o => o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(12));
        connector.AddHttpMessageHandler<BotTokenHandler>(); // inside the retries: every attempt gets a current token

        services.AddOptions<TeamsOptions>().BindConfiguration(TeamsOptions.SectionName);
        services.AddTeamsAlerts(configuration);

        // The turn pipeline, in order: telemetry, the transcript (every channel's activities; never blocks a reply), the typing
        // indicator for slow turns, the safety gate, staff hand-off (quiet while staff have the conversation), the Teams
        // tenant gate, answer feedback, then the bot.
        services.AddSingleton<IMiddleware, Hosting.TurnTelemetryMiddleware>(); // log scope (conversation hash), answer metrics
        services.AddSingleton<IMiddleware, TranscriptMiddleware>();
        services.AddSingleton<IMiddleware>(sp => new ShowTypingMiddleware(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IMiddleware, SafetyMiddleware>();
        services.AddSingleton<IMiddleware, StaffHandoffMiddleware>();
        services.AddSingleton<IMiddleware, TeamsMiddleware>();
        services.AddSingleton<IMiddleware, Feedback.FeedbackMiddleware>(); // votes on answers (Web Chat, Teams), after the tenant gate
        services.AddSingleton<Feedback.AnswerLog>();
        services.AddHostedService(sp => sp.GetRequiredService<Feedback.AnswerLog>());
        services.AddOptions<FollowUpOptions>().BindConfiguration(FollowUpOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ConversationTopics>();
        services.AddSingleton<ClinicBot>();
        services.AddSingleton<IBot>(sp => sp.GetRequiredService<ClinicBot>());
        services.AddSingleton<BotPipeline>();
        services.AddHostedService<PipelineWarmUp>();
        return services;
    }
}
