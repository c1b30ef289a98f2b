using System.Net.Http.Json;

namespace BotService.IntegrationTests;

[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class HotReloadTests
{
    [Fact]
    public async Task Ask_ArticleEditedOnDisk_AnswersFromTheNewTextWithoutARestart()
    {
        // Arrange: the service watching its own copy of the knowledge folder.
        await using var service = new OwnService();
        await service.StartAsync();
        var article = Path.Combine(service.Fixture.KnowledgePath, "articles", "ketamine-for-ptsd-management.md");
        Assert.Contains("$275", (await service.Fixture.AskAsync("how much is an infusion")).GetProperty("text").GetString(), StringComparison.Ordinal);
        var failures = 0;
        using var stop = new CancellationTokenSource();
        var asker = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var response = await service.Fixture.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion" });
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        // Act: staff change the price in the file.
        var text = await File.ReadAllTextAsync(article);
        await File.WriteAllTextAsync(article, text.Replace("$275 per infusion", "$295 per infusion", StringComparison.Ordinal));

        // Assert: the new price is answered within a few seconds, and no request failed meanwhile.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!(await service.Fixture.AskAsync("how much is an infusion")).GetProperty("text").GetString()!.Contains("$295", StringComparison.Ordinal))
        {
            await Task.Delay(50, timeout.Token);
        }

        await stop.CancelAsync();
        await asker;
        Assert.Equal(0, failures);
    }

    [Fact]
    public async Task Ask_ArticleBrokenOnDisk_SkipsItAndKeepsAnsweringFromTheRest()
    {
        await using var service = new OwnService();
        await service.StartAsync();
        var article = Path.Combine(service.Fixture.KnowledgePath, "articles", "ketamine-for-ptsd-management.md");

        // Act: the price article loses its front matter; another article gains a sentence.
        await File.WriteAllTextAsync(article, "no front matter here\n\n$999 per infusion");
        var other = Path.Combine(service.Fixture.KnowledgePath, "articles", "ketamine-for-ptsd.md");
        await File.AppendAllTextAsync(other, "\n\n## Parking\n\nParking is free in the garage on Elm Street.\n");

        // Assert
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!(await service.Fixture.AskAsync("is parking free")).GetProperty("text").GetString()!.Contains("Elm Street", StringComparison.Ordinal))
        {
            await Task.Delay(50, timeout.Token);
        }

        var price = await service.Fixture.AskAsync("how much is an infusion");
        Assert.DoesNotContain("$999", price.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("$275", price.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A service of the test's own, since these tests edit the knowledge folder.</summary>
    private sealed class OwnService : IAsyncDisposable
    {
        public ServiceFixture Fixture { get; } = new();

        public Task StartAsync() => Fixture.InitializeAsync();

        public async ValueTask DisposeAsync() => await Fixture.DisposeAsync();
    }
}
