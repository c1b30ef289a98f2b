using System.Reflection;
using BotService.Knowledge.Indexing;
using BotService.Knowledge.Search;
using Lucene.Net.Index;
using Lucene.Net.Queries;
using Lucene.Net.Search;
using Lucene.Net.Util;

namespace BotService.Benchmarks;

/// <summary>What-if variants of the Lucene query that <see cref="Retriever"/> runs, to see where search time goes.</summary>
public enum LuceneQueryShape
{
    /// <summary>The query and audience filter exactly as shipped.</summary>
    AsShipped,

    /// <summary>As shipped, but the public-only filter cached as a random-access bit set instead of Lucene's default compressed set.</summary>
    BitSetFilter,

    /// <summary>As shipped, with no audience filter (what a staff question runs).</summary>
    NoFilter,

    /// <summary>No sloppy phrase clauses for neighbouring question terms.</summary>
    NoPhrases,

    /// <summary>One term query per question term on the passage body: no section/title fields, phrases or answer-type clauses.</summary>
    BodyOnly,

    /// <summary>
    /// Lucene's <see cref="CommonTermsQuery"/> on the body: terms in more than 20% of passages only score passages
    /// that match a rarer term. Bit-set filter.
    /// </summary>
    CommonTermsBody,
}

/// <summary>
/// Builds <see cref="LuceneQueryShape"/> variants. The full variant mirrors <c>Retriever.BuildQuery</c>, and
/// <see cref="Create"/> checks the mirror against the shipped method (by reflection) so the variants cannot drift
/// from what is measured end to end.
/// </summary>
internal sealed class LuceneQueryShapes
{
    private static readonly MethodInfo ShippedBuildQuery =
        typeof(Retriever).GetMethod("BuildQuery", BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new MissingMethodException(nameof(Retriever), "BuildQuery");

    private readonly KnowledgeSnapshot _snapshot;
    private readonly Filter _bitSetPublicOnly;

    public LuceneQueryShapes(KnowledgeSnapshot snapshot)
    {
        _snapshot = snapshot;
        _bitSetPublicOnly = new BitSetCachingFilter(
            new QueryWrapperFilter(new TermQuery(new Term(KnowledgeSnapshot.AudienceField, "public"))));
    }

    /// <summary>The query and filter of a shape for a public visitor's question.</summary>
    public (Query Query, Filter? Filter) Create(InterpretedQuery query, LuceneQueryShape shape)
    {
        var shipped = (Query)ShippedBuildQuery.Invoke(null, [query])!;
        var mirror = Build(query, fields: true, phrases: true, types: true);
        if (mirror.ToString() != shipped.ToString())
        {
            throw new InvalidOperationException(
                $"The benchmark's mirror of Retriever.BuildQuery is out of date.\nshipped: {shipped}\nmirror:  {mirror}");
        }

        return shape switch
        {
            LuceneQueryShape.AsShipped => (shipped, _snapshot.PublicOnly),
            LuceneQueryShape.BitSetFilter => (shipped, _bitSetPublicOnly),
            LuceneQueryShape.NoFilter => (shipped, null),
            LuceneQueryShape.NoPhrases => (Build(query, fields: true, phrases: false, types: true), _snapshot.PublicOnly),
            LuceneQueryShape.BodyOnly => (Build(query, fields: false, phrases: false, types: false), _snapshot.PublicOnly),
            LuceneQueryShape.CommonTermsBody => (CommonTerms(query), _bitSetPublicOnly),
            _ => throw new ArgumentOutOfRangeException(nameof(shape)),
        };
    }

    public TopDocs Search((Query Query, Filter? Filter) q) => _snapshot.Searcher.Search(q.Query, q.Filter, 10);

    private static BooleanQuery Build(InterpretedQuery query, bool fields, bool phrases, bool types)
    {
        var root = new BooleanQuery();
        foreach (var t in query.Terms)
        {
            if (fields)
            {
                root.Add(new DisjunctionMaxQuery(0.1f)
                {
                    new TermQuery(new Term(KnowledgeSnapshot.Body, t)),
                    new TermQuery(new Term(KnowledgeSnapshot.Section, t)) { Boost = 1.3f },
                    new TermQuery(new Term(KnowledgeSnapshot.Title, t)) { Boost = 0.4f },
                }, Occur.SHOULD);
            }
            else
            {
                root.Add(new TermQuery(new Term(KnowledgeSnapshot.Body, t)), Occur.SHOULD);
            }
        }

        for (var i = 0; phrases && i + 1 < query.Terms.Count; i++)
        {
            var phrase = new PhraseQuery { Slop = 2, Boost = 0.5f };
            phrase.Add(new Term(KnowledgeSnapshot.Body, query.Terms[i]));
            phrase.Add(new Term(KnowledgeSnapshot.Body, query.Terms[i + 1]));
            root.Add(phrase, Occur.SHOULD);
        }

        foreach (var type in AnswerTypeDetector.All)
        {
            if (types && query.Wants.HasFlag(type))
            {
                root.Add(new TermQuery(new Term(KnowledgeSnapshot.AnswerType, AnswerTypeDetector.FieldValue(type))) { Boost = 1.5f }, Occur.SHOULD);
            }
        }

        return root;
    }

    private static CommonTermsQuery CommonTerms(InterpretedQuery query)
    {
        var q = new CommonTermsQuery(Occur.SHOULD, Occur.SHOULD, 0.2f);
        foreach (var t in query.Terms)
        {
            q.Add(new Term(KnowledgeSnapshot.Body, t));
        }

        return q;
    }

    /// <summary>Caches the filter as a <see cref="FixedBitSet"/>, which Lucene can apply as random-access accepted docs.</summary>
    private sealed class BitSetCachingFilter(Filter filter) : CachingWrapperFilter(filter)
    {
        protected override DocIdSet CacheImpl(DocIdSetIterator iterator, AtomicReader reader)
        {
            var bits = new FixedBitSet(reader.MaxDoc);
            bits.Or(iterator);
            return bits;
        }
    }
}
