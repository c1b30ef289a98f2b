using System.Net;
using BotService.Fuzz;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// The short fuzz run (2,000 inputs) of the suite: malformed Activities and Direct Line requests against the service as
/// its own process. The long run (100,000 and more) is <c>dotnet run --project tests/BotService.Fuzz -c Release</c>.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class FuzzTests
{
    [Fact]
    public async Task Fuzz_2000MalformedInputs_No5xx_NoDroppedConnection_ServiceAliveAndReady()
    {
        // Arrange
        await using var service = await ServiceProcess.StartAsync(
            ["--DirectLine:TokenRequestsPerMinute=100000", "--RateLimits:PerConversation:Burst=50", "--RateLimits:PerConversation:PerMinute=1200"]);
        var fuzzer = new Fuzzer(service.Http, seed: Environment.TickCount);
        await fuzzer.PrepareAsync(10, CancellationToken.None);

        // Act
        var report = await fuzzer.RunAsync(2_000, concurrency: 4, CancellationToken.None);
        var ready = await service.Http.GetAsync("/healthz/ready");

        // Assert
        if (Environment.GetEnvironmentVariable("BOTSERVICE_REPORTS") is { Length: > 0 } reports) // printed by tests/run.sh
        {
            File.AppendAllText(Path.Combine(reports, "fuzz.txt"), $"short fuzz run: {report}\n");
        }

        Assert.True(report.ServerErrors == 0 && report.TransportErrors == 0, string.Join('\n', report.Failures));
        Assert.Equal(2_000, report.Inputs);
        Assert.True(report.ByStatus.Keys.Count(s => s is >= 400 and < 500) >= 5, "the inputs should meet several kinds of refusal");
        Assert.Contains(200, report.ByStatus.Keys);
        Assert.False(service.HasExited);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}
