namespace BotService.Dashboard;

/// <summary>
/// Builds the endpoint list (the Razor Pages' included) before the server takes its first request. MVC discovers
/// pages lazily, on the first request of any kind; without this, the first visitor's message, a crisis one
/// included, would pay for discovering the dashboard's pages.
/// </summary>
internal sealed class EndpointWarmUp(EndpointDataSource endpoints) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = endpoints.Endpoints.Count;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
