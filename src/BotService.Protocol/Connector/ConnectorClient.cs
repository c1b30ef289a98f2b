using System.Net.Http.Json;
using BotService.Protocol.Schema;
using BotService.Protocol.Telemetry;

namespace BotService.Protocol.Connector;

/// <summary>The Connector's answer to a sent activity: <c>{id}</c>.</summary>
public sealed record ResourceResponse(string? Id);

/// <summary>
/// Sends activities to a channel through the Connector REST routes under the activity's <c>serviceUrl</c>
/// (shared/protocol.md §4): a reply to an activity goes to <c>v3/conversations/{conv}/activities/{replyToId}</c>,
/// anything else to <c>v3/conversations/{conv}/activities</c>, and an update of an activity the bot sent is a PUT to
/// <c>v3/conversations/{conv}/activities/{id}</c>; ids are escaped as the SDK escapes them. The
/// <see cref="HttpClient"/> carries retries and backoff (the host adds the resilience handler) and, once built, the
/// bot's OAuth token. A refusal surfaces as an <see cref="HttpRequestException"/> with the final status code. Each send
/// or update is a span (<c>connector send</c> / <c>connector update</c>: activity type and host), with HttpClient's own
/// span (and its retries) under it.
/// </summary>
public sealed class ConnectorClient(HttpClient http)
{
    /// <summary>Sends (or, with <c>replyToId</c>, replies with) an activity; the answer carries the id the channel gave it.</summary>
    public async Task<ResourceResponse?> SendAsync(Activity activity, CancellationToken cancellationToken)
    {
        var uri = ActivitiesUri(activity, activity.ReplyToId);
        using var span = Span("connector send", activity, uri);
        using var response = await http.PostAsJsonAsync(uri, activity, ProtocolJsonContext.Default.Activity, cancellationToken);
        return await ReadAsync(response, cancellationToken);
    }

    /// <summary>
    /// Replaces an activity the bot sent earlier (the SDK's <c>UpdateActivityAsync</c>; Teams edits the message in
    /// place): <c>PUT v3/conversations/{conv}/activities/{activity.id}</c> with the whole new activity.
    /// </summary>
    public async Task<ResourceResponse?> UpdateAsync(Activity activity, CancellationToken cancellationToken)
    {
        if (activity.Id is not { Length: > 0 } id)
        {
            throw new ArgumentException("An activity needs the id of the activity it replaces to be updated.", nameof(activity));
        }

        var uri = ActivitiesUri(activity, id);
        using var span = Span("connector update", activity, uri);
        using var response = await http.PutAsJsonAsync(uri, activity, ProtocolJsonContext.Default.Activity, cancellationToken);
        return await ReadAsync(response, cancellationToken);
    }

    private static System.Diagnostics.Activity? Span(string name, Activity activity, Uri uri)
    {
        var span = ProtocolTelemetry.Source.StartActivity(name, System.Diagnostics.ActivityKind.Client);
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("bot.activity.type", activity.Type);
            span.SetTag("server.address", uri.Host);
        }

        return span;
    }

    private static Uri ActivitiesUri(Activity activity, string? activityId)
    {
        if (activity.ServiceUrl is not { Length: > 0 } serviceUrl || activity.Conversation?.Id is not { Length: > 0 } conversation)
        {
            throw new ArgumentException("An activity needs serviceUrl and conversation.id to be sent.", nameof(activity));
        }

        var path = $"v3/conversations/{Uri.EscapeDataString(conversation)}/activities";
        if (activityId is { Length: > 0 })
        {
            path += "/" + Uri.EscapeDataString(activityId);
        }

        return new Uri(new Uri(serviceUrl.EndsWith('/') ? serviceUrl : serviceUrl + "/"), path);
    }

    private static async Task<ResourceResponse?> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        response.EnsureSuccessStatusCode();
        return response.Content.Headers.ContentLength is 0
            ? null
            : await response.Content.ReadFromJsonAsync(ConnectorJsonContext.Default.ResourceResponse, cancellationToken);
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ResourceResponse))]
internal sealed partial class ConnectorJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
