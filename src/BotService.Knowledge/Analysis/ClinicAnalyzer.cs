using Lucene.Net.Analysis;
using Lucene.Net.Analysis.Core;
using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.Miscellaneous;
using Lucene.Net.Analysis.Standard;
using Lucene.Net.Analysis.Synonym;
using Lucene.Net.Util;

namespace BotService.Knowledge.Analysis;

/// <summary>
/// The English chain for articles and questions. Articles are indexed with the clinic's synonyms expanded in place
/// (so a question that says "cost" finds a passage that says "fee"); questions are analysed without them, so a
/// question term is scored once. See docs/decisions/0003-analysis-chain.md.
/// </summary>
internal sealed class ClinicAnalyzer(SynonymMap? synonyms) : Analyzer
{
    internal const LuceneVersion Version = LuceneVersion.LUCENE_48;

    /// <summary>Analyser for questions: same chain, no synonym expansion.</summary>
    public static ClinicAnalyzer ForQueries() => new(null);

    protected override TokenStreamComponents CreateComponents(string fieldName, TextReader reader)
    {
        var source = new StandardTokenizer(Version, reader);
        TokenStream chain = new EnglishPossessiveFilter(Version, source);   // "ketamine's" -> "ketamine"
        chain = new ASCIIFoldingFilter(chain);                              // "naïve" -> "naive"
        chain = new LowerCaseFilter(Version, chain);
        if (synonyms is not null)
        {
            chain = new SynonymFilter(chain, synonyms, ignoreCase: true);  // fee -> fee, price, cost, ...
        }

        chain = new StopFilter(Version, chain, StopWords.Set);
        chain = new PorterStemFilter(chain);                                // "infusions" -> "infus"
        return new TokenStreamComponents(source, chain);
    }
}

/// <summary>
/// Surface words, lower-cased and unstemmed: the "words" field that the typo corrector reads its vocabulary from,
/// and the tokenizer that synonym entries are parsed with.
/// </summary>
internal sealed class SurfaceAnalyzer : Analyzer
{
    protected override TokenStreamComponents CreateComponents(string fieldName, TextReader reader)
    {
        var source = new StandardTokenizer(ClinicAnalyzer.Version, reader);
        TokenStream chain = new EnglishPossessiveFilter(ClinicAnalyzer.Version, source);
        chain = new ASCIIFoldingFilter(chain);
        chain = new LowerCaseFilter(ClinicAnalyzer.Version, chain);
        return new TokenStreamComponents(source, chain);
    }
}
