namespace BotService.IntegrationTests;

/// <summary>
/// One started service with its client and scratch folder (data under <c>{Root}/data</c>): what every fixture needs.
/// Disposing stops the host, then deletes the folder (and, in the PostgreSQL pass, its database).
/// </summary>
public sealed class RunningService : IAsyncDisposable
{
    private RunningService(WebApplication app, HttpClient http, string root)
    {
        App = app;
        Http = http;
        Root = root;
    }

    public WebApplication App { get; }

    public HttpClient Http { get; }

    public string Root { get; }

    public string DataPath => Path.Combine(Root, "data");

    /// <summary>Starts the real service (see <see cref="ServiceFixture.StartAsync(string, string, Action{WebApplicationBuilder}?, string[])"/>) and waits until it is healthy.</summary>
    public static async Task<RunningService> StartHealthyAsync(string knowledgePath, string root, Action<WebApplicationBuilder>? configure,
        params string[] extra)
    {
        var (app, http) = await ServiceFixture.StartAsync(knowledgePath, Path.Combine(root, "data"), configure, extra);
        var service = new RunningService(app, http, root);
        await ServiceFixture.WaitHealthyAsync(http);
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        TestStorage.DropUnder(Root);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
