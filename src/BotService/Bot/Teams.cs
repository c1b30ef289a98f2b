using System.Text.Json;
using BotService.Knowledge.Articles;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using IMiddleware = BotService.Protocol.Turns.IMiddleware; // not ASP.NET Core's

namespace BotService.Bot;

/// <summary>Microsoft Teams settings (section <c>Teams</c>).</summary>
public sealed class TeamsOptions
{
    public const string SectionName = "Teams";

    /// <summary>
    /// The clinic's Microsoft Entra tenant. Only its members are answered in Teams (with staff articles); anyone else
    /// gets a polite refusal. Empty: nobody is answered in Teams (fail closed), though crisis replies still go out.
    /// </summary>
    public string? TenantId { get; set; }

    /// <summary>The public address of this service, for "Open article" and dashboard links in cards (e.g. <c>https://bot.clinic.example</c>).</summary>
    public string? PublicBaseUrl { get; set; }
}

/// <summary>What the Teams channel adds to an activity (shared/protocol.md §6).</summary>
internal static class TeamsActivity
{
    public const string ChannelId = "msteams";

    public static bool IsTeams(this Activity activity) => string.Equals(activity.ChannelId, ChannelId, StringComparison.OrdinalIgnoreCase);

    /// <summary>The sender's tenant: <c>channelData.tenant.id</c>, else <c>conversation.tenantId</c>.</summary>
    public static string? TenantId(this Activity activity)
    {
        if (activity.ChannelData is { ValueKind: JsonValueKind.Object } data
            && data.TryGetProperty("tenant", out var tenant) && tenant.ValueKind == JsonValueKind.Object
            && tenant.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
        {
            return id.GetString();
        }

        return activity.Conversation?.TenantId;
    }

    /// <summary>
    /// Removes the bot's own @mention from the text, as the SDK's <c>RemoveRecipientMention</c> does: each mention entity
    /// naming the recipient has its <c>text</c> (e.g. <c>&lt;at&gt;Clinic Bot&lt;/at&gt;</c>) cut out, case-insensitively,
    /// falling back to <c>&lt;at&gt;{name}&lt;/at&gt;</c>; then the text is trimmed. In channels and group chats every message
    /// to the bot starts with one.
    /// </summary>
    public static Activity RemoveRecipientMention(this Activity activity)
    {
        if (activity.Text is not { Length: > 0 } text || activity.Entities is not { Count: > 0 } entities || activity.Recipient?.Id is not { } botId)
        {
            return activity;
        }

        foreach (var mention in entities.Where(e => string.Equals(e.Type, "mention", StringComparison.OrdinalIgnoreCase)
                                                    && e.Mentioned?.Id == botId))
        {
            var said = mention.Text is { Length: > 0 } t ? t : $"<at>{mention.Mentioned?.Name}</at>";
            text = text.Replace(said, string.Empty, StringComparison.OrdinalIgnoreCase);
        }

        return activity with { Text = text.Trim() };
    }
}

/// <summary>
/// Teams is for staff: a member of the clinic's tenant is answered from public and staff articles; anyone else is
/// told politely that this bot serves the clinic's staff. Runs after the safety middleware, so a crisis message from
/// anyone still gets the resources and is escalated. The app being added to (or removed from) a team of the clinic's
/// tenant is handed to <see cref="TeamsAlertChannels"/>, which learns (or forgets) the staff channel for alerts.
/// </summary>
internal sealed partial class TeamsMiddleware(
    Microsoft.Extensions.Options.IOptions<TeamsOptions> options, TeamsAlertChannels channels, ILogger<TeamsMiddleware> log) : IMiddleware
{
    public const string NotServed =
        "Sorry, this assistant answers the clinic's own staff only. If you are a patient, please use the chat on the clinic's website or call the clinic.";

    public async Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        if (!activity.IsTeams())
        {
            await next(cancellationToken);
            return;
        }

        var installation = activity.Installation();
        var tenant = options.Value.TenantId;
        if (string.IsNullOrWhiteSpace(tenant) || !string.Equals(activity.TenantId(), tenant, StringComparison.OrdinalIgnoreCase))
        {
            if (activity.Type == ActivityTypes.Message)
            {
                await turnContext.SendActivityAsync(new Activity { Type = ActivityTypes.Message, Text = NotServed, TextFormat = "plain" }, cancellationToken);
            }
            else if (installation is not null)
            {
                OtherTenant(log, installation.Change);
            }

            return;
        }

        turnContext.SetAudience(Audience.Staff);
        if (installation is not null)
        {
            try
            {
                await channels.OnInstallationAsync(turnContext, installation, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The database is down: the admin sees no confirmation in the channel and can add the app again.
                InstallationFailed(log, installation.Change, e.GetType().Name);
            }
        }

        await next(cancellationToken);
    }

    [LoggerMessage(8504, LogLevel.Warning, "Teams: an installation ({Change}) from a tenant other than Teams:TenantId was ignored")]
    private static partial void OtherTenant(ILogger logger, TeamsInstallationChange change);

    [LoggerMessage(8505, LogLevel.Error, "Teams: an installation ({Change}) could not be recorded ({Error})")]
    private static partial void InstallationFailed(ILogger logger, TeamsInstallationChange change, string error);
}
