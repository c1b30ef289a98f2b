using BenchmarkDotNet.Attributes;
using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Indexing;

namespace BotService.Benchmarks;

/// <summary>
/// Building the index for the repository's real <c>knowledge/</c> folder: what a reload costs when staff edit an
/// article. <see cref="LoadParseBuild"/> is the whole reload (read files, parse front matter and Markdown, parse the
/// synonyms, cut passages, index them, build the typo corrector, swap the snapshot in); the other two split it.
/// </summary>
[BenchmarkCategory("index")]
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
public class IndexBuildBenchmarks
{
    private string _root = string.Empty;
    private KnowledgeSource _source = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = RepoPaths.Knowledge;
        _source = KnowledgeSource.Load(_root);
        if (_source.Problems.Count > 0 || _source.Articles.Count == 0)
        {
            throw new InvalidOperationException("knowledge/ did not load cleanly: " + string.Join("; ", _source.Problems));
        }
    }

    /// <summary>Read and parse only: files, front matter, Markdown, synonyms.</summary>
    [Benchmark]
    public int LoadAndParse() => KnowledgeSource.Load(_root).Articles.Count;

    /// <summary>Build only, from an already-parsed source: passages, Lucene index, typo corrector.</summary>
    [Benchmark]
    public int BuildOnly()
    {
        using var snapshot = KnowledgeSnapshot.Build(_source, 1);
        return snapshot.Passages.Length;
    }

    /// <summary>The whole reload through the public API, as the file watcher does it.</summary>
    [Benchmark(Baseline = true)]
    public int LoadParseBuild()
    {
        using var knowledge = new KnowledgeBase(new AnswerOptions());
        knowledge.Load(_root);
        return knowledge.Status.Passages;
    }
}
