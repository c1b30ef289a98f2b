using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>Creates the data folder at start-up, readable by the service's own user only (it will hold health data).</summary>
internal sealed partial class DataFolder(IOptions<DataOptions> options, IHostEnvironment env, ILogger<DataFolder> log) : IHostedService
{
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

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public static string Resolve(DataOptions options, IHostEnvironment env) =>
        Path.GetFullPath(Path.Combine(env.ContentRootPath, options.Path));

    [LoggerMessage(2001, LogLevel.Information, "Created data folder {Path}")]
    private static partial void Created(ILogger logger, string path);
}
