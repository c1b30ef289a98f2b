using System.Text.Json;
using System.Text.Json.Serialization;

namespace BotService.Api;

/// <summary>The reply of <c>POST /api/ask</c>.</summary>
internal sealed record AskResponse(
    bool Answered,
    string Text,
    double Confidence,
    IReadOnlyList<SourceDto> Sources,
    SafetyDto Safety,
    string? InterpretedAs,
    string? FollowUpAbout = null,
    IReadOnlyList<SuggestionDto>? DidYouMean = null);

/// <summary>One reading offered by "did you mean": post <see cref="Question"/> (with the same conversationId) to choose it.</summary>
internal sealed record SuggestionDto(string Question, string Section, string Title, string Path);

internal sealed record SourceDto(string Title, string Clinic, string Section, string Path, string Updated);

internal sealed record SafetyDto(string Level, IReadOnlyList<SafetyReasonDto> Reasons)
{
    public static SafetyDto None { get; } = new("none", []);
}

/// <summary>Why a message was classified as it was: the rule and the span of the message that matched.</summary>
internal sealed record SafetyReasonDto(string Rule, string Level, int Start, int Length);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AskResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
