using System.Net;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// Per-address rate limits behind a load balancer: with <c>Proxies:TrustedNetworks</c> naming the balancer (here
/// loopback, where this test runs) each visitor is counted under the address in <c>X-Forwarded-For</c>; without it the
/// header is ignored, so a client cannot pick a fresh address for every request.
/// </summary>
[Trait("Storage", "none")]
public sealed class TrustedProxyTests
{
    private static readonly string[] SmallPerAddressLimit =
    [
        "--RateLimits:ExemptNetworks=", "--RateLimits:PerAddress:Burst=3", "--RateLimits:PerAddress:PerMinute=1",
    ];

    [Fact]
    public async Task BehindATrustedProxy_EachForwardedClientHasItsOwnLimit()
    {
        // Arrange
        await using var service = await StartAsync([.. SmallPerAddressLimit, "--Proxies:TrustedNetworks=127.0.0.0/8 ::1/128"]);

        // Act: one visitor spends its three requests, then another visitor behind the same balancer asks
        var first = await GetAsync(service, "203.0.113.5", times: 4);
        var second = await GetAsync(service, "203.0.113.6", times: 1);

        // Assert
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], first);
        Assert.Equal([HttpStatusCode.OK], second);
    }

    [Fact]
    public async Task WithoutTrustedProxies_AForwardedForHeaderDoesNotEscapeTheLimit()
    {
        // Arrange
        await using var service = await StartAsync(SmallPerAddressLimit);

        // Act: a client sends a new made-up address with every request
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            statuses.AddRange(await GetAsync(service, $"198.51.100.{i + 1}", times: 1));
        }

        // Assert: all six counted against the connection's own address (the service's own warm-up, from the same
        // address, may have spent some of the three first)
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.OK), 0, 3);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
    }

    [Fact]
    public async Task AnUntrustedProxyEntry_StopsTheStartWithTheSettingNamed()
    {
        // Act
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(["--Proxies:TrustedNetworks=10.0.0.0/8 balancer.local"]));

        // Assert
        Assert.Contains("TrustedNetworks: 'balancer.local' is not a network in CIDR notation", failure.ToString());
    }

    private static Task<RunningService> StartAsync(string[] args) => RunningService.StartHealthyAsync(RepoPaths.Knowledge,
        Path.Combine(Path.GetTempPath(), "botservice-it", "proxies-" + Guid.NewGuid().ToString("n")), null, args);

    private static async Task<List<HttpStatusCode>> GetAsync(RunningService service, string forwardedFor, int times)
    {
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < times; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("X-Forwarded-For", forwardedFor);
            using var response = await service.Http.SendAsync(request);
            statuses.Add(response.StatusCode);
        }

        return statuses;
    }
}
