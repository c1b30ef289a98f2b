using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// The runtime settings that ship with the build as <c>botservice.env</c> (decision 0030) take effect when a deployment
/// loads the file: the runtime reads them only from the environment, so a misspelt name would be silently ignored
/// (one was, once: <c>GCgen0MaxBudget</c> for <c>GCGen0MaxBudget</c>). Seen from outside, as an operator would: the
/// young collections counted in <c>/metrics</c> for the same traffic.
/// </summary>
public sealed partial class RuntimeEnvironmentTests
{
    [SqliteFact] // the provider does not matter: this is the runtime's setting
    public async Task BotserviceEnvFromTheBuild_MakesTheYoungGenerationSmall()
    {
        // Arrange: the file as the build ships it, next to BotService.dll
        var file = Path.Combine(Path.GetDirectoryName(ServiceProcess.ServiceDll)!, "botservice.env");
        var settings = File.ReadLines(file)
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1]);
        Assert.Contains("DOTNET_GCgen0size", settings.Keys);
        await using var deployed = await ServiceProcess.StartAsync([], settings);
        await using var bare = await ServiceProcess.StartAsync([]);

        // Act: the same questions, none alike (no answer cache), through both
        var before = (Deployed: await YoungCollectionsAsync(deployed), Bare: await YoungCollectionsAsync(bare));
        for (var i = 0; i < 150; i++)
        {
            foreach (var s in new[] { deployed, bare })
            {
                var text = $"how much does infusion number {i} cost for a veteran with ptsd in {2000 + i}?";
                (await s.Http.PostAsJsonAsync("/api/ask", new { text })).EnsureSuccessStatusCode();
            }
        }

        var withFile = await YoungCollectionsAsync(deployed) - before.Deployed;
        var without = await YoungCollectionsAsync(bare) - before.Bare;

        // Assert: a 4 MB young generation is collected several times as often as the one sized from the L3 cache
        // (~16 MB on a 32 MB cache, ~80 MB on a 260 MiB one)
        Assert.True(withFile >= 4 && withFile >= 3 * without, $"young collections with botservice.env {withFile}, without {without}");
    }

    private static async Task<long> YoungCollectionsAsync(ServiceProcess service)
    {
        // A collection is counted once, under the oldest generation it collected: with a small young generation many
        // are gen1 collections, so both count.
        var metrics = await service.Http.GetStringAsync("/metrics");
        var counts = YoungCollections().Matches(metrics).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.True(counts.Count == 2, "no gen0 and gen1 collection counts in /metrics");
        return counts.Sum();
    }

    [GeneratedRegex(@"^dotnet_gc_collections_total\{[^}]*gc_heap_generation=""gen[01]""[^}]*\} (\d+)", RegexOptions.Multiline)]
    private static partial Regex YoungCollections();
}
