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
}

/// <summary>Where an answer comes from.</summary>
/// <param name="Path">The article's path under <c>knowledge/</c>.</param>
public sealed record AnswerSource(string Title, string Clinic, string Section, string Path, DateOnly Updated)
{
    /// <summary>The line that ends an answer's text: <c>Source: “Title”, section “…” (clinic; updated date).</c></summary>
    public string Line => AnswerComposer.SourceLine(this);
}
