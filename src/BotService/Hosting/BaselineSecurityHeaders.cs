namespace BotService.Hosting;

/// <summary>
/// Security headers on every response, whatever produced it (an endpoint, a static file, a problem details error, the
/// status code page, a 429): what a page or endpoint set itself wins (the chat page's and the dashboard's CSP with
/// their nonces, the static files' <c>Cache-Control</c>); anything missing gets the strictest value. An API response
/// has no reason to run script, be framed, send a referrer or be cached (a transcript is health data), so its CSP is
/// <c>default-src 'none'</c>. <c>Strict-Transport-Security</c> is ASP.NET Core's HSTS middleware (HTTPS requests to a
/// host other than localhost).
/// </summary>
internal static class BaselineSecurityHeaders
{
    public const string DefaultPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public static IServiceCollection AddBaselineSecurityHeaders(this IServiceCollection services) =>
        services.AddHsts(o => o.MaxAge = TimeSpan.FromDays(365));

    public static WebApplication UseBaselineSecurityHeaders(this WebApplication app)
    {
        app.UseHsts();
        app.Use((http, next) =>
        {
            http.Response.OnStarting(static state =>
            {
                var headers = ((HttpContext)state).Response.Headers;
                SetIfMissing(headers, "Content-Security-Policy", DefaultPolicy);
                SetIfMissing(headers, "X-Content-Type-Options", "nosniff");
                SetIfMissing(headers, "X-Frame-Options", "DENY");
                SetIfMissing(headers, "Referrer-Policy", "no-referrer");
                SetIfMissing(headers, "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()");
                SetIfMissing(headers, "Cross-Origin-Opener-Policy", "same-origin");
                SetIfMissing(headers, "Cross-Origin-Resource-Policy", "same-origin");
                SetIfMissing(headers, "Cache-Control", "no-store");
                return Task.CompletedTask;
            }, http);
            return next(http);
        });
        return app;
    }

    private static void SetIfMissing(IHeaderDictionary headers, string name, string value)
    {
        if (!headers.ContainsKey(name))
        {
            headers[name] = value;
        }
    }
}
