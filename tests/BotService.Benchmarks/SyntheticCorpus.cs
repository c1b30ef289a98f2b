using System.Globalization;
using System.Text;
using BotService.Knowledge.Articles;

namespace BotService.Benchmarks;

/// <summary>
/// A deterministic synthetic corpus of clinic-like articles, for measuring how building and answering scale.
/// </summary>
/// <remarks>
/// <para>Shape: each article has 3–6 <c>##</c> sections of 3–6 paragraphs of 2–5 sentences (6–22 words each), about
/// a thousand words an article, like the real ones. Roughly one sentence in thirty carries a price, a duration, a
/// percentage or a timeframe, so the answer-type detectors see the kinds of fact real articles hold.</para>
/// <para>Vocabulary: each word is either drawn from the real articles' running text (so the real articles' word
/// frequencies, stop words and topic words such as "ketamine" and "infusion" come with it; each article draws between
/// 30% and 70% of its words this way) or is a pseudo-word. Pseudo-words follow a Zipf–Mandelbrot law (frequency ∝
/// 1/(rank + <see cref="ZipfOffset"/>)) over a
/// core vocabulary of <see cref="CoreVocabulary"/> words, continued into a long tail of rare words up to rank
/// <see cref="TailVocabulary"/> (<see cref="TailShare"/> of pseudo-words), so the term dictionary keeps growing with
/// the corpus as a real one does (Heaps' law), and postings of common words grow linearly.</para>
/// <para>Article <c>i</c> is generated from its own seed, so a smaller corpus is a prefix of a larger one and the same
/// count always gives the same articles.</para>
/// </remarks>
internal sealed class SyntheticCorpus
{
    public const int DefaultSeed = 20_240_917;
    public const int CoreVocabulary = 4_000;
    public const int TailVocabulary = 400_000;
    public const double TailShare = 0.03;

    /// <summary>
    /// Zipf–Mandelbrot offset: frequency ∝ 1/(rank + offset). The real words mixed in already bring the function words
    /// ("the", "of"), so the pseudo-words stand for content words, whose head is flatter than pure Zipf: with 10 the
    /// commonest pseudo-word is about 1.6% of pseudo-words (under 1% of all words), as "ketamine" is in the real articles.
    /// </summary>
    public const double ZipfOffset = 10;

    // Syllables for pseudo-words: 27 onsets × 9 nuclei × 9 codas = 2,187 syllables.
    private static readonly string[] Onsets =
        ["b", "br", "c", "ch", "d", "dr", "f", "g", "gl", "h", "j", "k", "l", "m", "n", "p", "pl", "qu", "r", "s", "sh", "st", "t", "tr", "v", "w", "z"];

    private static readonly string[] Nuclei = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"];
    private static readonly string[] Codas = ["", "n", "r", "s", "l", "m", "x", "nd", "st"];
    private static readonly int SyllableCount = Onsets.Length * Nuclei.Length * Codas.Length;

    private static readonly string[] Clinics = ["IPC", "Klarity Clinic", "Ketamine Wellness Centers", "Nushama"];
    private static readonly string[] Tags = ["ptsd", "ketamine", "kap", "evidence", "infusion", "insurance", "safety", "pricing", "depression"];

    private readonly int _seed;
    private readonly string[] _realWords;
    private readonly double[] _coreCumulative;
    private readonly string[] _coreWords;

    public SyntheticCorpus(IReadOnlyList<Article> realArticles, int seed = DefaultSeed)
    {
        ArgumentNullException.ThrowIfNull(realArticles);
        _seed = seed;
        _realWords = RunningWords(realArticles);
        if (_realWords.Length == 0)
        {
            throw new ArgumentException("The real articles hold no words to mix in.", nameof(realArticles));
        }

        _coreWords = new string[CoreVocabulary];
        _coreCumulative = new double[CoreVocabulary];
        var sum = 0.0;
        for (var rank = 0; rank < CoreVocabulary; rank++)
        {
            _coreWords[rank] = PseudoWord(rank);
            sum += 1.0 / (rank + ZipfOffset);
            _coreCumulative[rank] = sum;
        }

        for (var rank = 0; rank < CoreVocabulary; rank++)
        {
            _coreCumulative[rank] /= sum;
        }
    }

    /// <summary>How many words the real articles contributed to the mix (running words, with repeats).</summary>
    public int RealWordCount => _realWords.Length;

    /// <summary>The pseudo-word of a Zipf rank (0 is the commonest). The same rank always gives the same word.</summary>
    public static string PseudoWord(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);

        // Scramble the rank (multiplying by a constant coprime to 3 is a bijection modulo 2187^n = 3^7n) so
        // neighbouring ranks do not look alike, then spell it in base-2187 syllables: two for the core vocabulary,
        // three for the tail.
        var syllables = rank < CoreVocabulary ? 2 : 3;
        var space = (long)Math.Pow(SyllableCount, syllables);
        var value = (long)((ulong)(rank + 1) * 0x9E3779B1UL % (ulong)space);
        var sb = new StringBuilder(12);
        for (var i = 0; i < syllables; i++)
        {
            var s = (int)(value % SyllableCount);
            value /= SyllableCount;
            sb.Append(Onsets[s % Onsets.Length])
                .Append(Nuclei[s / Onsets.Length % Nuclei.Length])
                .Append(Codas[s / (Onsets.Length * Nuclei.Length)]);
        }

        return sb.ToString();
    }

    /// <summary>The first <paramref name="count"/> articles of the corpus.</summary>
    public IReadOnlyList<Article> Generate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var articles = new Article[count];
        for (var i = 0; i < count; i++)
        {
            articles[i] = Article(i);
        }

        return articles;
    }

    private Article Article(int index)
    {
        var random = new Random(unchecked((_seed * 1_000_003) + index));
        var realShare = 0.3 + (0.4 * random.NextDouble());
        var sections = new ArticleSection[random.Next(3, 7)];
        for (var s = 0; s < sections.Length; s++)
        {
            var paragraphs = new string[random.Next(3, 7)];
            for (var p = 0; p < paragraphs.Length; p++)
            {
                paragraphs[p] = Paragraph(random, realShare);
            }

            sections[s] = new ArticleSection(Heading(random, realShare, random.Next(2, 6)), paragraphs);
        }

        var tags = Enumerable.Range(0, random.Next(2, 5)).Select(_ => Tags[random.Next(Tags.Length)]).Distinct().ToArray();
        return new Article(
            Path: string.Create(CultureInfo.InvariantCulture, $"synthetic/article-{index:D5}.md"),
            Title: Heading(random, realShare, random.Next(3, 8)),
            Clinic: Clinics[random.Next(Clinics.Length)],
            Audience: random.NextDouble() < 0.9 ? Audience.Public : Audience.Staff,
            Source: null,
            Updated: new DateOnly(2024, 1, 1).AddDays(random.Next(700)),
            Tags: tags,
            Sections: sections);
    }

    private string Paragraph(Random random, double realShare)
    {
        var sb = new StringBuilder(512);
        var sentences = random.Next(2, 6);
        for (var i = 0; i < sentences; i++)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            Sentence(sb, random, realShare);
        }

        return sb.ToString();
    }

    private void Sentence(StringBuilder sb, Random random, double realShare)
    {
        var words = random.Next(6, 23);
        var factAt = random.NextDouble() < 1.0 / 30 ? random.Next(words) : -1;
        for (var w = 0; w < words; w++)
        {
            if (w > 0)
            {
                sb.Append(random.NextDouble() < 0.06 ? ", " : " ");
            }

            var word = w == factAt ? Fact(random) : Word(random, realShare);
            if (w == 0)
            {
                sb.Append(char.ToUpperInvariant(word[0])).Append(word, 1, word.Length - 1);
            }
            else
            {
                sb.Append(word);
            }
        }

        sb.Append(random.NextDouble() < 0.05 ? '?' : '.');
    }

    private string Heading(Random random, double realShare, int words)
    {
        var parts = new string[words];
        for (var i = 0; i < words; i++)
        {
            var word = Word(random, realShare);
            parts[i] = char.ToUpperInvariant(word[0]) + word[1..];
        }

        return string.Join(' ', parts);
    }

    private string Word(Random random, double realShare)
    {
        if (random.NextDouble() < realShare)
        {
            return _realWords[random.Next(_realWords.Length)];
        }

        if (random.NextDouble() < TailShare)
        {
            // Zipf continued past the core: density ∝ 1/rank is a log-uniform draw.
            var rank = (int)(CoreVocabulary * Math.Exp(random.NextDouble() * Math.Log((double)TailVocabulary / CoreVocabulary)));
            return PseudoWord(Math.Min(rank, TailVocabulary - 1));
        }

        var i = Array.BinarySearch(_coreCumulative, random.NextDouble());
        return _coreWords[Math.Min(i < 0 ? ~i : i, CoreVocabulary - 1)];
    }

    private static string Fact(Random random) => random.Next(4) switch
    {
        0 => string.Create(CultureInfo.InvariantCulture, $"${random.Next(1, 20) * 50}"),
        1 => string.Create(CultureInfo.InvariantCulture, $"{random.Next(1, 13) * 10} minutes"),
        2 => string.Create(CultureInfo.InvariantCulture, $"{random.Next(1, 100)} percent"),
        _ => string.Create(CultureInfo.InvariantCulture, $"within {random.Next(1, 9)} weeks"),
    };

    /// <summary>The real articles' running words, trimmed of punctuation, in order (so frequencies carry over).</summary>
    private static string[] RunningWords(IReadOnlyList<Article> articles)
    {
        var words = new List<string>();
        foreach (var article in articles)
        {
            foreach (var section in article.Sections)
            {
                foreach (var block in section.Blocks)
                {
                    foreach (var raw in block.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var word = raw.Trim('.', ',', ';', ':', '!', '?', '"', '“', '”', '(', ')', '[', ']', '*', '‘', '’', '\'');
                        if (word.Length > 0 && word.Any(char.IsLetter))
                        {
                            words.Add(word);
                        }
                    }
                }
            }
        }

        return [.. words];
    }
}
