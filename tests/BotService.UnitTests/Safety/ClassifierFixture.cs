using BotService.Safety;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BotService.UnitTests.Safety;

/// <summary>
/// One classifier over the real rules file, shared by the test classes in the "safety" collection: compiling the
/// rules and building the Recognizers.Text models takes about a second, so it is done once.
/// </summary>
public sealed class ClassifierFixture
{
    public ClassifierFixture()
    {
        var result = SafetyRulesLoader.Load(SafetyTestFiles.RulesPath, Clock.GetUtcNow());
        if (result.RuleSet is null)
        {
            throw new InvalidOperationException("rules.yaml does not load:\n" + string.Join("\n", result.Errors));
        }

        RuleSet = result.RuleSet;
        Classifier = new SafetyClassifier(() => RuleSet, NullLogger.Instance, Clock);
    }

    /// <summary>Fixed clock: Monday 2026-11-23 10:00 local, so relative times resolve the same on every run.</summary>
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));

    internal SafetyRuleSet RuleSet { get; }

    public SafetyClassifier Classifier { get; }
}

[CollectionDefinition(Name)]
public sealed class SafetyCollection : ICollectionFixture<ClassifierFixture>
{
    public const string Name = "safety";
}
