using System.Net.Sockets;
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
            // A host stopped while it started (a failed deployment, a test) does not pay for a full collection on its way out.
            if (!stoppingToken.IsCancellationRequested)
            {
                CompactStartUpGarbage();
            }

            state.Done = true;
        }
    }

    /// <summary>
    /// By now start-up's garbage (building the index and the rule set's gates, EF Core's model, the warm-up's requests)
    /// has been promoted to the old generation, where only a full collection would find it, and the large object heap
    /// is fragmented by it. One compacting collection of everything, the large object heap included, that returns what
    /// it frees, before readiness lets the first visitor in: ~20 MB less resident after start (what an instance holds
    /// through a quiet night), 1–4 MB at the end of a 60-second soak, whose load grows the old generation again
    /// (docs/benchmarks.md, "Memory", "Fourth pass"). Readiness came no later (2.1–2.4 s).
    /// </summary>
    private static void CompactStartUpGarbage()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    private async Task WarmUpAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken);
        outbox.WarmUp();
        // A plain-HTTP address (a TLS-only listener is not warmed: behind a proxy that terminates TLS is the usual setup).
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase));
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

            var uri = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
            for (var i = 0; i < 3; i++)
            {
                await AskOverLoopbackAsync(uri, timeout.Token);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            Skipped(log, e.GetType().Name);
        }
    }

    /// <summary>
    /// One <c>POST /api/ask</c> over a plain socket, read to the end (<c>Connection: close</c>). Not HttpClient: an
    /// instance that never calls out (no Teams, no Azure channel) then never loads the HTTP client stack, a few MB
    /// resident for life (decision 0021). Only the server side of the request needs warming.
    /// </summary>
    private static async Task AskOverLoopbackAsync(Uri uri, CancellationToken cancellationToken)
    {
        const string body = "{\"text\":\"how much is an infusion\"}";
        var request = System.Text.Encoding.ASCII.GetBytes(
            $"POST /api/ask HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(uri.Host, uri.Port, cancellationToken);
        await socket.SendAsync(request, SocketFlags.None, cancellationToken);
        var buffer = new byte[4096];
        while (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken) > 0)
        {
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
