namespace BotService.Safety;

/// <summary>The classifier's verdict: the highest level found and every reason behind it.</summary>
public sealed record SafetyAssessment(SafetyLevel Level, IReadOnlyList<SafetyReason> Reasons)
{
    /// <summary>No rule fired.</summary>
    public static SafetyAssessment None { get; } = new(SafetyLevel.None, []);
}
