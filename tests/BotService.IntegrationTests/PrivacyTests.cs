using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace BotService.IntegrationTests;

/// <summary>
/// Transcripts are health data: no message text may reach a log at any level. Sends the whole labelled safety corpus
/// (emergencies, urgent symptoms, ordinary questions) and some bad requests through the real service with logging at
/// Trace, then looks for every message in everything that was logged.
/// </summary>
public sealed class PrivacyTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task Logs_AfterTheSafetyCorpusAndBadRequests_ContainNoMessageText()
    {
        // Arrange
        var corpus = Path.Combine(RepoPaths.Root, "tests", "BotService.UnitTests", "Safety", "safety-corpus.jsonl");
        var messages = File.ReadLines(corpus)
            .Where(l => l.Trim().Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!)
            .ToList();
        messages.Add("my secret question about zoloft and my divorce");

        // Act
        foreach (var text in messages)
        {
            var response = await service.Http.PostAsJsonAsync("/api/ask", new { text });
            response.EnsureSuccessStatusCode();
        }

        await service.Http.PostAsync("/api/ask", new StringContent("{\"text\": \"my broken json secret", Encoding.UTF8, "application/json"));
        await service.Http.PostAsync("/api/ask", new StringContent("{\"text\": \"my secret\", \"audience\": \"nobody\"}", Encoding.UTF8, "application/json"));

        // Assert: look for each message (and any 4-word run of it, to catch a partial quote) in the captured log.
        var log = string.Join('\n', service.Logs.Lines).ToLowerInvariant();
        Assert.NotEmpty(service.Logs.Lines);
        Assert.Contains("escalation", log, StringComparison.Ordinal);
        foreach (var text in messages.Append("my broken json secret"))
        {
            if (text.Length >= 12)
            {
                Assert.False(log.Contains(text.ToLowerInvariant(), StringComparison.Ordinal), $"the log quotes \"{text}\"");
            }

            var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i + 4 <= words.Length; i++)
            {
                var run = string.Join(' ', words[i..(i + 4)]).ToLowerInvariant();
                Assert.False(log.Contains(run, StringComparison.Ordinal), $"the log quotes \"{run}\"");
            }
        }
    }
}
