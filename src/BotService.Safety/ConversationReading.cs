namespace BotService.Safety;

/// <summary>An earlier message of a conversation as the safety check keeps it: the text, and the level it was escalated at.</summary>
public sealed record EarlierMessage(string Text, SafetyLevel Level);

/// <summary>
/// Reading a message together with the conversation's earlier messages ("I have all my pills here", then "goodbye"):
/// the danger is often only visible across messages. The messages are joined with line breaks and classified as one
/// text, and the reading counts only when it is worse than every message in it was alone, so what is already escalated
/// is not escalated again and a crisis reply is not repeated for the words that earned it (decision 0029).
/// </summary>
public static class ConversationReading
{
    /// <summary>The reason added when a message is only alarming read with the conversation's earlier messages.</summary>
    public const string RuleId = "read-with-earlier-messages";

    /// <summary>
    /// The verdict on <paramref name="text"/> read with <paramref name="earlier"/> (oldest first), or <paramref name="own"/>
    /// (its verdict alone) when reading them together adds nothing. Reasons keep their offsets into
    /// <paramref name="text"/>: a match inside it keeps its place, one in an earlier message keeps only its rule id (zero
    /// length), one across the join is cut to the message.
    /// </summary>
    public static SafetyAssessment ReadWithEarlier(this ISafetyClassifier classifier, string text, SafetyAssessment own,
        IReadOnlyList<EarlierMessage> earlier)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(earlier);
        var floor = own.Level;
        foreach (var message in earlier)
        {
            floor = message.Level > floor ? message.Level : floor;
        }

        if (earlier.Count == 0 || floor == SafetyLevel.Emergency)
        {
            return own;
        }

        var texts = new string[earlier.Count + 1];
        for (var i = 0; i < earlier.Count; i++)
        {
            texts[i] = earlier[i].Text;
        }

        texts[^1] = text;
        var together = string.Join('\n', texts); // one string, not a join and then a concatenation
        var offset = together.Length - text.Length;
        var read = classifier.Classify(together);
        if (read.Level <= floor)
        {
            return own;
        }

        var reasons = read.Reasons.Select(r => r.Start >= offset ? r with { Start = r.Start - offset }
                : new SafetyReason(r.RuleId, r.Level, 0, Math.Max(0, r.Start + r.Length - offset)))
            .Append(new SafetyReason(RuleId, read.Level, 0, 0))
            .ToArray();
        return new SafetyAssessment(read.Level, reasons);
    }
}
