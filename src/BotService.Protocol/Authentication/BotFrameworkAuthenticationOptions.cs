namespace BotService.Protocol.Authentication;

/// <summary>
/// The bot's identity and the Bot Framework's authentication endpoints. The keys are the SDK's own configuration keys
/// (<c>MicrosoftAppId</c>, <c>MicrosoftAppPassword</c>, <c>MicrosoftAppTenantId</c>, <c>ToBotFromChannelOpenIdMetadataUrl</c>, …,
/// read from the configuration root as <c>ConfigurationBotFrameworkAuthentication</c> reads them), so an appsettings.json
/// written for an SDK bot works here unchanged. The defaults are the public cloud's.
/// </summary>
public sealed class BotFrameworkAuthenticationOptions
{
    /// <summary>The bot's Microsoft App ID. Empty: the SDK's anonymous local mode (no inbound checks for requests without a token, no outbound token).</summary>
    public string? MicrosoftAppId { get; set; }

    /// <summary>The client secret for the client-credentials flow.</summary>
    public string? MicrosoftAppPassword { get; set; }

    /// <summary>For a single-tenant bot: its Entra tenant. Empty: multi-tenant (the <c>botframework.com</c> tenant).</summary>
    public string? MicrosoftAppTenantId { get; set; }

    /// <summary>Where the channel service's signing keys are described.</summary>
    public string ToBotFromChannelOpenIdMetadataUrl { get; set; } = "https://login.botframework.com/v1/.well-known/openidconfiguration";

    /// <summary>Where the Emulator's (Entra) signing keys are described.</summary>
    public string ToBotFromEmulatorOpenIdMetadataUrl { get; set; } =
        "https://login.microsoftonline.com/botframework.com/v2.0/.well-known/openid-configuration";

    /// <summary>The <c>iss</c> of channel tokens.</summary>
    public string ToBotFromChannelTokenIssuer { get; set; } = "https://api.botframework.com";

    /// <summary>The authority the bot asks for its own token; <c>/oauth2/v2.0/token</c> is appended. Default: the bot's tenant, or <c>botframework.com</c>.</summary>
    public string? ToChannelFromBotLoginUrl { get; set; }

    /// <summary>The scope of the bot's own token.</summary>
    public string ToChannelFromBotOAuthScope { get; set; } = "https://api.botframework.com/.default";

    /// <summary>
    /// Service URLs that may receive the bot's token before any activity has come from them (for proactive messages
    /// after a restart, e.g. <c>https://smba.trafficmanager.net/teams/</c>). Service URLs of authenticated activities are
    /// trusted as they arrive.
    /// </summary>
    public IList<string> TrustedServiceUrls { get; } = [];

    /// <summary>Allowed difference between our clock and the token issuer's (the SDK's five minutes).</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    public bool IsAnonymous => string.IsNullOrWhiteSpace(MicrosoftAppId);

    /// <summary>The token endpoint of the client-credentials flow.</summary>
    public Uri TokenEndpoint
    {
        get
        {
            var authority = ToChannelFromBotLoginUrl
                ?? "https://login.microsoftonline.com/" + (string.IsNullOrWhiteSpace(MicrosoftAppTenantId) ? "botframework.com" : MicrosoftAppTenantId);
            return new Uri(authority.TrimEnd('/') + "/oauth2/v2.0/token");
        }
    }
}
