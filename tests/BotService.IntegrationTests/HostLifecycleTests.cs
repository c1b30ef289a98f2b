using System.Net;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests;

[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class HostLifecycleTests
{
    [Fact]
    public async Task Healthz_KnowledgeNeverLoaded_Returns503AndAskSaysTryLater()
    {
        // Arrange: a knowledge folder that does not exist, so no index is ever loaded.
        var root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
        var (app, http) = await ServiceFixture.StartAsync(Path.Combine(root, "missing"), Path.Combine(root, "data"),
            $"--Safety:RulesPath={Path.Combine(RepoPaths.Root, "knowledge", "safety", "rules.yaml")}");
        try
        {
            // Act
            var health = await http.GetAsync("/healthz");
            var ask = await http.PostAsync("/api/ask", new StringContent("{\"text\":\"price\"}", System.Text.Encoding.UTF8, "application/json"));

            // Assert
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ask.StatusCode);
            Assert.Equal("1", ask.Headers.RetryAfter?.ToString());
        }
        finally
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Start_DataFolderMissing_CreatesItOwnerOnly()
    {
        var root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
        var data = Path.Combine(root, "nested", "data");
        var (app, http) = await ServiceFixture.StartAsync(Path.Combine(RepoPaths.Root, "knowledge"), data);
        try
        {
            Assert.True(Directory.Exists(data));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(data));
        }
        finally
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Start_NoValidSafetyRules_RefusesToStart()
    {
        // Arrange: a rules file that is not valid YAML. Answering without the safety path would fail silently.
        var root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(root);
        var rules = Path.Combine(root, "rules.yaml");
        await File.WriteAllTextAsync(rules, "rules: [ {id: broken\n");

        // Act
        var start = () => ServiceFixture.StartAsync(Path.Combine(RepoPaths.Root, "knowledge"), Path.Combine(root, "data"), $"--Safety:RulesPath={rules}");

        // Assert
        var error = await Assert.ThrowsAsync<BotService.Safety.SafetyRulesException>(start);
        Assert.Contains("rules.yaml", error.Message, StringComparison.Ordinal);
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task Start_DataFolderOfARunningProcess_RefusesNamingTheFolder_AndStartsOnceThatProcessIsKilled()
    {
        // Arrange: a service process holding its data folder
        await using var first = await ServiceProcess.StartAsync([]);
        var start = () => ServiceFixture.StartAsync(RepoPaths.Knowledge, first.DataPath);

        // Act: a second service on the same folder (one escalation outbox, one SQLite file, two memories of numbers)
        var refused = await Record.ExceptionAsync(start);
        Faults.Run("kill", "-KILL", first.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await WaitExitedAsync(first);
        var (app, http) = await start();

        // Assert: refused with the folder named; once the holder is gone (even by kill -9) the folder is free
        try
        {
            Assert.NotNull(refused);
            Assert.Contains($"Another service process is using the data folder {first.DataPath}", refused.ToString(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz/live")).StatusCode);
        }
        finally
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task WaitExitedAsync(ServiceProcess process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!process.HasExited)
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    [Theory]
    [InlineData("PostgreSQL", null, "ConnectionStrings:BotService is not set")]
    [InlineData("Sqlite", "Host=127.0.0.1;Database=botservice", "set Storage:Provider=PostgreSQL")]
    public async Task Start_StorageConfigurationThatCannotWork_RefusesToStartNamingTheKey(string provider, string? connectionString, string expected)
    {
        // Arrange: a half-done switch of provider (the database itself being down is not a reason to refuse: see SafetyPathTests).
        var root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
        string[] args = ["--urls", "http://127.0.0.1:0", $"--Data:Path={Path.Combine(root, "data")}", $"--Knowledge:Path={RepoPaths.Knowledge}",
            $"--Storage:Provider={provider}", .. connectionString is null ? [] : new[] { $"--ConnectionStrings:BotService={connectionString}" }];
        await using var app = BotServiceApp.Build(args, b => b.Logging.ClearProviders());

        // Act
        var error = await Record.ExceptionAsync(() => app.StartAsync());

        // Assert
        Assert.NotNull(error);
        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
