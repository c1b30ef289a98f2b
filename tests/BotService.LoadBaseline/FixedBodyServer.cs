namespace BotService.LoadBaseline;

/// <summary>
/// The fixed-body baseline of the load benchmark (<c>tests/load/messages-wrk.sh</c>). It answers
/// <c>POST /api/messages</c> with the bytes of a file (a real <c>expectReplies</c> reply captured from the service in
/// the same run), so both endpoints send the same number of bytes for the same request and the ratio between them
/// is what the bot's own work costs. It reads and discards the request body, as the service must read it too; it
/// runs on the same Kestrel, the same Web SDK defaults (server GC) and no logging per request, as the service.
/// </summary>
internal static class FixedBodyServer
{
    /// <summary>
    /// Builds the server. Arguments: <c>--urls http://127.0.0.1:PORT --Body /path/to/reply.json</c>, and
    /// <c>--Database /path/to/file.db</c> for the stored ceiling (<see cref="CeilingEndpoints"/>; a temp file if not given).
    /// </summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var path = app.Configuration["Body"] ?? throw new InvalidOperationException("Give the reply body to serve with --Body PATH.");
        var body = File.ReadAllBytes(path);

        app.MapGet("/healthz", () => "ok");
        app.MapPost("/api/messages", async (HttpContext http) =>
        {
            await DrainAsync(http.Request.Body, http.RequestAborted);
            http.Response.ContentType = "application/json; charset=utf-8";
            http.Response.ContentLength = body.Length;
            await http.Response.Body.WriteAsync(body, http.RequestAborted);
        });
        CeilingEndpoints.Map(app, body, app.Configuration["Database"] ?? Path.Combine(Path.GetTempPath(), $"load-ceiling-{Environment.ProcessId}.db"));
        return app;
    }

    private static async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (await stream.ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
