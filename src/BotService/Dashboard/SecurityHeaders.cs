using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace BotService.Dashboard;

/// <summary>
/// Headers for every dashboard and sign-in response: a content security policy that allows only this origin and the
/// page's own nonce'd inline script and style (no CDN, no inline handlers), no framing, no referrer, and no caching
/// (transcripts must not linger in a shared station's browser cache).
/// </summary>
internal static class SecurityHeaders
{
    private const string NonceKey = "csp-nonce";

    public static string Nonce(HttpContext context) => (string)context.Items[NonceKey]!;

    public static IApplicationBuilder UseDashboardSecurityHeaders(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/dashboard") || path.StartsWithSegments("/account"))
        {
            // Hex, not base64: "+" and "/" would be HTML-encoded in the nonce attribute and no longer match the header.
            var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            context.Items[NonceKey] = nonce;
            var oidc = context.RequestServices.GetRequiredService<IOptions<OpenIdConnectSettings>>().Value;
            // After the sign-in form posts, OpenID Connect redirects to the provider: form-action must allow it.
            var formAction = oidc.Enabled && Uri.TryCreate(oidc.Authority, UriKind.Absolute, out var authority)
                ? "'self' " + authority.GetLeftPart(UriPartial.Authority)
                : "'self'";
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = $"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; " +
                $"connect-src 'self'; img-src 'self'; form-action {formAction}; frame-ancestors 'none'; base-uri 'none'";
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-store";
        }

        await next(context);
    });
}
