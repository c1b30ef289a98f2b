using BotService.Storage.Escalations;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc.ApplicationParts;
using Microsoft.Extensions.Options;

namespace BotService.Dashboard;

/// <summary>
/// The dashboard's wiring: services, the Razor Pages (queue, conversation, audit, sign-in), and the API under
/// <c>/dashboard/api</c> (live events, the queue as JSON, the two exports). Every endpoint needs a signed-in staff
/// member; the exports need an admin.
/// </summary>
internal static class DashboardApi
{
    public static IServiceCollection AddDashboard(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DashboardOptions>().BindConfiguration(DashboardOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddStaffAuth(configuration);
        services.AddRazorPages(o =>
        {
            o.Conventions.AuthorizeFolder("/Dashboard", StaffAuth.StaffPolicy);
            o.Conventions.AuthorizePage("/Dashboard/Audit", StaffAuth.AdminPolicy);
            o.Conventions.AllowAnonymousToFolder("/Account");
        }).ConfigureApplicationPartManager(parts =>
        {
            // The pages are compiled into this assembly. MVC looks in the entry assembly, which is this one under
            // `dotnet run` but the test host in the integration tests: add it when it is not there yet.
            var assembly = typeof(DashboardApi).Assembly;
            if (!parts.ApplicationParts.Any(p => p.Name == assembly.GetName().Name))
            {
                foreach (var part in ApplicationPartFactory.GetApplicationPartFactory(assembly).GetApplicationParts(assembly))
                {
                    parts.ApplicationParts.Add(part);
                }
            }
        });
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "clinic.antiforgery";
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.FormFieldName = "__RequestVerificationToken";
        });
        services.AddSingleton<AuditLog>();
        services.AddSingleton<DashboardEvents>();
        services.AddSingleton<Bot.IStaffPresence>(sp => sp.GetRequiredService<DashboardEvents>());
        services.AddSingleton<IEscalationNotifier, DashboardNotifier>();
        services.AddSingleton<TranscriptReplySender>();
        services.AddSingleton<IVisitorReplySender, DirectLine.DirectLineReplySender>(); // Direct Line delivers; other channels: transcript only
        services.AddSingleton<ClaimedConversations>();
        services.AddHostedService(sp => sp.GetRequiredService<ClaimedConversations>());
        services.AddHostedService<DashboardSignals>(); // several instances: the others' escalation changes
        services.AddSingleton<EscalationBoard>();
        services.AddSingleton<ReviewBoard>();
        services.AddSingleton<RetentionJob>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionJob>());
        services.AddHostedService<EndpointWarmUp>();
        services.AddSingleton<OverdueWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<OverdueWatch>());
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(DashboardJsonContext.Default));
        return services;
    }

    public static WebApplication MapDashboard(this WebApplication app)
    {
        app.UseDashboardSecurityHeaders();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapRazorPages();

        var api = app.MapGroup(StaffAuth.ApiPrefix).RequireAuthorization(StaffAuth.StaffPolicy);
        api.MapGet("/events", (DashboardEvents events, IHostApplicationLifetime host, IOptions<DashboardOptions> options, CancellationToken ct) =>
            TypedResults.ServerSentEvents(events.StreamAsync(TimeSpan.FromMinutes(options.Value.SessionMinutes), host.ApplicationStopping, ct)));
        api.MapGet("/escalations", async Task<Ok<QueueItem[]>> (EscalationBoard board, HttpContext http, string? level, string? status,
            string? channel, bool? mine, CancellationToken ct) =>
            TypedResults.Ok((await board.QueueAsync(new QueueFilter(level, status, channel, mine ?? false), http.User.ToActor(), ct)).ToArray()));
        api.MapGet("/audit.csv", async (AuditLog audit, HttpContext http, CancellationToken ct) =>
        {
            await audit.AppendAsync(http.User.ToActor(), AuditActions.AuditExport, cancellationToken: ct);
            http.Response.ContentType = "text/csv; charset=utf-8";
            http.Response.Headers.ContentDisposition = "attachment; filename=\"audit.csv\"";
            http.Response.Headers.CacheControl = "no-store";
            await audit.WriteCsvAsync(http.Response.Body, ct);
        }).RequireAuthorization(StaffAuth.AdminPolicy);
        api.MapGet("/false-alarms.jsonl", async (EscalationBoard board, AuditLog audit, HttpContext http, CancellationToken ct) =>
        {
            await audit.AppendAsync(http.User.ToActor(), AuditActions.FalseAlarmExport, cancellationToken: ct);
            http.Response.ContentType = "application/x-ndjson; charset=utf-8";
            http.Response.Headers.ContentDisposition = "attachment; filename=\"false-alarms.jsonl\"";
            http.Response.Headers.CacheControl = "no-store";
            await board.WriteFalseAlarmsAsync(http.Response.Body, ct);
        }).RequireAuthorization(StaffAuth.AdminPolicy);
        api.MapGet("/review.csv", async (ReviewBoard review, HttpContext http, int? days, CancellationToken ct) =>
        {
            http.Response.ContentType = "text/csv; charset=utf-8";
            http.Response.Headers.ContentDisposition = "attachment; filename=\"unanswered-questions.csv\"";
            http.Response.Headers.CacheControl = "no-store";
            await review.WriteCsvAsync(http.User.ToActor(), ReviewBoard.Period(days), http.Response.Body, ct); // audited before the first byte
        }); // staff and admins, like the review page
        return app;
    }
}
