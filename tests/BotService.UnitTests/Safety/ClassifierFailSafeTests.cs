using System.Text.RegularExpressions;
using BotService.Safety;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.UnitTests.Safety;

/// <summary>When a regex times out, the classifier errs towards a human looking, never towards "none".</summary>
public sealed class ClassifierFailSafeTests
{
    // Exponential backtracking (a back-reference stops the engine from making the loops atomic) on a long "abab…"
    // with no final "c", with a 1 ms limit: guaranteed to time out. ("ab" repeats survive normalisation, which
    // squeezes runs of one letter.)
    private static readonly Regex Catastrophic = new(@"((?:ab)+(?:ab)+)+\1c", RegexOptions.None, TimeSpan.FromMilliseconds(1));
    private static readonly string Pathological = "want to die " + string.Concat(Enumerable.Repeat("ab", 40));

    private static CompiledRule Rule(string id, Regex matcher) => new()
    {
        Id = id, Level = SafetyLevel.Emergency, Line = 1, Matcher = matcher, Gate = RegexGate.Always,
    };

    private static SafetyClassifier Classifier(IReadOnlyList<CompiledRule> rules, IReadOnlyList<CompiledException> exceptions)
    {
        var set = new SafetyRuleSet
        {
            Path = "test", Fingerprint = "test", LoadedAt = DateTimeOffset.UnixEpoch, Normaliser = new TextNormaliser([]),
            Rules = rules, Exceptions = exceptions,
        };
        return new SafetyClassifier(() => set, NullLogger.Instance, TimeProvider.System);
    }

    [Fact]
    public void Classify_ExceptionTimesOut_RuleKeepsItsLevel()
    {
        // Arrange
        var exception = new CompiledException
        {
            Id = "slow", Kind = ExceptionKind.Idiom, Effect = ExceptionEffect.Suppress, Scope = ExceptionScope.Span,
            Matcher = Catastrophic, Gate = RegexGate.Always, Line = 1,
        };
        var classifier = Classifier([Rule("suicidal-intent", new Regex("want to die"))], [exception]);

        // Act
        var result = classifier.Classify(Pathological);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Fact]
    public void Classify_RuleTimesOut_UrgentRuleTimeoutReasonAndOtherRulesStillRun()
    {
        // Arrange
        var classifier = Classifier([Rule("slow-rule", Catastrophic), Rule("suicidal-intent", new Regex("want to die"))], []);

        // Act
        var result = classifier.Classify(Pathological);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
        Assert.Contains(result.Reasons, r => r.RuleId == SafetyClassifier.RuleTimeoutRuleId && r.Level == SafetyLevel.Urgent);
    }
}
