namespace BotService.Safety;

/// <summary>
/// Normalised message text with, for every normalised character, the range of original characters it came from.
/// A replaced token ("kms" → "kill myself") maps every output character to the whole source token.
/// </summary>
internal sealed class NormalisedText(string text, int[] starts, int[] ends)
{
    public string Text { get; } = text;

    /// <summary>Maps a range of <see cref="Text"/> back to a (start, length) range of the original message.</summary>
    public (int Start, int Length) ToOriginal(int index, int length)
    {
        if (length <= 0 || index < 0 || index + length > Text.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }

        var start = starts[index];
        var end = ends[index + length - 1];
        return (start, end - start);
    }
}
