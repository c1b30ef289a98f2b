using System.Globalization;
using System.Text;
using Markdig;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace BotService.Knowledge.Articles;

/// <summary>
/// Parses an article file: YAML front matter between <c>---</c> lines, then a Markdown body with <c>##</c> sections.
/// Every problem is reported with the file's path and a 1-based line number; a file with a problem yields no article.
/// </summary>
public static class ArticleParser
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().Build();

    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    public static Article? Parse(string path, string text, List<KnowledgeProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        if (lines.Length == 0 || lines[0].Trim() != "---")
        {
            problems.Add(new(path, 1, "the file must start with a '---' line opening the front matter"));
            return null;
        }

        var close = Array.FindIndex(lines, 1, l => l.Trim() == "---");
        if (close < 0)
        {
            problems.Add(new(path, 1, "the front matter is not closed by a second '---' line"));
            return null;
        }

        var front = ParseFrontMatter(path, string.Join('\n', lines[1..close]), problems);
        var bodyFirstLine = close + 2; // 1-based line number of the first body line
        var sections = ParseBody(string.Join('\n', lines[(close + 1)..]), out var blockCount);
        if (front is null)
        {
            return null;
        }

        if (blockCount == 0)
        {
            problems.Add(new(path, Math.Min(bodyFirstLine, lines.Length), "the article has no body text after the front matter"));
            return null;
        }

        return front with { Path = path, Sections = sections };
    }

    private static Article? ParseFrontMatter(string path, string yaml, List<KnowledgeProblem> problems)
    {
        FrontMatter? fm;
        try
        {
            fm = Yaml.Deserialize<FrontMatter>(yaml);
        }
        catch (YamlException e)
        {
            // Line numbers from YamlDotNet count from the front matter's first line, which is the file's line 2.
            var line = (int)Math.Max(1, e.Start.Line) + 1;
            var message = e.InnerException?.Message ?? e.Message;
            problems.Add(new(path, line, $"front matter is not valid: {FirstSentence(message)}"));
            return null;
        }

        if (fm is null)
        {
            problems.Add(new(path, 2, "the front matter is empty"));
            return null;
        }

        var ok = true;
        void Require(string? value, string key)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                problems.Add(new(path, LineOf(yaml, key), $"front matter needs '{key}'"));
                ok = false;
            }
        }

        Require(fm.Title, "title");
        Require(fm.Clinic, "clinic");
        Require(fm.Audience, "audience");
        Require(fm.Updated, "updated");

        var audience = Audience.Public;
        if (!string.IsNullOrWhiteSpace(fm.Audience))
        {
            switch (fm.Audience.Trim().ToLowerInvariant())
            {
                case "public": audience = Audience.Public; break;
                case "staff": audience = Audience.Staff; break;
                default:
                    problems.Add(new(path, LineOf(yaml, "audience"), $"unknown audience '{fm.Audience}': use 'public' or 'staff'"));
                    ok = false;
                    break;
            }
        }

        var updated = default(DateOnly);
        if (!string.IsNullOrWhiteSpace(fm.Updated) &&
            !DateOnly.TryParseExact(fm.Updated.Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out updated))
        {
            problems.Add(new(path, LineOf(yaml, "updated"), $"'updated' must be a date written YYYY-MM-DD, not '{fm.Updated}'"));
            ok = false;
        }

        if (!ok)
        {
            return null;
        }

        var tags = (fm.Tags ?? []).Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim()).ToArray();
        return new Article(path, fm.Title!.Trim(), fm.Clinic!.Trim(), audience, fm.Source?.Trim(), updated, tags, []);
    }

    /// <summary>1-based file line of a front matter key (the front matter starts on line 2), or 2 when absent.</summary>
    private static int LineOf(string yaml, string key)
    {
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith(key + ":", StringComparison.OrdinalIgnoreCase))
            {
                return i + 2;
            }
        }

        return 2;
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(". ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message.TrimEnd('.');
    }

    private static List<ArticleSection> ParseBody(string markdown, out int blockCount)
    {
        var document = Markdown.Parse(markdown, Pipeline);
        var sections = new List<ArticleSection>();
        var heading = string.Empty;
        var parent = string.Empty;
        var blocks = new List<string>();
        blockCount = 0;

        void Flush()
        {
            if (blocks.Count > 0)
            {
                sections.Add(new ArticleSection(heading, blocks.ToArray()));
            }

            blocks.Clear();
        }

        foreach (var block in document)
        {
            if (block is HeadingBlock h)
            {
                Flush();
                var text = InlineText(h.Inline);
                if (h.Level <= 2)
                {
                    parent = text;
                    heading = text;
                }
                else
                {
                    heading = parent.Length > 0 ? $"{parent}: {text}" : text;
                }

                continue;
            }

            foreach (var paragraph in Paragraphs(block))
            {
                blocks.Add(paragraph);
                blockCount++;
            }
        }

        Flush();
        return sections;
    }

    private static IEnumerable<string> Paragraphs(Block block)
    {
        switch (block)
        {
            case ParagraphBlock p:
                var text = InlineText(p.Inline);
                if (text.Length > 0)
                {
                    yield return text;
                }

                break;
            case ContainerBlock container: // lists, list items, quotes
                foreach (var child in container)
                {
                    foreach (var t in Paragraphs(child))
                    {
                        yield return t;
                    }
                }

                break;
            case LeafBlock leaf when leaf is not ThematicBreakBlock && leaf is not HtmlBlock:
                var raw = leaf.Lines.ToString().Trim();
                if (raw.Length > 0)
                {
                    yield return raw;
                }

                break;
        }
    }

    private static string InlineText(ContainerInline? inline)
    {
        if (inline is null)
        {
            return string.Empty;
        }

        var sb = new StringBuilder();
        Append(sb, inline);
        return Collapse(sb.ToString());
    }

    private static void Append(StringBuilder sb, Inline inline)
    {
        switch (inline)
        {
            case LiteralInline literal:
                sb.Append(literal.Content.AsSpan());
                break;
            case CodeInline code:
                sb.Append(code.Content);
                break;
            case LineBreakInline:
                sb.Append(' ');
                break;
            case AutolinkInline auto:
                sb.Append(auto.Url);
                break;
            case HtmlEntityInline entity:
                sb.Append(entity.Transcoded.AsSpan());
                break;
            case ContainerInline container:
                foreach (var child in container)
                {
                    Append(sb, child);
                }

                break;
        }
    }

    private static string Collapse(string s)
    {
        var sb = new StringBuilder(s.Length);
        var space = false;
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c))
            {
                space = sb.Length > 0;
                continue;
            }

            if (space)
            {
                sb.Append(' ');
                space = false;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    private sealed class FrontMatter
    {
        public string? Title { get; set; }
        public string? Clinic { get; set; }
        public string? Audience { get; set; }
        public string? Source { get; set; }
        public string? Updated { get; set; }
        public List<string>? Tags { get; set; }
    }
}
