using BotService.Knowledge.Analysis;
using BotService.Knowledge.Articles;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.TokenAttributes;

namespace BotService.Knowledge.Indexing;

/// <summary>
/// Cuts sections into passages: consecutive sentences, at most <see cref="MaxUnits"/> of them and about
/// <see cref="MaxWords"/> words, each passage overlapping the next by one sentence so no answer falls in a gap.
/// </summary>
internal sealed class PassageBuilder(Analyzer analyzer)
{
    public const int MaxUnits = 3;
    public const int MaxWords = 80;

    public List<Passage> Build(IReadOnlyList<Article> articles)
    {
        var passages = new List<Passage>();
        foreach (var article in articles)
        {
            var titleTerms = Terms(article.Title);
            foreach (var section in article.Sections)
            {
                var heading = section.Heading.Length > 0 ? section.Heading : article.Title;
                var headingTerms = new HashSet<string>(titleTerms, StringComparer.Ordinal);
                headingTerms.UnionWith(Terms(section.Heading));
                var units = Units(section).ToList();
                foreach (var (start, count) in Windows(units))
                {
                    passages.Add(new Passage(passages.Count, article, heading, units, start, count, headingTerms));
                }
            }
        }

        return passages;
    }

    private IEnumerable<Unit> Units(ArticleSection section)
    {
        for (var b = 0; b < section.Blocks.Count; b++)
        {
            var block = section.Blocks[b];
            string? carry = null;
            foreach (var sentence in SentenceSplitter.Split(block))
            {
                // A sentence that introduces what follows ("… ketamine therapy can:") is kept with the next one.
                var text = carry is null ? sentence : $"{carry} {sentence}";
                if (text.EndsWith(':'))
                {
                    carry = text;
                    continue;
                }

                carry = null;
                yield return MakeUnit(text, b);
            }

            if (carry is not null)
            {
                yield return MakeUnit(carry, b);
            }
        }
    }

    private Unit MakeUnit(string text, int block)
    {
        var subject = AnswerTypeDetector.DefinedSubject(text);
        return new Unit(text, Terms(text), AnswerTypeDetector.InText(text), text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length,
            subject is null ? Empty : Terms(subject), block);
    }

    private static readonly HashSet<string> Empty = [];

    private static IEnumerable<(int Start, int Count)> Windows(List<Unit> units)
    {
        if (units.Count == 0)
        {
            yield break;
        }

        var start = 0;
        while (true)
        {
            var end = start + 1;
            var words = units[start].WordCount;
            while (end < units.Count && end - start < MaxUnits && words + units[end].WordCount <= MaxWords)
            {
                words += units[end].WordCount;
                end++;
            }

            yield return (start, end - start);
            if (end >= units.Count)
            {
                yield break;
            }

            start = end - start > 1 ? end - 1 : end; // overlap by one sentence
        }
    }

    public HashSet<string> Terms(string text)
    {
        var terms = new HashSet<string>(StringComparer.Ordinal);
        using var stream = analyzer.GetTokenStream("body", text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            terms.Add(term.ToString());
        }

        stream.End();
        return terms;
    }
}
