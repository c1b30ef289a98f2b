using BotService.Safety;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BotService.UnitTests.Safety;

/// <summary>The classifier's memory of messages no rule matched: what it keeps, what it never keeps, and reloads.</summary>
public sealed class NoMatchCacheTests : IDisposable
{
    private const string RulesV1 = SafetyRulesProviderTests.RulesV1; // "want to die"

    private const string RulesV2 = SafetyRulesProviderTests.RulesV2; // "purple elephant"

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static (SafetyClassifier Classifier, SafetyRuleSet Rules) RealRules()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        var rules = SafetyRulesLoader.Load(SafetyTestFiles.RulesPath, clock.GetUtcNow()).RuleSet
            ?? throw new InvalidOperationException("rules.yaml does not load");
        return (new SafetyClassifier(() => rules, NullLogger.Instance, clock), rules);
    }

    [Fact]
    public void Classify_OrdinaryQuestionTwice_RememberedAsNoMatchAndNoneBothTimes()
    {
        // Arrange
        var (classifier, rules) = RealRules();

        // Act
        var first = classifier.Classify("How much does a ketamine infusion cost?");
        var second = classifier.Classify("How much does a ketamine infusion cost?");

        // Assert
        Assert.Equal(SafetyLevel.None, first.Level);
        Assert.Equal(SafetyLevel.None, second.Level);
        Assert.True(rules.NoMatch.Contains("How much does a ketamine infusion cost?"));
        Assert.Equal(1, rules.NoMatch.Count);
    }

    [Theory]
    [InlineData("I want to end my life", SafetyLevel.Emergency)]
    [InlineData("I took 30 pills an hour ago", SafetyLevel.Emergency)]
    [InlineData("I feel dizzy since my infusion on Monday", SafetyLevel.Urgent)]
    public void Classify_MessageARuleMatched_ClassifiedInFullEveryTimeAndNeverRemembered(string message, SafetyLevel atLeast)
    {
        // Arrange
        var (classifier, rules) = RealRules();

        // Act
        var verdicts = Enumerable.Range(0, 3).Select(_ => classifier.Classify(message)).ToArray();

        // Assert: same verdict each time, with its reasons, and nothing remembered.
        Assert.All(verdicts, v => Assert.True(v.Level >= atLeast, $"{v.Level} < {atLeast}"));
        Assert.All(verdicts, v => Assert.NotEmpty(v.Reasons));
        Assert.False(rules.NoMatch.Contains(message));
        Assert.Equal(0, rules.NoMatch.Count);
    }

    [Fact]
    public void Classify_MessageAnExceptionSoftened_IsNotRemembered()
    {
        // Arrange: a rule matches, then the negation exception takes it back down; that is not "no match".
        var (classifier, rules) = RealRules();
        const string message = "I don't want to die, I want to know what an infusion costs";

        // Act
        classifier.Classify(message);
        classifier.Classify(message);

        // Assert
        Assert.False(rules.NoMatch.Contains(message));
    }

    [Fact]
    public void Reload_NewRulesMatchAMessageTheOldLetThrough_ClassifiedAgainUnderTheNewRules()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);
        using var provider = new SafetyRulesProvider(path, NullLogger<SafetyRulesProvider>.Instance, TimeProvider.System,
            TimeSpan.FromMinutes(10));
        var classifier = new SafetyClassifier(provider, NullLogger<SafetyClassifier>.Instance);
        Assert.Equal(SafetyLevel.None, classifier.Classify("a purple elephant").Level);
        Assert.Equal(SafetyLevel.None, classifier.Classify("a purple elephant").Level);
        Assert.True(provider.Current.NoMatch.Contains("a purple elephant"));

        // Act
        File.WriteAllText(path, RulesV2);
        Assert.True(provider.Reload());
        var after = classifier.Classify("a purple elephant");

        // Assert
        Assert.Equal(SafetyLevel.Emergency, after.Level);
        Assert.False(provider.Current.NoMatch.Contains("a purple elephant"));
    }

    [Fact]
    public void Add_ManyMessagesFromManyThreads_NeverHoldsMoreThanTheCapacity()
    {
        // Arrange
        var cache = new NoMatchCache(capacity: 16);
        var largest = 0;

        // Act
        Parallel.For(0, 4_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            cache.Add($"message {i}");
            var count = cache.Count;
            int seen;
            while (count > (seen = Volatile.Read(ref largest)) && Interlocked.CompareExchange(ref largest, count, seen) != seen)
            {
            }
        });
        cache.Add("the last message");

        // Assert: bounded, and still remembering after filling up many times.
        Assert.InRange(largest, 1, 16);
        Assert.InRange(cache.Count, 1, 16);
        Assert.True(cache.Contains("the last message"));
    }

    [Fact]
    public void Add_MessageLongerThanTheLimit_IsNotKept()
    {
        // Arrange
        var cache = new NoMatchCache(capacity: 16);
        var longMessage = "how much is an infusion " + new string('x', NoMatchCache.MaxMessageLength);

        // Act
        cache.Add(longMessage);
        cache.Add("how much is an infusion");

        // Assert
        Assert.False(cache.Contains(longMessage));
        Assert.True(cache.Contains("how much is an infusion"));
        Assert.False(cache.Contains("How much is an infusion"));
    }
}
