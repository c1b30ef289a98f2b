using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BotService.IntegrationTests.Auth;

/// <summary>
/// A stand-in for the Bot Framework's token services on a loopback port, so the whole validation runs for real:
/// OpenID metadata and a key set for channel tokens (keys carry <c>endorsements</c>) and for Emulator tokens, a
/// client-credentials token endpoint, and a Connector that records what the bot posts and with which bearer token.
/// Tokens are signed with RSA keys generated per run.
/// </summary>
public sealed class BotFrameworkIssuer : IAsyncDisposable
{
    public const string AppId = "2f6a6c1e-0000-4000-8000-00000000b07";
    public const string AppPassword = "test-secret-not-real";
    public const string ChannelIssuer = "https://api.botframework.com";
    public const string EmulatorIssuerV1 = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/";
    public const string EmulatorIssuerV2 = "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, (RsaSecurityKey Key, string[]? Endorsements)> _channelKeys = new();
    private readonly ConcurrentDictionary<string, RsaSecurityKey> _emulatorKeys = new();
    private int _tokenRequests;
    private int _keySetRequests;

    private BotFrameworkIssuer(WebApplication app) => _app = app;

    public string Url { get; private set; } = string.Empty;

    /// <summary>What the Connector received by POST (send, reply): path, the Authorization header, the activity JSON, and the id it gave it.</summary>
    public ConcurrentQueue<(string Path, string? Authorization, string Body, string Id)> Received { get; } = new();

    /// <summary>What the Connector received by PUT (an update of an activity the bot sent): path, Authorization, activity JSON.</summary>
    public ConcurrentQueue<(string Path, string? Authorization, string Body)> Updated { get; } = new();

    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    /// <summary>Statuses the Connector answers to its next POSTs and PUTs, in order (an outage: 503s, or 429s with Retry-After: 1).</summary>
    public ConcurrentQueue<int> FailNext { get; } = new();

    /// <summary>Until then every POST and PUT is refused, 503 and 429 (Retry-After: 1) in turn: an outage of a given length.</summary>
    public DateTimeOffset OutageUntil { get; set; } = DateTimeOffset.MinValue;

    /// <summary>How many calls the outage (<see cref="OutageUntil"/>) refused.</summary>
    public int RefusedInOutage => Volatile.Read(ref _refusedInOutage);

    private int _refusedInOutage;
    private int _activityIds;

    public int KeySetRequests => Volatile.Read(ref _keySetRequests);

    /// <summary>The access token the token endpoint hands out; the Connector checks for it.</summary>
    public string IssuedAccessToken { get; } = "bot-access-" + Guid.NewGuid().ToString("n");

    public string[] ServiceArgs =>
    [
        $"--MicrosoftAppId={AppId}",
        $"--MicrosoftAppPassword={AppPassword}",
        $"--ToBotFromChannelOpenIdMetadataUrl={Url}/channel/.well-known/openidconfiguration",
        $"--ToBotFromEmulatorOpenIdMetadataUrl={Url}/emulator/.well-known/openid-configuration",
        $"--ToChannelFromBotLoginUrl={Url}/botframework.com",
    ];

    public string ServiceUrl => Url + "/connector/";

    public static async Task<BotFrameworkIssuer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var issuer = new BotFrameworkIssuer(builder.Build());
        issuer.Map();
        await issuer._app.StartAsync();
        issuer.Url = issuer._app.Urls.Single();
        return issuer;
    }

    public RsaSecurityKey AddChannelKey(string kid, params string[]? endorsements)
    {
        var key = NewKey(kid);
        _channelKeys[kid] = (key, endorsements);
        return key;
    }

    public RsaSecurityKey AddEmulatorKey(string kid)
    {
        var key = NewKey(kid);
        _emulatorKeys[kid] = key;
        return key;
    }

    public static RsaSecurityKey NewKey(string kid) => new(RSA.Create(2048)) { KeyId = kid };

    /// <summary>A channel token as the Bot Framework issues it; every part can be overridden to make it wrong.</summary>
    public static string ChannelToken(SecurityKey key, string serviceUrl, string? audience = AppId, string issuer = ChannelIssuer,
        DateTime? notBefore = null, DateTime? expires = null, string algorithm = SecurityAlgorithms.RsaSha256)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            IssuedAt = (notBefore ?? now).AddMinutes(-1),
            NotBefore = notBefore ?? now.AddMinutes(-1),
            Expires = expires ?? now.AddMinutes(30),
            Subject = new ClaimsIdentity([new Claim("serviceurl", serviceUrl)]),
            SigningCredentials = new SigningCredentials(key, algorithm),
        });
    }

    /// <summary>An Emulator token: app id in <c>appid</c> (v1) or <c>azp</c> (v2), audience not checked.</summary>
    public static string EmulatorToken(SecurityKey key, string version, string appId = AppId)
    {
        var now = DateTime.UtcNow;
        var claims = new List<Claim> { new("ver", version), new(version == "2.0" ? "azp" : "appid", appId) };
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = version == "2.0" ? EmulatorIssuerV2 : EmulatorIssuerV1,
            Audience = "https://api.botframework.com",
            NotBefore = now.AddMinutes(-1),
            Expires = now.AddMinutes(30),
            Subject = new ClaimsIdentity(claims),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    /// <summary><c>alg: none</c>: a header and payload with an empty signature.</summary>
    public static string UnsignedToken(string kid, string serviceUrl)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = Base64UrlEncoder.Encode($$"""{"alg":"none","typ":"JWT","kid":"{{kid}}"}""");
        var payload = Base64UrlEncoder.Encode(
            $$"""{"iss":"{{ChannelIssuer}}","aud":"{{AppId}}","nbf":{{now - 60}},"exp":{{now + 1800}},"serviceurl":"{{serviceUrl}}"}""");
        return $"{header}.{payload}.";
    }

    /// <summary>The classic key-confusion attack: HS256 with the RSA public key's bytes as the HMAC secret.</summary>
    public static string HmacWithPublicKey(RsaSecurityKey key, string serviceUrl)
    {
        var publicPem = Encoding.UTF8.GetBytes(key.Rsa.ExportSubjectPublicKeyInfoPem());
        var hmacKey = new SymmetricSecurityKey(publicPem) { KeyId = key.KeyId };
        return ChannelToken(hmacKey, serviceUrl, algorithm: SecurityAlgorithms.HmacSha256);
    }

    private void Map()
    {
        _app.MapGet("/channel/.well-known/openidconfiguration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = ChannelIssuer,
            ["authorization_endpoint"] = "https://invalid.example/",
            ["jwks_uri"] = Url + "/channel/keys",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["token_endpoint_auth_methods_supported"] = new[] { "private_key_jwt" },
        }));
        _app.MapGet("/channel/keys", () =>
        {
            Interlocked.Increment(ref _keySetRequests);
            return Results.Json(new { keys = _channelKeys.Values.Select(k => Jwk(k.Key, k.Endorsements)).ToArray() });
        });
        _app.MapGet("/emulator/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = "https://login.microsoftonline.com/{tenantid}/v2.0",
            ["jwks_uri"] = Url + "/emulator/keys",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
        }));
        _app.MapGet("/emulator/keys", () => Results.Json(new { keys = _emulatorKeys.Values.Select(k => Jwk(k, null)).ToArray() }));
        _app.MapPost("/botframework.com/oauth2/v2.0/token", async (HttpContext http) =>
        {
            Interlocked.Increment(ref _tokenRequests);
            var form = await http.Request.ReadFormAsync();
            if (form["grant_type"] != "client_credentials" || form["client_id"] != AppId || form["client_secret"] != AppPassword
                || form["scope"] != "https://api.botframework.com/.default")
            {
                return Results.Json(new { error = "invalid_client" }, statusCode: 401);
            }

            return Results.Json(new { token_type = "Bearer", expires_in = 3600, access_token = IssuedAccessToken });
        });
        _app.MapPost("/connector/v3/conversations/{conversation}/activities/{activity?}", async (HttpContext http) =>
        {
            if (Refusal(http) is { } refused)
            {
                return refused;
            }

            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var id = "sent-" + Interlocked.Increment(ref _activityIds);
            Received.Enqueue((http.Request.Path.Value!, http.Request.Headers.Authorization.ToString(), body, id));
            return http.Request.Headers.Authorization.ToString() == "Bearer " + IssuedAccessToken
                ? Results.Json(new { id })
                : Results.Json(new { error = new { code = "Unauthorized", message = "bad token" } }, statusCode: 401);
        });
        _app.MapPut("/connector/v3/conversations/{conversation}/activities/{activity}", async (HttpContext http) =>
        {
            if (Refusal(http) is { } refused)
            {
                return refused;
            }

            using var reader = new StreamReader(http.Request.Body);
            Updated.Enqueue((http.Request.Path.Value!, http.Request.Headers.Authorization.ToString(), await reader.ReadToEndAsync()));
            return http.Request.Headers.Authorization.ToString() == "Bearer " + IssuedAccessToken
                ? Results.Json(new { id = http.Request.RouteValues["activity"] })
                : Results.Json(new { error = new { code = "Unauthorized", message = "bad token" } }, statusCode: 401);
        });
    }

    /// <summary>The outage's or <see cref="FailNext"/>'s answer to this call, if it is to be refused.</summary>
    private IResult? Refusal(HttpContext http)
    {
        int status;
        if (DateTimeOffset.UtcNow < OutageUntil)
        {
            status = Interlocked.Increment(ref _refusedInOutage) % 2 == 0 ? 429 : 503;
        }
        else if (!FailNext.TryDequeue(out status))
        {
            return null;
        }

        if (status == 429)
        {
            http.Response.Headers.RetryAfter = "1";
        }

        return Results.Json(new { error = new { code = status == 429 ? "Throttled" : "ServiceUnavailable", message = "outage" } }, statusCode: status);
    }

    private static Dictionary<string, object> Jwk(RsaSecurityKey key, string[]? endorsements)
    {
        var p = key.Rsa.ExportParameters(false);
        var jwk = new Dictionary<string, object>
        {
            ["kty"] = "RSA",
            ["use"] = "sig",
            ["kid"] = key.KeyId,
            ["n"] = Base64UrlEncoder.Encode(p.Modulus!),
            ["e"] = Base64UrlEncoder.Encode(p.Exponent!),
        };
        if (endorsements is not null)
        {
            jwk["endorsements"] = endorsements;
        }

        return jwk;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
