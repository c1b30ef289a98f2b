namespace BotService.Safety;

/// <summary>Thrown when no valid safety rules could be loaded at all, so the service must not start.</summary>
public sealed class SafetyRulesException : Exception
{
    public SafetyRulesException(string message, IReadOnlyList<SafetyRuleError> errors)
        : base(Describe(message, errors)) => Errors = errors;

    public SafetyRulesException(string message, IReadOnlyList<SafetyRuleError> errors, Exception inner)
        : base(Describe(message, errors), inner) => Errors = errors;

    public IReadOnlyList<SafetyRuleError> Errors { get; }

    private static string Describe(string message, IReadOnlyList<SafetyRuleError> errors) =>
        errors.Count == 0 ? message : message + Environment.NewLine + string.Join(Environment.NewLine, errors);
}
