using BotService.Safety;
using Microsoft.Extensions.Logging;

namespace BotService.UnitTests.Safety;

/// <summary>Transcripts are health data: the classifier logs rule ids and counts, never the message text.</summary>
[Collection(SafetyCollection.Name)]
public sealed class SafetyLoggingTests(ClassifierFixture fixture)
{
    [Fact]
    public void Classify_DebugLogging_NoMessageWordsInLog()
    {
        // Arrange
        var log = new ListLogger<SafetyClassifier>();
        var classifier = new SafetyClassifier(() => fixture.RuleSet, log, fixture.Clock);
        const string text = "Zanzibar quokka says I took 30 pills and want to die";

        // Act
        var result = classifier.Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
        var entry = Assert.Single(log.Entries, e => e.Id.Id == 3020);
        Assert.Equal(LogLevel.Debug, entry.Level);
        Assert.Contains("overdose", entry.Message);
        // None of these words occurs in any rule id, so finding one in a log entry means message text leaked.
        foreach (var word in new[] { "Zanzibar", "quokka", "pills", "took", "die" })
        {
            Assert.DoesNotContain(log.Entries, e => e.Message.Contains(word, StringComparison.OrdinalIgnoreCase));
        }
    }
}
