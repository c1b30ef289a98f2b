using System.Text.Json.Nodes;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// appsettings.json is reloaded when it changes, by polling the settings files, not by watching the content root
/// recursively: the default watcher woke the process for every write under it, the data folder's journal included
/// (<c>SettingsFiles</c>, docs/benchmarks.md "The settings watcher").
/// </summary>
public sealed class SettingsReloadTests : IDisposable
{
    private readonly string _contentRoot = Path.Combine(Path.GetTempPath(), "botservice-it", "root-" + Guid.NewGuid().ToString("n"));

    public void Dispose()
    {
        if (Directory.Exists(_contentRoot))
        {
            Directory.Delete(_contentRoot, recursive: true);
        }
    }

    [Fact]
    public async Task ChangedLogLevelInAppSettings_TakesEffectWithoutRestart_AndTheContentRootIsNotWatchedRecursively()
    {
        // Arrange: a content root of its own (the repo's settings) with 60 folders under it, as a data folder may have
        Directory.CreateDirectory(_contentRoot);
        for (var i = 0; i < 60; i++)
        {
            Directory.CreateDirectory(Path.Combine(_contentRoot, "data-like", $"d{i}"));
        }

        var settingsFile = Path.Combine(_contentRoot, "appsettings.json");
        var settings = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "appsettings.json")))!;
        await File.WriteAllTextAsync(settingsFile, settings.ToJsonString());
        await using var service = await ServiceProcess.StartAsync([], workingDirectory: _contentRoot);
        const string requestLogs = "Microsoft.AspNetCore.Hosting.Diagnostics";
        (await service.Http.GetAsync("/healthz")).EnsureSuccessStatusCode();
        Assert.DoesNotContain(service.Output, l => l.Contains(requestLogs, StringComparison.Ordinal)); // Warning and up only

        // Act: turn the request logs on in the file
        settings["Logging"]!["LogLevel"]![requestLogs] = "Information";
        await File.WriteAllTextAsync(settingsFile, settings.ToJsonString());
        var seen = false;
        for (var deadline = DateTime.UtcNow.AddSeconds(20); !seen && DateTime.UtcNow < deadline; await Task.Delay(250))
        {
            (await service.Http.GetAsync("/healthz")).EnsureSuccessStatusCode();
            seen = service.Output.Any(l => l.Contains(requestLogs, StringComparison.Ordinal));
        }

        // Assert
        Assert.True(seen, "the changed log level was not applied within 20 s");
        var watches = InotifyWatches(service.ProcessId);
        Assert.True(watches < 60, $"{watches} inotify watches: the content root's folders are watched");
    }

    /// <summary>The inotify watches the process holds, from <c>/proc/PID/fdinfo</c> (one <c>inotify wd:</c> line each).</summary>
    private static int InotifyWatches(int pid) =>
        Directory.GetFiles($"/proc/{pid}/fd")
            .Where(fd => new FileInfo(fd).LinkTarget == "anon_inode:inotify")
            .Sum(fd => File.ReadLines($"/proc/{pid}/fdinfo/{Path.GetFileName(fd)}").Count(l => l.StartsWith("inotify wd:", StringComparison.Ordinal)));
}
