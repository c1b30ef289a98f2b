namespace BotService.UnitTests.Safety;

/// <summary>Finds the real files in the repository (no copies), walking up from the test binaries.</summary>
internal static class SafetyTestFiles
{
    public static string RepoRoot { get; } = FindRoot();

    public static string RulesPath => Path.Combine(RepoRoot, "knowledge", "safety", "rules.yaml");

    public static string CrisisRepliesPath => Path.Combine(RepoRoot, "knowledge", "safety", "crisis-replies.yaml");

    public static string CorpusPath => Path.Combine(RepoRoot, "tests", "BotService.UnitTests", "Safety", "safety-corpus.jsonl");

    public static string ConversationsPath => Path.Combine(RepoRoot, "tests", "BotService.UnitTests", "Safety", "safety-conversations.jsonl");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BotService.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("BotService.sln not found above " + AppContext.BaseDirectory);
    }
}
