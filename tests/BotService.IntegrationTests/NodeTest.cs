using System.Diagnostics;

namespace BotService.IntegrationTests;

/// <summary>
/// Runs one named test of a Node test file in tests/node (the official npm clients: botframework-directlinejs,
/// botbuilder; installed by tests/run.sh with <c>npm ci</c>) against a running service, so each Node test counts, and
/// fails, on its own in the run's totals.
/// </summary>
public static class NodeTest
{
    public static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "node");

    /// <returns>What the test printed (its TAP output), for figures it reports.</returns>
    public static async Task<string> RunAsync(string file, string testName, params (string Name, string Value)[] env)
    {
        // Arrange
        Assert.True(Directory.Exists(Path.Combine(Folder, "node_modules")),
            "tests/node/node_modules is missing: run `npm ci` in tests/node (bash tests/run.sh does it)");
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "--test", "--test-reporter=tap", "--test-name-pattern", "^" + testName + "$", file })
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in env)
        {
            start.Environment[name] = value;
        }

        // Act
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            throw;
        }

        // Assert: it ran exactly this one test, and it passed.
        var output = await stdout + await stderr;
        Assert.True(node.ExitCode == 0, $"node test '{testName}' failed:\n{output}");
        Assert.Contains("# pass 1", output, StringComparison.Ordinal);
        Assert.Contains("# fail 0", output, StringComparison.Ordinal);
        return output;
    }
}
