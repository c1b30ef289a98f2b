using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>
/// The reverse proxies (load balancers) in front of the service, whose <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> are believed. Section <c>Proxies</c>.
/// </summary>
public sealed class ProxyOptions
{
    public const string SectionName = "Proxies";

    /// <summary>
    /// The proxies' networks (CIDR, separated by spaces or commas), e.g. <c>10.0.0.0/8</c>. Empty (the default): the
    /// forwarding headers are ignored, so a client cannot choose the address its rate limits are counted under.
    /// </summary>
    public string TrustedNetworks { get; set; } = "";

    /// <summary>How many proxies deep to read <c>X-Forwarded-For</c> (each must be in <see cref="TrustedNetworks"/>).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 10)]
    public int ForwardLimit { get; set; } = 1;
}

/// <summary>
/// ASP.NET Core's forwarded-headers middleware, limited to the configured proxies. Behind a load balancer every
/// visitor arrives from the balancer's address; without this the per-address rate limits would count the whole clinic's
/// traffic as one client, and <c>/metrics</c>' allowed networks would match the balancer. It runs first, so the rate
/// limits, the metrics check and the logs all see the client's address.
/// </summary>
internal static class TrustedProxies
{
    public static IServiceCollection AddTrustedProxies(this IServiceCollection services)
    {
        services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<ProxyOptions>>((o, proxies) =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            o.ForwardLimit = proxies.Value.ForwardLimit;
            o.KnownIPNetworks.Clear(); // the defaults trust loopback; only what is configured is trusted
            o.KnownProxies.Clear();
            foreach (var network in ClientNetworks.Parse(proxies.Value.TrustedNetworks, ProxyOptions.SectionName, typeof(ProxyOptions), "TrustedNetworks: "))
            {
                o.KnownIPNetworks.Add(network);
            }
        });
        return services;
    }

    /// <summary>Reads the forwarding headers when proxies are configured; otherwise nothing is added to the pipeline.</summary>
    public static WebApplication UseTrustedProxies(this WebApplication app)
    {
        if (!string.IsNullOrWhiteSpace(app.Services.GetRequiredService<IOptions<ProxyOptions>>().Value.TrustedNetworks))
        {
            app.UseForwardedHeaders();
        }

        return app;
    }
}
