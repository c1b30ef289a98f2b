namespace BotService.Safety;

/// <summary>
/// One rule that fired. <paramref name="Start"/> and <paramref name="Length"/> are UTF-16 offsets into the
/// ORIGINAL message text (not the normalised one), so staff can see the highlighted words.
/// <paramref name="Level"/> is the level this reason contributes after exceptions (an emergency rule softened by a
/// "past" or "hypothetical" exception reports <see cref="SafetyLevel.Urgent"/>).
/// </summary>
public sealed record SafetyReason(string RuleId, SafetyLevel Level, int Start, int Length);
