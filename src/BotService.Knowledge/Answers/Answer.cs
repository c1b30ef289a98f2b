using BotService.Knowledge.Search;

namespace BotService.Knowledge.Answers;

/// <summary>
/// The reply to a question. <see cref="Text"/> is either a short passage of the clinic's own words followed by
/// where it comes from, or (when <see cref="Answered"/> is false) an honest "I don't know that" with what the bot
/// can answer and how to reach the clinic.
/// </summary>
public sealed record Answer(
    bool Answered,
    string Text,
    double Confidence,
    IReadOnlyList<AnswerSource> Sources,
    IReadOnlyList<Correction> Corrections,
    bool PersonalAdvice)
{
    /// <summary>
    /// The answer without its closing source line: what a channel shows as the message when it shows the source its own
    /// way (a citation in Web Chat, a subtle line on a Teams card). Equal to <see cref="Text"/> for a decline.
    /// </summary>
    public string Body { get; init; } = Text;

    /// <summary>
    /// Set when the message was too vague alone and was read with the conversation's recent topic: that topic in the
    /// visitor's words. The text then opens with "Taking this as a question about …" so the visitor can correct it.
    /// </summary>
    public string? FollowUpAbout { get; init; }

    /// <summary>
    /// When the message was read with the conversation's topic: that reading (the message and the topic's words), for
    /// the safety check; set even when the reading found nothing and the message was answered on its own.
    /// </summary>
    public string? ReadAs { get; init; }

    /// <summary>What a self-sufficient question established, for the conversation's next turns; null if nothing (declined).</summary>
    public ConversationTopic? Topic { get; init; }

    /// <summary>
    /// True when the message named a subject of its own (a self-sufficient question): it replaces the conversation's
    /// topic with <see cref="Topic"/>, even with none (a question the articles don't cover). False for a follow-up or a
    /// message with nothing topical in it ("thanks"), which leave the topic as it was.
    /// </summary>
    public bool ChangesTopic { get; init; }

    /// <summary>
    /// "Did you mean": when the best passages are close in confidence but about different things, the two or three
    /// readings to choose from instead of a guess (then <see cref="Answered"/> is false). Empty otherwise.
    /// </summary>
    public IReadOnlyList<Suggestion> DidYouMean { get; init; } = [];
}

/// <summary>
/// What a conversation was recently about: the subject in the visitor's words, and the article and section that
/// answered it. Held by the host per conversation for a few turns (health data: bounded, expiring, never logged).
/// </summary>
public sealed record ConversationTopic(string About, string ArticlePath, string Section);

/// <summary>One reading offered by "did you mean": <see cref="Question"/> is what a tap sends, <see cref="Section"/> (the heading) the button's title.</summary>
/// <param name="Title">The article's title.</param>
public sealed record Suggestion(string Question, string Section, string Title, string Path);

/// <summary>Where an answer comes from.</summary>
/// <param name="Path">The article's path under <c>knowledge/</c>.</param>
public sealed record AnswerSource(string Title, string Clinic, string Section, string Path, DateOnly Updated)
{
    /// <summary>The line that ends an answer's text: <c>Source: “Title”, section “…” (clinic; updated date).</c></summary>
    public string Line => AnswerComposer.SourceLine(this);
}
