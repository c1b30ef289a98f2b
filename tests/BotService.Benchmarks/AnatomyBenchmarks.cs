using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Knowledge.Indexing;
using BotService.Knowledge.Search;
using Lucene.Net.Search;

namespace BotService.Benchmarks;

/// <summary>
/// Where one ask spends its time on the real <c>knowledge/</c>: reading the question (typo correction, analysis,
/// regexes), retrieval (Lucene query plus re-ranking) and composing the excerpt, and the Lucene search alone in
/// several shapes. Not part of the target runs; run with <c>--anyCategories anatomy</c>.
/// </summary>
[BenchmarkCategory("anatomy")]
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
public class AskAnatomyBenchmarks
{
    private KnowledgeSnapshot _snapshot = null!;
    private InterpretedQuery _query = null!;
    private List<Candidate> _candidates = null!;
    private IReadOnlyDictionary<string, double> _idf = null!;
    private readonly AnswerOptions _options = new();
    private (Query, Filter?) _asShipped;
    private (Query, Filter?) _noPhrases;
    private (Query, Filter?) _bodyOnly;
    private LuceneQueryShapes _shapes = null!;
    private string _question = string.Empty;

    [Params(AskQuestion.Price, AskQuestion.LongMultiClause)]
    public AskQuestion Question { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _snapshot = KnowledgeSnapshot.Build(KnowledgeSource.Load(RepositoryPaths.KnowledgeRoot()), 1);
        _question = AskBenchmarks.Questions[Question];
        _query = QueryInterpreter.Interpret(_question, _snapshot.Speller);
        _candidates = Retriever.Search(_snapshot, _query, Audience.Public, out _idf);
        _shapes = new LuceneQueryShapes(_snapshot);
        _asShipped = _shapes.Create(_query, LuceneQueryShape.AsShipped);
        _noPhrases = _shapes.Create(_query, LuceneQueryShape.NoPhrases);
        _bodyOnly = _shapes.Create(_query, LuceneQueryShape.BodyOnly);
    }

    [GlobalCleanup]
    public void Cleanup() => _snapshot.Dispose();

    [Benchmark]
    public object Interpret() => QueryInterpreter.Interpret(_question, _snapshot.Speller);

    [Benchmark]
    public object Retrieve() => Retriever.Search(_snapshot, _query, Audience.Public, out _);

    [Benchmark]
    public Answer Compose() => AnswerComposer.Compose(_query, _candidates, _idf, _options);

    [Benchmark]
    public TopDocs LuceneAsShipped() => _shapes.Search(_asShipped);

    [Benchmark]
    public TopDocs LuceneNoPhrases() => _shapes.Search(_noPhrases);

    [Benchmark]
    public TopDocs LuceneBodyOnly() => _shapes.Search(_bodyOnly);
}

/// <summary>
/// The Lucene search alone on the 10,000-article synthetic corpus, in each <see cref="LuceneQueryShape"/>: one
/// invocation searches all twenty <see cref="ScaleCorpus.Questions"/> (the queries are built beforehand), and the
/// figures are per query. Shows which part of the query costs what at scale. Run with <c>--anyCategories anatomy</c>.
/// </summary>
[BenchmarkCategory("anatomy")]
[Config(typeof(PercentilesConfig))]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 10, iterationCount: 15, invocationCount: 1)]
[GcForce(false)]
public class ScaleLuceneAnatomyBenchmarks
{
    private KnowledgeSnapshot _snapshot = null!;
    private LuceneQueryShapes _shapes = null!;
    private (Query, Filter?)[] _queries = [];

    [Params(10_000)]
    public int Articles { get; set; }

    [ParamsAllValues]
    public LuceneQueryShape Shape { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _snapshot = KnowledgeSnapshot.Build(ScaleCorpus.Source(Articles), 1);
        _shapes = new LuceneQueryShapes(_snapshot);
        _queries = ScaleCorpus.Questions
            .Select(q => _shapes.Create(QueryInterpreter.Interpret(q, _snapshot.Speller), Shape))
            .ToArray();
        ScaleCorpus.CollectBuildGarbage();
    }

    [GlobalCleanup]
    public void Cleanup() => _snapshot.Dispose();

    [Benchmark(OperationsPerInvoke = 20)]
    public int SearchAll()
    {
        var hits = 0;
        foreach (var q in _queries)
        {
            hits += _shapes.Search(q).TotalHits;
        }

        return hits;
    }
}
