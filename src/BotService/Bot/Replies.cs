using System.Buffers;
using System.Text.Json;
using BotService.Knowledge.Answers;
using BotService.Protocol.Schema;
using BotService.Safety;

namespace BotService.Bot;

/// <summary>
/// The bot's replies as activities, in shapes every channel renders: Markdown text with the source as a Web Chat /
/// Teams citation (a <c>https://schema.org/Message</c> entity with a Claim, docs/CITATION.md of Web Chat 4.16+),
/// suggested actions for follow-ups, and for a crisis a hero card whose buttons call or text the resources.
/// </summary>
internal static class Replies
{
    /// <summary>Questions the articles answer well, offered on welcome and after a question they don't cover.</summary>
    public static IReadOnlyList<string> StarterQuestions { get; } =
    [
        "What is ketamine-assisted psychotherapy?",
        "How much does an infusion cost?",
        "Is ketamine treatment safe?",
    ];

    public const string WelcomeText =
        "Hello! I answer questions about ketamine therapy, ketamine-assisted psychotherapy, PTSD treatment, pricing and " +
        "safety, using this clinic's own articles, and I say which article each answer comes from. I can't give medical " +
        "advice. If you are in danger, call 911, or call or text 988.";

    public static Activity Welcome() => new()
    {
        Type = ActivityTypes.Message,
        Text = WelcomeText,
        TextFormat = "plain",
        SuggestedActions = Suggest(StarterQuestions),
    };

    /// <summary>The answer to "Talk to staff": what happens next, and the emergency numbers again (staff are not instant).</summary>
    public static Activity StaffRequested() => new()
    {
        Type = ActivityTypes.Message,
        Text = StaffRequestedText,
        TextFormat = "plain",
    };

    public const string StaffRequestedText = "I've asked the clinic's staff to join this chat. A staff member will reply here as soon as they can. " +
        "If this is an emergency, call 911, or call or text 988.";

    public static Activity NotReady() => new()
    {
        Type = ActivityTypes.Message,
        Text = "I'm just starting up and can't look that up yet. Please ask again in a moment. If this is an emergency, call 911, or call or text 988.",
        TextFormat = "plain",
    };

    /// <summary>
    /// After an escalation, when no member of staff has the dashboard open: when to expect a person, and the resources
    /// again, so nobody waits for a reply that may come hours later.
    /// </summary>
    public static Activity NoStaffOnline(SafetyLevel level) => new()
    {
        Type = ActivityTypes.Message,
        Text = (level == SafetyLevel.Emergency
                ? "No one from the clinic is online right now. Staff will follow up with you as soon as they can, but please don't wait for them: "
                  + "call 911 if you are in danger, call or text 988, or text HOME to 741741."
                : "No one from the clinic is online right now. Staff will follow up with you when the clinic opens. "
                  + "If things get worse, call 911, or call or text 988."),
        TextFormat = "plain",
    };

    public static Activity TurnError() => new()
    {
        Type = ActivityTypes.Message,
        Text = "Sorry, something went wrong on our side. Please try again. If this is an emergency, call 911, or call or text 988.",
        TextFormat = "plain",
    };

    /// <summary>
    /// The crisis wording with buttons that dial or text the resources it names (tap-to-call on a phone). Marked
    /// <c>importance: urgent</c> for channels that highlight it.
    /// </summary>
    public static Activity Crisis(CrisisReply reply)
    {
        var buttons = new List<(string Title, string Url)> { ("Call 911", "tel:911"), ("Call 988", "tel:988"), ("Text 988", "sms:988") };
        if (reply.Level == SafetyLevel.Emergency)
        {
            buttons.Add(("Text HOME to 741741", "sms:741741?body=HOME"));
        }

        var card = Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("title", reply.Level == SafetyLevel.Emergency ? "Help right now" : "Please get checked");
            w.WriteStartArray("buttons");
            foreach (var (title, url) in buttons)
            {
                w.WriteStartObject();
                w.WriteString("type", "openUrl");
                w.WriteString("title", title);
                w.WriteString("value", url);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        return new Activity
        {
            Type = ActivityTypes.Message,
            Text = reply.Text,
            TextFormat = "plain",
            Attachments = [new Attachment { ContentType = "application/vnd.microsoft.card.hero", Content = card }],
            Extra = new Dictionary<string, JsonElement> { ["importance"] = Json(w => w.WriteStringValue("urgent")) },
        };
    }

    /// <summary>
    /// An answer: the clinic's words with a citation marker and a reference-style link whose title is the source line
    /// (so a channel without citation support still shows where it comes from), or the honest decline.
    /// </summary>
    public static Activity Answer(Answer answer, IReadOnlyList<string> followUps)
    {
        if (!answer.Answered || answer.Sources.Count == 0)
        {
            return new Activity
            {
                Type = ActivityTypes.Message,
                Text = answer.Text,
                TextFormat = "plain",
                SuggestedActions = Suggest(followUps),
            };
        }

        var source = answer.Sources[0];
        var line = source.Line;
        var body = answer.Body;
        var text = $"{Markdown(body)} [1]\n\n[1]: cite:1 \"{line.Replace("\"", "'", StringComparison.Ordinal)}\"";
        var citation = Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "https://schema.org/Message");
            w.WriteString("@context", "https://schema.org");
            w.WriteString("@id", string.Empty);
            w.WriteString("@type", "Message");
            w.WriteStartArray("citation");
            w.WriteStartObject();
            w.WriteString("@type", "Claim");
            w.WriteNumber("position", 1);
            w.WriteStartObject("appearance");
            w.WriteString("@type", "DigitalDocument");
            w.WriteString("name", source.Title);
            w.WriteString("abstract", line);
            w.WriteString("text", body);
            w.WriteString("encodingFormat", "text/plain");
            w.WriteString("dateModified", source.Updated.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
        return new Activity
        {
            Type = ActivityTypes.Message,
            Text = text,
            TextFormat = "markdown",
            Entities = [citation.Deserialize(ProtocolJsonContext.Default.Entity)!],
            SuggestedActions = Suggest(followUps),
        };
    }

    /// <summary>
    /// "Did you mean": the question could mean passages under different headings, so the visitor picks one instead of
    /// the bot guessing. Web Chat and most channels: the choices as suggested actions (<c>imBack</c>: a tap sends the
    /// question). Teams: an Adaptive Card with one <c>Action.Submit</c> per choice as a <c>messageBack</c> (the text goes
    /// to the bot and shows in the chat as sent; works in channels, where Teams shows no suggested actions).
    /// </summary>
    public static Activity DidYouMean(Answer answer, bool teamsCard)
    {
        if (!teamsCard)
        {
            return new Activity
            {
                Type = ActivityTypes.Message,
                Text = answer.Text,
                TextFormat = "plain",
                SuggestedActions = new SuggestedActions
                {
                    Actions = answer.DidYouMean.Select(s => new CardAction { Type = "imBack", Title = ButtonTitle(s.Section.Trim()), Value = Json(w => w.WriteStringValue(s.Question)) }).ToArray(),
                },
            };
        }

        var card = AdaptiveCard(
            w =>
            {
                w.WriteStartObject();
                w.WriteString("type", "TextBlock");
                w.WriteString("text", answer.Text.Split('\n')[0]); // the question; the choices are the buttons
                w.WriteBoolean("wrap", true);
                w.WriteEndObject();
            },
            w =>
            {
                foreach (var s in answer.DidYouMean)
                {
                    w.WriteStartObject();
                    w.WriteString("type", "Action.Submit");
                    w.WriteString("title", ButtonTitle(s.Section.Trim()));
                    w.WriteStartObject("data");
                    w.WriteStartObject("msteams");
                    w.WriteString("type", "messageBack");
                    w.WriteString("text", s.Question);
                    w.WriteString("displayText", s.Question);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
            });
        return AdaptiveCardMessage(answer.Text, card);

        static string ButtonTitle(string s) => s.Length <= 60 ? s : s[..57].TrimEnd() + "…";
    }

    public const string StaffWelcomeText =
        "Hello! Ask me anything the clinic's articles cover, including the staff guides (for example: what do I do with an " +
        "urgent escalation?). Escalation alerts are posted in the staff channel with a link to the dashboard.";

    public static Activity StaffWelcome() => new() { Type = ActivityTypes.Message, Text = StaffWelcomeText, TextFormat = "plain" };

    /// <summary>
    /// An answer for Teams, as an Adaptive Card 1.5: the clinic's words, the source line, an "Open article" button when
    /// the service's public address is known, and follow-ups as <c>imBack</c> buttons (Teams shows suggested actions
    /// only in personal chats; card buttons work in channels too).
    /// </summary>
    public static Activity AnswerCard(Answer answer, IReadOnlyList<string> followUps, string? publicBaseUrl)
    {
        if (!answer.Answered || answer.Sources.Count == 0)
        {
            return Answer(answer, []);
        }

        var source = answer.Sources[0];
        var line = source.Line;
        var body = answer.Body;
        var card = AdaptiveCard(
            w =>
            {
                TextBlock(w, body, subtle: false);
                TextBlock(w, line, subtle: true);
            },
            w =>
            {
                if (ArticleUrl(publicBaseUrl, source.Path) is { } url)
                {
                    OpenUrl(w, "Open article", url);
                }

                foreach (var question in followUps)
                {
                    w.WriteStartObject();
                    w.WriteString("type", "Action.Submit");
                    w.WriteString("title", question);
                    w.WriteStartObject("data");
                    w.WriteStartObject("msteams");
                    w.WriteString("type", "imBack");
                    w.WriteString("value", question);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
            });
        return AdaptiveCardMessage(body + "\n\n" + line, card); // the text: the notification preview and any client that cannot show the card

        static void TextBlock(Utf8JsonWriter w, string text, bool subtle)
        {
            w.WriteStartObject();
            w.WriteString("type", "TextBlock");
            w.WriteString("text", text);
            w.WriteBoolean("wrap", true);
            if (subtle)
            {
                w.WriteBoolean("isSubtle", true);
                w.WriteString("size", "Small");
            }

            w.WriteEndObject();
        }
    }

    /// <summary>An Adaptive Card 1.5 (the version Teams renders everywhere): its body elements, then its actions.</summary>
    internal static JsonElement AdaptiveCard(Action<Utf8JsonWriter> body, Action<Utf8JsonWriter> actions) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("type", "AdaptiveCard");
        w.WriteString("$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
        w.WriteString("version", "1.5");
        w.WriteStartArray("body");
        body(w);
        w.WriteEndArray();
        w.WriteStartArray("actions");
        actions(w);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary>An Adaptive Card button that opens a web page.</summary>
    internal static void OpenUrl(Utf8JsonWriter w, string title, string url)
    {
        w.WriteStartObject();
        w.WriteString("type", "Action.OpenUrl");
        w.WriteString("title", title);
        w.WriteString("url", url);
        w.WriteEndObject();
    }

    /// <summary>A message carrying one Adaptive Card, with <paramref name="text"/> for notifications and clients without cards.</summary>
    internal static Activity AdaptiveCardMessage(string text, JsonElement card) => new()
    {
        Type = ActivityTypes.Message,
        Text = text,
        TextFormat = "plain",
        Attachments = [new Attachment { ContentType = "application/vnd.microsoft.card.adaptive", Content = card }],
    };

    /// <summary>Where an article can be read: <c>{base}/articles/{name}</c>; null without a public address.</summary>
    public static string? ArticleUrl(string? publicBaseUrl, string articlePath)
    {
        if (string.IsNullOrWhiteSpace(publicBaseUrl) || !Uri.TryCreate(publicBaseUrl, UriKind.Absolute, out var baseUri))
        {
            return null;
        }

        var name = Path.GetFileNameWithoutExtension(articlePath);
        return new Uri(baseUri, "articles/" + Uri.EscapeDataString(name)).ToString();
    }

    private static SuggestedActions? Suggest(IReadOnlyList<string> questions) => questions.Count == 0
        ? null
        : new SuggestedActions
        {
            Actions = questions.Select(q => new CardAction { Type = "imBack", Title = q, Value = Json(w => w.WriteStringValue(q)) }).ToArray(),
        };

    /// <summary>Escapes the characters that would turn the clinic's plain sentences into Markdown formatting.</summary>
    private static string Markdown(string text)
    {
        var sb = new System.Text.StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (c is '\\' or '*' or '_' or '`' or '[' or ']' or '<' or '>' or '#')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    /// <summary>A JSON value written with a <see cref="Utf8JsonWriter"/> (cards, entities: built once, so the cost is no matter).</summary>
    internal static JsonElement Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }
}
