using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Knowledge.Search;

namespace BotService.UnitTests.Knowledge;

/// <summary>
/// Follow-up questions and "did you mean" over the repository's real articles: how a message is judged too vague to
/// stand alone, how it is read with the conversation's topic, and when the choice is put to the visitor.
/// </summary>
public sealed class FollowUpTests(KnowledgeBaseTests.RealKnowledge fixture) : IClassFixture<KnowledgeBaseTests.RealKnowledge>
{
    private readonly KnowledgeBase _kb = fixture.Kb;

    // Weights as the clinic's corpus gives them, roughly: topic words are common, symptom and drug names rare.
    private static double Weight(string term) => term is "ketamin" or "ptsd" or "therapi" or "treatment" ? 0.4 : 3.5;

    [Theory]
    [InlineData("how much is it?")] // an aspect and a pronoun, nothing named
    [InlineData("how long does it last?")]
    [InlineData("is it safe?")]
    [InlineData("and the price?")] // carries on from the last message
    [InlineData("what about for veterans?")] // names something, but only as a continuation
    [InlineData("for veterans?")]
    [InlineData("price")] // one word, an aspect only
    [InlineData("side effects?")]
    [InlineData("how is it different from ketamine")] // a pronoun and only a common word
    [InlineData("does that work?")]
    public void Read_UnderSpecifiedMessage_NeedsContext(string message)
    {
        var reading = FollowUpReader.Read(message, Weight);

        Assert.True(reading.NeedsContext, message);
    }

    [Theory]
    [InlineData("What is ketamine-assisted psychotherapy?", "ketamine-assisted psychotherapy")]
    [InlineData("how effective is ketamine for PTSD?", "ketamine for PTSD")]
    [InlineData("how much does an infusion cost?", "infusion")]
    [InlineData("does it help with nightmares?", "nightmares")] // a pronoun, but a subject of its own
    [InlineData("KAP", "KAP")]
    [InlineData("is it covered by insurance", "covered by insurance")]
    public void Read_SelfSufficientQuestion_StandsAloneAndNamesItsSubject(string message, string about)
    {
        var reading = FollowUpReader.Read(message, Weight);

        Assert.False(reading.NeedsContext, message);
        Assert.True(reading.HasContent);
        Assert.Equal(about, reading.About);
    }

    [Theory]
    [InlineData("thanks")]
    [InlineData("ok")]
    [InlineData("and?")]
    public void Read_MessageWithNothingInIt_NeitherNeedsContextNorChangesTopic(string message)
    {
        var reading = FollowUpReader.Read(message, Weight);

        Assert.False(reading.NeedsContext);
        Assert.False(reading.HasContent);
    }

    [Fact]
    public void Read_HowMuchWithOnlyStopWords_NamesTheKindOfFactWanted()
    {
        var reading = FollowUpReader.Read("how much is it?", Weight);

        Assert.Equal("how much is it cost", reading.Core);
    }

    [Fact]
    public void Ask_FollowUpWithTopic_IsReadWithItAndSaysSo()
    {
        // Arrange: what "What is ketamine-assisted psychotherapy?" leaves as the topic
        var first = _kb.Ask("What is ketamine-assisted psychotherapy?", Audience.Public, null);
        Assert.True(first.Answered);
        Assert.True(first.ChangesTopic);
        Assert.Equal("ketamine-assisted psychotherapy", first.Topic!.About);

        // Act
        var answer = _kb.Ask("how much is it?", Audience.Public, first.Topic);

        // Assert: the clinic's words on what KAP costs, prefaced with the reading
        Assert.True(answer.Answered, answer.Text);
        Assert.StartsWith("Taking this as a question about ketamine-assisted psychotherapy: ", answer.Text, StringComparison.Ordinal);
        Assert.StartsWith("Taking this as a question about ketamine-assisted psychotherapy: ", answer.Body, StringComparison.Ordinal);
        Assert.Contains("financial investment", answer.Text, StringComparison.Ordinal);
        Assert.Equal("ketamine-assisted psychotherapy", answer.FollowUpAbout);
        Assert.Equal("how much is it cost ketamine-assisted psychotherapy", answer.ReadAs);
        Assert.False(answer.ChangesTopic);
        Assert.Equal(first.Topic, answer.Topic);
    }

    [Fact]
    public void Ask_ContinuationNamingSomethingNew_KeepsTheTopicAndAddsIt()
    {
        var topic = _kb.Ask("how effective is ketamine for PTSD?", Audience.Public, null).Topic!;

        var answer = _kb.Ask("what about for veterans?", Audience.Public, topic);

        Assert.Equal("ketamine for PTSD", answer.FollowUpAbout);
        Assert.Contains("veterans", answer.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Ask_SelfSufficientQuestionWithATopic_IsAnsweredOnItsOwnAndChangesTheTopic()
    {
        var topic = _kb.Ask("What is ketamine-assisted psychotherapy?", Audience.Public, null).Topic!;

        var answer = _kb.Ask("how much does an infusion cost?", Audience.Public, topic);

        Assert.Null(answer.FollowUpAbout);
        Assert.Contains("$275", answer.Text, StringComparison.Ordinal);
        Assert.True(answer.ChangesTopic);
        Assert.Equal("infusion", answer.Topic!.About);
        Assert.Equal("New Patient Special", answer.Topic.Section);
    }

    [Fact]
    public void Ask_SameMessageWithAndWithoutTopic_OnlyTheTopicFreeAnswerIsCached()
    {
        // Arrange
        using var kb = new KnowledgeBase(new AnswerOptions());
        kb.Load(RepoPaths.Knowledge);
        var topic = kb.Ask("What is ketamine-assisted psychotherapy?", Audience.Public, null).Topic!;

        // Act
        var alone = kb.Ask("how long does it last?", Audience.Public, null);
        var followUp = kb.Ask("how long does it last?", Audience.Public, topic);
        var againAlone = kb.Ask("how long does it last?", Audience.Public, null);

        // Assert: the follow-up neither came from nor went into the answer cache
        Assert.Null(alone.FollowUpAbout);
        Assert.Equal("ketamine-assisted psychotherapy", followUp.FollowUpAbout);
        Assert.Same(alone, againAlone);
    }

    [Fact]
    public void Ask_VagueMessageWithoutTopic_CloseReadingsUnderDifferentHeadings_AsksWhichOneInsteadOfGuessing()
    {
        // Act
        var answer = _kb.Ask("is it safe?", Audience.Public, null);

        // Assert
        Assert.False(answer.Answered);
        Assert.StartsWith(AnswerComposer.DidYouMeanIntro, answer.Text, StringComparison.Ordinal);
        Assert.InRange(answer.DidYouMean.Count, 2, 3);
        Assert.Equal(answer.DidYouMean.Count, answer.DidYouMean.Select(s => s.Section).Distinct().Count());
        Assert.All(answer.DidYouMean, s => Assert.Contains(s.Section, answer.Text, StringComparison.Ordinal));
        Assert.Null(answer.Topic);
    }

    [Fact]
    public void Ask_ChosenReading_IsAnsweredFromThatSection()
    {
        var offered = _kb.Ask("is it safe?", Audience.Public, null).DidYouMean;

        foreach (var chosen in offered)
        {
            var answer = _kb.Ask(chosen.Question, Audience.Public, null, chosen);

            Assert.True(answer.Answered, chosen.Question);
            Assert.Equal(chosen.Section, answer.Sources[0].Section);
            Assert.Equal(chosen.Path, answer.Sources[0].Path);
            Assert.Empty(answer.DidYouMean);
        }
    }

    [Theory]
    [InlineData("Tell me about ketamine-assisted psychotherapy")] // several articles, one topic
    [InlineData("what receptors does ketamine act on")]
    [InlineData("how much does an infusion cost?")]
    [InlineData("nightmares?")]
    public void Ask_QuestionWithASubject_NeverGetsDidYouMean(string question)
    {
        var answer = _kb.Ask(question, Audience.Public, null);

        Assert.True(answer.Answered, answer.Text);
        Assert.Empty(answer.DidYouMean);
    }
}
