namespace BotService.TestSupport;

/// <summary>
/// Finds the repository from a test or benchmark binary by walking up from its folder (BenchmarkDotNet runs in a
/// generated child process under bin/, so the working directory says nothing). Linked into every test project.
/// </summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Knowledge => Path.Combine(Root, "knowledge");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BotService.sln")) && Directory.Exists(Path.Combine(dir.FullName, "knowledge")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No folder above {AppContext.BaseDirectory} holds both BotService.sln and knowledge/.");
    }
}
