using System.Diagnostics;
using System.Text.RegularExpressions;
using BotService.Fuzz;
using BotService.TestSupport;

// Usage: dotnet run --project tests/BotService.Fuzz -c Release -- [inputs=100000] [seed=1] [concurrency=8]
// Starts the service (this configuration's build of src/BotService) on a loopback port with a scratch data folder,
// sends the inputs, then checks that the process is alive and /healthz/ready answers 200. Exit code 0 only if no
// input got a 5xx or no answer, and the service is alive and ready at the end.
var inputs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
var seed = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1;
var concurrency = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 8;

var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
var dll = Path.Combine(RepoPaths.Root, "src", "BotService", "bin", configuration, "net10.0", "BotService.dll");
var root = Path.Combine(Path.GetTempPath(), "botservice-fuzz", Guid.NewGuid().ToString("n"));
Directory.CreateDirectory(root);
var log = Path.Combine(root, "service.log");
var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = RepoPaths.Root, RedirectStandardOutput = true, RedirectStandardError = true };
foreach (var a in new[]
         {
             dll, "--urls", "http://127.0.0.1:0", $"--Data:Path={Path.Combine(root, "data")}", $"--Knowledge:Path={RepoPaths.Knowledge}",
             // One client address sends everything: token requests and the per-conversation buckets are raised so most
             // inputs reach the endpoints' own parsing; the rest still meet the limits (and the safety lane).
             "--DirectLine:TokenRequestsPerMinute=100000", "--RateLimits:PerConversation:Burst=50", "--RateLimits:PerConversation:PerMinute=1200",
             "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
         })
{
    psi.ArgumentList.Add(a);
}

using var service = Process.Start(psi)!;
var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
var errors = 0;
var lines = 0;
using var writer = new StreamWriter(log) { AutoFlush = true };
void OnLine(string? line)
{
    if (line is null)
    {
        return;
    }

    lock (writer)
    {
        writer.WriteLine(line);
        lines++;
        if (line.Contains("\"LogLevel\":\"Error\"", StringComparison.Ordinal) || line.Contains("\"LogLevel\":\"Critical\"", StringComparison.Ordinal))
        {
            errors++;
        }
    }

    if (Regex.Match(line, @"Now listening on: (http://127\.0\.0\.1:\d+)") is { Success: true } m)
    {
        listening.TrySetResult(new Uri(m.Groups[1].Value));
    }
}

service.OutputDataReceived += (_, e) => OnLine(e.Data);
service.ErrorDataReceived += (_, e) => OnLine(e.Data);
service.BeginOutputReadLine();
service.BeginErrorReadLine();

var exit = 1;
try
{
    var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(120));
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 })
    {
        BaseAddress = address,
        Timeout = TimeSpan.FromSeconds(30),
    };
    while (!(await http.GetAsync("/healthz")).IsSuccessStatusCode)
    {
        await Task.Delay(100);
    }

    var fuzzer = new Fuzzer(http, seed);
    await fuzzer.PrepareAsync(20, CancellationToken.None);
    Console.WriteLine($"fuzz: {inputs} inputs, seed {seed}, concurrency {concurrency}, against {address} (pid {service.Id})");
    var report = await fuzzer.RunAsync(inputs, concurrency, CancellationToken.None);
    var ready = await http.GetAsync("/healthz/ready");
    var rssMb = service.HasExited ? 0 : File.ReadLines($"/proc/{service.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] is var kb ? long.Parse(kb, System.Globalization.CultureInfo.InvariantCulture) / 1024 : 0;
    Console.WriteLine(report);
    foreach (var failure in report.Failures)
    {
        Console.WriteLine("  failure: " + failure);
    }

    Console.WriteLine($"service: {(service.HasExited ? "EXITED" : "alive")}, /healthz/ready {(int)ready.StatusCode}, RSS {rssMb} MB, " +
                      $"{lines} log lines, {errors} at Error or Critical (log: {log})");
    exit = report.ServerErrors == 0 && report.TransportErrors == 0 && !service.HasExited && ready.IsSuccessStatusCode ? 0 : 1;
    Console.WriteLine(exit == 0 ? "fuzz: passed" : "fuzz: FAILED");
}
finally
{
    if (!service.HasExited)
    {
        service.Kill(entireProcessTree: true);
        await service.WaitForExitAsync();
    }
}

return exit;
