using System.Text;
using System.Text.RegularExpressions;
using BotService.Knowledge.Analysis;
using BotService.Knowledge.Indexing;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.TokenAttributes;

namespace BotService.Knowledge.Search;

/// <summary>A word of the question that was read as another word ("prise" as "price").</summary>
public sealed record Correction(string From, string To);

/// <summary>A question as the retriever sees it: its analysed terms (after typo correction) and what it asks for.</summary>
/// <param name="Clauses">The terms of each clause ("I'm not in crisis, just curious about KAP" has two), so a
/// question is judged by its best-covered part as well as by the whole.</param>
/// <param name="Describing">Terms of words the articles lack that English uses mostly to describe or link ("big",
/// "scary", "happen"), not to name a subject: they narrow the question less than a missing noun does.</param>
internal sealed record InterpretedQuery(
    string Text,
    IReadOnlyList<string> Terms,
    IReadOnlyList<IReadOnlyList<string>> Clauses,
    IReadOnlyList<Correction> Corrections,
    AnswerTypes Wants,
    bool AsksPersonalAdvice)
{
    private static readonly IReadOnlySet<string> None = new HashSet<string>(StringComparer.Ordinal);

    public IReadOnlySet<string> Describing { get; init; } = None;
}

internal static partial class QueryInterpreter
{
    private static readonly ClinicAnalyzer QueryAnalyzer = ClinicAnalyzer.ForQueries();
    private static readonly SurfaceAnalyzer Surface = new();

    /// <param name="stemKnown">True if the index holds the word's stem: "rate" is not a typo because "rates" is there.</param>
    public static InterpretedQuery Interpret(string question, SpellingCorrector speller, Func<string, bool> stemKnown)
    {
        var normalized = Normalise(question);
        var corrections = new List<Correction>();
        var describing = new List<string>();
        var corrected = Correct(normalized, speller, stemKnown, corrections, describing);
        var clauses = ClauseBreak().Split(corrected)
            .Select(Analyze)
            .Where(c => c.Count > 0)
            .ToArray();
        var terms = clauses.SelectMany(c => c).Distinct(StringComparer.Ordinal).ToList();
        var query = new InterpretedQuery(corrected, terms, clauses, corrections, AnswerTypeDetector.InQuestion(corrected),
            PersonalAdvice().IsMatch(normalized));

        // Most questions have no describing word: no set is made for them (this runs on every turn).
        return describing.Count == 0 ? query
            : query with { Describing = describing.SelectMany(Analyze).Where(terms.Contains).ToHashSet(StringComparer.Ordinal) };
    }

    /// <summary>
    /// The one change made to a question before it is read: typographic apostrophes become plain ones. Everything
    /// else (case, spacing) can change how it is read (a capitalised word inside a sentence is a name, not a typo),
    /// so the answer cache keys on exactly this text.
    /// </summary>
    public static string Normalise(string question) => question.Replace('’', '\'').Replace('‘', '\'');

    /// <summary>
    /// A word seen this often in WordNet's tagged texts is real English, not a typo: "decide" is never read as "decade"
    /// (rare words still are: "prise" as "price").
    /// </summary>
    private const int CommonWord = 5;

    /// <summary>
    /// Replaces words the corpus does not know with the article word they stand for, keeping everything else: a lay form
    /// of the same root ("psychotic" for "psychosis"), else for a word that is not common English, the closest known
    /// spelling ("prise" for "price"). Words left unknown that English uses mostly to describe go to <paramref name="describing"/>.
    /// </summary>
    private static string Correct(string text, SpellingCorrector speller, Func<string, bool> stemKnown, List<Correction> corrections,
        List<string> describing)
    {
        StringBuilder? sb = null;
        var last = 0;
        using var stream = Surface.GetTokenStream("words", text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        var offset = stream.AddAttribute<IOffsetAttribute>();
        stream.Reset();
        // One delegate per question, not one per word: this runs on every turn.
        Func<string, bool> known = w => StopWords.Contains(w) || speller.IsKnown(w) || stemKnown(w);
        while (stream.IncrementToken())
        {
            var word = term.ToString();
            if (Unstretch(word, known) is { } plain)
            {
                // "soooo long", "pleeease": read as the word meant, not as a typo (nothing to report or to doubt).
                sb ??= new StringBuilder(text.Length + 8);
                sb.Append(text, last, offset.StartOffset - last).Append(plain);
                last = offset.EndOffset;
                continue;
            }

            if (known(word) || IsProperNoun(text, offset.StartOffset))
            {
                continue;
            }

            string? fix;
            if (EnglishLexicon.Default.Find(word) is { } entry)
            {
                fix = entry.Related.FirstOrDefault(r => speller.IsKnown(r) || stemKnown(r))
                    ?? (entry.Frequency < CommonWord ? speller.Correct(word) : null);
                if (fix is null && !entry.IsMostlyNoun)
                {
                    describing.Add(word);
                }
            }
            else
            {
                fix = speller.Correct(word);
            }

            if (fix is null)
            {
                continue;
            }

            sb ??= new StringBuilder(text.Length + 8);
            sb.Append(text, last, offset.StartOffset - last).Append(fix);
            last = offset.EndOffset;
            corrections.Add(new Correction(word, fix));
        }

        stream.End();
        return sb is null ? text : sb.Append(text, last, text.Length - last).ToString();
    }

    /// <summary>
    /// A word typed with a letter held down ("soooo", "pleeease") as the word meant: each run of three or more of one
    /// letter becomes two letters, or one, whichever gives a word <paramref name="known"/> accepts. Null when the
    /// word has no such run or neither reading is known.
    /// </summary>
    internal static string? Unstretch(string word, Func<string, bool> known)
    {
        if (!HasHeldDownLetter(word))
        {
            return null; // almost every word: a loop over its letters, no regular expression
        }

        foreach (var keep in (string[])["$1$1", "$1"])
        {
            var plain = Stretched().Replace(word, keep);
            if (known(plain))
            {
                return plain;
            }
        }

        return null;
    }

    /// <summary>True if one letter comes three or more times in a row (what <see cref="Stretched"/> matches).</summary>
    private static bool HasHeldDownLetter(string word)
    {
        for (var i = 2; i < word.Length; i++)
        {
            if (word[i] == word[i - 1] && word[i] == word[i - 2] && char.IsLetter(word[i]))
            {
                return true;
            }
        }

        return false;
    }

    [GeneratedRegex(@"(\p{L})\1{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex Stretched();

    /// <summary>A capitalised word that does not start a sentence ("New York") is a name: never "correct" it.</summary>
    private static bool IsProperNoun(string text, int start)
    {
        if (!char.IsUpper(text[start]))
        {
            return false;
        }

        var i = start - 1;
        while (i >= 0 && char.IsWhiteSpace(text[i]))
        {
            i--;
        }

        return i >= 0 && text[i] is not ('.' or '!' or '?' or '"' or '“' or ':');
    }

    internal static List<string> Analyze(string text)
    {
        var terms = new List<string>();
        using var stream = QueryAnalyzer.GetTokenStream(KnowledgeSnapshot.Body, text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            var t = term.ToString();
            if (!terms.Contains(t))
            {
                terms.Add(t);
            }
        }

        stream.End();
        return terms;
    }

    [GeneratedRegex(@"[,;.!?:]+|\b(?:but|just|though|although|however|anyway)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ClauseBreak();

    // Personal medical advice: doses, starting/stopping/combining medication, "is it safe for me".
    [GeneratedRegex(
        @"\bhow (much|many)\b.{0,40}\b(should|can|do|must) (i|we|he|she|they)\b.{0,20}\b(take|use|have|get|dose|give)\b" +
        @"|\b(what|which) (dose|dosage|amount)\b.{0,40}\b(i|me|my)\b" +
        @"|\bmy (dose|dosage)\b" +
        @"|\b(should|can|could|may|must|do) (i|we) (stop|quit|start|skip|take|mix|combine|increase|decrease|lower|raise|double|taper|come off|go off|drink|drive|keep taking|continue|switch)\b" +
        @"|\b(is it|would it be|will it be) (safe|ok|okay|alright|dangerous)\b.{0,20}\bfor me\b" +
        @"|\b(safe|ok|okay) for me to\b" +
        @"|\bshould i (be|get|have) (on|off)\b",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PersonalAdvice();
}
