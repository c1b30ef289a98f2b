namespace BotService.Safety;

/// <summary>Health of the crisis wording: whether the staff file or the built-in fallback is in use, and why.</summary>
public sealed record CrisisRepliesStatus(
    string Path,
    bool UsingBuiltIn,
    DateTimeOffset? LoadedAt,
    DateTimeOffset? LastErrorAt,
    string? LastError);
