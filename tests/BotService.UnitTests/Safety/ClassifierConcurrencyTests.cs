using BotService.Safety;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.UnitTests.Safety;

[Collection(SafetyCollection.Name)]
public sealed class ClassifierConcurrencyTests(ClassifierFixture fixture)
{
    [Fact]
    public void Classify_ParallelCalls_SameResultsAsSequential()
    {
        // Arrange: the whole corpus, including quantity and time messages that use the recognizers.
        var texts = SafetyCorpusTests.LoadCorpus().Select(i => i.Text).ToArray();
        var expected = texts.Select(t => fixture.Classifier.Classify(t).Level).ToArray();
        var actual = new SafetyLevel[texts.Length * 4];

        // Act
        Parallel.For(0, actual.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            i => actual[i] = fixture.Classifier.Classify(texts[i % texts.Length]).Level);

        // Assert
        for (var i = 0; i < actual.Length; i++)
        {
            Assert.True(expected[i % texts.Length] == actual[i], $"'{texts[i % texts.Length]}': {expected[i % texts.Length]} vs {actual[i]}");
        }
    }

    [Fact]
    public async Task Classify_WhileRulesReload_NeverFailsOrLosesEmergency()
    {
        // Arrange
        using var temp = new TempDirectory();
        var path = temp.File("rules.yaml");
        File.Copy(SafetyTestFiles.RulesPath, path);
        using var provider = new SafetyRulesProvider(path, NullLogger<SafetyRulesProvider>.Instance, TimeProvider.System,
            TimeSpan.FromMilliseconds(10));
        var classifier = new SafetyClassifier(provider, NullLogger<SafetyClassifier>.Instance);
        using var stop = new CancellationTokenSource();
        var reloads = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                provider.Reload();
            }
        });

        // Act
        var levels = new SafetyLevel[200];
        Parallel.For(0, levels.Length, i => levels[i] = classifier.Classify("I took 30 pills and I want to die").Level);
        stop.Cancel();
        await reloads.WaitAsync(TimeSpan.FromSeconds(30));

        // Assert
        Assert.All(levels, l => Assert.Equal(SafetyLevel.Emergency, l));
    }
}
