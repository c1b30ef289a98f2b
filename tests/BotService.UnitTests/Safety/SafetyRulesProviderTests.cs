using BotService.Safety;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.UnitTests.Safety;

/// <summary>The provider over real temp files: initial load, live reload, rejected edits, start-up failure.</summary>
public sealed class SafetyRulesProviderTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    internal const string RulesV1 = """
        version: 1
        rules:
          - id: test-rule
            level: emergency
            description: test
            examples: [i want to die]
            phrases: [want to die]
        """;

    internal const string RulesV2 = """
        version: 1
        rules:
          - id: test-rule
            level: emergency
            description: test
            examples: [purple elephant]
            phrases: [purple elephant]
        """;

    // Line 4 has an unknown level.
    private const string RulesBroken = """
        version: 1
        rules:
          - id: test-rule
            level: catastrophic
            description: test
            examples: [i want to die]
            phrases: [want to die]
        """;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private SafetyRulesProvider CreateProvider(string path, ILogger<SafetyRulesProvider>? log = null) =>
        new(path, log ?? NullLogger<SafetyRulesProvider>.Instance, TimeProvider.System, TimeSpan.FromMilliseconds(50));

    private static SafetyClassifier CreateClassifier(SafetyRulesProvider provider) =>
        new(provider, NullLogger<SafetyClassifier>.Instance);

    /// <summary>Completes with the first reload status that satisfies <paramref name="done"/>.</summary>
    private static Task<RulesStatus> NextReload(SafetyRulesProvider provider, Func<RulesStatus, bool> done)
    {
        var tcs = new TaskCompletionSource<RulesStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        provider.ReloadAttempted += (_, status) =>
        {
            if (done(status))
            {
                tcs.TrySetResult(status);
            }
        };
        return tcs.Task.WaitAsync(Wait);
    }

    [Fact]
    public void Constructor_ValidFile_StatusReportsRules()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);

        // Act
        using var provider = CreateProvider(path);

        // Assert
        var status = provider.Status;
        Assert.Equal(1, status.RuleCount);
        Assert.Null(status.LastError);
        Assert.True(status.IsCurrent);
        Assert.Equal(path, status.Path);
    }

    [Fact]
    public void Constructor_MissingFile_ThrowsWithPath()
    {
        // Arrange
        var path = _temp.File("absent.yaml");

        // Act
        var e = Assert.Throws<SafetyRulesException>(() => CreateProvider(path));

        // Assert
        Assert.Contains(path, e.Message);
        Assert.Single(e.Errors);
    }

    [Fact]
    public void Constructor_NoValidRules_ThrowsWithLineAndLogsIt()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesBroken);
        var log = new ListLogger<SafetyRulesProvider>();

        // Act
        var e = Assert.Throws<SafetyRulesException>(() => CreateProvider(path, log));

        // Assert
        var error = Assert.Single(e.Errors);
        Assert.Equal(4, error.Line);
        Assert.Contains($"{path}:4:", e.Message);
        Assert.Contains(log.Entries, x => x.Level == LogLevel.Error && x.Message.StartsWith($"{path}:4:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Watch_FileRewrittenValid_NewRulesUsed()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);
        using var provider = CreateProvider(path);
        var classifier = CreateClassifier(provider);
        var before = provider.Status.Fingerprint;
        var reloaded = NextReload(provider, s => s.Fingerprint != before);

        // Act
        File.WriteAllText(path, RulesV2);
        await reloaded;

        // Assert
        Assert.Equal(SafetyLevel.Emergency, classifier.Classify("a purple elephant").Level);
        Assert.Equal(SafetyLevel.None, classifier.Classify("i want to die").Level);
    }

    [Fact]
    public async Task Watch_FileRewrittenBroken_KeepsLastGoodRulesAndReportsLine()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);
        var log = new ListLogger<SafetyRulesProvider>();
        using var provider = CreateProvider(path, log);
        var classifier = CreateClassifier(provider);
        var rejected = NextReload(provider, s => s.LastError is not null);

        // Act
        File.WriteAllText(path, RulesBroken);
        var status = await rejected;

        // Assert
        Assert.Equal(SafetyLevel.Emergency, classifier.Classify("i want to die").Level);
        Assert.StartsWith($"{path}:4:", status.LastError);
        Assert.False(status.IsCurrent);
        Assert.Equal(1, status.RuleCount);
        Assert.Contains(log.Entries, x => x.Level == LogLevel.Error && x.Message.StartsWith($"{path}:4:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Watch_BrokenThenFixed_ErrorClearedAndNewRulesUsed()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);
        using var provider = CreateProvider(path);
        var rejected = NextReload(provider, s => s.LastError is not null);
        File.WriteAllText(path, RulesBroken);
        await rejected;
        var fixedUp = NextReload(provider, s => s.LastError is null);

        // Act
        File.WriteAllText(path, RulesV2);
        var status = await fixedUp;

        // Assert
        Assert.True(status.IsCurrent);
        Assert.Equal(SafetyLevel.Emergency, CreateClassifier(provider).Classify("purple elephant").Level);
    }

    [Fact]
    public void Reload_FileDeleted_ReturnsFalseAndKeepsRules()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);
        using var provider = CreateProvider(path);
        File.Delete(path);

        // Act
        var loaded = provider.Reload();

        // Assert
        Assert.False(loaded);
        Assert.Equal(SafetyLevel.Emergency, CreateClassifier(provider).Classify("want to die").Level);
        Assert.Contains("cannot read the file", provider.Status.LastError);
    }

    [Fact]
    public void Dispose_Twice_DoesNotThrow()
    {
        // Arrange
        var path = _temp.File("rules.yaml");
        File.WriteAllText(path, RulesV1);
        var provider = CreateProvider(path);

        // Act
        provider.Dispose();
        var second = Record.Exception(provider.Dispose);

        // Assert
        Assert.Null(second);
    }
}
