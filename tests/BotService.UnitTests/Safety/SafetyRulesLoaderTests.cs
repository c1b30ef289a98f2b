using System.Text.RegularExpressions;
using BotService.Safety;

namespace BotService.UnitTests.Safety;

/// <summary>Validation of rules.yaml: every problem is reported with file, line and column, and rejects the file.</summary>
public sealed class SafetyRulesLoaderTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    private const string ValidRule = """
        version: 1
        rules:
          - id: test-rule
            level: emergency
            description: test
            examples: [i want to die]
            phrases: [want to die]
        """;

    private static RulesLoadResult Parse(string yaml) => SafetyRulesLoader.Parse(yaml, "rules.yaml", Now);

    private static SafetyRuleError SingleError(string yaml)
    {
        var result = Parse(yaml);
        Assert.Null(result.RuleSet);
        return Assert.Single(result.Errors);
    }

    [Fact]
    public void Validate_RealRulesFile_NoErrors()
    {
        // Act
        var errors = SafetyRulesLoader.Validate(SafetyTestFiles.RulesPath);

        // Assert
        Assert.Empty(errors);
    }

    [Fact]
    public void Parse_ValidFile_LoadsRuleWithFingerprint()
    {
        // Act
        var result = Parse(ValidRule);

        // Assert
        Assert.Empty(result.Errors);
        var set = Assert.IsType<SafetyRuleSet>(result.RuleSet);
        Assert.Equal("test-rule", Assert.Single(set.Rules).Id);
        Assert.Equal(12, set.Fingerprint.Length);
        Assert.Equal(Now, set.LoadedAt);
    }

    [Fact]
    public void Parse_UnknownLevel_ErrorOnLevelLine()
    {
        // Act
        var error = SingleError(ValidRule.Replace("level: emergency", "level: critical"));

        // Assert
        Assert.Equal(("rules.yaml", 4), (error.File, error.Line));
        Assert.Contains("unknown level 'critical'", error.Message);
    }

    [Fact]
    public void Parse_RegexThatDoesNotCompile_ErrorOnPatternLine()
    {
        // Arrange
        var yaml = ValidRule + "\n    patterns:\n      - want to (die\n";

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Equal(9, error.Line);
        Assert.Contains("not a valid regular expression", error.Message);
    }

    [Fact]
    public void Parse_EmptyPattern_ErrorOnPatternLine()
    {
        // Act
        var error = SingleError(ValidRule + "\n    patterns: ['']\n");

        // Assert
        Assert.Equal(8, error.Line);
        Assert.Contains("empty pattern", error.Message);
    }

    [Fact]
    public void Parse_PatternMatchingEmptyText_Rejected()
    {
        // Act
        var error = SingleError(ValidRule + "\n    patterns: ['(?:die)?']\n");

        // Assert
        Assert.Contains("matches empty text", error.Message);
    }

    [Fact]
    public void Parse_DuplicateRuleId_ErrorNamesFirstDefinition()
    {
        // Arrange
        var yaml = ValidRule + """

              - id: test-rule
                level: urgent
                description: again
                examples: [hopeless]
                phrases: [hopeless]
            """;

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Equal(8, error.Line);
        Assert.Contains("duplicate rule id 'test-rule' (first defined on line 3)", error.Message);
    }

    [Fact]
    public void Parse_UnknownVocabReference_Error()
    {
        // Act
        var error = SingleError(ValidRule + "\n    patterns: ['\\b{nope}\\b']\n");

        // Assert
        Assert.Contains("unknown vocab '{nope}'", error.Message);
    }

    [Fact]
    public void Parse_ExampleThatDoesNotMatch_ErrorOnExampleLine()
    {
        // Arrange
        var yaml = ValidRule.Replace("examples: [i want to die]", "examples:\n      - i want to die\n      - what a lovely day");

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Equal(8, error.Line);
        Assert.Contains("does not match its own example 'what a lovely day'", error.Message);
    }

    [Fact]
    public void Parse_MissingExamplesAndDescription_TwoErrors()
    {
        // Arrange
        var yaml = ValidRule.Replace("    description: test\n", "").Replace("    examples: [i want to die]\n", "");

        // Act
        var result = Parse(yaml);

        // Assert
        Assert.Null(result.RuleSet);
        Assert.Contains(result.Errors, e => e.Message.Contains("needs a 'description'"));
        Assert.Contains(result.Errors, e => e.Message.Contains("needs 'examples'"));
    }

    [Fact]
    public void Parse_UnknownKey_ErrorNamesKeyAndLine()
    {
        // Act
        var result = Parse(ValidRule.Replace("    phrases:", "    phrasez:"));

        // Assert
        Assert.Null(result.RuleSet);
        Assert.Contains(result.Errors, e => e.Line == 7 && e.Message.Contains("unknown key 'phrasez'"));
    }

    [Fact]
    public void Parse_YamlSyntaxError_ReportsLine()
    {
        // Act
        var error = SingleError("version: 1\nrules:\n  - id: x\n    level: urgent\n   description: bad indent\n");

        // Assert
        Assert.Contains("not valid YAML", error.Message);
        Assert.Equal(5, error.Line);
    }

    [Fact]
    public void Parse_MessageScopeExceptionWithoutAppliesTo_Error()
    {
        // Arrange
        var yaml = ValidRule + """

            exceptions:
              - id: too-wide
                kind: informational
                effect: suppress
                scope: message
                description: would silence every rule
                phrases: [curious]
            """;

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Equal(9, error.Line);
        Assert.Contains("must list the rules it applies_to", error.Message);
    }

    [Fact]
    public void Parse_ExceptionForUnknownRule_Error()
    {
        // Arrange
        var yaml = ValidRule + """

            exceptions:
              - id: ex
                kind: idiom
                effect: suppress
                description: d
                applies_to: [no-such-rule]
                phrases: [dying to know]
            """;

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Equal(13, error.Line);
        Assert.Contains("unknown rule 'no-such-rule'", error.Message);
    }

    [Fact]
    public void Parse_UnclosedFlowList_ErrorInsteadOfException()
    {
        // YamlDotNet throws InvalidOperationException here rather than a YamlException.
        // Act
        var error = SingleError("version: 1\nrules:\n  - id: x\n    phrases: [a, b\n  level: urgent\n");

        // Assert
        Assert.Contains("not valid YAML", error.Message);
    }

    [Fact]
    public void Parse_NoRules_Error()
    {
        // Act
        var error = SingleError("version: 1\nrules: []\n");

        // Assert
        Assert.Contains("defines no rules", error.Message);
    }

    [Fact]
    public void Parse_DuplicateNormaliseEntryAfterNormalising_Error()
    {
        // Arrange: "KMS" and "kms" are the same word once lowercased.
        var yaml = ValidRule.Replace("rules:", "normalise:\n  - {to: kill myself, from: [kms, KMS]}\nrules:");

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Equal(3, error.Line);
        Assert.Contains("already mapped", error.Message);
    }

    [Fact]
    public void Parse_QuantityPatternWithoutGroup_Error()
    {
        // Arrange
        var yaml = ValidRule + "\n    quantities:\n      - check: count\n        pattern: took \\d+ pills\n        at_least: 6\n";

        // Act
        var error = SingleError(yaml);

        // Assert
        Assert.Contains("needs named group(s) (?<n>", error.Message);
    }

    [Fact]
    public void Load_MissingFile_ErrorWithPath()
    {
        // Act
        var result = SafetyRulesLoader.Load("/nonexistent/rules.yaml", Now);

        // Assert
        Assert.Null(result.RuleSet);
        Assert.Equal("/nonexistent/rules.yaml", Assert.Single(result.Errors).File);
    }

    [Theory]
    [InlineData(@"(?<=\bi\s)want", @"(?=want)(?<=\bi\s)want")]
    [InlineData(@"(?<=[)(]\s)x", @"(?=x)(?<=[)(]\s)x")]
    [InlineData(@"plain\b", @"plain\b")]
    public void GateLeadingLookbehind_LeadingLookbehind_RestRepeatedAsLookahead(string pattern, string expected)
    {
        // Act
        var result = SafetyRulesLoader.GateLeadingLookbehind(pattern);

        // Assert
        Assert.Equal(expected, result);
    }

    [Theory]
    [InlineData(@"a(?=b)c(?<!x\))d", @"acd")]
    [InlineData(@"[(?=]x(?!y)", @"[(?=]x")]
    [InlineData(@"\(?=x", @"\(?=x")]
    public void StripLookarounds_Pattern_LookaroundsRemovedOnly(string pattern, string expected)
    {
        // Act
        var result = SafetyRulesLoader.StripLookarounds(pattern);

        // Assert
        Assert.Equal(expected, result);
    }

    [Fact]
    public void RegexGate_TooLargeForOneAutomaton_SplitsAndStillMatches()
    {
        // Arrange: many bounded repeats make one big automaton; the gate must split rather than give up.
        var patterns = Enumerable.Range(0, 40).Select(i => $@"\bword{i}\b[^.]{{0,80}}\bend{i}\b").ToList();

        // Act
        var gate = RegexGate.Build(patterns, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, [], long.MaxValue);

        // Assert
        Assert.True(gate.IsGated);
        Assert.True(gate.AutomatonCount > 1);
        Assert.True(gate.Passes("x word39 and then end39"));
        Assert.False(gate.Passes("nothing relevant here"));
    }

    [Fact]
    public void RegexGate_OverItsMemoryBudget_IsUngatedAndPassesEverything()
    {
        // Arrange: 21 words in one automaton allocate over a megabyte to build (the BDD solver's memo tables).
        var words = new[] { @"\b(?:pills|meds|medication|medicine|prescriptions|chemicals|bleach|antifreeze|poison|pesticide|" +
                            @"insecticide|detergent|gasoline|petrol|kerosene|turpentine|chlorine|lye|ammonia|cyanide|arsenic)\b" };
        var options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;

        // Act
        var unlimited = RegexGate.Build(words, options, ["i drank bleach"], long.MaxValue);
        var budgeted = RegexGate.Build(words, options, ["i drank bleach"], budgetBytes: unlimited.AllocatedBytes / 2);

        // Assert
        Assert.True(unlimited.IsGated);
        Assert.False(unlimited.Passes("how much is an infusion"));
        Assert.False(budgeted.IsGated);
        Assert.Equal(0, budgeted.AllocatedBytes);
        Assert.True(budgeted.Passes("how much is an infusion"));
    }

    [Fact]
    public void RegexGate_SmallPatternWithinBudget_KeepsItsGate()
    {
        // Act
        var gate = RegexGate.Build(["\"[^\"]{1,80}\""], RegexOptions.CultureInvariant, ["she said \"no\""]);

        // Assert
        Assert.True(gate.IsGated);
        Assert.InRange(gate.AllocatedBytes, 1, RegexGate.DefaultBudgetBytes);
        Assert.True(gate.Passes("she said \"i'm fine\" to me"));
        Assert.False(gate.Passes("no quotes at all"));
    }
}
