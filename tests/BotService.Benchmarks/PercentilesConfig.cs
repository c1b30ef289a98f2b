using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace BotService.Benchmarks;

/// <summary>Adds median (P50) and P95 columns: the targets are stated as a median and a 95th percentile.</summary>
public sealed class PercentilesConfig : ManualConfig
{
    public PercentilesConfig()
    {
        AddColumn(StatisticColumn.P50, StatisticColumn.P95);
    }
}
