using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BotService.IntegrationTests;

/// <summary>
/// Captures every log line the service writes, at every level, with exceptions and scopes, so tests can check that
/// no message text ever reaches a log. When BOTSERVICE_REPORTS is set (tests/run.sh), every line also goes to
/// service-logs.txt there, which run.sh greps for the test messages after the whole run.
/// </summary>
public sealed class LogCapture : ILoggerProvider, ISupportExternalScope
{
    private static readonly Lock FileLock = new();
    private static readonly StreamWriter? File = OpenFile();

    private IExternalScopeProvider? _scopes;

    private static StreamWriter? OpenFile()
    {
        if (Environment.GetEnvironmentVariable("BOTSERVICE_REPORTS") is not { Length: > 0 } dir)
        {
            return null;
        }

        Directory.CreateDirectory(dir);
        var writer = new StreamWriter(Path.Combine(dir, "service-logs.txt"), append: true) { AutoFlush = false };
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            lock (FileLock)
            {
                writer.Flush();
                writer.Dispose();
            }
        };
        return writer;
    }

    public ConcurrentQueue<string> Lines { get; } = new();

    /// <summary>Adds a line another process wrote (a service started as its own process) to the run's log file.</summary>
    public static void Record(string line)
    {
        if (File is not null)
        {
            lock (FileLock)
            {
                File.Write(line);
                File.Write('\n');
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        Lines.Enqueue(line);
        if (File is not null)
        {
            lock (FileLock)
            {
                File.Write(line);
                File.Write('\n');
            }
        }
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new List<string>();
            owner._scopes?.ForEachScope((scope, list) => list.Add(scope?.ToString() ?? string.Empty), scopes);
            var structured = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? string.Join(' ', pairs.Select(p => $"{p.Key}={p.Value}"))
                : string.Empty;
            owner.Add($"{logLevel} {category}[{eventId.Id}] {formatter(state, exception)} | {structured} | {string.Join(" / ", scopes)} | {exception}");
        }
    }
}
