using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BotService.Hosting;

/// <summary>Writes the health endpoints as JSON: the overall status and each part's status and description.</summary>
internal static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report) => WriteAsync(context, report, report.Status);

    /// <summary>
    /// <c>/healthz</c> as it always answered: 503 only while the index is loading (the knowledge check), otherwise 200,
    /// <c>degraded</c> when anything else fails.
    /// </summary>
    public static Task WriteSummaryAsync(HttpContext context, HealthReport report)
    {
        var loading = report.Entries.TryGetValue("knowledge", out var knowledge) && knowledge.Status == HealthStatus.Unhealthy;
        var status = loading ? HealthStatus.Unhealthy : report.Status == HealthStatus.Healthy ? HealthStatus.Healthy : HealthStatus.Degraded;
        context.Response.StatusCode = loading ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        return WriteAsync(context, report, status);
    }

    private static async Task WriteAsync(HttpContext context, HealthReport report, HealthStatus overall)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var buffer = new ArrayBufferWriter<byte>(512);
        using var json = new Utf8JsonWriter(buffer);
        json.WriteStartObject();
        json.WriteString("status", overall.ToString().ToLowerInvariant());
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject(name);
            json.WriteString("status", entry.Status.ToString().ToLowerInvariant());
            if (entry.Description is not null)
            {
                json.WriteString("description", entry.Description);
            }

            foreach (var (key, value) in entry.Data)
            {
                json.WritePropertyName(key);
                JsonSerializer.Serialize(json, value, value.GetType());
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }
}
