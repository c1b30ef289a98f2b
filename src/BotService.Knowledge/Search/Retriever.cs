using BotService.Knowledge.Articles;
using BotService.Knowledge.Indexing;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Util;

namespace BotService.Knowledge.Search;

/// <summary>A passage found for a question, with the features the answer and its confidence are built from.</summary>
/// <param name="SentenceCoverage">The best coverage of any one sentence: the question answered in one place.</param>
internal sealed record Candidate(Passage Passage, float Score, double Coverage, double SentenceCoverage, bool HasWantedType);

/// <summary>
/// Where a question's answer is expected: the article (and section) a follow-up's topic came from, or the reading a
/// visitor chose from "did you mean". Passages of the article rank higher by <see cref="ArticleBonus"/>, those of the
/// section by <see cref="SectionBonus"/> more.
/// </summary>
internal sealed record Preference(string ArticlePath, string Section, double ArticleBonus, double SectionBonus);

/// <summary>
/// Builds the Lucene query with the API (never by escaping user text into QueryParser) and ranks passages:
/// BM25 over the passage text, its section heading and the article title (best field per term), a bonus for
/// question terms that stand near each other, and a bonus for passages holding the kind of fact asked for.
/// Then re-ranks the top hits by how much of the question (weighted by rarity) each passage covers.
/// </summary>
internal static class Retriever
{
    private const int TopHits = 10;

    // Above this many passages, retrieval runs in two stages (see Search). The clinic's own articles are ~130.
    private const int TwoStageAbove = 5_000;
    private const int Candidates = 100;
    private const int EnoughCandidates = 20;
    private const int MaxPhrases = 6;
    private const int MaxSearchTerms = 10;
    private const double CommonShare = 0.02;

    // A clause is judged on its own only if it says something specific (a lone "ketamine" does not).
    private const double MinClauseWeight = 1.0;

    public static List<Candidate> Search(KnowledgeSnapshot snapshot, InterpretedQuery query, Audience audience, out IReadOnlyDictionary<string, double> idf,
        Preference? prefer = null)
    {
        // One term-dictionary look-up per term serves the weights and the first stage.
        var docFreq = query.Terms.ToDictionary(t => t, snapshot.DocFreq, StringComparer.Ordinal);
        var weights = Idf(snapshot.DocumentCount, docFreq);
        Describe(weights, docFreq, query.Describing);
        idf = weights;
        var results = new List<Candidate>();
        if (query.Terms.Count == 0)
        {
            return results;
        }

        var filter = audience == Audience.Public ? snapshot.PublicOnly : null;
        ScoreDoc[] hits;
        if (snapshot.DocumentCount > TwoStageAbove)
        {
            // A large corpus: Lucene 4.8 scores a disjunction exhaustively (no WAND), and topic words ("ketamine",
            // "PTSD") are in half the passages. So candidates come from a cheap body-only query built to touch few
            // postings (see FirstStage), and are ranked below by the same coverage features as always.
            hits = FirstStage(snapshot, query.Terms, docFreq, filter);
        }
        else
        {
            hits = snapshot.Searcher.Search(BuildQuery(query, weights), filter, TopHits).ScoreDocs;
        }

        if (hits.Length == 0)
        {
            return results;
        }

        var maxScore = hits[0].Score; // hits come sorted, best first
        foreach (var hit in hits)
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
        // A preference only decides between passages that cover the question about as well as the best one does: it
        // never puts a passage that misses part of the question ("how much": no price) above one that holds it all.
        var bestCoverage = results.Max(c => c.Coverage);
        results.Sort((a, b) => (Rank(b) + Bonus(b, prefer, bestCoverage)).CompareTo(Rank(a) + Bonus(a, prefer, bestCoverage)));
        return results;
    }

    /// <summary>
    /// Candidates for a large corpus, touching as few postings as possible: the question's rarer words (in at most
    /// <see cref="CommonShare"/> of passages) in any combination; or, when every word is common, all of them together,
    /// then the two rarest.
    /// </summary>
    private static ScoreDoc[] FirstStage(KnowledgeSnapshot snapshot, IReadOnlyList<string> terms,
        Dictionary<string, int> docFreq, Filter? filter)
    {
        var limit = snapshot.DocumentCount * CommonShare;
        var rare = terms.Where(t => docFreq[t] <= limit).ToArray();
        if (rare.Length > 0)
        {
            // The rarer words together first (cheap: a conjunction leap-frogs), then any of them.
            foreach (var occur in rare.Length > 1 ? [Occur.MUST, Occur.SHOULD] : (Occur[])[Occur.SHOULD])
            {
                var query = new BooleanQuery();
                foreach (var t in rare)
                {
                    query.Add(new TermQuery(new Term(KnowledgeSnapshot.Body, t)), occur);
                }

                var found = snapshot.Searcher.Search(query, filter, Candidates).ScoreDocs;
                if (found.Length >= EnoughCandidates || (occur == Occur.SHOULD && found.Length > 0))
                {
                    return found;
                }
            }
        }

        // Every word common: all of them together; then the two rarest together; then either of the two rarest.
        // Each costs about the rarer words' postings (a conjunction leap-frogs on its rarest word).
        var byRarity = terms.OrderBy(t => docFreq[t]).ToArray();
        var pair = byRarity.Take(2).ToArray();
        (string[] Terms, Occur Occur)[] steps = [(byRarity, Occur.MUST), (pair, Occur.MUST), (pair, Occur.SHOULD)];
        ScoreDoc[] best = [];
        foreach (var (words, occur) in steps)
        {
            var query = new BooleanQuery();
            foreach (var t in words)
            {
                query.Add(new TermQuery(new Term(KnowledgeSnapshot.Body, t)), occur);
            }

            var found = snapshot.Searcher.Search(query, filter, Candidates).ScoreDocs;
            if (found.Length > best.Length)
            {
                best = found;
            }

            if (best.Length >= EnoughCandidates)
            {
                break;
            }
        }

        return best;
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

    private const double PreferenceCoverageMargin = 0.05;

    private static double Bonus(Candidate c, Preference? prefer, double bestCoverage) =>
        prefer is null || c.Passage.Article.Path != prefer.ArticlePath || c.Coverage < bestCoverage - PreferenceCoverageMargin ? 0
        : prefer.ArticleBonus + (c.Passage.Section == prefer.Section ? prefer.SectionBonus : 0);

    /// <summary>How the ranking orders candidates (the higher the better); "did you mean" compares the top ones on it.</summary>
    internal static double Rank(Candidate c) =>
        (0.45 * c.Coverage) + (0.25 * c.SentenceCoverage) + (0.3 * c.Score) + (c.HasWantedType ? 0.15 : 0) - (c.Passage.IsReferenceList ? 0.3 : 0);

    private static Query BuildQuery(InterpretedQuery query, Dictionary<string, double> weights)
    {
        // A long question's most common words add little to BM25 but a scorer each: search on the rarest few (every
        // word still counts in the coverage the ranking uses).
        var root = new BooleanQuery();
        var searched = query.Terms.Count <= MaxSearchTerms
            ? query.Terms
            : query.Terms.OrderByDescending(t => weights[t]).Take(MaxSearchTerms).ToArray();
        foreach (var t in searched)
        {
            var perField = new DisjunctionMaxQuery(0.1f)
            {
                new TermQuery(new Term(KnowledgeSnapshot.Body, t)),
                new TermQuery(new Term(KnowledgeSnapshot.Section, t)) { Boost = 1.3f },
                new TermQuery(new Term(KnowledgeSnapshot.Title, t)) { Boost = 0.4f },
            };
            root.Add(perField, Occur.SHOULD);
        }

        // Question terms that stand together in the passage ("intake fee", "adverse effects") count extra: adjacent
        // pairs within a clause, at most a handful (each phrase reads positions, the costliest part of a search).
        var phrases = 0;
        foreach (var clause in query.Clauses)
        {
            for (var i = 0; i + 1 < clause.Count && phrases < MaxPhrases; i++, phrases++)
            {
                var phrase = new PhraseQuery { Slop = 2, Boost = 0.5f };
                phrase.Add(new Term(KnowledgeSnapshot.Body, clause[i]));
                phrase.Add(new Term(KnowledgeSnapshot.Body, clause[i + 1]));
                root.Add(phrase, Occur.SHOULD);
            }
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

    /// <summary>
    /// A word no passage holds gets the highest weight: it may name a subject the articles lack ("parking"). Unless it is a
    /// word English uses to describe or link ("big", "scary", "happen"): that narrows the question no more than its most
    /// common known word does, so it weighs as much as that word (and one describing word no longer sinks a question).
    /// </summary>
    private static void Describe(Dictionary<string, double> weights, Dictionary<string, int> docFreq, IReadOnlySet<string> describing)
    {
        if (describing.Count == 0)
        {
            return;
        }

        var floor = double.MaxValue;
        foreach (var (t, df) in docFreq)
        {
            if (df > 0)
            {
                floor = Math.Min(floor, weights[t]);
            }
        }

        if (floor == double.MaxValue)
        {
            return; // nothing in the question is known: it stays out of scope
        }

        foreach (var t in describing)
        {
            if (docFreq.TryGetValue(t, out var df) && df == 0)
            {
                weights[t] = floor;
            }
        }
    }

    /// <summary>BM25's inverse document frequency for each term; a term no passage has gets the highest weight.</summary>
    private static Dictionary<string, double> Idf(int documentCount, Dictionary<string, int> docFreq)
    {
        var idf = new Dictionary<string, double>(docFreq.Count, StringComparer.Ordinal);
        foreach (var (t, df) in docFreq)
        {
            idf[t] = Weight(documentCount, df);
        }

        return idf;
    }

    /// <summary>BM25's inverse document frequency of a term found in <paramref name="docFreq"/> of <paramref name="documentCount"/> passages.</summary>
    internal static double Weight(int documentCount, int docFreq)
    {
        var n = (double)Math.Max(1, documentCount);
        return Math.Log(1 + ((n - docFreq + 0.5) / (docFreq + 0.5)));
    }
}

/// <summary>A fixed set of top-level document ids as a filter (the candidates of the first stage).</summary>
internal sealed class DocSetFilter(ScoreDoc[] docs) : Filter
{
    private readonly int[] _docs = docs.Select(d => d.Doc).Order().ToArray();

    public override DocIdSet GetDocIdSet(AtomicReaderContext context, IBits acceptDocs)
    {
        var bits = new FixedBitSet(context.Reader.MaxDoc);
        var end = context.DocBase + context.Reader.MaxDoc;
        foreach (var doc in _docs)
        {
            if (doc >= context.DocBase && doc < end && (acceptDocs is null || acceptDocs.Get(doc - context.DocBase)))
            {
                bits.Set(doc - context.DocBase);
            }
        }

        return bits;
    }
}
