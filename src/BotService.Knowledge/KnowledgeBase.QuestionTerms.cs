using BotService.Knowledge.Analysis;
using BotService.Knowledge.Review;
using Lucene.Net.Analysis.TokenAttributes;

namespace BotService.Knowledge;

public sealed partial class KnowledgeBase
{
    /// <summary>
    /// Each question's key terms as the articles' own analysis reads them (docs/decisions/0018-answer-feedback-and-review-groups.md): the
    /// English chain the articles are indexed with (possessives, accents, case, stop words, Porter stems) and the
    /// clinic's synonyms, each word standing for its synonym group by the group's smallest stem, so "how much is the
    /// fee" and "what does it cost" share a term. Uses the current snapshot's synonyms; none before the first load.
    /// </summary>
    public IReadOnlyList<QuestionTerms> QuestionTerms(IEnumerable<string> questions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        using var analyzer = new ClinicAnalyzer(Volatile.Read(ref _current)?.Source.Synonyms);
        var result = new List<QuestionTerms>();
        var position = new List<string>();
        foreach (var question in questions)
        {
            var terms = new SortedSet<string>(StringComparer.Ordinal);
            using (var stream = analyzer.GetTokenStream("body", question ?? string.Empty))
            {
                var term = stream.AddAttribute<ICharTermAttribute>();
                var increment = stream.AddAttribute<IPositionIncrementAttribute>();
                stream.Reset();
                while (stream.IncrementToken())
                {
                    if (increment.PositionIncrement > 0)
                    {
                        Canonical(position, terms);
                    }

                    position.Add(term.ToString());
                }

                Canonical(position, terms);
                stream.End();
            }

            result.Add(new QuestionTerms(terms));
        }

        return result;

        // The words at one position (a word and its synonyms) count as the smallest of them.
        static void Canonical(List<string> position, SortedSet<string> terms)
        {
            if (position.Count > 0)
            {
                terms.Add(position.Min(StringComparer.Ordinal)!);
                position.Clear();
            }
        }
    }
}
