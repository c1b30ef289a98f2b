using BotService.Knowledge.Analysis;
using BotService.Knowledge.Articles;
using Lucene.Net.Analysis.Synonym;

namespace BotService.Knowledge;

/// <summary>What was read from a knowledge folder: the articles that parsed, the synonyms, and every problem found.</summary>
public sealed class KnowledgeSource
{
    public const string SynonymsFileName = "synonyms.txt";

    internal KnowledgeSource(IReadOnlyList<Article> articles, SynonymMap? synonyms, IReadOnlySet<string> synonymWords,
        IReadOnlyList<KnowledgeProblem> problems)
    {
        Articles = articles;
        Synonyms = synonyms;
        SynonymWords = synonymWords;
        Problems = problems;
    }

    public IReadOnlyList<Article> Articles { get; }

    public IReadOnlyList<KnowledgeProblem> Problems { get; }

    internal SynonymMap? Synonyms { get; }

    internal IReadOnlySet<string> SynonymWords { get; }

    /// <summary>
    /// Reads every <c>*.md</c> under <paramref name="root"/> (except README.md files) and <c>synonyms.txt</c>.
    /// A malformed file is reported and skipped; the rest still load.
    /// </summary>
    public static KnowledgeSource Load(string root)
    {
        var problems = new List<KnowledgeProblem>();
        var articles = new List<Article>();
        if (!Directory.Exists(root))
        {
            problems.Add(new(root, 0, "the knowledge folder does not exist"));
            return new KnowledgeSource(articles, null, new HashSet<string>(), problems);
        }

        var files = Directory.EnumerateFiles(root, "*.md", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Equals("README.md", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (IOException e)
            {
                problems.Add(new(relative, 0, $"could not be read: {e.Message}"));
                continue;
            }
            catch (UnauthorizedAccessException e)
            {
                problems.Add(new(relative, 0, $"could not be read: {e.Message}"));
                continue;
            }

            if (ArticleParser.Parse(relative, text, problems) is { } article)
            {
                articles.Add(article);
            }
        }

        var synonymsPath = Path.Combine(root, SynonymsFileName);
        var synonyms = File.Exists(synonymsPath)
            ? SynonymsFile.Parse(SynonymsFileName, File.ReadAllText(synonymsPath), problems)
            : new SynonymsFile.Result(null, new HashSet<string>());
        return new KnowledgeSource(articles, synonyms.Map, synonyms.Words, problems);
    }

    /// <summary>Builds a source from articles in memory (tests and benchmarks).</summary>
    public static KnowledgeSource FromArticles(IReadOnlyList<Article> articles, string? synonymsText = null)
    {
        var problems = new List<KnowledgeProblem>();
        var synonyms = synonymsText is null
            ? new SynonymsFile.Result(null, new HashSet<string>())
            : SynonymsFile.Parse(SynonymsFileName, synonymsText, problems);
        return new KnowledgeSource(articles, synonyms.Map, synonyms.Words, problems);
    }
}
