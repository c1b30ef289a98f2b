using System.Security.Cryptography;
using Microsoft.Extensions.FileProviders;

namespace BotService.WebChat;

/// <summary>
/// The visitors' chat page at <c>GET /</c> and its files under <c>/webchat</c>: our page, script and style, and the
/// official Web Chat bundle, all copied into the output's <c>webchat/</c> folder by the build (decision 0010), so the
/// browser fetches nothing from another origin. The page is sent with a strict content security policy: scripts only
/// from this origin (no inline script), styles from this origin plus a per-response nonce that Web Chat's CSS-in-JS
/// puts on the style elements it creates, connections only to this origin (the token endpoint and Direct Line).
/// </summary>
internal static class WebChatPage
{
    public const string FilesPath = "/webchat";
    private const string NoncePlaceholder = "{{nonce}}";

    /// <summary>Where the build copied the page's files.</summary>
    public static string Folder { get; } = Path.Combine(AppContext.BaseDirectory, "webchat");

    public static WebApplication MapWebChatPage(this WebApplication app)
    {
        if (Directory.Exists(Folder))
        {
            app.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = new PhysicalFileProvider(Folder),
                RequestPath = FilesPath,
                // revalidated (ETag), so an upgrade shows at once; the other headers are BaselineSecurityHeaders'
                OnPrepareResponse = file => file.Context.Response.Headers.CacheControl = "no-cache",
            });
        }

        // Read once: the page is a template with one placeholder, the nonce.
        var template = new Lazy<string?>(() =>
        {
            var path = Path.Combine(Folder, "index.html");
            return File.Exists(path) ? File.ReadAllText(path) : null;
        });
        app.MapGet("/", (HttpContext http) =>
        {
            if (template.Value is not { } page)
            {
                return Results.Problem("The chat page is not part of this build.", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            // Hex, not base64: "+" and "/" would be HTML-encoded in the nonce attribute and no longer match the header.
            var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            // The page's own policy; nosniff, frame denial, no referrer and no-store (a new nonce every time) are
            // BaselineSecurityHeaders'.
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy(nonce);
            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()";
            return Results.Content(page.Replace(NoncePlaceholder, nonce, StringComparison.Ordinal), "text/html; charset=utf-8");
        }).ExcludeFromDescription();
        return app;
    }

    /// <summary>The hash of an empty stylesheet: a library in the Web Chat bundle adds an empty, nonce-less style element.</summary>
    private const string EmptyStyleHash = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='";

    /// <summary>
    /// The page's policy. <c>img-src data:</c> is for the icons Web Chat inlines as data URIs; <c>connect-src 'self'</c>
    /// covers the Direct Line WebSocket on this origin (CSP level 3 matches ws/wss to 'self').
    /// </summary>
    public static string ContentSecurityPolicy(string nonce) =>
        $"default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}' {EmptyStyleHash}; img-src 'self' data: blob:; font-src 'self'; " +
        "connect-src 'self'; media-src 'none'; object-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
}
