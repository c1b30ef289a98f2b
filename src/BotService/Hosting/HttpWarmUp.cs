using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace BotService.Hosting;

/// <summary>
/// Once the host listens and the index is loaded, asks itself one ordinary question over loopback HTTP, so the first
/// visitor (possibly one in crisis) does not pay for compiling the request path. The question is fixed text, not a
/// visitor's, and is not escalated.
/// </summary>
internal sealed partial class HttpWarmUp(IServer server, IHostApplicationLifetime lifetime, Knowledge.KnowledgeBase knowledge,
    Storage.Escalations.EscalationOutbox outbox, WarmUpState state, ILogger<HttpWarmUp> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await WarmUpAsync(stoppingToken);
        }
        finally
        {
            state.Done = true;
        }
    }

    private async Task WarmUpAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken);
        outbox.WarmUp();
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        if (address is null)
        {
            return;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            // Give the index a moment, but warm up even without it: the crisis path must be quick either way.
            for (var i = 0; i < 100 && !knowledge.IsReady; i++)
            {
                await Task.Delay(20, timeout.Token);
            }

            using var http = new HttpClient { BaseAddress = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal)) };
            for (var i = 0; i < 3; i++)
            {
                using var content = new StringContent("{\"text\":\"how much is an infusion\"}", System.Text.Encoding.UTF8, "application/json");
                using var response = await http.PostAsync("/api/ask", content, timeout.Token);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            Skipped(log, e.GetType().Name);
        }
    }

    [LoggerMessage(2201, LogLevel.Debug, "HTTP warm-up skipped ({Error})")]
    private static partial void Skipped(ILogger logger, string error);
}

/// <summary>Whether the warm-up has run; the service reports ready only after it, so the first request is not cold.</summary>
internal sealed class WarmUpState
{
    private volatile bool _done;

    public bool Done
    {
        get => _done;
        set => _done = value;
    }
}
