namespace BotService.Hosting;

/// <summary>
/// Where appsettings.json, knowledge/ and (by default) data/ live. The working folder when it has appsettings.json
/// (the README's <c>dotnet run --project src/BotService</c> from the repo root); otherwise the nearest folder above the
/// binary that has one (tests, benchmarks, a run from elsewhere); otherwise the working folder.
/// </summary>
internal static class ContentRoot
{
    public static string Find()
    {
        var cwd = Directory.GetCurrentDirectory();
        if (File.Exists(Path.Combine(cwd, "appsettings.json")))
        {
            return cwd;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "appsettings.json")) && Directory.Exists(Path.Combine(dir.FullName, "knowledge")))
            {
                return dir.FullName;
            }
        }

        return cwd;
    }
}
