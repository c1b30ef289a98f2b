using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests;

/// <summary>
/// The real service on a real loopback socket (port 0), with its own data folder and its own copy of the repository's
/// knowledge folder (so a test may edit articles without touching the repository).
/// </summary>
public sealed class ServiceFixture : IAsyncLifetime
{
    private RunningService? _service;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));

    public string KnowledgePath => Path.Combine(Root, "knowledge");

    public string DataPath => Path.Combine(Root, "data");

    public HttpClient Http => _service!.Http;

    public IServiceProvider Services => _service!.App.Services;

    public async Task InitializeAsync()
    {
        CopyDirectory(Path.Combine(RepoPaths.Root, "knowledge"), KnowledgePath);
        _service = await RunningService.StartHealthyAsync(KnowledgePath, Root, b => b.Logging.AddProvider(Logs));
    }

    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }
    }

    public LogCapture Logs { get; } = new();

    public static Task<(WebApplication App, HttpClient Http)> StartAsync(string knowledgePath, string dataPath, params string[] extra) =>
        StartAsync(knowledgePath, dataPath, null, extra);

    /// <summary>Starts the real service; every log line at every level goes to a <see cref="LogCapture"/>.</summary>
    public static async Task<(WebApplication App, HttpClient Http)> StartAsync(string knowledgePath, string dataPath,
        Action<WebApplicationBuilder>? configure, params string[] extra)
    {
        var app = BotServiceApp.Build(
        [
            "--urls", "http://127.0.0.1:0",
            $"--Knowledge:Path={knowledgePath}",
            $"--Data:Path={dataPath}",
            "--Knowledge:ReloadDelay=00:00:00.050",
            "--Logging:LogLevel:Default=Trace",
            "--Logging:LogLevel:Microsoft.AspNetCore=Trace",
            "--Logging:LogLevel:Microsoft.EntityFrameworkCore=Information", // every command it runs (values are never logged)
            .. TestStorage.ServiceArgs(dataPath), // SQLite in the data folder, or PostgreSQL in the PostgreSQL pass
            .. extra,
        ], builder =>
        {
            // Everything at Trace goes to the capture (and the run's log file); the console stays quiet.
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new LogCapture());
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
        return (app, http);
    }

    public static async Task WaitHealthyAsync(HttpClient http)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var response = await http.GetAsync("/healthz", timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(20, timeout.Token);
        }
    }

    public async Task<JsonElement> AskAsync(string text, string audience = "public")
    {
        var response = await Http.PostAsJsonAsync("/api/ask", new { text, audience });
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }
}
