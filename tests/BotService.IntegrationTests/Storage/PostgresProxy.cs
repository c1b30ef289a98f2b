using System.Net;
using System.Net.Sockets;

namespace BotService.IntegrationTests.Storage;

/// <summary>
/// A loopback TCP relay in front of the test PostgreSQL server, so a test can take the server away from one client
/// as a restart does (every open session cut, new connections refused) and bring it back on the same address,
/// without touching the server the other tests share.
/// </summary>
internal sealed class PostgresProxy : IAsyncDisposable
{
    private readonly IPEndPoint _server;
    private readonly List<TcpClient> _open = [];
    private TcpListener? _listener;
    private Task _accepting = Task.CompletedTask;

    public PostgresProxy(string host, int port)
    {
        _server = new IPEndPoint(IPAddress.Parse(host == "localhost" ? "127.0.0.1" : host), port);
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Up();
    }

    public int Port { get; }

    /// <summary>Accepts connections again, on the same port.</summary>
    public void Up()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        var listener = _listener;
        _accepting = Task.Run(async () =>
        {
            while (true)
            {
                TcpClient client;
                try
                {
                    client = await listener.AcceptTcpClientAsync();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException) // stopped
                {
                    return;
                }

                var upstream = new TcpClient();
                await upstream.ConnectAsync(_server);
                lock (_open)
                {
                    _open.Add(client);
                    _open.Add(upstream);
                }

                _ = Pump(client, upstream);
                _ = Pump(upstream, client);
            }
        });
    }

    /// <summary>Cuts every connection and refuses new ones, as a server going down does.</summary>
    public async Task DownAsync()
    {
        _listener?.Stop();
        await _accepting;
        lock (_open)
        {
            foreach (var c in _open)
            {
                if (c.Client is { } socket) // null once a pump has closed it
                {
                    socket.LingerState = new LingerOption(true, 0); // RST, as a dying server's kernel sends
                }

                c.Dispose();
            }

            _open.Clear();
        }
    }

    public async ValueTask DisposeAsync() => await DownAsync();

    private static async Task Pump(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            // cut
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
