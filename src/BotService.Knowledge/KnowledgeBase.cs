using System.Diagnostics;
using BotService.Knowledge.Analysis;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Knowledge.Indexing;
using BotService.Knowledge.Search;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.Knowledge;

/// <summary>What the knowledge base holds now, for health checks and the operator.</summary>
public sealed record KnowledgeStatus(
    bool Ready,
    long Generation,
    int Articles,
    int Passages,
    int Problems,
    DateTimeOffset? LoadedAt,
    TimeSpan BuildTime);

/// <summary>
/// The answering core: owns the current index snapshot, answers questions from it, and swaps in a rebuilt snapshot
/// when the articles change, without dropping requests in flight (each request holds a reference to the snapshot
/// it started with). Thread-safe.
/// </summary>
public sealed partial class KnowledgeBase : IDisposable
{
    /// <summary>Spans of this library: <c>knowledge ask</c> (answered, confidence, whether the answer cache had it; never the question).</summary>
    public const string ActivitySourceName = "BotService.Knowledge";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly AnswerOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly int _answerCacheCapacity;
    private readonly Lock _loadLock = new();
    private KnowledgeSnapshot? _current;
    private long _generation;
    private KnowledgeStatus _status = new(false, 0, 0, 0, 0, null, TimeSpan.Zero);

    /// <param name="answerCacheCapacity">How many answers each index snapshot keeps for repeated questions (0: none).</param>
    public KnowledgeBase(AnswerOptions options, ILogger<KnowledgeBase>? logger = null, TimeProvider? time = null,
        int answerCacheCapacity = KnowledgeSnapshot.DefaultAnswerCacheCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(answerCacheCapacity);
        _answerCacheCapacity = answerCacheCapacity;
        _options = options;
        _log = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    public bool IsReady => Volatile.Read(ref _current) is not null;

    public KnowledgeStatus Status => Volatile.Read(ref _status);

    /// <summary>Reads the knowledge folder, builds a new index and swaps it in.</summary>
    /// <returns>The problems found (each malformed file is skipped; the rest load).</returns>
    public IReadOnlyList<KnowledgeProblem> Load(string root) => Load(KnowledgeSource.Load(root));

    public IReadOnlyList<KnowledgeProblem> Load(KnowledgeSource source)
    {
        lock (_loadLock)
        {
            foreach (var p in source.Problems)
            {
                LogProblem(_log, p.Path, p.Line, p.Message);
            }

            if (source.Articles.Count == 0)
            {
                // An empty or vanished folder is far more likely a mistake mid-edit than a wish to answer nothing:
                // keep what was loaded (or stay not ready).
                LogNothingLoaded(_log, _current?.Generation ?? 0);
                return source.Problems;
            }

            var watch = Stopwatch.StartNew();
            var snapshot = KnowledgeSnapshot.Build(source, ++_generation, _answerCacheCapacity);
            watch.Stop();
            var old = Interlocked.Exchange(ref _current, snapshot);
            old?.Dispose();
            Volatile.Write(ref _status, new KnowledgeStatus(true, snapshot.Generation, source.Articles.Count,
                snapshot.Passages.Length, source.Problems.Count, _time.GetUtcNow(), watch.Elapsed));
            LogLoaded(_log, snapshot.Generation, source.Articles.Count, snapshot.Passages.Length, source.Problems.Count,
                watch.Elapsed.TotalMilliseconds);
            return source.Problems;
        }
    }

    /// <summary>
    /// Answers a question from the articles the audience may see. A question the current snapshot has answered before
    /// (same text after <see cref="QueryInterpreter.Normalise"/>, same audience) gets the same answer from the
    /// snapshot's <see cref="AnswerCache"/> without searching again.
    /// </summary>
    /// <exception cref="KnowledgeNotReadyException">No index has been loaded yet.</exception>
    public Answer Ask(string question, Audience audience) => Ask(question, audience, null);

    /// <summary>
    /// Answers a message in a conversation. A message too vague alone ("how much is it?", "and for veterans?": no
    /// subject of its own, or a reference back) is read with <paramref name="topic"/>, the conversation's recent topic:
    /// its words are added to the message, passages of its article rank a little higher, and the answer says so
    /// (<see cref="Answer.FollowUpAbout"/>). If the articles hold nothing for that reading, the message is answered on
    /// its own. <paramref name="chosen"/> is a reading the visitor picked from "did you mean": it is answered from that
    /// section. Only self-contained questions go through the answer cache (a follow-up's answer depends on the topic).
    /// </summary>
    /// <exception cref="KnowledgeNotReadyException">No index has been loaded yet.</exception>
    public Answer Ask(string question, Audience audience, ConversationTopic? topic, Suggestion? chosen = null)
    {
        ArgumentNullException.ThrowIfNull(question);
        using var span = Source.StartActivity("knowledge ask");
        var snapshot = Acquire() ?? throw new KnowledgeNotReadyException();
        try
        {
            var normalised = QueryInterpreter.Normalise(question);

            // A question asked before on this snapshot, that stands on its own (or is asked with no topic to read it
            // with), is the cached answer: no analysis at all, as before follow-ups (the reading is kept with it).
            var asked = snapshot.Answers.TryGet(normalised, audience, out var known, out var knownReading);
            if (asked && chosen is null && (topic is null || knownReading is { NeedsContext: false, MayNeedContext: false }))
            {
                span?.SetTag("knowledge.cached", true);
                return known!;
            }

            var reading = knownReading ?? FollowUpReader.Read(normalised, t => Retriever.Weight(snapshot.DocumentCount, snapshot.DocFreq(t)));
            Answer? answer = null;
            string? readAs = null;
            var cachedAnswer = false;
            if (chosen is not null)
            {
                // A tap on "did you mean": that section, no second round of choices.
                answer = WithTopic(Retrieve(snapshot, QueryInterpreter.Normalise(chosen.Question), audience, Compose,
                    new Preference(chosen.Path, chosen.Section, 0, 1.0)), reading);
            }
            else if (topic is not null && reading.NeedsContext)
            {
                readAs = $"{reading.Core} {topic.About}";
                answer = FollowUp(snapshot, readAs, topic, audience);
            }
            else if (topic is not null && reading.MayNeedContext)
            {
                // "is it FDA approved?" after ketamine and MDMA: the reading with the topic wins if a passage holds
                // it at least as fully as the best one for the message alone.
                var alone = Standalone(snapshot, normalised, audience, reading, known, out cachedAnswer);
                var withTopic = FollowUp(snapshot, $"{reading.Core} {topic.About}", topic, audience);
                answer = withTopic is { Answered: true } && withTopic.Confidence >= alone.Confidence ? withTopic : alone;
            }

            if (answer is null)
            {
                answer = Standalone(snapshot, normalised, audience, reading, known, out cachedAnswer);
                if (readAs is not null)
                {
                    // Read with the topic, the articles had nothing, so it is answered on its own; the reading is
                    // still what the visitor meant, and the safety check of it must not depend on the articles.
                    answer = answer with { ReadAs = readAs };
                }
            }

            if (span is { IsAllDataRequested: true })
            {
                span.SetTag("knowledge.generation", snapshot.Generation);
                span.SetTag("knowledge.audience", audience.ToString());
                span.SetTag("knowledge.cached", cachedAnswer);
                span.SetTag("knowledge.answered", answer.Answered);
                span.SetTag("knowledge.confidence", Math.Round(answer.Confidence, 3));
                span.SetTag("knowledge.followup", answer.FollowUpAbout is not null);
                span.SetTag("knowledge.did_you_mean", answer.DidYouMean.Count);
            }

            return answer;
        }
        finally
        {
            snapshot.Release();
        }
    }

    /// <summary>
    /// The message answered on its own, through the answer cache. "Did you mean" only for a message too vague to stand
    /// alone that no topic resolved: a question with a subject of its own is answered from its best passage, as before
    /// (docs/quality.md measures both).
    /// </summary>
    /// <param name="known">The cached answer <see cref="Ask(string, Audience, ConversationTopic?, Suggestion?)"/> already looked up, if any.</param>
    private Answer Standalone(KnowledgeSnapshot snapshot, string normalised, Audience audience, FollowUpReading reading, Answer? known, out bool cachedAnswer)
    {
        cachedAnswer = known is not null;
        if (known is not null)
        {
            return known;
        }

        // A message in stop words only that asks for a kind of fact ("how much is it?") is read with that kind named.
        var question = QueryInterpreter.Analyze(normalised).Count == 0 ? reading.Core : normalised;
        var answer = WithTopic(Retrieve<Answer>(snapshot, question, audience, reading.NeedsContext
            ? (q, c, idf) => AnswerComposer.Compose(q, c, idf, _options, t => Retriever.Weight(snapshot.DocumentCount, snapshot.DocFreq(t)))
            : Compose), reading);
        snapshot.Answers.Add(normalised, audience, answer, reading);
        return answer;
    }

    /// <summary>The opening of an answer read as a follow-up, so the visitor sees (and can correct) what it was taken to mean.</summary>
    public static string FollowUpPreface(string about) => $"Taking this as a question about {about}: ";

    /// <summary>
    /// A vague message read with the conversation's topic: the message and the topic's words as one question, the topic's
    /// article preferred. Null when that reading finds nothing either (the message is then answered on its own).
    /// </summary>
    private Answer? FollowUp(KnowledgeSnapshot snapshot, string readAs, ConversationTopic topic, Audience audience)
    {
        var answer = Retrieve(snapshot, readAs, audience, Compose, new Preference(topic.ArticlePath, topic.Section, ArticlePreference, SectionPreference));
        if (!answer.Answered && answer.DidYouMean.Count == 0)
        {
            return null;
        }

        var preface = FollowUpPreface(topic.About);
        return answer with
        {
            Text = preface + answer.Text,
            Body = preface + answer.Body,
            FollowUpAbout = topic.About,
            ReadAs = readAs,
            Topic = topic,
            ChangesTopic = false,
        };
    }

    /// <summary>How much a passage of the topic's article gains in the ranking when a follow-up is read with that topic.</summary>
    private const double ArticlePreference = 0.1;

    /// <summary>How much more a passage of the topic's section gains (the price's section for "how long is it?").</summary>
    private const double SectionPreference = 0.1;

    /// <summary>What a question answered on its own leaves as the conversation's topic.</summary>
    private static Answer WithTopic(Answer answer, FollowUpReading reading) => answer with
    {
        ChangesTopic = reading.HasContent,
        Topic = answer.Answered ? new ConversationTopic(reading.About ?? answer.Sources[0].Section.Trim(), answer.Sources[0].Path, answer.Sources[0].Section) : null,
    };

    /// <summary>
    /// Headings of the other sections of an article the reader may see, for follow-up suggestions under an answer
    /// ("what else does this article cover?"). Empty when the article is gone (a reload removed it) or not theirs to see.
    /// </summary>
    public IReadOnlyList<string> RelatedSections(string articlePath, string exceptSection, Audience audience, int max)
    {
        var article = Volatile.Read(ref _current)?.Source.Articles.FirstOrDefault(a => a.Path == articlePath);
        if (article is null || (article.Audience == Audience.Staff && audience != Audience.Staff))
        {
            return [];
        }

        // Headings that read as a question come first; one- and two-word headings ("Overview") make poor questions.
        return article.Sections
            .Select(s => s.Heading.Trim())
            .Where(h => h.Length <= 80 && h.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length >= 3
                        && h != exceptSection && h != article.Title)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .OrderBy(h => h.EndsWith('?') ? 0 : 1)
            .Take(max)
            .ToArray();
    }

    /// <summary>
    /// How a question was read and ranked, for tuning and for staff reviewing why an answer was chosen:
    /// the corrected text, each term with its weight, and the top passages with their features.
    /// </summary>
    public string Explain(string question, Audience audience) => Retrieve(question, audience, (query, candidates, idf) =>
        {
            var sb = new System.Text.StringBuilder();
            sb.AppendLine(System.FormattableString.Invariant($"read as: {query.Text} | wants: {query.Wants} | personal advice: {query.AsksPersonalAdvice}"));
            sb.AppendLine("terms: " + string.Join(", ", query.Terms.Select(t => System.FormattableString.Invariant($"{t}={idf[t]:F2}"))));
            foreach (var c in candidates.Take(5))
            {
                sb.AppendLine(System.FormattableString.Invariant(
                    $"  cov={c.Coverage:F2} rank={Retriever.Rank(c):F3} score={c.Score:F2} type={c.HasWantedType} conf={AnswerComposer.Confidence(query, c):F2} [{c.Passage.Article.Path} > {c.Passage.Section}] {Truncate(c.Passage.Text, 110)}"));
            }

            return sb.ToString();
        });

    private Answer Compose(InterpretedQuery query, List<Candidate> candidates, IReadOnlyDictionary<string, double> idf) =>
        AnswerComposer.Compose(query, candidates, idf, _options);


    /// <summary>Reads and searches a question on the current snapshot, held for the length of the call.</summary>
    private T Retrieve<T>(string question, Audience audience,
        Func<InterpretedQuery, List<Candidate>, IReadOnlyDictionary<string, double>, T> use)
    {
        var snapshot = Acquire() ?? throw new KnowledgeNotReadyException();
        try
        {
            return Retrieve(snapshot, question, audience, use);
        }
        finally
        {
            snapshot.Release();
        }
    }

    private static T Retrieve<T>(KnowledgeSnapshot snapshot, string question, Audience audience,
        Func<InterpretedQuery, List<Candidate>, IReadOnlyDictionary<string, double>, T> use, Preference? prefer = null)
    {
        var query = QueryInterpreter.Interpret(question, snapshot.Speller, snapshot.StemKnown);
        var candidates = Retriever.Search(snapshot, query, audience, out var idf, prefer);
        return use(query, candidates, idf);
    }

    /// <summary>
    /// Asks the articles' own section headings as questions, so the first visitors do not pay for the JIT compiling
    /// the answering path. Takes a few milliseconds; the answers are thrown away.
    /// </summary>
    public void WarmUp(int rounds = 3)
    {
        var snapshot = Acquire();
        if (snapshot is null)
        {
            return;
        }

        string[] headings;
        try
        {
            headings = snapshot.Passages.Select(p => p.Section).Distinct(StringComparer.Ordinal).Take(60).ToArray();
        }
        finally
        {
            snapshot.Release();
        }

        for (var r = 0; r < rounds; r++)
        {
            foreach (var h in headings)
            {
                // Around the answer cache: every round must run the whole answering path for the JIT to see it.
                Retrieve(h, Audience.Public, Compose);
                Retrieve(h.ToLowerInvariant() + " cost", Audience.Staff, Compose);
            }

            // A word no article holds runs the English lexicon's path (decision 0028); the lexicon is loaded even if an
            // article comes to say "scary".
            _ = EnglishLexicon.Default.Find("scary");
            Retrieve("is it scary", Audience.Public, Compose);
        }
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..n] + "…";

    public void Dispose()
    {
        lock (_loadLock)
        {
            Interlocked.Exchange(ref _current, null)?.Dispose();
        }
    }

    private KnowledgeSnapshot? Acquire()
    {
        while (true)
        {
            var snapshot = Volatile.Read(ref _current);
            if (snapshot is null || snapshot.TryAcquire())
            {
                return snapshot;
            }

            // The snapshot closed between the read and the acquire: a reload swapped it out. Read again.
        }
    }

    [LoggerMessage(1001, LogLevel.Warning, "Knowledge file {Path}:{Line} skipped: {Problem}")]
    private static partial void LogProblem(ILogger logger, string path, int line, string problem);

    [LoggerMessage(1002, LogLevel.Information,
        "Knowledge generation {Generation} loaded: {Articles} articles, {Passages} passages, {Problems} problems, built in {BuildMs:F1} ms")]
    private static partial void LogLoaded(ILogger logger, long generation, int articles, int passages, int problems, double buildMs);

    [LoggerMessage(1003, LogLevel.Error, "No article could be loaded; still answering from generation {Generation} (0: none)")]
    private static partial void LogNothingLoaded(ILogger logger, long generation);
}

/// <summary>Thrown when a question arrives before the first index is built.</summary>
public sealed class KnowledgeNotReadyException() : InvalidOperationException("The knowledge index is still loading.");
