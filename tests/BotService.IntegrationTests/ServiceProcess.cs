using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BotService.IntegrationTests;

/// <summary>
/// The service as its own process (<c>dotnet BotService.dll</c>, the build's output, with the repository's
/// appsettings.json: JSON console logs), on a loopback port it picks itself, with a scratch data folder. For what an
/// in-process host cannot show alone: its console output, its own /metrics (the meters of other hosts in the test
/// process would be mixed in), surviving malformed input. Every line it writes is kept (and, under tests/run.sh,
/// added to the run's log for the privacy grep).
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServiceProcess(Process process, string root)
    {
        _process = process;
        Root = root;
    }

    public string Root { get; }

    public string DataPath => Path.Combine(Root, "data");

    public HttpClient Http { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Every line of standard output and error, in order.</summary>
    public ConcurrentQueue<string> Output { get; } = new();

    /// <summary>The service's own build output, next to this test's (same configuration).</summary>
    public static string ServiceDll
    {
        get
        {
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/{Debug|Release}/net10.0/
            return Path.Combine(RepoPaths.Root, "src", "BotService", "bin", configuration, "net10.0", "BotService.dll");
        }
    }

    /// <summary>Starts the service and waits until <c>/healthz</c> answers 200.</summary>
    /// <param name="environment">Extra environment variables for the process (e.g. <c>OTEL_BSP_SCHEDULE_DELAY</c>).</param>
    /// <param name="workingDirectory">Its working folder, so its content root if that has an appsettings.json; default the repo.</param>
    public static async Task<ServiceProcess> StartAsync(IEnumerable<string> args, IDictionary<string, string>? environment = null,
        string? workingDirectory = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "botservice-it", "proc-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(root);
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(ServiceDll);
        var data = Path.Combine(root, "data");
        foreach (var a in new[] { "--urls", "http://127.0.0.1:0", $"--Data:Path={data}", $"--Knowledge:Path={RepoPaths.Knowledge}" }
                     .Concat(TestStorage.ServiceArgs(data)).Concat(args)) // SQLite, or PostgreSQL in the PostgreSQL pass
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        var process = Process.Start(psi)!;
        var service = new ServiceProcess(process, root);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            service.Output.Enqueue(line);
            LogCapture.Record("process: " + line);
            if (Listening().Match(line) is { Success: true } m)
            {
                listening.TrySetResult(new Uri(m.Groups[1].Value));
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            service.BaseAddress = await listening.Task.WaitAsync(TimeSpan.FromSeconds(90));
            service.Http = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            while (!(await service.Http.GetAsync("/healthz", timeout.Token)).IsSuccessStatusCode)
            {
                await Task.Delay(50, timeout.Token);
            }
        }
        catch
        {
            await service.DisposeAsync();
            throw new InvalidOperationException("The service process did not start: " + string.Join('\n', service.Output.TakeLast(20)));
        }

        return service;
    }

    /// <summary>Asks the process to stop (SIGTERM, as a service manager does) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            Faults.Run("kill", "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        try
        {
            await StopAsync();
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
        TestStorage.DropUnder(Root);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    /// <summary>A Web Chat token and its started conversation, as the chat page gets them.</summary>
    public async Task<(string Token, string ConversationId)> StartConversationAsync()
    {
        var issued = await Http.PostAsync("/api/webchat/token", null);
        issued.EnsureSuccessStatusCode();
        var body = await issued.Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("token").GetString()!;
        using var start = new HttpRequestMessage(HttpMethod.Post, "/v3/directline/conversations");
        start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        (await Http.SendAsync(start)).EnsureSuccessStatusCode();
        return (token, body.GetProperty("conversationId").GetString()!);
    }

    // The JSON console formatter writes "Now listening on: http://127.0.0.1:NNNNN" in the Message field.
    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();
}
