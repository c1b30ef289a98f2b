namespace BotService.Safety;

/// <summary>
/// The fixed reply for an emergency or urgent message. <see cref="Text"/> is plain text with blank lines between
/// paragraphs (Markdown-safe, readable on a phone). <see cref="IsBuiltIn"/> is true when the compiled-in wording is
/// used because the staff-editable file is missing or broken.
/// </summary>
public sealed record CrisisReply(SafetyLevel Level, string Text, bool IsBuiltIn);
