using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using BotService.Knowledge.Articles;

namespace BotService.Knowledge.Answers;

/// <summary>
/// The answers one index snapshot has already given. FAQ traffic repeats (the same question typed again, a
/// suggested-action button pressed by every visitor), and an answer is a pure function of the question, the audience,
/// the snapshot and the answer options, so a repeated question needs none of the Lucene work. The cache belongs to its
/// <see cref="Indexing.KnowledgeSnapshot"/>: a reload builds a new snapshot with an empty cache, so an answer from old
/// articles can never be served once the new ones are in.
/// </summary>
/// <remarks>
/// Bounded by entry count and by question length (a long question rarely repeats, and the bound keeps the memory a
/// cache can hold small: <see cref="Capacity"/> × <see cref="MaxQuestionLength"/> characters of keys at most). When
/// full, it starts again empty rather than tracking recency: the questions that repeat come back within a few
/// requests, and a reset costs nothing on the request path. Thread-safe without locks on reads. The question text is
/// held in memory only, never logged or written anywhere.
/// </remarks>
internal sealed class AnswerCache
{
    /// <summary>Questions longer than this are answered every time and not kept.</summary>
    public const int MaxQuestionLength = 300;

    private Generation _current = new();

    public AnswerCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        Capacity = capacity;
    }

    /// <summary>The most answers held at once; 0 turns the cache off.</summary>
    public int Capacity { get; }

    public int Count => Volatile.Read(ref _current).Answers.Count;

    public bool TryGet(string question, Audience audience, [MaybeNullWhen(false)] out Answer answer) =>
        TryGet(question, audience, out answer, out _);

    /// <summary>The answer and how the question was read (whether it needs a conversation's topic), as added.</summary>
    public bool TryGet(string question, Audience audience, [MaybeNullWhen(false)] out Answer answer, out Search.FollowUpReading? reading)
    {
        if (question.Length <= MaxQuestionLength && Volatile.Read(ref _current).Answers.TryGetValue(new Key(question, audience), out var entry))
        {
            (answer, reading) = (entry.Answer, entry.Reading);
            return true;
        }

        (answer, reading) = (null, null);
        return false;
    }

    public void Add(string question, Audience audience, Answer answer, Search.FollowUpReading? reading = null)
    {
        if (Capacity == 0 || question.Length > MaxQuestionLength)
        {
            return;
        }

        // Each entry reserves a slot first, so the count can never pass the capacity, however many threads add.
        var generation = Volatile.Read(ref _current);
        if (Interlocked.Increment(ref generation.Reserved) > Capacity)
        {
            Interlocked.CompareExchange(ref _current, new Generation(), generation);
            generation = Volatile.Read(ref _current);
            if (Interlocked.Increment(ref generation.Reserved) > Capacity)
            {
                return;
            }
        }

        generation.Answers.TryAdd(new Key(question, audience), new Entry(answer, reading));
    }

    private readonly record struct Key(string Question, Audience Audience);

    private sealed record Entry(Answer Answer, Search.FollowUpReading? Reading);

    private sealed class Generation
    {
        public readonly ConcurrentDictionary<Key, Entry> Answers = new();
        public int Reserved;
    }
}
