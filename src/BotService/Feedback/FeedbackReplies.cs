using System.Text.Json;
using BotService.Bot;
using BotService.Protocol.Schema;

namespace BotService.Feedback;

/// <summary>
/// Thumbs up and down on an answer, in each channel's own form, naming the answer by its id:
/// <list type="bullet">
/// <item>Web Chat (Direct Line and every non-Teams channel): Web Chat 4.18's activity feedback, a <c>LikeAction</c> and a
/// <c>DislikeAction</c> as <c>potentialAction</c> of the reply's schema.org Message entity (the one that carries the
/// citation). Web Chat shows them as two buttons under the message and, when one is pressed, sends the event
/// <see cref="WebChatEvent"/> with the chosen action as its entity; the action's <c>@id</c> is
/// <c>urn:clinic-answer:{answerId}:like</c> (or <c>:dislike</c>).</item>
/// <item>Teams: two <c>Action.Submit</c> buttons on the answer's Adaptive Card whose data is
/// <c>{"clinicFeedback": {"answerId", "vote": "up"|"down"}}</c>; Teams sends it as a message whose <c>value</c> is that data.</item>
/// </list>
/// </summary>
internal static class FeedbackReplies
{
    /// <summary>The event Web Chat sends when a feedback button is pressed.</summary>
    public const string WebChatEvent = "webchat:activity-status/feedback";

    /// <summary>The key of a Teams card button's data.</summary>
    public const string CardDataKey = "clinicFeedback";

    public const string ActionIdPrefix = "urn:clinic-answer:";

    public const string HelpfulTitle = "Helpful";
    public const string NotHelpfulTitle = "Not helpful";

    /// <summary>The reply with feedback buttons for <paramref name="answerId"/>; the cached reply itself is never changed.</summary>
    public static Activity WithFeedback(Activity reply, string answerId)
    {
        if (reply.Attachments is [{ ContentType: "application/vnd.microsoft.card.adaptive", Content: { } card } attachment])
        {
            return reply with { Attachments = [attachment with { Content = WithSubmitActions(card, answerId) }] };
        }

        if (reply.Entities is { Count: > 0 } entities)
        {
            return reply with { Entities = entities.Select(e => IsMessageEntity(e) ? WithPotentialActions(e, answerId) : e).ToArray() };
        }

        return reply;
    }

    private static bool IsMessageEntity(Entity e) => e.Type == "https://schema.org/Message";

    private static Entity WithPotentialActions(Entity message, string answerId)
    {
        var extra = new Dictionary<string, JsonElement>(message.Extra ?? []);
        extra["potentialAction"] = PotentialActions(answerId);
        return message with { Extra = extra };
    }

    /// <summary>
    /// <c>[{"@type":"LikeAction","@id":"urn:clinic-answer:{id}:like"},{"@type":"DislikeAction",…:dislike"}]</c>. An
    /// answer id as <see cref="AnswerLog.NewAnswerId"/> makes them needs no escaping, so its bytes are put together and
    /// parsed once (this runs on every answered turn); any other id goes through a JSON writer.
    /// </summary>
    internal static JsonElement PotentialActions(string answerId)
    {
        if (!AnswerLog.IsAnswerId(answerId))
        {
            return WrittenPotentialActions(answerId);
        }

        Span<byte> json = stackalloc byte[256];
        var length = 0;
        Append(json, ref length, "[{\"@type\":\"LikeAction\",\"@id\":\""u8);
        Append(json, ref length, "urn:clinic-answer:"u8);
        length += System.Text.Encoding.ASCII.GetBytes(answerId, json[length..]);
        Append(json, ref length, ":like\"},{\"@type\":\"DislikeAction\",\"@id\":\""u8);
        Append(json, ref length, "urn:clinic-answer:"u8);
        length += System.Text.Encoding.ASCII.GetBytes(answerId, json[length..]);
        Append(json, ref length, ":dislike\"}]"u8);
        return JsonElement.Parse(json[..length]);
    }

    /// <summary>The same actions through a JSON writer, which escapes whatever the id holds.</summary>
    internal static JsonElement WrittenPotentialActions(string answerId) => Replies.Json(w =>
    {
        w.WriteStartArray();
        foreach (var (type, vote) in new[] { ("LikeAction", "like"), ("DislikeAction", "dislike") })
        {
            w.WriteStartObject();
            w.WriteString("@type", type);
            w.WriteString("@id", ActionIdPrefix + answerId + ":" + vote);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    private static void Append(Span<byte> json, ref int length, ReadOnlySpan<byte> part)
    {
        part.CopyTo(json[length..]);
        length += part.Length;
    }

    private static JsonElement WithSubmitActions(JsonElement card, string answerId) => Replies.Json(w =>
    {
        w.WriteStartObject();
        var wroteActions = false;
        foreach (var property in card.EnumerateObject())
        {
            if (property.NameEquals("actions") && property.Value.ValueKind == JsonValueKind.Array)
            {
                w.WriteStartArray("actions");
                foreach (var action in property.Value.EnumerateArray())
                {
                    action.WriteTo(w);
                }

                SubmitActions(w, answerId);
                w.WriteEndArray();
                wroteActions = true;
            }
            else
            {
                property.WriteTo(w);
            }
        }

        if (!wroteActions)
        {
            w.WriteStartArray("actions");
            SubmitActions(w, answerId);
            w.WriteEndArray();
        }

        w.WriteEndObject();
    });

    private static void SubmitActions(Utf8JsonWriter w, string answerId)
    {
        foreach (var (title, vote) in new[] { (HelpfulTitle, "up"), (NotHelpfulTitle, "down") })
        {
            w.WriteStartObject();
            w.WriteString("type", "Action.Submit");
            w.WriteString("title", title);
            w.WriteStartObject("data");
            w.WriteStartObject(CardDataKey);
            w.WriteString("answerId", answerId);
            w.WriteString("vote", vote);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    /// <summary>A vote read from an activity, or why it could not be read.</summary>
    internal readonly record struct ParsedVote(bool IsFeedback, string? AnswerId, int Vote, string? Problem);

    /// <summary>
    /// Whether <paramref name="activity"/> is a vote (Web Chat's feedback event, or a Teams card submit with
    /// <see cref="CardDataKey"/>), and if so which answer and which way; a malformed one says what is wrong.
    /// </summary>
    public static ParsedVote Parse(Activity activity)
    {
        if (activity.Type == ActivityTypes.Event && activity.Name == WebChatEvent)
        {
            if (activity.Entities is not [var action]
                || action.Extra is null
                || !action.Extra.TryGetValue("@type", out var type) || type.ValueKind != JsonValueKind.String
                || !action.Extra.TryGetValue("@id", out var id) || id.ValueKind != JsonValueKind.String)
            {
                return new(true, null, 0, "the feedback must carry one LikeAction or DislikeAction with its @id");
            }

            var vote = type.GetString() switch { "LikeAction" => 1, "DislikeAction" => -1, _ => 0 };
            var text = id.GetString()!;
            var suffix = vote == 1 ? ":like" : ":dislike";
            if (vote == 0 || !text.StartsWith(ActionIdPrefix, StringComparison.Ordinal) || !text.EndsWith(suffix, StringComparison.Ordinal))
            {
                return new(true, null, 0, "the feedback must be a LikeAction or DislikeAction of one of this chat's answers");
            }

            return new(true, text[ActionIdPrefix.Length..^suffix.Length], vote, null);
        }

        if (activity.Type == ActivityTypes.Message && activity.Value is { ValueKind: JsonValueKind.Object } value
            && value.TryGetProperty(CardDataKey, out var data))
        {
            if (data.ValueKind != JsonValueKind.Object
                || !data.TryGetProperty("answerId", out var answerId) || answerId.ValueKind != JsonValueKind.String
                || !data.TryGetProperty("vote", out var voteText) || voteText.ValueKind != JsonValueKind.String)
            {
                return new(true, null, 0, "the feedback must carry an answerId and a vote");
            }

            var vote = voteText.GetString() switch { "up" => 1, "down" => -1, _ => 0 };
            return vote == 0
                ? new(true, null, 0, "the vote must be up or down")
                : new(true, answerId.GetString(), vote, null);
        }

        return default;
    }
}
