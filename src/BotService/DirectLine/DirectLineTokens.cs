using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using BotService.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BotService.DirectLine;

/// <summary>The built-in Direct Line 3.0 channel (configuration section <c>DirectLine</c>).</summary>
public sealed class DirectLineOptions
{
    public const string SectionName = "DirectLine";

    /// <summary>
    /// The Direct Line secret a backend presents to <c>tokens/generate</c> (and to start conversations). With none,
    /// the secret path is off and tokens come only from <c>POST /api/webchat/token</c>.
    /// </summary>
    public string? Secret { get; set; }

    /// <summary>Base64 HMAC key (at least 32 bytes) for the tokens; if unset one is generated and kept in the data folder.</summary>
    public string? SigningKey { get; set; }

    /// <summary>How long a token is valid (Azure's is 30 minutes; Web Chat refreshes at half of that).</summary>
    [Range(typeof(TimeSpan), "00:00:05", "1.00:00:00")]
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How long a <c>streamUrl</c> may wait before it is connected (Direct Line: 60 s).</summary>
    [Range(typeof(TimeSpan), "00:00:05", "00:10:00")]
    public TimeSpan StreamUrlLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often an idle WebSocket gets an empty keep-alive message.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The largest activity a client may post (bytes of JSON); larger gets 413.</summary>
    [Range(1024, 4 * 1024 * 1024)]
    public int MaxActivityBytes { get; set; } = 64 * 1024;

    /// <summary>Web Chat tokens one client address may get per minute from <c>/api/webchat/token</c>.</summary>
    [Range(1, 100_000)]
    public int TokenRequestsPerMinute { get; set; } = 30;

    public string BotId { get; set; } = "clinic-bot";

    public string BotName { get; set; } = "Clinic assistant";
}

/// <summary>What a bearer credential turned out to be.</summary>
internal enum CredentialKind
{
    Missing,
    Invalid,
    Expired,
    Secret,
    Token,
}

/// <summary>A checked credential: for a token, the user and the conversation it is bound to.</summary>
internal sealed record Credential(CredentialKind Kind, string? UserId = null, string? ConversationId = null, DateTimeOffset Expires = default)
{
    public static readonly Credential Missing = new(CredentialKind.Missing);
    public static readonly Credential Invalid = new(CredentialKind.Invalid);
    public static readonly Credential Expired = new(CredentialKind.Expired);
    public static readonly Credential Secret = new(CredentialKind.Secret);
}

/// <summary>
/// Issues and checks Direct Line tokens: JWTs signed with HMAC-SHA256 carrying <c>user</c> (the claim Web Chat and
/// botframework-directlinejs read to learn the user id), <c>conv</c> (the one conversation the token opens), <c>exp</c>,
/// and <c>scope</c> (<c>conversation</c> for the REST routes; <c>stream</c> for the short-lived ticket in a
/// <c>streamUrl</c>, which ends up in access logs and so must be useless a minute later). Expiry is checked against
/// <see cref="TimeProvider"/> separately from the signature, so an expired token gets Direct Line's "expired" answer
/// and a forged one does not.
/// </summary>
internal sealed class DirectLineTokens
{
    private const string Issuer = "botservice-directline";
    private const string Audience = "botservice-directline";
    public const string ConversationScope = "conversation";
    public const string StreamScope = "stream";

    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly SymmetricSecurityKey _key;
    private readonly SigningCredentials _signing;
    private readonly TokenValidationParameters _validation;
    private readonly byte[]? _secret;
    private readonly TimeProvider _time;

    // Tokens already found valid, so each request of a conversation does not parse and verify the same JWT again
    // (only valid ones are kept; expiry is still checked on every use). Bounded: emptied when it grows past the cap.
    // Keyed by the token's SHA-256, not the token: a kept ~500-character token cost ~1 KB an entry, 5 MB of the heap
    // after the 10-minute soak's 2,900 conversations and 10 MB at the cap (decision 0021).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Scope, TokenDigest Token), Credential> _valid = new();
    private const int MaxCachedTokens = 10_000;

    public DirectLineTokens(IOptions<DirectLineOptions> options, IOptions<DataOptions> data, IHostEnvironment env, TimeProvider time)
    {
        var o = options.Value;
        _time = time;
        _key = new SymmetricSecurityKey(LoadKey(o, DataFolder.Resolve(data.Value, env)));
        _signing = new SigningCredentials(_key, SecurityAlgorithms.HmacSha256);
        _secret = string.IsNullOrEmpty(o.Secret) ? null : Encoding.UTF8.GetBytes(o.Secret);
        _validation = new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            IssuerSigningKey = _key,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidateLifetime = false, // checked below against TimeProvider, to tell "expired" from "forged"
            RequireExpirationTime = true,
            RequireSignedTokens = true,
        };
        Lifetime = o.TokenLifetime;
        StreamLifetime = o.StreamUrlLifetime;
    }

    public TimeSpan Lifetime { get; }

    public TimeSpan StreamLifetime { get; }

    public bool SecretConfigured => _secret is not null;

    /// <summary>Direct Line's <c>expires_in</c>: whole seconds until <paramref name="expires"/>.</summary>
    public int SecondsLeft(DateTimeOffset expires) => (int)Math.Max(0, (expires - _time.GetUtcNow()).TotalSeconds);

    /// <summary>A conversation token for <paramref name="userId"/> in <paramref name="conversationId"/>.</summary>
    public (string Token, DateTimeOffset Expires) Issue(string userId, string conversationId, TimeSpan? lifetime = null, string scope = ConversationScope)
    {
        var now = _time.GetUtcNow();
        var expires = now + (lifetime ?? Lifetime);
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime.AddMinutes(-5) < expires.UtcDateTime ? now.UtcDateTime.AddMinutes(-5) : expires.UtcDateTime.AddSeconds(-1),
            Expires = expires.UtcDateTime,
            Claims = new Dictionary<string, object> { ["user"] = userId, ["conv"] = conversationId, ["scope"] = scope },
            SigningCredentials = _signing,
        });
        return (token, expires);
    }

    /// <summary>Reads an <c>Authorization: Bearer</c> value (or a stream URL's <c>t</c>): the secret or a token of <paramref name="scope"/>.</summary>
    public async Task<Credential> CheckAsync(string? bearer, string scope)
    {
        if (string.IsNullOrWhiteSpace(bearer))
        {
            return Credential.Missing;
        }

        if (_secret is not null && scope == ConversationScope
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(bearer), _secret))
        {
            return Credential.Secret;
        }

        var key = (scope, TokenDigest.Of(bearer));
        if (_valid.TryGetValue(key, out var known))
        {
            return known.Expires <= _time.GetUtcNow() ? Credential.Expired : known;
        }

        TokenValidationResult result;
        try
        {
            result = await _handler.ValidateTokenAsync(bearer, _validation);
        }
        catch (ArgumentException)
        {
            return Credential.Invalid; // over the handler's size limit, or not a JWT at all
        }

        if (!result.IsValid
            || !result.Claims.TryGetValue("user", out var user) || user is not string userId || userId.Length == 0
            || !result.Claims.TryGetValue("conv", out var conv) || conv is not string conversationId || conversationId.Length == 0
            || !result.Claims.TryGetValue("scope", out var s) || s is not string tokenScope || tokenScope != scope)
        {
            return Credential.Invalid;
        }

        var expires = ((JsonWebToken)result.SecurityToken).ValidTo;
        if (expires <= _time.GetUtcNow().UtcDateTime)
        {
            return Credential.Expired;
        }

        var credential = new Credential(CredentialKind.Token, userId, conversationId, new DateTimeOffset(expires, TimeSpan.Zero));
        if (_valid.Count >= MaxCachedTokens)
        {
            _valid.Clear();
        }

        _valid[key] = credential;
        return credential;
    }

    /// <summary>The configured key, or the one kept in the data folder (created owner-only on first start).</summary>
    private static byte[] LoadKey(DirectLineOptions options, string dataPath)
    {
        if (!string.IsNullOrWhiteSpace(options.SigningKey))
        {
            var configured = Convert.FromBase64String(options.SigningKey);
            if (configured.Length < 32)
            {
                throw new OptionsValidationException(DirectLineOptions.SectionName, typeof(DirectLineOptions),
                    ["DirectLine:SigningKey must be base64 of at least 32 bytes."]);
            }

            return configured;
        }

        Directory.CreateDirectory(dataPath);
        var file = Path.Combine(dataPath, "directline-signing.key");
        if (File.Exists(file))
        {
            var stored = Convert.FromBase64String(File.ReadAllText(file).Trim());
            if (stored.Length >= 32)
            {
                return stored;
            }
        }

        var key = RandomNumberGenerator.GetBytes(64);
        var temp = file + ".tmp";
        var streamOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            streamOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(temp, Encoding.ASCII, streamOptions))
        {
            writer.Write(Convert.ToBase64String(key));
        }

        File.Move(temp, file, overwrite: true);
        return key;
    }
}

/// <summary>A token's SHA-256 (of its UTF-16 text, so nothing is encoded or allocated): what the valid-token cache keeps.</summary>
internal readonly record struct TokenDigest(ulong A, ulong B, ulong C, ulong D)
{
    public static TokenDigest Of(string token)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(token.AsSpan()), hash);
        return new(BitConverter.ToUInt64(hash), BitConverter.ToUInt64(hash[8..]), BitConverter.ToUInt64(hash[16..]), BitConverter.ToUInt64(hash[24..]));
    }
}
