using BenchmarkDotNet.Running;

namespace BotService.Benchmarks;

// Run all:      dotnet run -c Release --project tests/BotService.Benchmarks -- --filter '*'
// One group:    dotnet run -c Release --project tests/BotService.Benchmarks -- --anyCategories knowledge
internal static class BenchmarkProgram
{
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
}
