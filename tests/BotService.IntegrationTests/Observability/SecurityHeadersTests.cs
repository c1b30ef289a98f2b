using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace BotService.IntegrationTests.Observability;

/// <summary>Security headers on every kind of response: pages, API answers, errors, static files, health, 404s.</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class SecurityHeadersTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    public static TheoryData<string, string> Requests => new()
    {
        { "GET", "/" },
        { "GET", "/account/login" },
        { "GET", "/dashboard" },
        { "GET", "/webchat/chat.js" },
        { "GET", "/healthz/ready" },
        { "GET", "/metrics" },
        { "POST", "/api/ask" },
        { "POST", "/api/messages" },
        { "POST", "/v3/directline/conversations" },
        { "GET", "/no/such/page" },
        { "DELETE", "/api/ask" },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task EveryResponse_HasTheSecurityHeaders(string method, string path)
    {
        // Arrange
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = service.Http.BaseAddress };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = new StringContent("{\"text\": \"how much is an infusion?\"}", Encoding.UTF8, "application/json");
        }

        // Act
        var response = await client.SendAsync(request);
        string Header(string name) => response.Headers.TryGetValues(name, out var v) || response.Content.Headers.TryGetValues(name, out v)
            ? string.Join(", ", v) : string.Empty;

        // Assert
        var csp = Header("Content-Security-Policy");
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.Equal("nosniff", Header("X-Content-Type-Options"));
        Assert.Equal("DENY", Header("X-Frame-Options"));
        Assert.Equal("no-referrer", Header("Referrer-Policy"));
        Assert.Equal("same-origin", Header("Cross-Origin-Opener-Policy"));
        Assert.NotEqual(string.Empty, Header("Permissions-Policy"));
        Assert.NotEqual(string.Empty, Header("Cache-Control"));
    }

    [Fact]
    public async Task Pages_KeepTheirOwnPolicy_ApiAnswersAreNeverCached()
    {
        // Act
        var page = await service.Http.GetAsync("/");
        var ask = await service.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion?" });

        // Assert: the chat page's nonce'd policy is not replaced; an answer is not stored by any cache
        Assert.Contains("script-src 'self'", string.Join(", ", page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal(HttpStatusCode.OK, ask.StatusCode);
        Assert.Equal("no-store", string.Join(", ", ask.Headers.GetValues("Cache-Control")));
        Assert.Equal("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            string.Join(", ", ask.Headers.GetValues("Content-Security-Policy")));
    }
}
