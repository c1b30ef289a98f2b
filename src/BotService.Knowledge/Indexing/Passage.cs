using BotService.Knowledge.Articles;

namespace BotService.Knowledge.Indexing;

/// <summary>A sentence (or a short list line) of an article, with its analysed terms.</summary>
/// <param name="Defines">Terms of what this sentence defines, when it is a definition ("PTSD is a …"); else empty.</param>
/// <param name="Block">Which paragraph or list item of its section the sentence is in.</param>
internal sealed record Unit(string Text, IReadOnlySet<string> Terms, AnswerTypes Types, int WordCount, IReadOnlySet<string> Defines, int Block)
{
    /// <summary>True if this sentence holds the kind of fact the question asks for.</summary>
    public bool Answers(AnswerTypes wants, IReadOnlyList<string> terms)
    {
        if ((Types & wants & ~AnswerTypes.Definition) != 0)
        {
            return true;
        }

        if ((wants & AnswerTypes.Definition) != 0)
        {
            foreach (var t in terms)
            {
                if (Defines.Contains(t))
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>
/// The unit of retrieval: a few consecutive sentences of one section, indexed with the article's title and the
/// section's heading as boosted fields.
/// </summary>
internal sealed class Passage(int id, Article article, string section, IReadOnlyList<Unit> sectionUnits, int start, int count,
    IReadOnlySet<string> headingTerms)
{
    public int Id { get; } = id;

    public Article Article { get; } = article;

    /// <summary>The section heading; the article title when the text stands before any heading.</summary>
    public string Section { get; } = section;

    public IReadOnlyList<Unit> Units { get; } = sectionUnits.Skip(start).Take(count).ToArray();

    /// <summary>Every sentence of the section, so an excerpt can borrow a neighbour for context.</summary>
    public IReadOnlyList<Unit> SectionUnits { get; } = sectionUnits;

    /// <summary>Where <see cref="Units"/> starts in <see cref="SectionUnits"/>.</summary>
    public int Start { get; } = start;

    /// <summary>Analysed terms of the section heading and the article title.</summary>
    public IReadOnlySet<string> HeadingTerms { get; } = headingTerms;

    public AnswerTypes Types { get; } = sectionUnits.Skip(start).Take(count).Aggregate(AnswerTypes.None, (t, u) => t | u.Types);

    /// <summary>True for a reference list: it names studies but seldom answers a question in words a visitor can use.</summary>
    public bool IsReferenceList { get; } = section.Trim() is "References" or "Sources" or "Bibliography" or "Citations" or "Footnotes" or "Notes";

    public string Text => string.Join(' ', Units.Select(u => u.Text));

    public bool Answers(AnswerTypes wants, IReadOnlyList<string> terms)
    {
        foreach (var u in Units)
        {
            if (u.Answers(wants, terms))
            {
                return true;
            }
        }

        return false;
    }

    public bool Contains(string term)
    {
        if (HeadingTerms.Contains(term))
        {
            return true;
        }

        foreach (var u in Units)
        {
            if (u.Terms.Contains(term))
            {
                return true;
            }
        }

        return false;
    }
}
