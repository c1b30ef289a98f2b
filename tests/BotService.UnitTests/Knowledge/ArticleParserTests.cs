using BotService.Knowledge;
using BotService.Knowledge.Articles;

namespace BotService.UnitTests.Knowledge;

public sealed class ArticleParserTests
{
    private const string Valid = """
        ---
        title: "Ketamine for PTSD"
        clinic: "Example Clinic"
        audience: public
        source: "knowledge-source/x.txt"
        updated: 2026-11-23
        tags: [ptsd, pricing]
        ---

        Intro text before any heading.

        ## Pricing

        $275 per infusion.

        - Waived intake fee
        - (45 minute session)

        ### Insurance

        We do not take insurance.
        """;

    [Fact]
    public void Parse_ValidArticle_ReadsFrontMatterAndSections()
    {
        // Arrange
        var problems = new List<KnowledgeProblem>();

        // Act
        var article = ArticleParser.Parse("articles/x.md", Valid, problems);

        // Assert
        Assert.Empty(problems);
        Assert.NotNull(article);
        Assert.Equal("Ketamine for PTSD", article.Title);
        Assert.Equal("Example Clinic", article.Clinic);
        Assert.Equal(Audience.Public, article.Audience);
        Assert.Equal(new DateOnly(2026, 11, 23), article.Updated);
        Assert.Equal(["ptsd", "pricing"], article.Tags);
        Assert.Equal(["", "Pricing", "Pricing: Insurance"], article.Sections.Select(s => s.Heading));
        Assert.Equal(["$275 per infusion.", "Waived intake fee", "(45 minute session)"], article.Sections[1].Blocks);
    }

    [Theory]
    [InlineData("no front matter\n\nbody", 1, "must start with a '---'")]
    [InlineData("---\ntitle: x\n\nbody", 1, "not closed")]
    [InlineData("---\ntitle: \"x\"\nclinic: c\naudience: everyone\nupdated: 2026-01-01\n---\nbody", 4, "unknown audience 'everyone'")]
    [InlineData("---\ntitle: \"x\"\nclinic: c\naudience: public\nupdated: 23/11/2026\n---\nbody", 5, "YYYY-MM-DD")]
    [InlineData("---\ntitle: \"x\"\naudience: public\nupdated: 2026-01-01\n---\nbody", 2, "needs 'clinic'")]
    [InlineData("---\ntitle: \"x\"\nclinic: c\naudience: public\nupdated: 2026-01-01\n---\n\n   \n", 7, "no body text")]
    [InlineData("---\ntitle: \"x\"\nclinic: c\naudiance: public\nupdated: 2026-01-01\n---\nbody", 4, "front matter is not valid")]
    [InlineData("---\ntitle: [unclosed\nclinic: c\n---\nbody", 2, "front matter is not valid")]
    public void Parse_MalformedFile_ReportsPathLineAndReason(string text, int line, string reason)
    {
        // Arrange
        var problems = new List<KnowledgeProblem>();

        // Act
        var article = ArticleParser.Parse("articles/bad.md", text, problems);

        // Assert
        Assert.Null(article);
        var problem = Assert.Single(problems);
        Assert.Equal("articles/bad.md", problem.Path);
        Assert.Equal(line, problem.Line);
        Assert.Contains(reason, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_FolderWithOneBrokenFile_LoadsTheRestAndReportsTheBrokenOne()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("articles/good.md", Valid);
        folder.Write("articles/broken.md", "---\ntitle: \"x\"\nclinic: c\naudience: nobody\nupdated: 2026-01-01\n---\nbody");
        folder.Write("README.md", "# not an article");

        // Act
        var source = KnowledgeSource.Load(folder.Path);

        // Assert
        Assert.Equal(["articles/good.md"], source.Articles.Select(a => a.Path));
        var problem = Assert.Single(source.Problems);
        Assert.Equal("articles/broken.md:4: unknown audience 'nobody': use 'public' or 'staff'", problem.ToString());
    }

    [Fact]
    public void Load_RepositoryKnowledge_HasEveryArticleAndNoProblems()
    {
        var source = KnowledgeSource.Load(RepoPaths.Knowledge);

        Assert.Empty(source.Problems);
        Assert.True(source.Articles.Count >= 5, $"only {source.Articles.Count} articles");
        Assert.All(source.Articles, a => Assert.All(a.Sections, s => Assert.NotEmpty(s.Blocks)));
        Assert.Contains(source.Articles, a => a.Clinic == "Not named in the article");
    }
}
