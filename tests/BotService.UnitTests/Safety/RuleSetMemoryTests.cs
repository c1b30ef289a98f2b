using BotService.Safety;

namespace BotService.UnitTests.Safety;

/// <summary>Runs alone (no other test allocating meanwhile), so a forced collection measures what one load keeps.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "memory measurement";
}

[Collection(MemoryMeasurementCollection.Name)]
public sealed class RuleSetMemoryTests
{
    /// <summary>
    /// What the loaded real rules file may keep. Measured: 7.6 MB (about 7 MiB) on .NET 10.0.12 with the per-gate budget; 159 MB
    /// when every rule had its non-backtracking gate (decision 0021). The bound leaves room for rules to grow, not
    /// for the gates to come back.
    /// </summary>
    private const long MaxRetainedBytes = 40L << 20;

    [Fact]
    public void Load_RealRulesFile_KeepsUnderItsMemoryBound()
    {
        // Arrange: load once first, so what the runtime caches once per process (Regex, YamlDotNet) is not counted.
        Assert.NotNull(SafetyRulesLoader.Load(SafetyTestFiles.RulesPath, DateTimeOffset.UtcNow).RuleSet);
        var before = Settled();

        // Act
        var set = SafetyRulesLoader.Load(SafetyTestFiles.RulesPath, DateTimeOffset.UtcNow).RuleSet;
        var retained = Settled() - before;

        // Assert
        Assert.NotNull(set);
        Assert.True(retained < MaxRetainedBytes, $"the loaded rule set keeps {retained / 1048576.0:F1} MiB (bound {MaxRetainedBytes >> 20} MiB)");
        Assert.True(set.Rules.Sum(r => r.Gate.AllocatedBytes) + set.Exceptions.Sum(e => e.Gate.AllocatedBytes) <=
                    (set.Rules.Count + set.Exceptions.Count) * RegexGate.DefaultBudgetBytes);
        GC.KeepAlive(set);
    }

    private static long Settled()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
