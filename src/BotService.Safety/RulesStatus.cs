namespace BotService.Safety;

/// <summary>
/// Health of the rule set in use, for a health check or the staff dashboard. <see cref="LastError"/> is the most
/// recent rejected edit (file:line: message) and stays set until a later edit loads cleanly.
/// </summary>
public sealed record RulesStatus(
    string Path,
    DateTimeOffset LoadedAt,
    int RuleCount,
    int ExceptionCount,
    string Fingerprint,
    DateTimeOffset? LastErrorAt,
    string? LastError)
{
    /// <summary>True when the file on disk is the one in use (the last load attempt succeeded).</summary>
    public bool IsCurrent => LastErrorAt is null || LastErrorAt < LoadedAt;
}
