using BotService.Knowledge;
using BotService.Knowledge.Analysis;
using BotService.Knowledge.Articles;
using BotService.Knowledge.Search;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.TokenAttributes;

namespace BotService.UnitTests.Knowledge;

public sealed class AnalyzerTests
{
    private static List<string> Tokens(Analyzer analyzer, string text)
    {
        var tokens = new List<string>();
        using var stream = analyzer.GetTokenStream("body", text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            tokens.Add(term.ToString());
        }

        stream.End();
        return tokens;
    }

    [Fact]
    public void QueryAnalyzer_QuestionWords_AreDroppedAndContentIsStemmed()
    {
        // Arrange
        using var analyzer = ClinicAnalyzer.ForQueries();

        // Act
        var tokens = Tokens(analyzer, "What are the Treatments? I'm asking about infusions");

        // Assert
        Assert.Equal(["treatment", "infus"], tokens);
    }

    [Theory]
    // letters for words ("u", "w/" for with) and contractions without their apostrophe
    [InlineData("why do u prefer the drip, i dont want it w/ my therapist if it isnt safe", new[] { "prefer", "drip", "therapist", "safe" })]
    // pronouns and fillers of chat messages ("hes" is "he's"): nothing a passage could hold
    [InlineData("whether hes honestly on those meds or not, does somebody usually help everyone with the stuff", new[] { "med", "help" })]
    public void QueryAnalyzer_WordsAsTypedInAChat_AreDroppedLikeTheirSpelledOutForms(string question, string[] expected)
    {
        using var analyzer = ClinicAnalyzer.ForQueries();

        var tokens = Tokens(analyzer, question);

        Assert.Equal(expected, tokens);
    }

    [Theory]
    [InlineData("soooo", "so")]
    [InlineData("pleeease", "please")]
    [InlineData("cooool", "cool")]
    [InlineData("zzzz", null)]
    [InlineData("session", null)]
    public void Unstretch_AHeldDownLetter_ReadsAsTheKnownWord(string typed, string? expected)
    {
        string[] known = ["so", "please", "cool", "session"];

        var plain = QueryInterpreter.Unstretch(typed, known.Contains);

        Assert.Equal(expected, plain);
    }

    [Fact]
    public void QueryAnalyzer_PossessiveAndCurlyApostrophe_AreRemoved()
    {
        using var analyzer = ClinicAnalyzer.ForQueries();

        var tokens = Tokens(analyzer, "Ketamine’s effect and ketamine's effects");

        Assert.Equal(["ketamin", "effect", "ketamin", "effect"], tokens);
    }

    [Fact]
    public void IndexAnalyzer_WithSynonyms_ExpandsAWordToItsGroup()
    {
        // Arrange
        var source = KnowledgeSource.FromArticles([], "price, cost, fee\niv, intravenous, infusion");
        using var analyzer = new ClinicAnalyzer(source.Synonyms);

        // Act
        var tokens = Tokens(analyzer, "Waived intake fee");

        // Assert
        Assert.Contains("fee", tokens);
        Assert.Contains("price", tokens);
        Assert.Contains("cost", tokens);
        Assert.Contains("intak", tokens);
    }

    [Fact]
    public void IndexAnalyzer_MultiWordSynonym_MatchesTheHyphenatedPhrase()
    {
        var source = KnowledgeSource.FromArticles([], "ptsd, post traumatic stress disorder");
        using var analyzer = new ClinicAnalyzer(source.Synonyms);

        var tokens = Tokens(analyzer, "Post-Traumatic Stress Disorder is common");

        Assert.Contains("ptsd", tokens);
        Assert.Contains("common", tokens);
    }

    [Fact]
    public void SynonymsFile_BadLine_IsReportedWithItsLineAndSkipped()
    {
        // Arrange: line 3 has two arrows.
        var problems = new List<KnowledgeProblem>();

        // Act
        var result = SynonymsFile.Parse("synonyms.txt", "# comment\nprice, cost\nfee => cost => price\nkap, ketamine assisted psychotherapy", problems);

        // Assert
        var problem = Assert.Single(problems);
        Assert.Equal(3, problem.Line);
        Assert.NotNull(result.Map);
        Assert.Contains("kap", result.Words);
    }
}
