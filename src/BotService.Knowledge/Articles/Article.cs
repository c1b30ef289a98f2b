namespace BotService.Knowledge.Articles;

/// <summary>Who may see an article: visitors see <see cref="Public"/> only; staff see both.</summary>
public enum Audience
{
    Public,
    Staff,
}

/// <summary>One staff-editable article from <c>knowledge/</c>, parsed.</summary>
/// <param name="Path">Path relative to the knowledge folder, with forward slashes (e.g. <c>articles/ketamine-for-ptsd.md</c>).</param>
public sealed record Article(
    string Path,
    string Title,
    string Clinic,
    Audience Audience,
    string? Source,
    DateOnly Updated,
    IReadOnlyList<string> Tags,
    IReadOnlyList<ArticleSection> Sections);

/// <summary>A <c>##</c> section: its heading and its blocks (paragraphs and list items) as plain text.</summary>
/// <param name="Heading">The heading text; empty for text before the first heading.</param>
public sealed record ArticleSection(string Heading, IReadOnlyList<string> Blocks);

/// <summary>A problem found in a knowledge file, reported with where it is so staff can fix it.</summary>
public sealed record KnowledgeProblem(string Path, int Line, string Message)
{
    public override string ToString() => $"{Path}:{Line}: {Message}";
}
