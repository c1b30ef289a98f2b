using System.Security.Claims;
using System.Text.Json;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace BotService.Bot;

/// <summary>Where escalation alerts go: a Teams service URL and a channel, from configuration or from an installation.</summary>
internal sealed record TeamsAlertTarget(string ServiceUrl, string ConversationId, string? TenantId, bool Configured);

/// <summary>What an installation activity says about the app and a team.</summary>
internal enum TeamsInstallationChange
{
    Added,
    Removed,
}

/// <param name="TeamId">The team (<c>channelData.team.id</c>).</param>
/// <param name="ChannelId">The channel chosen at installation (<c>channelData.settings.selectedChannel.id</c>), else the conversation's.</param>
internal sealed record TeamsInstallation(TeamsInstallationChange Change, string TeamId, string ChannelId);

/// <summary>
/// The staff channel for escalation alerts. <c>Teams:AlertChannel</c>, when set, always wins; otherwise it is the
/// channel of the team the app was last added to, learned from that installation's own activity and kept in the
/// database (<c>teams_channels</c>), so it survives restarts; removing the app from the team forgets it. Only an
/// installation authenticated by a channel token (whose <c>serviceurl</c> claim is the activity's serviceUrl, checked
/// by the authenticator) from the clinic's tenant (checked by <see cref="TeamsMiddleware"/>) is learned, which is what
/// makes its service URL one that may receive the bot's token later (decision 0008, docs/security.md).
/// </summary>
internal sealed partial class TeamsAlertChannels(
    Database database, IOptions<TeamsAlertChannelOptions> configured, TimeProvider time, ILogger<TeamsAlertChannels> log)
{
    public const string Learned =
        "Escalation alerts from the clinic's chat will be posted in this channel: level, reasons, time and a dashboard link, never what was said.";

    public const string ConfiguredElsewhere =
        "Escalation alerts go to the staff channel set in the service's configuration (Teams:AlertChannel), not to this team.";

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Raised after a channel was learned or forgotten (the sender wakes up for alerts that were waiting).</summary>
    public event Action? Changed;

    public TeamsAlertTarget? ConfiguredTarget => configured.Value.IsConfigured
        ? new TeamsAlertTarget(configured.Value.ServiceUrl!, configured.Value.ConversationId!, null, Configured: true)
        : null;

    /// <summary>The configured channel, else the most recently learned one, else null.</summary>
    public async Task<TeamsAlertTarget?> CurrentAsync(CancellationToken cancellationToken)
    {
        if (ConfiguredTarget is { } fixedTarget)
        {
            return fixedTarget;
        }

        await using var db = database.Open();
        var learned = await db.TeamsChannels.AsNoTracking().OrderByDescending(c => c.AddedAt).FirstOrDefaultAsync(cancellationToken);
        return learned is null ? null : new TeamsAlertTarget(learned.ServiceUrl, learned.ConversationId, learned.TenantId, Configured: false);
    }

    /// <summary>
    /// Handles an installation activity that has passed the tenant gate: learns or forgets the team's channel, and
    /// says in the channel where alerts will go when that is news.
    /// </summary>
    public async Task OnInstallationAsync(ITurnContext turnContext, TeamsInstallation installation, CancellationToken cancellationToken)
    {
        var activity = turnContext.Activity;
        if (!FromChannelService(turnContext))
        {
            // An Emulator token (or the anonymous local mode) carries no serviceurl claim: nothing vouches for the URL.
            NotFromChannel(log, installation.Change);
            return;
        }

        if (installation.Change == TeamsInstallationChange.Removed)
        {
            if (await ForgetAsync(installation.TeamId, cancellationToken))
            {
                Forgotten(log);
            }

            return;
        }

        var changed = await LearnAsync(new TeamsChannelRecord
        {
            TeamId = installation.TeamId,
            ConversationId = installation.ChannelId,
            ServiceUrl = activity.ServiceUrl!,
            TenantId = activity.TenantId() ?? string.Empty,
            AddedAt = time.GetUtcNow(),
        }, cancellationToken);
        if (!changed)
        {
            return; // Teams sends both an installationUpdate and a conversationUpdate for one installation: say it once
        }

        var configuredWins = configured.Value.IsConfigured;
        LearnedChannel(log, configuredWins);
        await turnContext.SendActivityAsync(new Activity
        {
            Type = ActivityTypes.Message, Text = configuredWins ? ConfiguredElsewhere : Learned, TextFormat = "plain",
        }, cancellationToken);
    }

    /// <summary>Stores (or moves) a team's channel; true if that changed anything.</summary>
    public async Task<bool> LearnAsync(TeamsChannelRecord channel, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var db = database.Open();
            var existing = await db.TeamsChannels.FindAsync([channel.TeamId], cancellationToken);
            if (existing is not null && existing.ConversationId == channel.ConversationId
                && string.Equals(existing.ServiceUrl, channel.ServiceUrl, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            if (existing is null)
            {
                db.TeamsChannels.Add(channel);
            }
            else
            {
                existing.ConversationId = channel.ConversationId;
                existing.ServiceUrl = channel.ServiceUrl;
                existing.TenantId = channel.TenantId;
                existing.AddedAt = channel.AddedAt;
            }

            await db.SaveChangesAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }

        Changed?.Invoke();
        return true;
    }

    /// <summary>Forgets a team's channel; true if there was one.</summary>
    public async Task<bool> ForgetAsync(string teamId, CancellationToken cancellationToken)
    {
        database.EnsureReady();
        int removed;
        await using (var db = database.Open())
        {
            removed = await db.TeamsChannels.Where(c => c.TeamId == teamId).ExecuteDeleteAsync(cancellationToken);
        }

        if (removed > 0)
        {
            Changed?.Invoke();
        }

        return removed > 0;
    }

    /// <summary>
    /// True when the turn was authenticated by a channel token: the authenticator has then checked that its
    /// <c>serviceurl</c> claim is the activity's serviceUrl, so that URL is the channel service's own.
    /// </summary>
    private static bool FromChannelService(ITurnContext turnContext) =>
        turnContext.TurnState.TryGetValue("BotIdentity", out var value) && value is ClaimsIdentity identity
        && identity.FindFirst("serviceurl")?.Value is { Length: > 0 } claimed
        && string.Equals(claimed, turnContext.Activity.ServiceUrl, StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(8501, LogLevel.Warning, "Teams: the app was added to a team; escalation alerts go to its channel{Note}")]
    private static partial void LearnedChannelCore(ILogger logger, string note);

    private static void LearnedChannel(ILogger logger, bool configuredWins) =>
        LearnedChannelCore(logger, configuredWins ? " only if Teams:AlertChannel is removed from the configuration (it wins)" : string.Empty);

    [LoggerMessage(8502, LogLevel.Warning, "Teams: the app was removed from a team; its alert channel is forgotten")]
    private static partial void Forgotten(ILogger logger);

    [LoggerMessage(8503, LogLevel.Warning, "Teams: an installation ({Change}) not authenticated by the channel service's token was ignored")]
    private static partial void NotFromChannel(ILogger logger, TeamsInstallationChange change);
}

internal static class TeamsInstallations
{
    /// <summary>
    /// Reads a team installation or removal (protocol.md §6) from an activity: an <c>installationUpdate</c> with
    /// <c>action</c> <c>add</c>/<c>add-upgrade</c> or <c>remove</c>/<c>remove-upgrade</c> (as the SDK reads them), or a
    /// <c>conversationUpdate</c> naming the bot among <c>membersAdded</c>/<c>membersRemoved</c> (<c>teamMemberAdded</c>,
    /// <c>teamMemberRemoved</c>) or saying the team was deleted. Null for anything else, and for personal and group
    /// chats (no team). The alert channel is the one chosen at installation (<c>settings.selectedChannel</c>), else the
    /// activity's conversation (Teams sets it to that channel), else the team's General channel.
    /// </summary>
    public static TeamsInstallation? Installation(this Activity activity)
    {
        if (!activity.IsTeams() || activity.Type is not (ActivityTypes.InstallationUpdate or ActivityTypes.ConversationUpdate))
        {
            return null;
        }

        var data = activity.ChannelData is { ValueKind: JsonValueKind.Object } d ? d : default;
        var teamId = Text(data, "team", "id");
        var conversationId = activity.Conversation?.Id is { Length: > 0 } c ? c.Split(";messageid=")[0] : null;
        if (teamId is null && activity.Conversation?.ConversationType != "channel")
        {
            return null;
        }

        teamId ??= conversationId;
        var channelId = Text(data, "settings", "selectedChannel", "id") ?? conversationId ?? teamId;
        if (teamId is null || channelId is null)
        {
            return null;
        }

        TeamsInstallationChange? change = null;
        if (activity.Type == ActivityTypes.InstallationUpdate)
        {
            change = activity.Action?.ToLowerInvariant() switch
            {
                "add" or "add-upgrade" => TeamsInstallationChange.Added,
                "remove" or "remove-upgrade" => TeamsInstallationChange.Removed,
                _ => null,
            };
        }
        else
        {
            var botId = activity.Recipient?.Id;
            if (botId is not null && (activity.MembersAdded ?? []).Any(m => m.Id == botId))
            {
                change = TeamsInstallationChange.Added;
            }
            else if ((botId is not null && (activity.MembersRemoved ?? []).Any(m => m.Id == botId))
                     || Text(data, "eventType") is "teamDeleted" or "teamHardDeleted")
            {
                change = TeamsInstallationChange.Removed;
            }
        }

        return change is { } known ? new TeamsInstallation(known, teamId, channelId) : null;
    }

    private static string? Text(JsonElement element, params string[] path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return null;
            }
        }

        return element.ValueKind == JsonValueKind.String && element.GetString() is { Length: > 0 } s ? s : null;
    }
}
