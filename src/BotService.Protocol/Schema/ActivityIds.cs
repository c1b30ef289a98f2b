namespace BotService.Protocol.Schema;

/// <summary>
/// The shape of the identifiers (and the type) an Activity carries. Channels name themselves with short tokens (<c>msteams</c>,
/// <c>webchat</c>, <c>directline</c>, <c>emulator</c>) and give conversations, activities and accounts printable
/// ASCII ids without spaces (<c>19:…@thread.tacv2;messageid=…</c>, <c>a:1…</c>, a GUID with <c>|livechat</c>).
/// Anything else is refused at the door, because these values travel where message text must never go: logs, metric
/// labels, trace tags, database keys (PostgreSQL refuses a NUL in any of them).
/// </summary>
public static class ActivityIds
{
    /// <summary>Longest id accepted (Teams' longest ids are a few hundred characters).</summary>
    public const int MaxLength = 512;

    /// <summary>A channel id: 1–64 letters, digits, '.', '_' or '-'.</summary>
    public static bool IsChannelId(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 64)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>An activity type (<c>message</c>, <c>conversationUpdate</c>, …): the same shape as a channel id.</summary>
    public static bool IsType(string? value) => IsChannelId(value);

    /// <summary>Any other id: 1–<see cref="MaxLength"/> printable ASCII characters, no space.</summary>
    public static bool IsId(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The first field whose id is malformed, or null when all are well formed. Absent or empty ids are left to the endpoint;
    /// it decides what it needs.
    /// </summary>
    public static string? FirstMalformed(Activity activity)
    {
        if (activity.Type is { Length: > 0 } && !IsType(activity.Type))
        {
            return "type";
        }

        if (activity.ChannelId is { Length: > 0 } && !IsChannelId(activity.ChannelId))
        {
            return "channelId";
        }

        if (activity.Conversation?.Id is { Length: > 0 } conversation && !IsId(conversation))
        {
            return "conversation.id";
        }

        if (activity.Id is { Length: > 0 } id && !IsId(id))
        {
            return "id";
        }

        if (activity.From?.Id is { Length: > 0 } from && !IsId(from))
        {
            return "from.id";
        }

        if (activity.Recipient?.Id is { Length: > 0 } recipient && !IsId(recipient))
        {
            return "recipient.id";
        }

        return activity.ReplyToId is { Length: > 0 } replyTo && !IsId(replyTo) ? "replyToId" : null;
    }
}
