using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;

namespace BotService.Hosting;

/// <summary>
/// appsettings.json and appsettings.{Environment}.json are still reloaded when they change (log levels take effect
/// without a restart), but noticed by looking at those files every 4 seconds instead of by ASP.NET Core's default
/// watcher, which watches the whole content root recursively. With the default <c>Data:Path</c> (./data, under the
/// content root) every write to the transcript's SQLite journal and to the escalation outbox woke the process with a
/// change event to filter and drop: 95–107 µs of CPU per <c>/api/messages</c> request against 71–83 µs with the data
/// folder elsewhere (docs/benchmarks.md, "The settings watcher"). A repo checkout as content root held 4,983 inotify
/// watches. An operator's <c>hostBuilder:reloadConfigOnChange=false</c> (command line or
/// <c>DOTNET_hostBuilder__reloadConfigOnChange</c>) still turns reloading off.
/// </summary>
internal static class SettingsFiles
{
    private const string ReloadKey = "hostBuilder:reloadConfigOnChange";

    /// <summary>The host builder's arguments: the default watcher off, whatever the operator asked.</summary>
    public static string[] WithoutDefaultWatcher(string[] args) => [.. args, $"--{ReloadKey}=false"];

    /// <summary>Whether the operator wants the settings files reloaded (the host's own default: yes).</summary>
    public static bool ReloadWanted(string[] args)
    {
        var asked = new ConfigurationBuilder().AddEnvironmentVariables("DOTNET_").AddCommandLine(args).Build()[ReloadKey];
        return !bool.TryParse(asked, out var reload) || reload;
    }

    /// <summary>Makes the host's settings-file sources (added without reloading) reload, by polling.</summary>
    public static void ReloadByPolling(ConfigurationManager configuration, string contentRoot)
    {
        PhysicalFileProvider? polling = null;
        for (var i = 0; i < configuration.Sources.Count; i++)
        {
            if (configuration.Sources[i] is JsonConfigurationSource { ReloadOnChange: false, Path: { } path } json
                && path.StartsWith("appsettings", StringComparison.OrdinalIgnoreCase))
            {
                polling ??= new PhysicalFileProvider(contentRoot) { UsePollingFileWatcher = true, UseActivePolling = true };
                configuration.Sources[i] = new JsonConfigurationSource
                {
                    Path = path,
                    Optional = json.Optional,
                    ReloadOnChange = true,
                    ReloadDelay = json.ReloadDelay,
                    FileProvider = polling,
                };
            }
        }
    }
}
