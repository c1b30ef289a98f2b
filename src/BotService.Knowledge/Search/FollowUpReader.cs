using System.Text.RegularExpressions;
using BotService.Knowledge.Indexing;

namespace BotService.Knowledge.Search;

/// <summary>
/// How a message stands on its own: whether it names a subject of its own (content words), only asks about an aspect
/// of something ("how much", "how long does it last", "is it safe"), refers back ("it", "they", "that") or continues the
/// last question ("and the price?", "what about for veterans?").
/// </summary>
/// <param name="HasContent">It names a subject: a self-sufficient question on it replaces the conversation's topic.</param>
/// <param name="NeedsContext">Too vague alone: read it with the conversation's recent topic, if there is one.</param>
/// <param name="Core">The message without its closing punctuation, to which a topic's words are added.</param>
/// <param name="About">The message's own subject in the visitor's words ("ketamine-assisted psychotherapy"), or null.</param>
/// <param name="MayNeedContext">It refers back ("is it FDA approved?") but also names something specific: it may
/// be about the topic or stand alone, so both readings are tried.</param>
internal sealed record FollowUpReading(bool HasContent, bool NeedsContext, string Core, string? About, bool MayNeedContext = false);

internal static partial class FollowUpReader
{
    /// <summary>
    /// A referring message ("does it help with sleep?") names a subject of its own only if its content words weigh at
    /// least this much (BM25 idf summed): "nightmares" does, a word in half the passages ("ketamine") does not.
    /// </summary>
    internal const double SpecificWeight = 2.5;

    private const int MaxAboutWords = 6;

    // Words that join a subject's parts but never start or end one: "(the difference) between ketamine and MDMA".
    private static readonly HashSet<string> Connectives = new(["between", "versus", "vs", "via", "per"], StringComparer.OrdinalIgnoreCase);

    // Words that ask about an aspect of a subject rather than name one: the answer-type cues ("cost", "long", "last")
    // and the usual questions about any treatment (is it safe, does it work, what are the side effects, what to expect).
    private static readonly HashSet<string> AspectTerms = new(
        AnswerTypeDetector.CueTerms.Concat(
            "safe safety risk risks risky danger dangerous side effect effects work works working effective effectiveness help helps helpful benefit benefits success successful result results expect happen happens need needed require required start begin often worth different difference differ compare compared comparison better worse same"
                .Split(' ').SelectMany(QueryInterpreter.Analyze)),
        StringComparer.Ordinal);

    /// <param name="normalised">The message after <see cref="QueryInterpreter.Normalise"/>.</param>
    /// <param name="weight">A term's rarity (BM25 idf) in the current index.</param>
    public static FollowUpReading Read(string normalised, Func<string, double> weight)
    {
        var core = normalised.Trim().TrimEnd('?', '!', '.', ',', ';', ':', ' ', '…').Trim();
        var terms = QueryInterpreter.Analyze(core);
        var content = terms.Where(t => !AspectTerms.Contains(t)).ToList();
        var asksAspect = content.Count < terms.Count;
        var referring = Referring().IsMatch(core);
        var continuing = Continuing().IsMatch(core);
        var specific = content.Sum(weight) >= SpecificWeight;
        var wants = AnswerTypeDetector.InQuestion(core);
        var needsContext = (content.Count == 0 && (asksAspect || referring || wants != AnswerTypes.None))
                           || (continuing && terms.Count > 0)
                           || (referring && !specific);
        if (terms.Count == 0 && AnswerTypeDetector.CueFor(wants) is { } cue)
        {
            // "how much is it?" asks for a price in words that are all stop words: name the kind of fact, so the
            // reading with the topic looks for it ("how much is it cost KAP") instead of for the topic alone, and
            // alone it finds prices rather than nothing.
            core = $"{core} {cue}";
        }

        return new FollowUpReading(content.Count > 0, needsContext, core, content.Count > 0 ? Subject(core) : null,
            !needsContext && referring && specific);
    }

    /// <summary>
    /// The message's subject in the visitor's own words: from its first content word to its last ("ketamine for PTSD"),
    /// or the content words alone when that span is long.
    /// </summary>
    private static string? Subject(string core)
    {
        var words = Word().Matches(core)
            .Where(m => !Connectives.Contains(m.Value) && QueryInterpreter.Analyze(m.Value).Any(t => !AspectTerms.Contains(t)))
            .ToList();
        if (words.Count == 0)
        {
            return null;
        }

        var first = words[0];
        var last = words[^1];
        var span = core[first.Index..(last.Index + last.Length)];
        return Word().Count(span) <= MaxAboutWords ? span : string.Join(' ', words.Take(MaxAboutWords).Select(w => w.Value));
    }

    [GeneratedRegex(@"\b(it|its|it's|itself|they|them|their|theirs|this|that|these|those)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Referring();

    // A message that carries on from the last one: "and the price?", "what about for veterans?", "for veterans?",
    // "compared to SSRIs?", "also the side effects".
    [GeneratedRegex(@"^\W*(and|or|also|plus|but|so|then|what about|how about|same|for|with|without|in|on|after|before|during|compared|vs|versus)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Continuing();

    [GeneratedRegex(@"[\p{L}\p{N}][\p{L}\p{N}'\-]*", RegexOptions.CultureInvariant)]
    private static partial Regex Word();
}
