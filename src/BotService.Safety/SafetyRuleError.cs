namespace BotService.Safety;

/// <summary>A problem found while loading a staff-editable safety file, with its 1-based line and column.</summary>
public sealed record SafetyRuleError(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}
