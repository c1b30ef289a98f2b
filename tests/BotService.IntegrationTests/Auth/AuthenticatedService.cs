using BotService.Protocol.Turns;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace BotService.IntegrationTests.Auth;

/// <summary>Counts the turns that got past the adapter: any count above zero after a refused request is a failure.</summary>
public sealed class TurnCounter : Protocol.Turns.IMiddleware
{
    private int _turns;

    public int Turns => Volatile.Read(ref _turns);

    public Task OnTurnAsync(ITurnContext turnContext, NextDelegate next, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _turns);
        return next(cancellationToken);
    }
}

/// <summary>
/// The real service configured with an app id, validating tokens against a loopback <see cref="BotFrameworkIssuer"/>,
/// with a <see cref="TurnCounter"/> as the very first middleware (before the safety gate and the bot), and the Teams
/// staff channel for alerts configured (<see cref="AlertChannel"/>) unless a subclass says otherwise.
/// </summary>
public class AuthenticatedService : IAsyncLifetime
{
    private RunningService? _service;

    public BotFrameworkIssuer Issuer { get; private set; } = null!;

    public HttpClient Http => _service!.Http;

    public TurnCounter Counter { get; } = new();

    /// <summary>The clinic's Entra tenant, whose members Teams answers.</summary>
    public const string TenantId = "72f988bf-0000-4000-8000-0000000c11c1";

    /// <summary>The staff channel that receives escalation alerts.</summary>
    public const string AlertChannel = "19:staffalerts@thread.tacv2";

    public IServiceProvider Services => _service!.App.Services;

    /// <summary>Endorsed for the channels the tests use.</summary>
    public RsaSecurityKey ChannelKey { get; private set; } = null!;

    /// <summary>A signing key in the key set without any endorsements.</summary>
    public RsaSecurityKey UnendorsedKey { get; private set; } = null!;

    public RsaSecurityKey EmulatorKey { get; private set; } = null!;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));

    /// <summary>Every log line of the service, for the tests that check what is (and is not) logged.</summary>
    public LogCapture Logs { get; } = new();

    /// <summary>False: no <c>Teams:AlertChannel</c>, so alerts wait for the app to be added to a team.</summary>
    protected virtual bool ConfigureAlertChannel => true;

    public async Task InitializeAsync()
    {
        Issuer = await BotFrameworkIssuer.StartAsync();
        ChannelKey = Issuer.AddChannelKey("channel-key-1", "webchat", "msteams", "directline");
        UnendorsedKey = Issuer.AddChannelKey("channel-key-bare", null);
        EmulatorKey = Issuer.AddEmulatorKey("emulator-key-1");
        _service = await RunningService.StartHealthyAsync(Path.Combine(RepoPaths.Root, "knowledge"), _root,
            b =>
            {
                b.Services.Insert(0, ServiceDescriptor.Singleton<Protocol.Turns.IMiddleware>(Counter));
                b.Logging.AddProvider(Logs);
            },
            ServiceArgs(Issuer, ConfigureAlertChannel));
    }

    /// <summary>The service's arguments: the issuer's endpoints, the clinic's tenant, a public address, fast retries.</summary>
    public static string[] ServiceArgs(BotFrameworkIssuer issuer, bool alertChannel) =>
    [
        .. issuer.ServiceArgs, $"--Teams:TenantId={TenantId}", "--Teams:PublicBaseUrl=https://bot.clinic.example/",
        .. alertChannel ? new[] { $"--Teams:AlertChannel:ServiceUrl={issuer.ServiceUrl}", $"--Teams:AlertChannel:ConversationId={AlertChannel}" } : [],
        "--Escalations:FirstRetry=00:00:00.200", "--Escalations:MaxRetry=00:00:01",
    ];

    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }

        await Issuer.DisposeAsync();
    }
}
