namespace BotService.Benchmarks;

/// <summary>
/// Finds the repository's <c>knowledge/</c> folder. BenchmarkDotNet runs each benchmark in a generated child process
/// under <c>bin/</c>, so the working directory says nothing: walk up from the assembly instead.
/// </summary>
internal static class RepositoryPaths
{
    public static string KnowledgeRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var knowledge = Path.Combine(dir.FullName, "knowledge");
            if (Directory.Exists(knowledge) && File.Exists(Path.Combine(dir.FullName, "BotService.sln")))
            {
                return knowledge;
            }
        }

        throw new DirectoryNotFoundException(
            $"No folder above {AppContext.BaseDirectory} holds both knowledge/ and BotService.sln.");
    }
}
