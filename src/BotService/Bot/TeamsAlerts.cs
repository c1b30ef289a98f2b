using System.Globalization;
using System.Text.Json;
using BotService.Protocol.Authentication;
using BotService.Protocol.Connector;
using BotService.Protocol.Schema;
using BotService.Storage.Data;
using BotService.Storage.Escalations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

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
/// Posts an Adaptive Card to the staff channel in Teams for every escalation: level, reasons (rule ids), channel and
/// time, and a button to the conversation in the dashboard. Never the message text: a chat tool is not the place for
/// health data. It is one of the escalation dispatcher's notifiers, so it runs after the visitor's crisis reply has
/// gone, is retried with backoff while the Connector is down or throttling (the Connector client itself retries 429s
/// and 5xx within a call), and is recorded as delivered once, so a restart does not post it again.
/// </summary>
internal sealed class TeamsAlertNotifier(
    ConnectorClient connector,
    IOptions<TeamsOptions> teams,
    IOptions<TeamsAlertChannelOptions> channel,
    Database database) : IEscalationNotifier
{
    public string Name => "teams";

    public async Task NotifyAsync(Escalation escalation, CancellationToken cancellationToken)
    {
        var target = channel.Value;
        if (!target.IsConfigured)
        {
            throw new InvalidOperationException("No Teams alert channel is configured (Teams:AlertChannel:ServiceUrl and ConversationId).");
        }

        Guid? id;
        await using (var db = database.Open())
        {
            id = await db.Escalations.AsNoTracking().Where(e => e.Key == escalation.Key).Select(e => (Guid?)e.Id).SingleOrDefaultAsync(cancellationToken);
        }

        var alert = Alert(escalation, id, teams.Value.PublicBaseUrl) with
        {
            ServiceUrl = target.ServiceUrl,
            ChannelId = TeamsActivity.ChannelId,
            Conversation = new ConversationAccount { Id = target.ConversationId, IsGroup = true, ConversationType = "channel" },
        };
        await connector.SendAsync(alert, cancellationToken);
    }

    /// <summary>The alert card (Adaptive Card 1.5); the text is the notification preview.</summary>
    internal static Activity Alert(Escalation escalation, Guid? escalationId, string? publicBaseUrl)
    {
        var level = escalation.Level == EscalationLevel.Emergency ? "Emergency" : "Urgent";
        var rules = string.Join(", ", escalation.Reasons.Select(r => r.Rule).Distinct(StringComparer.Ordinal));
        var when = escalation.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
        var link = escalationId is { } g && Uri.TryCreate(publicBaseUrl, UriKind.Absolute, out var baseUri)
            ? new Uri(baseUri, $"dashboard/escalations/{g:D}").ToString()
            : null;
        var card = Replies.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "AdaptiveCard");
            w.WriteString("$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
            w.WriteString("version", "1.5");
            w.WriteStartArray("body");
            w.WriteStartObject();
            w.WriteString("type", "TextBlock");
            w.WriteString("text", $"{level} escalation");
            w.WriteString("weight", "Bolder");
            w.WriteString("size", "Medium");
            w.WriteString("color", escalation.Level == EscalationLevel.Emergency ? "Attention" : "Warning");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "FactSet");
            w.WriteStartArray("facts");
            Fact(w, "Level", level);
            Fact(w, "Reasons", rules.Length > 0 ? rules : "–");
            Fact(w, "Channel", escalation.Channel);
            Fact(w, "Time", when);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("actions");
            if (link is not null)
            {
                w.WriteStartObject();
                w.WriteString("type", "Action.OpenUrl");
                w.WriteString("title", "Open in the dashboard");
                w.WriteString("url", link);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });

        return new Activity
        {
            Type = ActivityTypes.Message,
            Text = $"{level} escalation ({rules}) on {escalation.Channel} at {when}",
            TextFormat = "plain",
            Attachments = [new Attachment { ContentType = "application/vnd.microsoft.card.adaptive", Content = card }],
        };

        static void Fact(Utf8JsonWriter w, string title, string value)
        {
            w.WriteStartObject();
            w.WriteString("title", title);
            w.WriteString("value", value);
            w.WriteEndObject();
        }
    }
}

internal static class TeamsAlertServices
{
    /// <summary>
    /// Registers the Teams notifier when the bot has an app id and an alert channel is configured; the channel's
    /// service URL is trusted to receive the bot's token (it came from the operator, not from an unauthenticated caller).
    /// </summary>
    public static IServiceCollection AddTeamsAlerts(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TeamsAlertChannelOptions>().BindConfiguration("Teams:AlertChannel");
        var target = configuration.GetSection("Teams:AlertChannel").Get<TeamsAlertChannelOptions>();
        if (string.IsNullOrWhiteSpace(configuration["MicrosoftAppId"]) || target is not { IsConfigured: true })
        {
            return services;
        }

        services.PostConfigure<BotFrameworkAuthenticationOptions>(o => o.TrustedServiceUrls.Add(target.ServiceUrl!));
        services.AddSingleton<IEscalationNotifier, TeamsAlertNotifier>();
        return services;
    }
}
