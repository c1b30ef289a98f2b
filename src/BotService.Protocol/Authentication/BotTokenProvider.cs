using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace BotService.Protocol.Authentication;

/// <summary>The bot could not get its own token; the reason names no secret.</summary>
public sealed class BotTokenException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The bot's own access token from the OAuth 2.0 client-credentials flow (protocol.md §4), cached until five minutes
/// before it expires; concurrent callers share one request. Written by hand rather than with MSAL because the flow is
/// one form POST, and MSAL insists on an HTTPS authority, which would keep the tests from running it for real against
/// a loopback token server.
/// </summary>
public sealed partial class BotTokenProvider(HttpClient http, BotFrameworkAuthenticationOptions options, TimeProvider time, ILogger<BotTokenProvider> log)
{
    private static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (string Token, DateTimeOffset RefreshAt)? _cached;
    private volatile string? _lastFailure;

    /// <summary>Why the last token request failed (no secret in it), or null once one has succeeded (for readiness).</summary>
    public string? LastFailure => _lastFailure;

    public async Task<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (_cached is { } hit && time.GetUtcNow() < hit.RefreshAt)
        {
            return hit.Token;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_cached is { } again && time.GetUtcNow() < again.RefreshAt)
            {
                return again.Token;
            }

            TokenResponse token;
            try
            {
                token = await RequestAsync(cancellationToken);
            }
            catch (BotTokenException e)
            {
                _lastFailure = e.Message;
                throw;
            }

            _lastFailure = null;
            var lifetime = TimeSpan.FromSeconds(Math.Max(0, token.ExpiresIn));
            // Refresh five minutes early; a short-lived token is refreshed at half its life instead.
            var margin = lifetime > RefreshMargin * 2 ? RefreshMargin : lifetime / 2;
            _cached = (token.AccessToken!, time.GetUtcNow() + lifetime - margin);
            return token.AccessToken!;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<TokenResponse> RequestAsync(CancellationToken cancellationToken)
    {
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = options.MicrosoftAppId ?? string.Empty,
            ["client_secret"] = options.MicrosoftAppPassword ?? string.Empty,
            ["scope"] = options.ToChannelFromBotOAuthScope,
        });
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsync(options.TokenEndpoint, form, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            TokenFailed(log, "unreachable", 0);
            throw new BotTokenException("The token endpoint could not be reached.", e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                TokenFailed(log, "refused", (int)response.StatusCode);
                throw new BotTokenException($"The token endpoint answered {(int)response.StatusCode}.");
            }

            var token = await response.Content.ReadFromJsonAsync(TokenJsonContext.Default.TokenResponse, cancellationToken);
            if (token?.AccessToken is not { Length: > 0 })
            {
                TokenFailed(log, "no access_token", (int)response.StatusCode);
                throw new BotTokenException("The token endpoint's answer has no access_token.");
            }

            return token;
        }
    }

    [LoggerMessage(7201, LogLevel.Error, "Getting the bot's token failed: {Reason} (HTTP {Status})")]
    private static partial void TokenFailed(ILogger logger, string reason, int status);
}

/// <summary>
/// Puts the bot's token on outgoing Connector requests, and only on those to a trusted service URL: a serviceUrl in
/// an activity nobody authenticated must never receive it. In anonymous mode no token is sent at all (as the SDK).
/// </summary>
public sealed partial class BotTokenHandler(BotTokenProvider tokens, BotFrameworkAuthenticationOptions options, TrustedServiceUrls trusted,
    ILogger<BotTokenHandler> log) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!options.IsAnonymous && request.RequestUri is { } uri)
        {
            if (trusted.IsTrusted(uri))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetTokenAsync(cancellationToken));
            }
            else
            {
                Untrusted(log, uri.Host);
            }
        }

        return await base.SendAsync(request, cancellationToken);
    }

    [LoggerMessage(7202, LogLevel.Warning, "Not sending the bot's token to {Host}: not a trusted service URL")]
    private static partial void Untrusted(ILogger logger, string host);
}

internal sealed record TokenResponse(
    [property: JsonPropertyName("access_token")] string? AccessToken,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("token_type")] string? TokenType);

[JsonSerializable(typeof(TokenResponse))]
[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.AllowReadingFromString)]
internal sealed partial class TokenJsonContext : JsonSerializerContext;
