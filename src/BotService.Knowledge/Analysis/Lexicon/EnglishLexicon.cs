using System.IO.Compression;
using System.Text;

namespace BotService.Knowledge.Analysis;

/// <summary>What the English lexicon says about a word a question uses (see <see cref="EnglishLexicon"/>).</summary>
/// <param name="Lemma">The dictionary form found ("eyes" -> "eye").</param>
/// <param name="PartsOfSpeech">The word's parts of speech, the commonest first: n(oun), v(erb), a(djective), r (adverb).</param>
/// <param name="Frequency">How often the word was seen in WordNet's sense-tagged texts: 0 for rare words, ~100 for "decide".</param>
/// <param name="Related">Words of the same root in WordNet's order of senses ("psychotic" -> "psychosis").</param>
internal sealed record LexiconEntry(string Lemma, string PartsOfSpeech, int Frequency, IReadOnlyList<string> Related)
{
    /// <summary>A noun names a thing the question is about; a word that is mostly something else describes or links.</summary>
    public bool IsMostlyNoun => PartsOfSpeech.Length > 0 && PartsOfSpeech[0] == 'n';
}

/// <summary>
/// General English, for the words of a question that the clinic's articles do not use: its part of speech, how common
/// it is, and the words of the same root. Built from WordNet 3.1 (Princeton University; licence in WORDNET-LICENSE) by
/// make-lexicon.py, one line per single-word lemma: <c>lemma TAB parts-of-speech TAB frequency TAB related,...</c>,
/// sorted by ordinal order. Held as one UTF-8 buffer with line offsets (~2 MB) and searched by bisection; loaded on
/// first use. See docs/decisions/0028-english-lexicon-for-unknown-words.md.
/// </summary>
internal sealed class EnglishLexicon
{
    private static readonly Lazy<EnglishLexicon> Shared = new(Load);

    private readonly byte[] _text;
    private readonly int[] _lines;

    private EnglishLexicon(byte[] text)
    {
        _text = text;
        var starts = new List<int>(90_000) { 0 };
        for (var i = 0; i < text.Length - 1; i++)
        {
            if (text[i] == (byte)'\n')
            {
                starts.Add(i + 1);
            }
        }

        _lines = [.. starts];
    }

    public static EnglishLexicon Default => Shared.Value;

    public int Count => _lines.Length;

    /// <summary>The entry for a word or, failing that, for its dictionary form under the regular English endings.</summary>
    public LexiconEntry? Find(string word)
    {
        foreach (var form in Forms(word.ToLowerInvariant()))
        {
            if (Line(form) is { } line)
            {
                return Parse(line);
            }
        }

        return null;
    }

    /// <summary>WordNet's "morphy" detachment rules for nouns, verbs and adjectives, plus "-ied", "-ier" and "-iest".</summary>
    private static readonly (string Suffix, string Ending)[] Endings =
    [
        ("ies", "y"), ("ied", "y"), ("ier", "y"), ("iest", "y"), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
        ("shes", "sh"), ("men", "man"), ("es", "e"), ("es", ""), ("s", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""),
        ("er", "e"), ("er", ""), ("est", "e"), ("est", ""),
    ];

    /// <summary>The word itself, then what it could be with an ending taken off (<see cref="Endings"/>, plus doubled consonants).</summary>
    internal static IEnumerable<string> Forms(string w)
    {
        yield return w;
        foreach (var (suffix, ending) in Endings)
        {
            if (w.Length > suffix.Length + 2 && w.EndsWith(suffix, StringComparison.Ordinal))
            {
                var stem = w[..^suffix.Length];
                yield return stem + ending;
                // "cutting" -> "cut", "bigger" -> "big"
                if (ending.Length == 0 && stem.Length > 2 && stem[^1] == stem[^2] && "aeiou".IndexOf(stem[^1]) < 0)
                {
                    yield return stem[..^1];
                }
            }
        }
    }

    private ReadOnlySpan<byte> LineAt(int i)
    {
        var end = i + 1 < _lines.Length ? _lines[i + 1] : _text.Length;
        var line = _text.AsSpan(_lines[i], end - _lines[i]);
        return line.EndsWith((byte)'\n') ? line[..^1] : line;
    }

    private string? Line(string word)
    {
        Span<byte> key = stackalloc byte[Encoding.UTF8.GetMaxByteCount(word.Length)];
        key = key[..Encoding.UTF8.GetBytes(word, key)];
        int lo = 0, hi = _lines.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var line = LineAt(mid);
            var tab = line.IndexOf((byte)'\t');
            var lemma = tab < 0 ? line : line[..tab];
            var c = lemma.SequenceCompareTo(key);
            if (c == 0)
            {
                return Encoding.UTF8.GetString(line);
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return null;
    }

    private static LexiconEntry Parse(string line)
    {
        var f = line.Split('\t');
        return new LexiconEntry(f[0], f.Length > 1 ? f[1] : string.Empty,
            f.Length > 2 && int.TryParse(f[2], out var n) ? n : 0,
            f.Length > 3 && f[3].Length > 0 ? f[3].Split(',') : []);
    }

    private static EnglishLexicon Load()
    {
        using var resource = typeof(EnglishLexicon).Assembly.GetManifestResourceStream("BotService.Knowledge.english-lexicon.tsv.gz")
            ?? throw new InvalidOperationException("The English lexicon resource is missing from the assembly.");
        using var gzip = new GZipStream(resource, CompressionMode.Decompress);
        using var buffer = new MemoryStream(1_500_000);
        gzip.CopyTo(buffer);
        return new EnglishLexicon(buffer.ToArray());
    }
}
