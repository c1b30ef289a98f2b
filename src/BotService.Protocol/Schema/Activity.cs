using System.Text.Json;
using System.Text.Json.Serialization;

namespace BotService.Protocol.Schema;

/// <summary>
/// A Bot Framework activity (botframework-activity spec; field list in shared/protocol.md §1). Every type that crosses
/// the wire keeps the fields it does not model in <c>Extra</c>, so channel data is never lost on a round trip
/// (A2005). Names are camelCase on the wire and read case-insensitively (A2002); nulls are omitted.
/// </summary>
public sealed record Activity
{
    public required string Type { get; init; }

    public string? Id { get; init; }

    /// <summary>UTC, written with a <c>Z</c> (A2043).</summary>
    [JsonConverter(typeof(UtcTimestampConverter))]
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>The sender's local time, with its offset (A2050).</summary>
    public DateTimeOffset? LocalTimestamp { get; init; }

    public string? LocalTimezone { get; init; }

    public string? ServiceUrl { get; init; }

    public string? ChannelId { get; init; }

    public ChannelAccount? From { get; init; }

    public ConversationAccount? Conversation { get; init; }

    public ChannelAccount? Recipient { get; init; }

    public string? ReplyToId { get; init; }

    public string? Text { get; init; }

    public string? TextFormat { get; init; }

    public string? Locale { get; init; }

    public string? Speak { get; init; }

    public string? InputHint { get; init; }

    public string? AttachmentLayout { get; init; }

    public IReadOnlyList<Attachment>? Attachments { get; init; }

    public SuggestedActions? SuggestedActions { get; init; }

    public IReadOnlyList<Entity>? Entities { get; init; }

    public JsonElement? ChannelData { get; init; }

    public string? Name { get; init; }

    public JsonElement? Value { get; init; }

    public string? DeliveryMode { get; init; }

    public IReadOnlyList<ChannelAccount>? MembersAdded { get; init; }

    public IReadOnlyList<ChannelAccount>? MembersRemoved { get; init; }

    public string? Action { get; init; }

    public string? Code { get; init; }

    public ConversationReference? RelatesTo { get; init; }

    // Set, not init: source generation throws on init-only extension data (dotnet/runtime#107898).
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>Reads any ISO 8601 time; writes UTC with a trailing <c>Z</c>, as the spec asks for <c>timestamp</c>.</summary>
public sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? null : reader.GetDateTimeOffset();

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        if (value is { } v)
        {
            writer.WriteStringValue(v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>Activity types (A2000 ff.). Unknown types are accepted and ignored (A2014).</summary>
public static class ActivityTypes
{
    public const string Message = "message";
    public const string ConversationUpdate = "conversationUpdate";
    public const string Typing = "typing";
    public const string Event = "event";
    public const string Invoke = "invoke";
    public const string EndOfConversation = "endOfConversation";
    public const string InstallationUpdate = "installationUpdate";
}

/// <summary><c>deliveryMode</c> values; <c>expectReplies</c> returns the turn's replies in the HTTP response.</summary>
public static class DeliveryModes
{
    public const string Normal = "normal";
    public const string Notification = "notification";
    public const string ExpectReplies = "expectReplies";
}

/// <summary>A user, bot or skill: <c>{id, name, aadObjectId, role}</c>.</summary>
public sealed record ChannelAccount
{
    public string? Id { get; init; }

    public string? Name { get; init; }

    public string? AadObjectId { get; init; }

    /// <summary><c>user</c>, <c>bot</c> or <c>skill</c>.</summary>
    public string? Role { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The conversation: <c>{id, name, isGroup, conversationType, tenantId, aadObjectId}</c>.</summary>
public sealed record ConversationAccount
{
    public string? Id { get; init; }

    public string? Name { get; init; }

    public bool? IsGroup { get; init; }

    /// <summary>Teams: <c>personal</c>, <c>groupChat</c> or <c>channel</c>.</summary>
    public string? ConversationType { get; init; }

    public string? TenantId { get; init; }

    public string? AadObjectId { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>A card or file: <c>{contentType, content?, contentUrl?, name?, thumbnailUrl?}</c>.</summary>
public sealed record Attachment
{
    public string? ContentType { get; init; }

    public JsonElement? Content { get; init; }

    public string? ContentUrl { get; init; }

    public string? Name { get; init; }

    public string? ThumbnailUrl { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>An entity: <c>mention</c> (<c>mentioned</c>, <c>text</c>), <c>clientInfo</c>, … Unknown types are kept (A2104).</summary>
public sealed record Entity
{
    public string? Type { get; init; }

    public ChannelAccount? Mentioned { get; init; }

    public string? Text { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>Buttons offered with a message: <c>{actions:[{type, title, value}], to?}</c>.</summary>
public sealed record SuggestedActions
{
    public IReadOnlyList<CardAction>? Actions { get; init; }

    public IReadOnlyList<string>? To { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>A button: <c>imBack</c>, <c>postBack</c>, <c>openUrl</c>, <c>messageBack</c>.</summary>
public sealed record CardAction
{
    public string? Type { get; init; }

    public string? Title { get; init; }

    public JsonElement? Value { get; init; }

    public string? Text { get; init; }

    public string? DisplayText { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>Where an activity can be sent back to later (proactive messages, handoff <c>relatesTo</c>).</summary>
public sealed record ConversationReference
{
    public string? ActivityId { get; init; }

    public ChannelAccount? User { get; init; }

    public ChannelAccount? Bot { get; init; }

    public ConversationAccount? Conversation { get; init; }

    public string? ChannelId { get; init; }

    public string? ServiceUrl { get; init; }

    public string? Locale { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The body of an <c>expectReplies</c> response: the replies the bot sent during the turn, in order.</summary>
public sealed record ExpectedReplies(IReadOnlyList<Activity> Activities);

/// <summary>Source-generated JSON for the wire types: camelCase, nulls omitted, names read case-insensitively.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Activity))]
[JsonSerializable(typeof(IReadOnlyList<Activity>))]
[JsonSerializable(typeof(ExpectedReplies))]
[JsonSerializable(typeof(ConversationReference))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext
{
    /// <summary>
    /// For reading what comes from outside: the same contract, at most 32 levels deep. Unknown fields are kept and
    /// written back (a reply copies the conversation, a Direct Line frame wraps the activity), which adds a few
    /// levels; within 32 on the way in, the writer's 64 always holds on the way out.
    /// </summary>
    public static ProtocolJsonContext Inbound { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 32,
    });
}
