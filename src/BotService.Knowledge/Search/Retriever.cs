using BotService.Knowledge.Articles;
using BotService.Knowledge.Indexing;
using Lucene.Net.Index;
using Lucene.Net.Search;

namespace BotService.Knowledge.Search;

/// <summary>A passage found for a question, with the features the answer and its confidence are built from.</summary>
/// <param name="SentenceCoverage">The best coverage of any one sentence: the question answered in one place.</param>
internal sealed record Candidate(Passage Passage, float Score, double Coverage, double SentenceCoverage, bool HasWantedType);

/// <summary>
/// Builds the Lucene query with the API (never by escaping user text into QueryParser) and ranks passages:
/// BM25 over the passage text, its section heading and the article title (best field per term), a bonus for
/// question terms that stand near each other, and a bonus for passages holding the kind of fact asked for.
/// Then re-ranks the top hits by how much of the question (weighted by rarity) each passage covers.
/// </summary>
internal static class Retriever
{
    private const int TopHits = 10;

    // A clause is judged on its own only if it says something specific (a lone "ketamine" does not).
    private const double MinClauseWeight = 1.0;

    public static List<Candidate> Search(KnowledgeSnapshot snapshot, InterpretedQuery query, Audience audience, out IReadOnlyDictionary<string, double> idf)
    {
        var weights = Idf(snapshot, query.Terms);
        idf = weights;
        var results = new List<Candidate>();
        if (query.Terms.Count == 0)
        {
            return results;
        }

        var lucene = BuildQuery(query);
        var filter = audience == Audience.Public ? snapshot.PublicOnly : null;
        var top = snapshot.Searcher.Search(lucene, filter, TopHits);
        if (top.ScoreDocs.Length == 0)
        {
            return results;
        }

        var maxScore = top.ScoreDocs[0].Score;
        foreach (var hit in top.ScoreDocs)
        {
            var passage = snapshot.Passages[snapshot.DocToPassage[hit.Doc]];
            var coverage = Coverage(passage, query.Terms, query.Wants, weights);
            foreach (var clause in query.Clauses)
            {
                if (clause.Count < query.Terms.Count && clause.Sum(t => weights[t]) >= MinClauseWeight)
                {
                    coverage = Math.Max(coverage, Coverage(passage, clause, query.Wants, weights));
                }
            }

            var sentence = 0.0;
            foreach (var unit in passage.Units)
            {
                sentence = Math.Max(sentence, UnitCoverage(unit, query.Terms, query.Wants, weights));
            }

            var hasType = query.Wants == AnswerTypes.None || passage.Answers(query.Wants, query.Terms);
            results.Add(new Candidate(passage, hit.Score / maxScore, coverage, sentence, hasType));
        }

        // Coverage first (a passage that answers every part of the question beats one that repeats one word),
        // then the Lucene score.
        results.Sort((a, b) => Rank(b).CompareTo(Rank(a)));
        return results;
    }

    /// <summary>
    /// The share of the question's weight (terms weighted by rarity) that the passage holds. A term that only names
    /// the kind of fact wanted ("cost", "office") counts as held when the passage holds such a fact.
    /// </summary>
    private static double Coverage(Passage passage, IReadOnlyList<string> terms, AnswerTypes wants, Dictionary<string, double> weights)
    {
        double total = 0, covered = 0;
        foreach (var t in terms)
        {
            total += weights[t];
            if (passage.Contains(t) || AnswerTypeDetector.IsAnsweredCue(t, wants, passage.Types))
            {
                covered += weights[t];
            }
        }

        return total > 0 ? covered / total : 0;
    }

    private static double UnitCoverage(Unit unit, IReadOnlyList<string> terms, AnswerTypes wants, Dictionary<string, double> weights)
    {
        double total = 0, covered = 0;
        foreach (var t in terms)
        {
            total += weights[t];
            if (unit.Terms.Contains(t) || AnswerTypeDetector.IsAnsweredCue(t, wants, unit.Types))
            {
                covered += weights[t];
            }
        }

        return total > 0 ? covered / total : 0;
    }

    private static double Rank(Candidate c) =>
        (0.45 * c.Coverage) + (0.25 * c.SentenceCoverage) + (0.3 * c.Score) + (c.HasWantedType ? 0.15 : 0) - (c.Passage.IsReferenceList ? 0.3 : 0);

    private static Query BuildQuery(InterpretedQuery query)
    {
        var root = new BooleanQuery();
        foreach (var t in query.Terms)
        {
            var perField = new DisjunctionMaxQuery(0.1f)
            {
                new TermQuery(new Term(KnowledgeSnapshot.Body, t)),
                new TermQuery(new Term(KnowledgeSnapshot.Section, t)) { Boost = 1.3f },
                new TermQuery(new Term(KnowledgeSnapshot.Title, t)) { Boost = 0.4f },
            };
            root.Add(perField, Occur.SHOULD);
        }

        // Question terms that stand together in the passage ("intake fee", "adverse effects") count extra.
        for (var i = 0; i + 1 < query.Terms.Count; i++)
        {
            var phrase = new PhraseQuery { Slop = 2, Boost = 0.5f };
            phrase.Add(new Term(KnowledgeSnapshot.Body, query.Terms[i]));
            phrase.Add(new Term(KnowledgeSnapshot.Body, query.Terms[i + 1]));
            root.Add(phrase, Occur.SHOULD);
        }

        foreach (var type in AnswerTypeDetector.All)
        {
            if (query.Wants.HasFlag(type))
            {
                root.Add(new TermQuery(new Term(KnowledgeSnapshot.AnswerType, AnswerTypeDetector.FieldValue(type))) { Boost = 1.5f }, Occur.SHOULD);
            }
        }

        return root;
    }

    /// <summary>BM25's inverse document frequency for each term; a term no passage has gets the highest weight.</summary>
    private static Dictionary<string, double> Idf(KnowledgeSnapshot snapshot, IReadOnlyList<string> terms)
    {
        var n = (double)Math.Max(1, snapshot.DocumentCount);
        var idf = new Dictionary<string, double>(terms.Count, StringComparer.Ordinal);
        foreach (var t in terms)
        {
            var df = snapshot.DocFreq(t);
            idf[t] = Math.Log(1 + ((n - df + 0.5) / (df + 0.5)));
        }

        return idf;
    }
}
