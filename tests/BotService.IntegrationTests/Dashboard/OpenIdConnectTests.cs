using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace BotService.IntegrationTests.Dashboard;

/// <summary>
/// OpenID Connect sign-in, switched on by configuration only, against a small provider on loopback (discovery, keys,
/// token endpoint; the authorize step is played by the test). The provider only authenticates: the account must
/// exist locally.
/// </summary>
public sealed class OpenIdConnectTests : IAsyncLifetime
{
    private const string ClientId = "clinic-dashboard-test";
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "botservice-it", Guid.NewGuid().ToString("n"));
    private WebApplication? _provider;
    private WebApplication? _service;
    private string _issuer = string.Empty;
    private string? _nextEmail;
    private string? _nextNonce;

    private LogCapture Logs { get; } = new();

    private HttpClient ServiceHttp { get; set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _provider = builder.Build();
        var key = new RsaSecurityKey(_rsa) { KeyId = "test-key" };
        _provider.MapGet("/.well-known/openid-configuration", () => Results.Text(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["issuer"] = _issuer,
            ["authorization_endpoint"] = _issuer + "/authorize",
            ["token_endpoint"] = _issuer + "/token",
            ["jwks_uri"] = _issuer + "/jwks",
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
        }), "application/json"));
        _provider.MapGet("/jwks", () =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(key);
            return Results.Text(JsonSerializer.Serialize(new { keys = new[] { new { kty = "RSA", kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } }), "application/json");
        });
        _provider.MapPost("/token", () =>
        {
            var now = DateTime.UtcNow;
            var idToken = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = _issuer, Audience = ClientId, IssuedAt = now, NotBefore = now, Expires = now.AddMinutes(5),
                Claims = new Dictionary<string, object> { ["sub"] = "subject-" + _nextEmail, ["email"] = _nextEmail!, ["nonce"] = _nextNonce! },
                SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
            });
            return Results.Text(JsonSerializer.Serialize(new { access_token = "opaque", token_type = "Bearer", expires_in = 300, id_token = idToken }), "application/json");
        });
        await _provider.StartAsync();
        _issuer = _provider.Urls.Single();

        (_service, ServiceHttp) = await ServiceFixture.StartAsync(Path.Combine(RepoPaths.Root, "knowledge"), Path.Combine(_root, "data"),
            b => b.Logging.AddProvider(Logs),
            $"--Authentication:OpenIdConnect:Authority={_issuer}", $"--Authentication:OpenIdConnect:ClientId={ClientId}",
            "--Authentication:OpenIdConnect:ClientSecret=test-secret", "--Authentication:OpenIdConnect:DisplayName=Sign in with Test ID");
        await ServiceFixture.WaitHealthyAsync(ServiceHttp);
    }

    public async Task DisposeAsync()
    {
        ServiceHttp.Dispose();
        foreach (var app in new[] { _service, _provider })
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }

        _rsa.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    [Fact]
    public async Task External_KnownEmail_SignsInAsTheLocalAccountWithItsRole()
    {
        // Arrange
        var email = await DashboardSeed.UserAsync(_service!.Services, StaffRoles.Staff);
        using var browser = new StaffClient(ServiceHttp.BaseAddress!);

        // Act
        var (landing, cookies) = await SignInThroughProviderAsync(browser, email);
        using var queue = await browser.Http.GetAsync("/dashboard");
        using var audit = await browser.Http.GetAsync("/dashboard/audit");

        // Assert
        Assert.Equal("/dashboard", landing);
        Assert.Equal(HttpStatusCode.OK, queue.StatusCode);
        Assert.Contains(email, await queue.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, audit.StatusCode); // the local role (staff) applies, not the provider's say
        var session = Assert.Single(cookies.Split('\n'), c => c.StartsWith("clinic.staff=", StringComparison.Ordinal));
        Assert.Contains("samesite=lax", session, StringComparison.OrdinalIgnoreCase); // Lax with OIDC: see StaffAuth
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task External_EmailWithoutLocalAccount_Refused()
    {
        // Arrange
        using var browser = new StaffClient(ServiceHttp.BaseAddress!);

        // Act
        var (landing, _) = await SignInThroughProviderAsync(browser, $"stranger-{Guid.NewGuid():n}@elsewhere.test");
        using var queue = await browser.Http.GetAsync("/dashboard");

        // Assert
        Assert.StartsWith("/account/login?error=external", landing, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, queue.StatusCode);
        Assert.DoesNotContain(browser.Cookies, c => c.Name == "clinic.staff");
    }

    [Fact]
    public async Task LoginPage_WithOpenIdConnect_ShowsButtonAndAllowsTheProviderInCsp()
    {
        // Arrange
        using var browser = new StaffClient(ServiceHttp.BaseAddress!);

        // Act
        using var page = await browser.Http.GetAsync("/account/login");

        // Assert
        Assert.Contains("Sign in with Test ID", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains($"form-action 'self' {_issuer}", string.Join(';', page.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
    }

    /// <summary>Plays the browser: sign-in button → provider's authorize URL (PKCE) → back to /signin-oidc with a code
    /// → /account/external. Returns where the service finally sends the browser.</summary>
    private async Task<(string Landing, string Cookies)> SignInThroughProviderAsync(StaffClient browser, string email)
    {
        var token = await browser.TokenAsync("/account/login");
        using var challenge = await browser.Http.PostAsync("/account/login?handler=External", StaffClient.Form(("__RequestVerificationToken", token)));
        Assert.Equal(HttpStatusCode.Redirect, challenge.StatusCode);
        var authorize = challenge.Headers.Location!;
        Assert.StartsWith(_issuer + "/authorize", authorize.ToString(), StringComparison.Ordinal);
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(authorize.Query);
        Assert.Equal(ClientId, query["client_id"].ToString());
        Assert.Equal("S256", query["code_challenge_method"].ToString());
        Assert.Equal("code", query["response_type"].ToString());
        _nextEmail = email;
        _nextNonce = query["nonce"].ToString();

        using var callback = await browser.Http.PostAsync("/signin-oidc", StaffClient.Form(("code", "test-code"), ("state", query["state"].ToString())));
        Assert.Equal(HttpStatusCode.Redirect, callback.StatusCode);
        using var external = await browser.Http.GetAsync(callback.Headers.Location);
        Assert.Equal(HttpStatusCode.Redirect, external.StatusCode);
        var cookies = external.Headers.TryGetValues("Set-Cookie", out var values) ? string.Join('\n', values) : string.Empty;
        return (external.Headers.Location!.OriginalString, cookies);
    }
}
