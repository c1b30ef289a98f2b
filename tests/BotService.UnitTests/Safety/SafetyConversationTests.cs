using System.Globalization;
using System.Text.Json;
using BotService.Safety;
using Xunit.Abstractions;

namespace BotService.UnitTests.Safety;

/// <summary>
/// Conversations of two to four messages (safety-conversations.jsonl, written blind from the level definitions, never
/// from the rules), most of them alarming only across messages, read the way the service reads a conversation's turns
/// (decision 0029): each message classified alone, then with up to three earlier ones. A conversation's level is the
/// highest its messages got. Reports each level's recall and the alarms on harmless conversations, for the tuning part
/// and the holdout part separately, and fails below floors set just under the figures the rules had when this was
/// written, so a change that loses what reading together catches fails. The holdout's misses are never printed.
/// </summary>
[Collection(SafetyCollection.Name)]
public sealed class SafetyConversationTests(ClassifierFixture fixture, ITestOutputHelper output)
{
    private const int EarlierMessages = 3; // the service's default (Safety:EarlierMessages)

    [Fact]
    public void ReadWithEarlier_BlindConversations_MeetRecallAndAlarmFloors()
    {
        // Arrange
        var conversations = Load();

        // Act
        var results = conversations.Select(c => (Conversation: c, Level: Read(c.Messages))).ToList();

        // Assert
        var tuning = new Scores(results.Where(r => !r.Conversation.Holdout).ToList());
        var holdout = new Scores(results.Where(r => r.Conversation.Holdout).ToList());
        var lines = new List<string> { $"safety conversations, rules {fixture.RuleSet.Fingerprint}, {results.Count} conversations" };
        lines.Add(tuning.Describe("tuning"));
        lines.Add(holdout.Describe("holdout"));
        lines.AddRange(results.Where(r => !r.Conversation.Holdout && r.Level != r.Conversation.Level)
            .Select(r => $"  miss (tuning) expected {r.Conversation.Level} got {r.Level}: {string.Join(" || ", r.Conversation.Messages)}"));
        foreach (var line in lines)
        {
            output.WriteLine(line);
        }

        // Tuning part, 2026-11-25: emergency 25/30, urgent 13/14, one harmless conversation made an emergency (medicines
        // "lined up on the counter" for an intake photo). Holdout: emergency 9/29, urgent 4/12, none made an emergency.
        Assert.True(tuning.EmergencyRecall >= 0.8, tuning.Describe("tuning"));
        Assert.True(tuning.UrgentRecall >= 0.85, tuning.Describe("tuning"));
        Assert.True(tuning.EmergencyAlarms <= 1, tuning.Describe("tuning"));
        Assert.True(holdout.EmergencyRecall >= 0.28, holdout.Describe("holdout"));
        Assert.True(holdout.UrgentRecall >= 0.30, holdout.Describe("holdout"));
        Assert.True(holdout.EmergencyAlarms <= 1, holdout.Describe("holdout"));
    }

    [Fact]
    public void ReadWithEarlier_MessagesAlarmingOnlyTogether_RaisedOnceWithSpansInTheMessage()
    {
        // Arrange
        string[] messages = ["i bought a gun yesterday", "i can't take it anymore", "are you there?"];

        // Act
        var levels = new List<SafetyAssessment>();
        var earlier = new List<EarlierMessage>();
        foreach (var text in messages)
        {
            var assessment = fixture.Classifier.ReadWithEarlier(text, fixture.Classifier.Classify(text), earlier);
            levels.Add(assessment);
            earlier.Add(new EarlierMessage(text, assessment.Level));
        }

        // Assert: the second is an emergency only with the first; the third is not raised again for the same words
        Assert.Equal([SafetyLevel.None, SafetyLevel.Emergency, SafetyLevel.None], levels.Select(a => a.Level));
        Assert.Equal(SafetyLevel.Urgent, fixture.Classifier.Classify(messages[1]).Level);
        Assert.Contains(levels[1].Reasons, r => r.RuleId == ConversationReading.RuleId);
        Assert.Contains(levels[1].Reasons, r => r.RuleId == "means-access" && r.Length == 0); // "gun" is in the first message
        Assert.All(levels[1].Reasons, r => Assert.InRange(r.Start + r.Length, 0, messages[1].Length));
    }

    private SafetyLevel Read(IReadOnlyList<string> messages)
    {
        var earlier = new List<EarlierMessage>();
        var highest = SafetyLevel.None;
        foreach (var text in messages)
        {
            var assessment = fixture.Classifier.ReadWithEarlier(text, fixture.Classifier.Classify(text), earlier.TakeLast(EarlierMessages).ToList());
            earlier.Add(new EarlierMessage(text, assessment.Level));
            highest = assessment.Level > highest ? assessment.Level : highest;
        }

        return highest;
    }

    private static List<Conversation> Load() => File.ReadLines(SafetyTestFiles.ConversationsPath)
        .Where(l => !string.IsNullOrWhiteSpace(l))
        .Select(l =>
        {
            var root = JsonDocument.Parse(l).RootElement;
            return new Conversation(
                root.GetProperty("messages").EnumerateArray().Select(m => m.GetString()!).ToArray(),
                Enum.Parse<SafetyLevel>(root.GetProperty("level").GetString()!, ignoreCase: true),
                root.GetProperty("holdout").GetBoolean());
        })
        .ToList();

    private sealed record Conversation(string[] Messages, SafetyLevel Level, bool Holdout);

    private sealed class Scores(List<(Conversation Conversation, SafetyLevel Level)> results)
    {
        public double EmergencyRecall => Rate(SafetyLevel.Emergency, l => l == SafetyLevel.Emergency);

        /// <summary>Urgent conversations count as caught at urgent or emergency (both are a person's job).</summary>
        public double UrgentRecall => Rate(SafetyLevel.Urgent, l => l >= SafetyLevel.Urgent);

        public int EmergencyAlarms => results.Count(r => r.Conversation.Level == SafetyLevel.None && r.Level == SafetyLevel.Emergency);

        private int UrgentAlarms => results.Count(r => r.Conversation.Level == SafetyLevel.None && r.Level == SafetyLevel.Urgent);

        public string Describe(string part) => string.Create(CultureInfo.InvariantCulture,
            $"[{part}] emergency recall {EmergencyRecall:F3} of {Count(SafetyLevel.Emergency)}, urgent recall {UrgentRecall:F3} of " +
            $"{Count(SafetyLevel.Urgent)}, harmless conversations {Count(SafetyLevel.None)}: {EmergencyAlarms} made emergencies, {UrgentAlarms} urgent");

        private int Count(SafetyLevel level) => results.Count(r => r.Conversation.Level == level);

        private double Rate(SafetyLevel level, Func<SafetyLevel, bool> hit)
        {
            var pool = results.Where(r => r.Conversation.Level == level).ToList();
            return pool.Count == 0 ? 1.0 : (double)pool.Count(r => hit(r.Level)) / pool.Count;
        }
    }
}
