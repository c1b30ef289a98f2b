using System.Net.Http.Json;
using BotService.Protocol.Schema;
using BotService.Protocol.Telemetry;

namespace BotService.Protocol.Connector;

/// <summary>The Connector's answer to a sent activity: <c>{id}</c>.</summary>
public sealed record ResourceResponse(string? Id);

/// <summary>
/// Sends activities to a channel through the Connector REST routes under the activity's <c>serviceUrl</c>
/// (shared/protocol.md §4): a reply to an activity goes to <c>v3/conversations/{conv}/activities/{replyToId}</c>,
/// anything else to <c>v3/conversations/{conv}/activities</c>; ids are escaped as the SDK escapes them. The
/// <see cref="HttpClient"/> carries retries and backoff (the host adds the resilience handler) and, once built, the
/// bot's OAuth token. Each send is a span (<c>connector send</c>: activity type and host), with HttpClient's own span
/// (and its retries) under it.
/// </summary>
public sealed class ConnectorClient(HttpClient http)
{
    public async Task<ResourceResponse?> SendAsync(Activity activity, CancellationToken cancellationToken)
    {
        if (activity.ServiceUrl is not { Length: > 0 } serviceUrl || activity.Conversation?.Id is not { Length: > 0 } conversation)
        {
            throw new ArgumentException("An activity needs serviceUrl and conversation.id to be sent.", nameof(activity));
        }

        var path = $"v3/conversations/{Uri.EscapeDataString(conversation)}/activities";
        if (activity.ReplyToId is { Length: > 0 } replyTo)
        {
            path += "/" + Uri.EscapeDataString(replyTo);
        }

        var uri = new Uri(new Uri(serviceUrl.EndsWith('/') ? serviceUrl : serviceUrl + "/"), path);
        using var span = ProtocolTelemetry.Source.StartActivity("connector send", System.Diagnostics.ActivityKind.Client);
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("bot.activity.type", activity.Type);
            span.SetTag("server.address", uri.Host);
        }

        using var response = await http.PostAsJsonAsync(uri, activity, ProtocolJsonContext.Default.Activity, cancellationToken);
        response.EnsureSuccessStatusCode();
        return response.Content.Headers.ContentLength is 0
            ? null
            : await response.Content.ReadFromJsonAsync(ConnectorJsonContext.Default.ResourceResponse, cancellationToken);
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ResourceResponse))]
internal sealed partial class ConnectorJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
