using System.Diagnostics;
using BotService.DirectLine;

namespace BotService.IntegrationTests.DirectLine;

/// <summary>
/// The official <c>botframework-directlinejs</c> client (tests/node, installed by tests/run.sh with <c>npm ci</c>)
/// against the real service: each test here runs one test of <c>tests/node/directline.test.mjs</c> in Node, so each
/// counts (and fails) on its own in the run's totals.
/// </summary>
public sealed class DirectLineClientTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    private static readonly string NodeFolder = Path.Combine(RepoPaths.Root, "tests", "node");

    [Fact]
    public Task DirectLineJs_WebSocket_StartPostReceive() => RunNodeAsync("websocket start post receive");

    [Fact]
    public Task DirectLineJs_Polling_StartPostReceive() => RunNodeAsync("polling start post receive");

    [Fact]
    public Task DirectLineJs_SocketDropped_ReconnectsAndResumesAfterWatermark() => RunNodeAsync("websocket reconnect after drop resumes after the watermark");

    [Fact]
    public Task DirectLineJs_RefreshToken_SameUserAndConversation() => RunNodeAsync("token refresh gives a new token for the same user and conversation");

    [Fact]
    public Task DirectLineJs_TokenExpires_ExpiredTokenStatus() => RunNodeAsync("expired token gives ExpiredToken",
        ("DL_SHORT_TOKEN", service.Mint(DirectLineChannel.NewUserId(), DirectLineChannel.NewConversationId(), TimeSpan.FromSeconds(4)).Token));

    [Fact]
    public Task DirectLineJs_Emergency_CrisisReplyFirst() => RunNodeAsync("emergency gets the crisis reply first");

    [Fact]
    public Task DirectLineJs_Reload_ResumesHistoryWithSameIds() => RunNodeAsync("reload resumes the history with the same ids");

    private async Task RunNodeAsync(string testName, params (string Name, string Value)[] env)
    {
        // Arrange
        Assert.True(Directory.Exists(Path.Combine(NodeFolder, "node_modules", "botframework-directlinejs")),
            "tests/node/node_modules is missing: run `npm ci` in tests/node (bash tests/run.sh does it)");
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = NodeFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "--test", "--test-reporter=tap", "--test-name-pattern", "^" + testName + "$", "directline.test.mjs" })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DL_BASE"] = service.Http.BaseAddress!.ToString().TrimEnd('/');
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
    }
}
