using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>
/// Creates the data folder at start-up, readable by the service's own user only (it will hold health data), and holds
/// an exclusive lock on <c>instance.lock</c> in it for as long as the service runs. The folder belongs to one process:
/// two would replay and append to one escalation outbox and, on SQLite, hand out the same sequence numbers from two
/// memories (decision 0017). A second process on the same folder therefore refuses to start, naming the folder; the
/// lock is the operating system's (<c>flock</c> on Linux), so it is released when the holder exits, even by kill -9.
/// </summary>
internal sealed partial class DataFolder(IOptions<DataOptions> options, IHostEnvironment env, ILogger<DataFolder> log) : IHostedService, IDisposable
{
    public const string LockFileName = "instance.lock";

    private FileStream? _lock;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var path = Resolve(options.Value, env);
        if (!Directory.Exists(path))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(path);
            }
            else
            {
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }

            Created(log, path);
        }

        var lockPath = Path.Combine(path, LockFileName);
        try
        {
            _lock = new FileStream(lockPath, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
            });
        }
        catch (IOException) when (File.Exists(lockPath) && HeldByAnother(lockPath))
        {
            throw new InvalidOperationException(
                $"Another service process is using the data folder {path} (it holds {LockFileName}). Give each instance a Data:Path of its own.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A folder that cannot be written (read-only, full) must not stop the service: the crisis path works from
            // memory and /healthz/ready reports the folder. Only another holder of the lock is a reason to refuse.
            LockUnavailable(log, path, e.GetType().Name);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _lock?.Dispose();
        _lock = null;
    }

    /// <summary>Whether the lock file opens for reading but not exclusively: then someone holds it.</summary>
    private static bool HeldByAnother(string lockPath)
    {
        try
        {
            using var probe = new FileStream(lockPath, FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static string Resolve(DataOptions options, IHostEnvironment env) =>
        Path.GetFullPath(Path.Combine(env.ContentRootPath, options.Path));

    [LoggerMessage(2001, LogLevel.Information, "Created data folder {Path}")]
    private static partial void Created(ILogger logger, string path);

    [LoggerMessage(2002, LogLevel.Warning, "Could not take the lock on data folder {Path} ({Error}); starting without it")]
    private static partial void LockUnavailable(ILogger logger, string path, string error);
}
