namespace BotService.IntegrationTests.Observability;

/// <summary>
/// The short fuzz run keeps both cores busy for its length: it runs on its own, after the parallel tests, so it cannot
/// slow another test's timing (the crisis reply's one-second limits).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzCollection
{
    public const string Name = "fuzz (alone)";
}
