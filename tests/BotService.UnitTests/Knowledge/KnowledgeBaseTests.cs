using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Knowledge.Search;

namespace BotService.UnitTests.Knowledge;

/// <summary>The answering core over the repository's real articles.</summary>
public sealed class KnowledgeBaseTests : IClassFixture<KnowledgeBaseTests.RealKnowledge>
{
    private readonly KnowledgeBase _kb;

    public KnowledgeBaseTests(RealKnowledge fixture) => _kb = fixture.Kb;

    public sealed class RealKnowledge : IDisposable
    {
        public RealKnowledge()
        {
            Kb = new KnowledgeBase(new AnswerOptions());
            Kb.Load(RepoPaths.Knowledge);
        }

        public KnowledgeBase Kb { get; }

        public void Dispose() => Kb.Dispose();
    }

    [Theory]
    [InlineData("how much is one infusion", "$275")]
    [InlineData("whats the prise of an infusoin", "$275")]
    [InlineData("how many minutes does an infusion take", "45 minute")]
    [InlineData("do you accept medicare", "medicare")]
    [InlineData("where are your clinics in nevada", "Las Vegas")]
    [InlineData("how many veterans came home with ptsd", "fourteen percent")]
    [InlineData("what does BDNF do", "Brain-Derived Neurotrophic Factor")]
    [InlineData("is there a doctor on site during treatment", "physician")]
    [InlineData("how is ketamine different from MDMA", "MDMA")]
    [InlineData("do people tolerate it well", "tolerated the ketamine infusion")] // "people" for the articles' "patients"
    public void Ask_AnswerableQuestion_QuotesTheArticleAndCitesIt(string question, string expected)
    {
        // Act
        var answer = _kb.Ask(question, Audience.Public);

        // Assert
        Assert.True(answer.Answered, answer.Text);
        Assert.Contains(expected, answer.Text, StringComparison.OrdinalIgnoreCase);
        var source = Assert.Single(answer.Sources);
        Assert.StartsWith("articles/", source.Path, StringComparison.Ordinal);
        Assert.Contains($"Source: “{source.Title}”", answer.Text, StringComparison.Ordinal);
        Assert.InRange(answer.Confidence, 0.55, 1.0);
    }

    [Fact]
    public void Ask_LayFormOfAnArticleWord_ReadsItAsThatWordAndSaysSo()
    {
        // The articles say "psychosis" and "delirium"; a visitor says "psychotic" and "delirious".
        var answer = _kb.Ask("can ketamine make someone psychotic or delirious?", Audience.Public);

        Assert.True(answer.Answered, answer.Text);
        Assert.Contains("delirium", answer.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(new Correction("psychotic", "psychosis"), answer.Corrections);
        Assert.Contains(new Correction("delirious", "delirium"), answer.Corrections);
    }

    [Theory]
    [InlineData("what happens if you decide ketamine isnt right for me", "decide")]
    [InlineData("whats the prise of an infusoin", null)]
    public void Ask_CommonEnglishWord_IsNotReadAsATypo(string question, string? common)
    {
        var answer = _kb.Ask(question, Audience.Public);

        // "decide" is real English, not a misspelt "decade"; "prise" is rare enough to be read as "price".
        Assert.DoesNotContain(answer.Corrections, c => c.From == common && c.To != "decision");
        Assert.DoesNotContain(answer.Corrections, c => c.To == "decade");
    }

    [Fact]
    public void Ask_DescribingWordTheArticlesLack_DoesNotSinkTheQuestion()
    {
        // "roughly" is in no article; it used to weigh as much as a missing subject and pull the question under the threshold.
        var answer = _kb.Ask("how much does an infusion cost, roughly", Audience.Public);

        Assert.True(answer.Answered, answer.Text);
        Assert.Contains("$275", answer.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("what time does the football game start")]
    [InlineData("is there a playground for kids at the clinic")]
    [InlineData("can i pay with bitcoin")]
    [InlineData("how do I reset my iphone password")]
    [InlineData("recipe for banana bread")]
    [InlineData("asdf qwer")]
    [InlineData("hello")]
    public void Ask_OutOfScope_DeclinesWithWhatItCanAnswer(string question)
    {
        var answer = _kb.Ask(question, Audience.Public);

        Assert.False(answer.Answered);
        Assert.Empty(answer.Sources);
        Assert.Contains("I can help with", answer.Text, StringComparison.Ordinal);
        Assert.Contains("call the clinic", answer.Text, StringComparison.Ordinal);
        Assert.InRange(answer.Confidence, 0.0, 0.55);
    }

    [Theory]
    [InlineData("how much ketamine should I take")]
    [InlineData("can I stop my sertraline before my infusion")]
    [InlineData("is it safe for me to drive after ketamine")]
    public void Ask_PersonalMedicalAdvice_PointsToClinicansAndGivesNoDose(string question)
    {
        var answer = _kb.Ask(question, Audience.Public);

        Assert.True(answer.PersonalAdvice);
        Assert.StartsWith(AnswerComposer.PersonalAdviceNote, answer.Text, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\d+\s?(mg|milligram|ml)\b", answer.Text);
    }

    [Fact]
    public void Ask_BeforeAnyLoad_ThrowsNotReady()
    {
        using var kb = new KnowledgeBase(new AnswerOptions());

        Assert.False(kb.IsReady);
        Assert.Throws<KnowledgeNotReadyException>(() => kb.Ask("price", Audience.Public));
    }
}
