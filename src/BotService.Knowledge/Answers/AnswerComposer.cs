using System.Globalization;
using System.Text;
using BotService.Knowledge.Indexing;
using BotService.Knowledge.Search;

namespace BotService.Knowledge.Answers;

/// <summary>
/// Turns ranked passages into the reply: the 1–3 sentences of the best passage that answer the question, then the
/// source. It adds no words of its own to the clinic's text except the source line, the personal-advice pointer and
/// the decline message.
/// </summary>
internal static class AnswerComposer
{
    private const int MaxSentences = 3;
    private const int MinWords = 30;
    private const int MaxWords = 80;
    private const int MaxPaddedUnits = 5;
    private const int ShortLines = 12;

    public const string PersonalAdviceNote =
        "I can't give personal medical advice, such as doses or changes to your own medication. " +
        "Please ask the clinic's clinicians: they can look at your situation and answer safely.";

    /// <summary>
    /// "Close in score": a passage from another topic is offered beside the best one when its confidence is within
    /// this much of the best's (both above the threshold)...
    /// </summary>
    internal const double CloseConfidence = 0.05;

    /// <summary>... and its ranking score (<see cref="Retriever.Rank"/>) within this much: neither clearly wins.</summary>
    internal const double CloseRank = 0.06;

    /// <summary>Two section headings name the same topic when the rarer-weighted half of the shorter one is shared.</summary>
    private const double SameTopicOverlap = 0.5;

    private const int MaxSuggestions = 3;

    public const string DidYouMeanIntro = "This could be about more than one thing in the clinic's articles. Did you mean:";

    /// <param name="weight">A term's rarity in the index (for telling topics apart); null turns "did you mean" off.</param>
    public static Answer Compose(InterpretedQuery query, IReadOnlyList<Candidate> candidates,
        IReadOnlyDictionary<string, double> idf, AnswerOptions options, Func<string, double>? weight = null)
    {
        var best = candidates.Count > 0 ? candidates[0] : null;
        var confidence = best is null ? 0 : Confidence(query, best);
        if (best is null || confidence < options.MinConfidence)
        {
            var decline = Decline(options);
            return new Answer(false, query.AsksPersonalAdvice ? $"{PersonalAdviceNote}\n\n{decline}" : decline,
                Math.Round(confidence, 3), [], query.Corrections, query.AsksPersonalAdvice);
        }

        if (weight is not null && !query.AsksPersonalAdvice && CloseReadings(query, candidates, options, weight) is { Count: >= 2 } readings)
        {
            return DidYouMean(query, readings, confidence);
        }

        var passage = best.Passage;
        var excerpt = Excerpt(passage, query, idf);
        var source = new AnswerSource(passage.Article.Title, passage.Article.Clinic, passage.Section, passage.Article.Path,
            passage.Article.Updated);
        var text = new StringBuilder();
        if (query.AsksPersonalAdvice)
        {
            text.Append(PersonalAdviceNote).Append("\n\nIn general, the clinic's articles say: ");
        }

        text.Append(excerpt);
        var body = text.ToString();
        text.Append("\n\n").Append(SourceLine(source));
        return new Answer(true, text.ToString(), Math.Round(confidence, 3), [source], query.Corrections, query.AsksPersonalAdvice) { Body = body };
    }

    /// <summary>
    /// How sure the bot is that the passage answers the question: the share of the question's meaning (its terms
    /// weighted by rarity) that the passage covers, lowered when words had to be corrected or the passage lacks
    /// the kind of fact asked for. See docs/quality.md for how it tracks accuracy.
    /// </summary>
    internal static double Confidence(InterpretedQuery query, Candidate best)
    {
        var c = best.Coverage;
        if (!best.HasWantedType)
        {
            c *= 0.85;
        }

        c *= Math.Max(0.75, Math.Pow(0.92, query.Corrections.Count));
        return Math.Clamp(c, 0, 1);
    }

    /// <summary>
    /// The best passage and up to two more that are close to it in confidence and ranking but under a heading about
    /// something else: the question could mean any of them. Empty when the best one clearly wins or the close ones
    /// are all on its topic (several articles saying the same thing are not a choice to put to the visitor).
    /// </summary>
    internal static List<Candidate> CloseReadings(InterpretedQuery query, IReadOnlyList<Candidate> candidates, AnswerOptions options,
        Func<string, double> weight)
    {
        var best = candidates[0];
        var bestConfidence = Confidence(query, best);
        var bestRank = Retriever.Rank(best);
        var readings = new List<Candidate> { best };
        for (var i = 1; i < candidates.Count && readings.Count < MaxSuggestions; i++)
        {
            var c = candidates[i];
            var confidence = Confidence(query, c);
            if (confidence < options.MinConfidence || bestConfidence - confidence > CloseConfidence || bestRank - Retriever.Rank(c) > CloseRank
                || c.Passage.IsReferenceList || readings.Any(r => SameTopic(r.Passage, c.Passage, weight)))
            {
                continue;
            }

            readings.Add(c);
        }

        return readings.Count >= 2 ? readings : [];
    }

    /// <summary>Whether two passages' section headings are about the same thing (the same heading, or most of the shorter one's weight shared).</summary>
    internal static bool SameTopic(Passage a, Passage b, Func<string, double> weight)
    {
        if (string.Equals(a.Section, b.Section, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var ta = QueryInterpreter.Analyze(a.Section);
        var tb = QueryInterpreter.Analyze(b.Section);
        var smaller = Math.Min(ta.Sum(weight), tb.Sum(weight));
        return smaller > 0 && ta.Intersect(tb).Sum(weight) / smaller >= SameTopicOverlap;
    }

    private static Answer DidYouMean(InterpretedQuery query, List<Candidate> readings, double confidence)
    {
        var asked = query.Text.Trim().TrimEnd('?', '!', '.', ' ');
        var suggestions = readings.Select(r => new Suggestion(
            $"{asked} – {r.Passage.Section.Trim().TrimEnd('?')}", r.Passage.Section, r.Passage.Article.Title, r.Passage.Article.Path)).ToArray();
        var text = new StringBuilder(DidYouMeanIntro);
        foreach (var r in readings)
        {
            text.Append("\n- ").Append(r.Passage.Section.Trim()).Append(" (“").Append(r.Passage.Article.Title).Append("”)");
        }

        return new Answer(false, text.ToString(), Math.Round(confidence, 3), [], query.Corrections, false) { DidYouMean = suggestions };
    }

    internal static string SourceLine(AnswerSource s)
    {
        var section = s.Section == s.Title ? string.Empty : $", section “{s.Section}”";
        return string.Create(CultureInfo.InvariantCulture,
            $"Source: “{s.Title}”{section} ({s.Clinic}; updated {s.Updated:yyyy-MM-dd}).");
    }

    internal static string Decline(AnswerOptions options) =>
        "I'm sorry, I couldn't find that in the clinic's articles, and I only answer from them. " +
        $"I can help with {options.Topics}. For anything else, {options.ClinicContact}";

    /// <summary>The window of 1–3 consecutive sentences that covers most of the question, padded if very short.</summary>
    internal static string Excerpt(Passage passage, InterpretedQuery query, IReadOnlyDictionary<string, double> idf)
    {
        var units = passage.Units;
        var bestStart = 0;
        var bestLength = 1;
        var bestScore = double.MinValue;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var start = 0; start < units.Count; start++)
        {
            seen.Clear();
            var covered = 0.0;
            var words = 0;
            var hasType = false;
            for (var length = 1; length <= MaxSentences && start + length <= units.Count; length++)
            {
                var u = units[start + length - 1];
                words += u.WordCount;
                hasType |= u.Answers(query.Wants, query.Terms);
                foreach (var t in query.Terms)
                {
                    if (u.Terms.Contains(t) && seen.Add(t))
                    {
                        covered += idf[t];
                    }
                }

                var score = covered + (hasType ? 1.0 : 0) - (0.01 * words);
                if (score > bestScore)
                {
                    bestScore = score;
                    bestStart = start;
                    bestLength = length;
                }
            }
        }

        // Pad a short excerpt with its neighbours in the section (the next sentence first: context usually follows),
        // so "$275 per infusion" or a one-line claim reads as an answer. Short lines may add up to five.
        var all = passage.SectionUnits;
        bestStart += passage.Start;
        var total = Enumerable.Range(bestStart, bestLength).Sum(i => all[i].WordCount);
        // First from the same paragraph or list item (the next sentence, then the previous one); another paragraph
        // or item only while the excerpt is still very short ("$275 per infusion").
        foreach (var crossBlocks in (bool[])[false, true])
        {
            bool Fits(int i) => total + all[i].WordCount <= MaxWords &&
                (crossBlocks ? total < ShortLines : all[i].Block == all[bestStart].Block && all[i].Block == all[bestStart + bestLength - 1].Block);
            while (total < MinWords && bestLength < MaxPaddedUnits)
            {
                var next = bestStart + bestLength;
                if (next < all.Count && Fits(next))
                {
                    total += all[next].WordCount;
                    bestLength++;
                }
                else if (bestStart > 0 && Fits(bestStart - 1))
                {
                    bestStart--;
                    bestLength++;
                    total += all[bestStart].WordCount;
                }
                else
                {
                    break;
                }

                if (bestLength >= MaxSentences && total > ShortLines)
                {
                    break;
                }
            }
        }

        var sb = new StringBuilder();
        for (var i = bestStart; i < bestStart + bestLength; i++)
        {
            if (sb.Length > 0)
            {
                sb.Append(' ');
            }

            var text = all[i].Text;
            sb.Append(text);
            if (!EndsSentence(text))
            {
                sb.Append('.');
            }
        }

        return sb.ToString();
    }

    private static bool EndsSentence(string s) => s.Length > 0 && s[^1] is '.' or '!' or '?' or ':' or ')' or '"' or '”' or '…';
}
