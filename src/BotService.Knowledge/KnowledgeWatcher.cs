namespace BotService.Knowledge;

/// <summary>
/// Watches the knowledge folder and calls back once changes have settled for <c>debounce</c>, so an editor that
/// writes a file in several steps (or a save that renames a temporary file) causes one rebuild.
/// </summary>
public sealed class KnowledgeWatcher : IDisposable
{
    private readonly FileSystemWatcher _watcher;
    private readonly ITimer _timer;
    private readonly TimeSpan _debounce;

    public KnowledgeWatcher(string root, TimeSpan debounce, Action onChanged, TimeProvider? time = null)
    {
        _debounce = debounce;
        _timer = (time ?? TimeProvider.System).CreateTimer(_ => onChanged(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _watcher = new FileSystemWatcher(root)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        _watcher.Changed += OnEvent;
        _watcher.Created += OnEvent;
        _watcher.Deleted += OnEvent;
        _watcher.Renamed += OnEvent;
        _watcher.EnableRaisingEvents = true;
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
    }

    private void OnEvent(object sender, FileSystemEventArgs e) => _timer.Change(_debounce, Timeout.InfiniteTimeSpan);
}
