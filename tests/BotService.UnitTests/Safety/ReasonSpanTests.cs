using BotService.Safety;

namespace BotService.UnitTests.Safety;

/// <summary>Reason spans are offsets into the original message, so staff see exactly the words that matched.</summary>
[Collection(SafetyCollection.Name)]
public sealed class ReasonSpanTests(ClassifierFixture fixture)
{
    private static string Span(string text, SafetyReason reason) => text.Substring(reason.Start, reason.Length);

    [Fact]
    public void Classify_PlainText_SpanCoversMatchedWords()
    {
        // Arrange
        const string text = "Honestly, I want to kill myself.";

        // Act
        var reason = fixture.Classifier.Classify(text).Reasons.First(r => r.RuleId == "suicidal-intent");

        // Assert
        Assert.Equal("kill myself", Span(text, reason));
    }

    [Fact]
    public void Classify_CurlyApostrophesAndExtraWhitespace_SpanMapsToOriginalCharacters()
    {
        // Arrange: curly apostrophe, double spaces, a newline and a tab inside the matched words.
        const string text = "Hi.  I\u2019m   going to\n\tkill   myself   tonight";

        // Act
        var reason = fixture.Classifier.Classify(text).Reasons.First(r => r.RuleId == "suicidal-intent");

        // Assert
        Assert.Equal("kill   myself", Span(text, reason));
    }

    [Fact]
    public void Classify_ReplacedSlangToken_SpanCoversTheSlangWord()
    {
        // Arrange: "kms" is rewritten to "kill myself" before matching; the span must still point at "kms".
        const string text = "ugh  KMS";

        // Act
        var reason = fixture.Classifier.Classify(text).Reasons.First();

        // Assert
        Assert.Equal("KMS", Span(text, reason));
    }

    [Fact]
    public void Classify_SqueezedLetters_SpanIncludesAllRepeats()
    {
        // Arrange
        const string text = "i want to dieeeee";

        // Act
        var reason = fixture.Classifier.Classify(text).Reasons.First();

        // Assert
        Assert.Equal("want to dieeeee", Span(text, reason));
    }

    [Fact]
    public void Classify_EmojiBeforeMatch_OffsetsCountUtf16Units()
    {
        // Arrange: each emoji is two UTF-16 code units.
        const string text = "\U0001F622\U0001F622 my chest hurts after the infusion";

        // Act
        var reason = fixture.Classifier.Classify(text).Reasons.First(r => r.RuleId == "post-treatment-medical");

        // Assert
        Assert.Equal("chest hurts", Span(text, reason));
        Assert.Equal(text.IndexOf("chest", StringComparison.Ordinal), reason.Start);
    }

    [Fact]
    public void Classify_QuantityRule_SpanCoversCountAndPills()
    {
        // Arrange
        const string text = "I took 30 pills, please help";

        // Act
        var reason = fixture.Classifier.Classify(text).Reasons.First(r => r.RuleId == "overdose");

        // Assert
        Assert.Equal("30 pills", Span(text, reason));
    }

    [Fact]
    public void Classify_TwoFamilies_ReasonsSortedByLevelThenPosition()
    {
        // Arrange
        const string text = "I feel hopeless and I want to die";

        // Act
        var reasons = fixture.Classifier.Classify(text).Reasons;

        // Assert
        Assert.Equal(SafetyLevel.Emergency, reasons[0].Level);
        Assert.Equal("want to die", Span(text, reasons[0]));
        Assert.Contains(reasons, r => r.RuleId == "hopelessness" && Span(text, r) == "hopeless");
    }
}
