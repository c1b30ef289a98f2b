using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// /healthz/live, /healthz/ready and /healthz against real dependency failures: the data folder made read-only (a bind
/// mount, as a full or remounted disk would be) and deleted (with SQLite, the database is in it), and the PostgreSQL
/// database made read-only. Each test has its own service and data folder.
/// </summary>
public sealed class HealthTests
{
    [Fact]
    public async Task Ready_ReportsEveryDependency_WhenAllIsWell()
    {
        // Arrange
        await using var service = await StartAsync();

        // Act
        var ready = await service.Http.GetAsync("/healthz/ready");
        var live = await service.Http.GetAsync("/healthz/live");
        var body = await ready.Content.ReadFromJsonAsync<JsonElement>();

        // Assert
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        foreach (var check in new[] { "knowledge", "safety", "database", "outbox", "escalations", "connector" })
        {
            Assert.Equal("healthy", body.GetProperty("checks").GetProperty(check).GetProperty("status").GetString());
        }

        Assert.Empty((await live.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("checks").EnumerateObject());
    }

    [SqliteFact]
    public async Task Ready_DataFolderReadOnly_Unready503NamingDatabaseAndOutbox_LiveStays200_RecoversWhenWritable()
    {
        Assert.True(Faults.IsRoot, "the fault tests mount file systems and run as root");
        await using var service = await StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await service.Http.GetAsync("/healthz/ready")).StatusCode);

        JsonElement unready;
        using (Faults.ReadOnlyFolder(service.DataPath))
        {
            // Act
            unready = await WaitAsync(service.Http, "/healthz/ready", HttpStatusCode.ServiceUnavailable, "database", "outbox");
            var live = await service.Http.GetAsync("/healthz/live");
            var summary = await service.Http.GetAsync("/healthz");

            // Assert
            Assert.Equal("unhealthy", unready.GetProperty("status").GetString());
            Assert.Equal("unhealthy", unready.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
            Assert.Equal("unhealthy", unready.GetProperty("checks").GetProperty("outbox").GetProperty("status").GetString());
            Assert.Contains("only", unready.GetProperty("checks").GetProperty("outbox").GetProperty("description").GetString(), StringComparison.OrdinalIgnoreCase);
            Assert.Equal("healthy", unready.GetProperty("checks").GetProperty("knowledge").GetProperty("status").GetString());
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            Assert.Equal(HttpStatusCode.OK, summary.StatusCode); // /healthz: 503 only while the index loads; no disk probes
        }

        // Writable again: ready again
        var recovered = await WaitAsync(service.Http, "/healthz/ready", HttpStatusCode.OK);
        Assert.Equal("healthy", recovered.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
    }

    [PostgresFact]
    public async Task Ready_PostgreSqlDatabaseReadOnly_Unready503NamingTheDatabase_RecoversWhenWritable()
    {
        // Arrange
        await using var service = await StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await service.Http.GetAsync("/healthz/ready")).StatusCode);

        // Act
        JsonElement unready;
        using (Faults.ReadOnlyDatabase(service.DataPath))
        {
            unready = await WaitAsync(service.Http, "/healthz/ready", HttpStatusCode.ServiceUnavailable, "database");
        }

        var recovered = await WaitAsync(service.Http, "/healthz/ready", HttpStatusCode.OK);

        // Assert: the database named, the outbox (a file) still fine
        Assert.Contains("read-only", unready.GetProperty("checks").GetProperty("database").GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal("healthy", unready.GetProperty("checks").GetProperty("outbox").GetProperty("status").GetString());
        Assert.Equal("healthy", recovered.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
    }

    [SqliteFact]
    public async Task Ready_DataFolderDeleted_Unready503_RecoversWhenTheFolderIsBack()
    {
        // Arrange
        await using var service = await StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await service.Http.GetAsync("/healthz/ready")).StatusCode);

        // Act
        Directory.Delete(service.DataPath, recursive: true);
        // Each probe keeps its result for a second: the outbox's may turn first while the database's is still the old one.
        var unready = await WaitAsync(service.Http, "/healthz/ready", HttpStatusCode.ServiceUnavailable, failing: "database");
        Directory.CreateDirectory(service.DataPath);
        var recovered = await WaitAsync(service.Http, "/healthz/ready", HttpStatusCode.OK);

        // Assert: named, then the database created again by the probe (as by the next write)
        Assert.Contains("DirectoryNotFound", unready.GetProperty("checks").GetProperty("database").GetProperty("description").GetString());
        Assert.Equal("unhealthy", unready.GetProperty("checks").GetProperty("outbox").GetProperty("status").GetString());
        Assert.Equal("healthy", recovered.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.True(File.Exists(Path.Combine(service.DataPath, "botservice.db")));
    }

    private static Task<RunningService> StartAsync() =>
        RunningService.StartHealthyAsync(RepoPaths.Knowledge, Path.Combine(Path.GetTempPath(), "botservice-it", "health-" + Guid.NewGuid().ToString("n")), null);

    /// <summary>Polls <paramref name="path"/> until it answers <paramref name="status"/> with every check named in
    /// <paramref name="failing"/> unhealthy. Each disk probe keeps its result for a second from its own last run, so
    /// one check can turn before another.</summary>
    private static async Task<JsonElement> WaitAsync(HttpClient http, string path, HttpStatusCode status, params string[] failing)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            var response = await http.GetAsync(path, timeout.Token);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(timeout.Token);
            if (response.StatusCode == status
                && failing.All(check => body.GetProperty("checks").GetProperty(check).GetProperty("status").GetString() == "unhealthy"))
            {
                return body;
            }

            await Task.Delay(100, timeout.Token);
        }
    }
}
