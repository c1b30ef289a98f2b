using Xunit.Abstractions;

namespace BotService.UnitTests;

/// <summary>
/// Figures a test run prints: to the test's output and, when <c>BOTSERVICE_REPORTS</c> names a folder (tests/run.sh
/// sets it and prints the files at the end), appended to a file there.
/// </summary>
internal static class TestReport
{
    public static void Write(ITestOutputHelper output, string file, IEnumerable<string> lines)
    {
        var all = lines.ToList();
        foreach (var line in all)
        {
            output.WriteLine(line);
        }

        var folder = Environment.GetEnvironmentVariable("BOTSERVICE_REPORTS");
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
            File.AppendAllLines(Path.Combine(folder, file), all);
        }
    }
}
