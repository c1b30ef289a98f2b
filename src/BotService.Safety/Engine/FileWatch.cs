using Microsoft.Extensions.Logging;

namespace BotService.Safety;

/// <summary>
/// Watches one file (including editors that save by writing a temp file and renaming it) and calls back once the
/// file has been quiet for the debounce interval. The callback runs on a timer thread.
/// </summary>
internal sealed partial class FileWatch : IDisposable
{
    private readonly string _fullPath;
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer _timer;
    private readonly TimeSpan _debounce;
    private readonly ILogger _log;
    private int _disposed;

    public FileWatch(string path, TimeSpan debounce, TimeProvider time, Action changed, ILogger log)
    {
        _fullPath = Path.GetFullPath(path);
        _debounce = debounce;
        _log = log;
        _timer = time.CreateTimer(_ =>
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                changed();
            }
        }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        var directory = Path.GetDirectoryName(_fullPath);
        if (directory is null || !Directory.Exists(directory))
        {
            WatchUnavailable(log, path);
            return;
        }

        try
        {
            _watcher = new FileSystemWatcher(directory)
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size |
                               NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            _watcher.Changed += OnEvent;
            _watcher.Created += OnEvent;
            _watcher.Deleted += OnEvent;
            _watcher.Renamed += OnEvent;
            _watcher.Error += (_, e) => WatchFailed(_log, _fullPath, e.GetException().GetType().Name);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
        {
            WatchFailed(log, _fullPath, e.GetType().Name);
            _watcher?.Dispose();
            _watcher = null;
        }
    }

    private void OnEvent(object sender, FileSystemEventArgs e)
    {
        var ours = PathEquals(e.FullPath) || (e is RenamedEventArgs r && PathEquals(r.OldFullPath));
        if (ours && Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Disposed between the check and the call.
            }
        }
    }

    private bool PathEquals(string other) => string.Equals(Path.GetFullPath(other), _fullPath, StringComparison.Ordinal);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _watcher?.Dispose();
        _timer.Dispose();
    }

    [LoggerMessage(3040, LogLevel.Warning, "Cannot watch {Path}: its folder does not exist; edits need a restart")]
    private static partial void WatchUnavailable(ILogger logger, string path);

    [LoggerMessage(3041, LogLevel.Warning, "Watching {Path} failed ({ExceptionType}); edits may need a restart")]
    private static partial void WatchFailed(ILogger logger, string path, string exceptionType);
}
