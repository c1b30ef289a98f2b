using System.Globalization;
using System.Text.Json;
using BotService.Safety;
using Xunit.Abstractions;

namespace BotService.UnitTests.Safety;

/// <summary>
/// Classifies the labelled corpus (safety-corpus.jsonl) and reports per-level recall, per-group accuracy and the
/// false-alarm rate, for the tuning part and the holdout part separately. Fails below the agreed floors: the tuning
/// part's are the targets; the holdout's (messages written blind, never looked at while writing rules) sit just under
/// its current figures, so a rules change that loses recall on unseen wording fails, without the holdout becoming
/// something to tune against.
/// Figures go to the test output and, when BOTSERVICE_REPORTS is set, are appended to $BOTSERVICE_REPORTS/safety.txt.
/// </summary>
[Collection(SafetyCollection.Name)]
public sealed class SafetyCorpusTests(ClassifierFixture fixture, ITestOutputHelper output)
{
    private const double MinEmergencyRecall = 0.95;
    private const double MinUrgentRecall = 0.90;
    private const double MaxFalseAlarmRate = 0.02;
    private const double MinHoldoutEmergencyRecall = 0.65;
    private const double MinHoldoutUrgentRecall = 0.70;

    [Fact]
    public void Classify_LabelledCorpus_MeetsRecallAndFalseAlarmFloors()
    {
        // Arrange
        var items = LoadCorpus();
        Assert.True(items.Count >= 150, $"the corpus needs at least 150 messages, has {items.Count}");

        // Act
        var results = items.Select(i => (Item: i, Level: fixture.Classifier.Classify(i.Text).Level)).ToList();

        // Assert
        var all = Score(results);
        var tuning = Score(results.Where(r => !r.Item.Holdout).ToList());
        var holdout = Score(results.Where(r => r.Item.Holdout).ToList());

        var lines = new List<string>
        {
            $"safety corpus {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC, rules {fixture.RuleSet.Fingerprint}, " +
            $"{items.Count} messages ({results.Count(r => r.Item.Holdout)} holdout)",
        };
        lines.AddRange(all.Describe("all"));
        lines.AddRange(tuning.Describe("tuning"));
        lines.AddRange(holdout.Describe("holdout"));
        // Misses are listed for the tuning part only: the holdout texts are not looked at while tuning rules.
        lines.AddRange(results
            .Where(r => !r.Item.Holdout && !Correct(r.Item.Level, r.Level))
            .Select(r => $"  miss (tuning) expected {r.Item.Level} got {r.Level}: {r.Item.Text}"));
        Report(lines);

        Assert.True(tuning.EmergencyRecall >= MinEmergencyRecall, $"emergency recall {tuning.EmergencyRecall:F3} < {MinEmergencyRecall}");
        Assert.True(tuning.UrgentRecall >= MinUrgentRecall, $"urgent recall {tuning.UrgentRecall:F3} < {MinUrgentRecall}");
        Assert.True(all.FalseAlarmRate <= MaxFalseAlarmRate, $"false alarms {all.FalseAlarmRate:F3} > {MaxFalseAlarmRate}");
        Assert.True(holdout.EmergencyRecall >= MinHoldoutEmergencyRecall,
            $"holdout emergency recall {holdout.EmergencyRecall:F3} < {MinHoldoutEmergencyRecall}");
        Assert.True(holdout.UrgentRecall >= MinHoldoutUrgentRecall, $"holdout urgent recall {holdout.UrgentRecall:F3} < {MinHoldoutUrgentRecall}");
    }

    [Fact]
    public void Corpus_EveryLine_HasKnownLevelAndGroup()
    {
        // Arrange
        string[] groups = ["emergency", "urgent", "informational", "negated", "idiom", "third-person", "typo", "indirect", "benign"];

        // Act
        var items = LoadCorpus();

        // Assert
        Assert.All(items, i => Assert.Contains(i.Group, groups));
        Assert.All(items, i => Assert.False(string.IsNullOrWhiteSpace(i.Text)));
        Assert.Equal(items.Count, items.Select(i => i.Text).Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }

    /// <summary>Urgent items count as caught when classified urgent or emergency (the host treats both as a person's job).</summary>
    private static bool Correct(SafetyLevel expected, SafetyLevel actual) =>
        expected == SafetyLevel.Urgent ? actual >= SafetyLevel.Urgent : actual == expected;

    private void Report(List<string> lines)
    {
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }

        var reports = Environment.GetEnvironmentVariable("BOTSERVICE_REPORTS");
        if (!string.IsNullOrWhiteSpace(reports))
        {
            Directory.CreateDirectory(reports);
            File.AppendAllLines(Path.Combine(reports, "safety.txt"), lines.Append(""));
        }
    }

    private static Scores Score(List<(CorpusItem Item, SafetyLevel Level)> results) => new(results);

    internal static List<CorpusItem> LoadCorpus()
    {
        var items = new List<CorpusItem>();
        foreach (var (line, number) in File.ReadLines(SafetyTestFiles.CorpusPath).Select((l, n) => (l, n + 1)))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var level = root.GetProperty("level").GetString() switch
            {
                "emergency" => SafetyLevel.Emergency,
                "urgent" => SafetyLevel.Urgent,
                "none" => SafetyLevel.None,
                var other => throw new InvalidDataException($"safety-corpus.jsonl:{number}: unknown level '{other}'"),
            };
            items.Add(new CorpusItem(
                root.GetProperty("text").GetString()!,
                level,
                root.GetProperty("group").GetString()!,
                root.TryGetProperty("holdout", out var h) && h.GetBoolean()));
        }

        return items;
    }

    internal sealed record CorpusItem(string Text, SafetyLevel Level, string Group, bool Holdout);

    private sealed class Scores(List<(CorpusItem Item, SafetyLevel Level)> results)
    {
        public double EmergencyRecall => Rate(r => r.Item.Level == SafetyLevel.Emergency, r => r.Level == SafetyLevel.Emergency);

        public double UrgentRecall => Rate(r => r.Item.Level == SafetyLevel.Urgent, r => r.Level >= SafetyLevel.Urgent);

        public double NoneAccuracy => Rate(r => r.Item.Level == SafetyLevel.None, r => r.Level == SafetyLevel.None);

        public double FalseAlarmRate => Rate(r => r.Item.Level == SafetyLevel.None, r => r.Level == SafetyLevel.Emergency);

        public IEnumerable<string> Describe(string part)
        {
            var n = results.Count;
            yield return string.Create(CultureInfo.InvariantCulture,
                $"[{part}] n={n} emergency recall {EmergencyRecall:F3} ({Count(SafetyLevel.Emergency)}), " +
                $"urgent recall (urgent or emergency) {UrgentRecall:F3} ({Count(SafetyLevel.Urgent)}), " +
                $"none correct {NoneAccuracy:F3} ({Count(SafetyLevel.None)}), " +
                $"false alarms (none -> emergency) {FalseAlarmRate:F3}");
            foreach (var group in results.GroupBy(r => r.Item.Group).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var correct = group.Count(r => Correct(r.Item.Level, r.Level));
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"[{part}]   group {group.Key,-13} {correct}/{group.Count()} accuracy {(double)correct / group.Count():F3}");
            }
        }

        private int Count(SafetyLevel level) => results.Count(r => r.Item.Level == level);

        private double Rate(Func<(CorpusItem Item, SafetyLevel Level), bool> pool, Func<(CorpusItem Item, SafetyLevel Level), bool> hit)
        {
            var items = results.Where(pool).ToList();
            return items.Count == 0 ? 1.0 : (double)items.Count(hit) / items.Count;
        }
    }
}
