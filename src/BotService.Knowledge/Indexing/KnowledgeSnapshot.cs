using BotService.Knowledge.Analysis;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Knowledge.Search;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.Miscellaneous;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Search.Similarities;
using Lucene.Net.Store;
using Lucene.Net.Util;

namespace BotService.Knowledge.Indexing;

/// <summary>
/// One immutable generation of the knowledge: the Lucene index of passages (in memory: it is rebuilt from
/// <c>knowledge/</c> in milliseconds, so there is nothing on disk to go stale or corrupt), the passages themselves,
/// and the typo corrector's vocabulary. Requests hold a reference while they search; a reload swaps in a new
/// snapshot and the old one closes when its last request lets go.
/// </summary>
internal sealed class KnowledgeSnapshot : IDisposable
{
    internal const string Body = "body";
    internal const string Section = "section";
    internal const string Title = "title";
    internal const string Words = "words";
    internal const string AudienceField = "audience";
    internal const string AnswerType = "atype";
    internal const string PassageId = "pid";

    private static readonly FieldType WordsFieldType = CreateWordsFieldType();

    private readonly RAMDirectory _directory;
    private readonly DirectoryReader _reader;

    private KnowledgeSnapshot(long generation, KnowledgeSource source, RAMDirectory directory, DirectoryReader reader,
        Passage[] passages, int[] docToPassage, SpellingCorrector speller, int answerCacheCapacity)
    {
        Generation = generation;
        Source = source;
        _directory = directory;
        _reader = reader;
        Passages = passages;
        DocToPassage = docToPassage;
        Speller = speller;
        Searcher = new IndexSearcher(reader) { Similarity = Similarity };
        PublicOnly = new BitSetCachingFilter(new QueryWrapperFilter(new TermQuery(new Term(AudienceField, "public"))));
        DocumentCount = reader.NumDocs;
        Answers = new AnswerCache(answerCacheCapacity);
    }

    /// <summary>How many answers a snapshot keeps for repeated questions unless told otherwise.</summary>
    public const int DefaultAnswerCacheCapacity = 1024;

    internal static Similarity Similarity { get; } = new BM25Similarity();

    public long Generation { get; }

    public KnowledgeSource Source { get; }

    public IndexSearcher Searcher { get; }

    public Filter PublicOnly { get; }

    public Passage[] Passages { get; }

    public int[] DocToPassage { get; }

    public SpellingCorrector Speller { get; }

    public int DocumentCount { get; }

    /// <summary>The answers this snapshot has given, for repeated questions; it goes when the snapshot does.</summary>
    public AnswerCache Answers { get; }

    public static KnowledgeSnapshot Build(KnowledgeSource source, long generation, int answerCacheCapacity = DefaultAnswerCacheCapacity)
    {
        var indexAnalyzer = new ClinicAnalyzer(source.Synonyms);
        var passages = new PassageBuilder(indexAnalyzer).Build(source.Articles).ToArray();
        var analyzer = new PerFieldAnalyzerWrapper(indexAnalyzer, new Dictionary<string, Analyzer> { [Words] = new SurfaceAnalyzer() });
        var directory = new RAMDirectory();
        var config = new IndexWriterConfig(ClinicAnalyzer.Version, analyzer)
        {
            OpenMode = OpenMode.CREATE,
            Similarity = Similarity,
            RAMBufferSizeMB = 64,
        };
        using (var writer = new IndexWriter(directory, config))
        {
            foreach (var p in passages)
            {
                writer.AddDocument(ToDocument(p));
            }

            writer.ForceMerge(1);
            writer.Commit();
        }

        var reader = DirectoryReader.Open(directory);
        var docToPassage = new int[reader.MaxDoc];
        var ids = MultiDocValues.GetNumericValues(reader, PassageId);
        for (var doc = 0; doc < docToPassage.Length; doc++)
        {
            docToPassage[doc] = ids is null ? doc : (int)ids.Get(doc);
        }

        var speller = new SpellingCorrector(Vocabulary(reader, source.SynonymWords));
        return new KnowledgeSnapshot(generation, source, directory, reader, passages, docToPassage, speller, answerCacheCapacity);
    }

    /// <summary>Takes a reference for one request; false if this snapshot has already closed.</summary>
    public bool TryAcquire() => _reader.TryIncRef();

    public void Release() => _reader.DecRef();

    /// <summary>Drops the owner's reference; the index closes once no request holds it.</summary>
    public void Dispose() => _reader.DecRef();

    internal int DocFreq(string term) => _reader.DocFreq(new Term(Body, term));

    /// <summary>True if some passage holds the word's analysed form ("rate" for "rates").</summary>
    internal bool StemKnown(string word)
    {
        var terms = QueryInterpreter.Analyze(word);
        return terms.Count == 1 && DocFreq(terms[0]) > 0;
    }

    private static Document ToDocument(Passage p)
    {
        var doc = new Document
        {
            new TextField(Body, p.Text, Field.Store.NO),
            new TextField(Section, p.Section, Field.Store.NO),
            new TextField(Title, p.Article.Title, Field.Store.NO),
            new Field(Words, $"{p.Article.Title} {p.Section} {p.Text}", WordsFieldType),
            new StringField(AudienceField, p.Article.Audience == Audience.Public ? "public" : "staff", Field.Store.NO),
            new NumericDocValuesField(PassageId, p.Id),
        };
        foreach (var t in AnswerTypeDetector.All)
        {
            if (p.Types.HasFlag(t))
            {
                doc.Add(new StringField(AnswerType, AnswerTypeDetector.FieldValue(t), Field.Store.NO));
            }
        }

        return doc;
    }

    /// <summary>Surface words and their document frequencies, read from the index's term dictionary.</summary>
    private static IEnumerable<KeyValuePair<string, int>> Vocabulary(IndexReader reader, IReadOnlySet<string> synonymWords)
    {
        var terms = MultiFields.GetTerms(reader, Words);
        if (terms is not null)
        {
            var e = terms.GetEnumerator();
            while (e.MoveNext())
            {
                yield return new(e.Term.Utf8ToString(), e.DocFreq);
            }
        }

        foreach (var w in synonymWords)
        {
            yield return new(w, 1);
        }
    }

    private static FieldType CreateWordsFieldType()
    {
        var type = new FieldType
        {
            IsIndexed = true,
            IsTokenized = true,
            IsStored = false,
            OmitNorms = true,
            IndexOptions = IndexOptions.DOCS_ONLY,
        };
        type.Freeze();
        return type;
    }
}

/// <summary>
/// Caches a filter per segment as a random-access <see cref="FixedBitSet"/> (Lucene's default cache compresses it,
/// which forces the slower in-order scorer): the audience filter applies to every question.
/// </summary>
internal sealed class BitSetCachingFilter(Filter inner) : CachingWrapperFilter(inner)
{
    protected override DocIdSet CacheImpl(DocIdSetIterator iterator, AtomicReader reader)
    {
        var bits = new FixedBitSet(reader.MaxDoc);
        bits.Or(iterator);
        return bits;
    }
}
