using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Json;
using BotService.Protocol.Schema;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace BotService.Protocol.Authentication;

/// <summary>Who sent an activity: a validated identity, the anonymous local caller, or a refusal with its reason.</summary>
public sealed record AuthenticationResult(ClaimsIdentity? Identity, string? FailureReason)
{
    public bool Succeeded => FailureReason is null;

    /// <summary>True for the SDK's anonymous local mode (no app id configured, no token sent).</summary>
    public bool IsAnonymous => Succeeded && Identity is null;

    public static AuthenticationResult Anonymous { get; } = new(null, null);

    public static AuthenticationResult Fail(string reason) => new(null, reason);
}

/// <summary>
/// Validates the bearer token on an incoming activity as the Bot Framework SDK does (shared/protocol.md §3), using
/// Microsoft.IdentityModel: the OpenID metadata and signing keys are fetched and cached (<see cref="SigningKeys"/>) and
/// re-fetched (rate-limited) when a token names a key id we don't know, so a key rotation is picked up without a restart.
/// <list type="bullet">
/// <item>Channel tokens (<c>iss</c> = the channel issuer): <c>aud</c> = our app id; the signing key's
/// <c>endorsements</c> must contain the activity's <c>channelId</c>; the <c>serviceurl</c> claim must equal the
/// activity's <c>serviceUrl</c>.</item>
/// <item>Emulator tokens (<c>iss</c> = one of the Emulator's Entra issuers): the app id is in <c>appid</c> (<c>ver</c>
/// 1.0) or <c>azp</c> (<c>ver</c> 2.0); no endorsements.</item>
/// <item>Both: RS256/384/512 signatures only (so no <c>alg: none</c> and no HMAC-with-the-public-key confusion), a
/// lifetime with five minutes' skew, a known issuer.</item>
/// </list>
/// With no app id configured, a request without a token is the anonymous local caller and a request with one is
/// refused (the SDK would fail its audience check the same way).
/// </summary>
public sealed partial class BotFrameworkAuthenticator
{
    /// <summary>The Emulator's token issuers (v3.1 and v3.2 tenants, v1 and v2 token formats), as the SDK lists them.</summary>
    private static readonly string[] EmulatorIssuers =
    [
        "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
        "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0",
        "https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/",
        "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0",
    ];

    private static readonly string[] Algorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512];

    private readonly BotFrameworkAuthenticationOptions _options;
    private readonly SigningKeys _channelMetadata;
    private readonly SigningKeys _emulatorMetadata;
    private readonly string[] _emulatorIssuers;
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TrustedServiceUrls _trusted;
    private readonly ILogger _log;

    public BotFrameworkAuthenticator(BotFrameworkAuthenticationOptions options, HttpClient metadataClient, TrustedServiceUrls trusted,
        TimeProvider time, ILogger<BotFrameworkAuthenticator> log)
    {
        _options = options;
        _trusted = trusted;
        _log = log;
        _channelMetadata = new SigningKeys(options.ToBotFromChannelOpenIdMetadataUrl, metadataClient, time);
        _emulatorMetadata = new SigningKeys(options.ToBotFromEmulatorOpenIdMetadataUrl, metadataClient, time);
        _emulatorIssuers = string.IsNullOrWhiteSpace(options.MicrosoftAppTenantId)
            ? EmulatorIssuers
            : [.. EmulatorIssuers, $"https://sts.windows.net/{options.MicrosoftAppTenantId}/", $"https://login.microsoftonline.com/{options.MicrosoftAppTenantId}/v2.0"];
    }

    /// <summary>
    /// Authenticates the request that carried <paramref name="activity"/>. On success with a token, the activity's
    /// serviceUrl becomes trusted to receive the bot's own token.
    /// </summary>
    public async Task<AuthenticationResult> AuthenticateAsync(string? authorizationHeader, Activity activity, CancellationToken cancellationToken)
    {
        var result = await ValidateAsync(authorizationHeader, activity, cancellationToken);
        if (!result.Succeeded)
        {
            Rejected(_log, activity.ChannelId, result.FailureReason!);
        }
        else if (!result.IsAnonymous && activity.ServiceUrl is { Length: > 0 } serviceUrl)
        {
            _trusted.Add(serviceUrl);
        }

        return result;
    }

    private async Task<AuthenticationResult> ValidateAsync(string? authorizationHeader, Activity activity, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(authorizationHeader))
        {
            return _options.IsAnonymous ? AuthenticationResult.Anonymous : AuthenticationResult.Fail("no Authorization header");
        }

        if (_options.IsAnonymous)
        {
            return AuthenticationResult.Fail("a token was sent, but no MicrosoftAppId is configured to validate it against");
        }

        if (!authorizationHeader.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticationResult.Fail("the Authorization header is not a bearer token");
        }

        var token = authorizationHeader["Bearer ".Length..].Trim();
        JsonWebToken unverified;
        try
        {
            unverified = _handler.ReadJsonWebToken(token);
        }
        catch (ArgumentException)
        {
            return AuthenticationResult.Fail("the token is not a JWT");
        }

        var emulator = _emulatorIssuers.Contains(unverified.Issuer, StringComparer.Ordinal);
        var metadata = emulator ? _emulatorMetadata : _channelMetadata;
        var parameters = new TokenValidationParameters
        {
            ValidIssuers = emulator ? _emulatorIssuers : [_options.ToBotFromChannelTokenIssuer],
            ValidateAudience = !emulator, // the SDK checks an Emulator token's app id in appid/azp instead
            ValidAudience = _options.MicrosoftAppId,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            ClockSkew = _options.ClockSkew,
            RequireSignedTokens = true,
            ValidAlgorithms = Algorithms,
            ValidateIssuerSigningKey = false, // the keys come from the issuer's own metadata over HTTPS
        };

        OpenIdConnectConfiguration configuration;
        TokenValidationResult validation;
        try
        {
            configuration = await metadata.GetAsync(cancellationToken);
            validation = await ValidateWith(configuration);
            if (validation.Exception is SecurityTokenSignatureKeyNotFoundException
                && await metadata.RefreshAsync(cancellationToken) is { } refreshed)
            {
                // A key we don't know: the issuer may have rotated its keys. Re-fetched (rate-limited); try once more.
                configuration = refreshed;
                validation = await ValidateWith(configuration);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException)
        {
            // The metadata could not be fetched (and there is no earlier copy): fail closed.
            MetadataUnavailable(_log, e.GetType().Name);
            return AuthenticationResult.Fail("the signing keys could not be fetched");
        }

        if (!validation.IsValid)
        {
            return AuthenticationResult.Fail("the token is invalid: " + validation.Exception?.GetType().Name);
        }

        var identity = validation.ClaimsIdentity;
        if (emulator)
        {
            var appIdClaim = unverified.TryGetPayloadValue("ver", out string? version) && version == "2.0" ? "azp" : "appid";
            if (version is not (null or "1.0" or "2.0"))
            {
                return AuthenticationResult.Fail("the Emulator token has an unknown version");
            }

            if (identity.FindFirst(appIdClaim)?.Value != _options.MicrosoftAppId)
            {
                return AuthenticationResult.Fail($"the Emulator token's {appIdClaim} is not this bot's app id");
            }

            return new AuthenticationResult(identity, null);
        }

        var endorsements = Endorsements(configuration, unverified.Kid);
        if (endorsements is null)
        {
            return AuthenticationResult.Fail("the signing key carries no endorsements");
        }

        if (!string.IsNullOrEmpty(activity.ChannelId) && !endorsements.Contains(activity.ChannelId, StringComparer.Ordinal))
        {
            return AuthenticationResult.Fail("the signing key is not endorsed for this channel");
        }

        if (!string.Equals(identity.FindFirst("serviceurl")?.Value, activity.ServiceUrl, StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticationResult.Fail("the token's serviceurl is not the activity's serviceUrl");
        }

        return new AuthenticationResult(identity, null);

        async Task<TokenValidationResult> ValidateWith(OpenIdConnectConfiguration config)
        {
            parameters.IssuerSigningKeys = config.SigningKeys;
            return await _handler.ValidateTokenAsync(token, parameters);
        }
    }

    /// <summary>The <c>endorsements</c> of the key with this id in the issuer's key set, or null if it has none.</summary>
    private static string[]? Endorsements(OpenIdConnectConfiguration configuration, string? kid)
    {
        var key = configuration.JsonWebKeySet?.Keys.FirstOrDefault(k => string.Equals(k.Kid, kid, StringComparison.Ordinal));
        if (key is null || !key.AdditionalData.TryGetValue("endorsements", out var value))
        {
            return null;
        }

        return value switch
        {
            JsonElement { ValueKind: JsonValueKind.Array } array => array.EnumerateArray()
                .Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToArray(),
            IEnumerable<object> items => items.Select(i => i?.ToString() ?? string.Empty).ToArray(),
            _ => null,
        };
    }

    [LoggerMessage(7101, LogLevel.Warning, "Refused an activity on {Channel} with 401: {Reason}")]
    private static partial void Rejected(ILogger logger, string? channel, string reason);

    [LoggerMessage(7102, LogLevel.Error, "The Bot Framework signing-key metadata could not be fetched ({Error}); activities are refused until it can")]
    private static partial void MetadataUnavailable(ILogger logger, string error);
}

/// <summary>
/// One issuer's OpenID metadata and signing keys, fetched with Microsoft.IdentityModel's retriever and cached: re-read
/// after 24 hours (the docs ask for at least daily), and at once when a token names a key we don't have, at most once
/// per five minutes (so a stream of forged key ids cannot make us hammer the issuer). Unlike
/// <see cref="ConfigurationManager{T}"/>, whose refresh in 8.x runs in the background and hands back the old keys, a
/// refresh here is awaited, so the first message signed with a rotated key is accepted rather than refused.
/// A failed re-read keeps the keys we have.
/// </summary>
internal sealed class SigningKeys(string url, HttpClient client, TimeProvider time)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromHours(24);
    private static readonly TimeSpan MinForcedInterval = TimeSpan.FromMinutes(5);
    private readonly HttpDocumentRetriever _retriever = new(client) { RequireHttps = !new Uri(url).IsLoopback };
    private readonly SemaphoreSlim _gate = new(1, 1);
    private OpenIdConnectConfiguration? _current;
    private DateTimeOffset _fetchedAt;
    private DateTimeOffset _lastForced = DateTimeOffset.MinValue;

    public async Task<OpenIdConnectConfiguration> GetAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _current);
        if (current is not null && time.GetUtcNow() - _fetchedAt < MaxAge)
        {
            return current;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_current is not null && time.GetUtcNow() - _fetchedAt < MaxAge)
            {
                return _current;
            }

            try
            {
                return await FetchAsync(cancellationToken);
            }
            catch (Exception) when (_current is not null)
            {
                return _current; // stale keys beat no keys; the next request tries again
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Re-reads the keys now, unless that was done less than five minutes ago (then null).</summary>
    public async Task<OpenIdConnectConfiguration?> RefreshAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (now - _lastForced < MinForcedInterval)
            {
                return null;
            }

            _lastForced = now;
            try
            {
                return await FetchAsync(cancellationToken);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException)
            {
                return null;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<OpenIdConnectConfiguration> FetchAsync(CancellationToken cancellationToken)
    {
        var configuration = await OpenIdConnectConfigurationRetriever.GetAsync(url, _retriever, cancellationToken);
        _fetchedAt = time.GetUtcNow();
        Volatile.Write(ref _current, configuration);
        return configuration;
    }
}

/// <summary>
/// Service URLs that may receive the bot's token: configured ones, and those of activities that passed
/// authentication (protocol.md §4: keep a serviceUrl only from an authenticated activity). Compared by scheme, host,
/// port and path prefix, so <c>https://smba.trafficmanager.net/teams/</c> covers every conversation under it.
/// </summary>
public sealed class TrustedServiceUrls
{
    private readonly ConcurrentDictionary<string, byte> _urls = new(StringComparer.OrdinalIgnoreCase);

    public TrustedServiceUrls(IEnumerable<string> configured)
    {
        foreach (var url in configured)
        {
            Add(url);
        }
    }

    public void Add(string serviceUrl)
    {
        if (Normalise(serviceUrl) is { } normalised)
        {
            _urls.TryAdd(normalised, 0);
        }
    }

    public bool IsTrusted(Uri requestUri)
    {
        var target = requestUri.GetLeftPart(UriPartial.Path);
        foreach (var (prefix, _) in _urls) // enumerating the dictionary itself: .Keys would copy them on every request
        {
            if (target.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static string? Normalise(string serviceUrl) =>
        Uri.TryCreate(serviceUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/"
            : null;
}
