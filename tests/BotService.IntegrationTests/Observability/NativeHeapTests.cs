using System.Net.Http.Json;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// The C library's heap does not keep what the JIT once used (decision 0026): the JIT's 64 KiB slabs are mappings of
/// their own, returned when freed, so the heap proper (<c>[heap]</c> in the process's memory map, glibc's main arena)
/// holds only live blocks. Read from <c>/proc/PID/smaps</c>, as the kernel counts it, after the start-up (which
/// compiles the safety classifier's recognisers: a ~15 MB peak of slabs) and real traffic.
/// </summary>
public sealed class NativeHeapTests
{
    [SqliteFact] // the provider does not matter: the JIT's peak comes from the classifier, the same on both
    public async Task AfterStartAndTraffic_TheHeapHoldsLittleResident_AndAnOperatorsThresholdWins()
    {
        // Arrange
        await using var service = await ServiceProcess.StartAsync([]);
        await using var chosen = await ServiceProcess.StartAsync([], new Dictionary<string, string> { ["MALLOC_MMAP_THRESHOLD_"] = "33554432" });

        // Act: questions and a crisis message, through the classifier, the answering core and EF Core
        foreach (var s in new[] { service, chosen })
        {
            foreach (var text in new[] { "how much is an infusion?", "I want to end my life tonight", "is ketamine safe with my meds?" })
            {
                (await s.Http.PostAsJsonAsync("/api/ask", new { text })).EnsureSuccessStatusCode();
            }
        }

        // Assert: with glibc's default threshold the freed slabs stay resident in the heap (the check sees them) ...
        Assert.True(HeapResidentMegabytes(chosen.ProcessId) > 10, $"the operator's threshold: {HeapResidentMegabytes(chosen.ProcessId):F1} MB");
        // ... and with the service's own, they do not
        var resident = HeapResidentMegabytes(service.ProcessId);
        Assert.True(resident < 8, $"[heap] holds {resident:F1} MB resident");
    }

    private static double HeapResidentMegabytes(int processId)
    {
        var inHeap = false;
        long kilobytes = 0;
        foreach (var line in File.ReadLines($"/proc/{processId}/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0 && fields[0].Contains('-', StringComparison.Ordinal) && !fields[0].EndsWith(':'))
            {
                inHeap = fields.Length >= 6 && fields[5] == "[heap]";
            }
            else if (inHeap && fields is ["Rss:", var value, "kB"])
            {
                kilobytes += long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return kilobytes / 1024.0;
    }
}
