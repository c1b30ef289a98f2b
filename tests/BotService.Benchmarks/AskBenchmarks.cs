using System.Collections.Frozen;
using BenchmarkDotNet.Attributes;
using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;

namespace BotService.Benchmarks;

/// <summary>The kinds of question one ask is measured with (see <see cref="AskBenchmarks.Questions"/>).</summary>
public enum AskQuestion
{
    Price,
    Typo,
    LongMultiClause,
    OutOfScope,
}

/// <summary>
/// One question answered end to end in process (typo correction, retrieval, re-ranking, the cited excerpt) against
/// the repository's real <c>knowledge/</c> folder. Target: median ≤ 200 µs.
/// </summary>
[BenchmarkCategory("knowledge")]
[MemoryDiagnoser]
[Config(typeof(PercentilesConfig))]
public class AskBenchmarks
{
    public static IReadOnlyDictionary<AskQuestion, string> Questions { get; } = new Dictionary<AskQuestion, string>
    {
        [AskQuestion.Price] = "How much does a ketamine infusion cost?",
        [AskQuestion.Typo] = "whats the prise of an infusoin",
        [AskQuestion.LongMultiClause] =
            "I've had PTSD since my deployment and tried talk therapy and SSRIs, but nothing really helped, " +
            "so how quickly does ketamine work, how long does each infusion session take, and is it covered by insurance?",
        [AskQuestion.OutOfScope] = "Can you recommend a good Italian restaurant for a birthday dinner?",
    }.ToFrozenDictionary();

    private KnowledgeBase _knowledge = null!;
    private string _question = string.Empty;

    [ParamsAllValues]
    public AskQuestion Question { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _knowledge = new KnowledgeBase(new AnswerOptions(), answerCacheCapacity: 0); // time the search, not the answer cache
        var problems = _knowledge.Load(RepoPaths.Knowledge);
        if (problems.Count > 0)
        {
            throw new InvalidOperationException("knowledge/ did not load cleanly: " + string.Join("; ", problems));
        }

        _question = Questions[Question];
    }

    [GlobalCleanup]
    public void Cleanup() => _knowledge.Dispose();

    [Benchmark]
    public Answer Ask() => _knowledge.Ask(_question, Audience.Public);
}
