using System.Globalization;
using System.Text.Json;
using BotService.Dashboard;
using BotService.Protocol.Authentication;
using BotService.Protocol.Schema;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.EntityFrameworkCore;

namespace BotService.Bot;

/// <summary>Where escalation alerts go in Teams (section <c>Teams:AlertChannel</c>).</summary>
public sealed class TeamsAlertChannelOptions
{
    /// <summary>The Teams service URL of the staff team (from an activity in that team, e.g. <c>https://smba.trafficmanager.net/amer/</c>).</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The staff channel's conversation id (<c>19:…@thread.skype</c> or <c>…@thread.tacv2</c>).</summary>
    public string? ConversationId { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ServiceUrl) && !string.IsNullOrWhiteSpace(ConversationId);
}

/// <summary>
/// Hands each escalation to Teams: the dispatcher calls it once the escalation is stored (after the visitor's crisis
/// reply), and it queues the alert in the database (<c>teams_alerts</c>) and wakes <see cref="TeamsAlertSender"/>,
/// which posts it. So a Connector outage, or no alert channel being known yet, never holds up the dispatcher or loses
/// the alert: it waits, durably, and the sender retries with backoff. A repeated call for the same escalation queues
/// nothing new.
/// </summary>
internal sealed class TeamsAlertNotifier(Database database, TeamsAlertSender sender, TimeProvider time) : IEscalationNotifier
{
    public string Name => "teams";

    public async Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken)
    {
        await using (var db = database.Open())
        {
            var id = await db.Escalations.AsNoTracking().Where(e => e.Key == escalation.Key).Select(e => e.Id).SingleAsync(cancellationToken);
            if (!await db.TeamsAlerts.AnyAsync(a => a.EscalationId == id, cancellationToken))
            {
                db.TeamsAlerts.Add(new TeamsAlertRecord { EscalationId = id, State = TeamsAlertRecord.Queued, QueuedAt = time.GetUtcNow() });
                try
                {
                    await db.SaveChangesAsync(cancellationToken);
                }
                catch (DbUpdateException)
                {
                    if (!await AlreadyQueuedAsync(id, cancellationToken))
                    {
                        throw;
                    }

                    // queued by an earlier attempt whose answer was lost: fine
                }
            }
        }

        sender.Wake();
    }

    private async Task<bool> AlreadyQueuedAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = database.Open();
        return await db.TeamsAlerts.AnyAsync(a => a.EscalationId == id, cancellationToken);
    }
}

/// <summary>
/// The alert card (Adaptive Card 1.5) and the overdue re-alert. Level, reasons (rule ids), channel, time, status and
/// a button to the conversation in the dashboard; never the message text: a chat tool is not the place for health data.
/// </summary>
internal static class TeamsAlertCards
{
    /// <summary>The alert, showing the escalation's status now (it is updated in place when staff act on it).</summary>
    public static Activity Alert(EscalationRecord escalation, string? publicBaseUrl)
    {
        var level = Level(escalation);
        var rules = string.Join(", ", EscalationBoard.Reasons(escalation).Select(r => r.Rule).Distinct(StringComparer.Ordinal));
        var when = escalation.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
        var status = Status(escalation);
        var color = escalation.Status switch
        {
            EscalationBoard.Resolved => "Good",
            EscalationBoard.Claimed => "Accent",
            _ => escalation.Level == "emergency" ? "Attention" : "Warning",
        };
        var card = Card(publicBaseUrl, escalation.Id, w =>
        {
            TextBlock(w, $"{level} escalation", color);
            w.WriteStartObject();
            w.WriteString("type", "FactSet");
            w.WriteStartArray("facts");
            Fact(w, "Level", level);
            Fact(w, "Reasons", rules.Length > 0 ? rules : "–");
            Fact(w, "Channel", escalation.Channel);
            Fact(w, "Time", when);
            Fact(w, "Status", status);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        return Replies.AdaptiveCardMessage($"{level} escalation ({rules}) on {escalation.Channel} at {when}: {status}", card);
    }

    /// <summary>The re-alert for an emergency still unclaimed past the limit, posted as a reply in the alert's thread.</summary>
    public static Activity Overdue(EscalationRecord escalation, DateTimeOffset now, string? publicBaseUrl)
    {
        var text = escalation.ReopenCount > 0
            ? "Overdue: this reopened emergency is still unclaimed."
            : $"Overdue: this emergency is still unclaimed, {Math.Max(0, (int)(now - escalation.CreatedAt).TotalMinutes)} min after it came in.";
        var card = Card(publicBaseUrl, escalation.Id, w => TextBlock(w, text, "Attention"));
        return Replies.AdaptiveCardMessage(text, card);
    }

    public static string Status(EscalationRecord escalation) => escalation.Status switch
    {
        EscalationBoard.Claimed => $"Claimed by {escalation.ClaimedByName}",
        EscalationBoard.Resolved => $"Resolved: {escalation.Outcome}",
        _ => escalation.ReopenCount > 0 ? "Open (reopened), unclaimed" : "Open, unclaimed",
    };

    private static string Level(EscalationRecord escalation) => escalation.Level == "emergency" ? "Emergency" : "Urgent";

    private static JsonElement Card(string? publicBaseUrl, Guid escalationId, Action<Utf8JsonWriter> body)
    {
        var link = Uri.TryCreate(publicBaseUrl, UriKind.Absolute, out var baseUri)
            ? new Uri(baseUri, $"dashboard/escalations/{escalationId:D}").ToString()
            : null;
        return Replies.AdaptiveCard(body, w =>
        {
            if (link is not null)
            {
                Replies.OpenUrl(w, "Open in the dashboard", link);
            }
        });
    }

    private static void TextBlock(Utf8JsonWriter w, string text, string color)
    {
        w.WriteStartObject();
        w.WriteString("type", "TextBlock");
        w.WriteString("text", text);
        w.WriteString("weight", "Bolder");
        w.WriteString("size", "Medium");
        w.WriteString("color", color);
        w.WriteBoolean("wrap", true);
        w.WriteEndObject();
    }

    private static void Fact(Utf8JsonWriter w, string title, string value)
    {
        w.WriteStartObject();
        w.WriteString("title", title);
        w.WriteString("value", value);
        w.WriteEndObject();
    }
}

internal static class TeamsAlertServices
{
    /// <summary>
    /// Teams alerts whenever the bot has an app id: the notifier queues each escalation's alert and the sender posts it
    /// to the configured channel or, without one, to the channel learned when the app was added to a team (alerts
    /// wait until one is known). A configured channel's service URL is trusted to receive the bot's token (it came from
    /// the operator); a learned one because it came on an authenticated activity (see <see cref="TeamsAlertChannels"/>).
    /// </summary>
    public static IServiceCollection AddTeamsAlerts(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TeamsAlertChannelOptions>().BindConfiguration("Teams:AlertChannel");
        services.AddSingleton<TeamsAlertChannels>();
        if (string.IsNullOrWhiteSpace(configuration["MicrosoftAppId"]))
        {
            return services;
        }

        var target = configuration.GetSection("Teams:AlertChannel").Get<TeamsAlertChannelOptions>();
        if (target is { IsConfigured: true })
        {
            services.PostConfigure<BotFrameworkAuthenticationOptions>(o => o.TrustedServiceUrls.Add(target.ServiceUrl!));
        }

        services.AddSingleton<TeamsAlertSender>();
        services.AddHostedService(sp => sp.GetRequiredService<TeamsAlertSender>());
        services.AddSingleton<IEscalationNotifier, TeamsAlertNotifier>();
        services.AddSingleton<IEscalationChangeListener>(sp => sp.GetRequiredService<TeamsAlertSender>());
        services.AddSingleton<IOverdueListener>(sp => sp.GetRequiredService<TeamsAlertSender>());
        services.AddHealthChecks().AddCheck<TeamsHealthCheck>("teams");
        return services;
    }
}
