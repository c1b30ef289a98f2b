namespace BotService.Knowledge.Indexing;

/// <summary>
/// Splits a paragraph into sentences at '.', '!' or '?' followed by a space and a capital, digit, quote or bracket,
/// without breaking after common abbreviations ("et al.", "e.g.", "Dr.") or initials ("R. M. Berman").
/// </summary>
internal static class SentenceSplitter
{
    private static readonly HashSet<string> Abbreviations = new(StringComparer.OrdinalIgnoreCase)
    {
        "al", "e.g", "i.e", "eg", "ie", "dr", "mr", "mrs", "ms", "vs", "st", "no", "fig", "approx", "etc", "u.s", "jr", "sr",
        "prof", "inc", "ltd", "vol", "pp", "ed", "eds", "ph.d", "m.d",
    };

    public static List<string> Split(string paragraph)
    {
        var sentences = new List<string>();
        var start = 0;
        for (var i = 0; i < paragraph.Length; i++)
        {
            var c = paragraph[i];
            if (c is not ('.' or '!' or '?'))
            {
                continue;
            }

            var end = i + 1;
            while (end < paragraph.Length && paragraph[end] is '"' or '\'' or ')' or ']' or '”' or '’')
            {
                end++;
            }

            if (end >= paragraph.Length || !char.IsWhiteSpace(paragraph[end]))
            {
                continue;
            }

            var next = end;
            while (next < paragraph.Length && char.IsWhiteSpace(paragraph[next]))
            {
                next++;
            }

            if (next >= paragraph.Length)
            {
                break;
            }

            var n = paragraph[next];
            if (!(char.IsUpper(n) || char.IsDigit(n) || n is '"' or '“' or '(' or '[' or '$' or '\''))
            {
                continue;
            }

            if (c == '.' && IsAbbreviation(paragraph, start, i))
            {
                continue;
            }

            Add(sentences, paragraph[start..end]);
            start = next;
            i = next - 1;
        }

        Add(sentences, paragraph[start..]);
        return sentences;
    }

    private static bool IsAbbreviation(string text, int start, int dot)
    {
        var wordStart = dot;
        while (wordStart > start && !char.IsWhiteSpace(text[wordStart - 1]) && text[wordStart - 1] != '(')
        {
            wordStart--;
        }

        var word = text[wordStart..dot];
        if (word.Length == 1 && char.IsUpper(word[0]))
        {
            return true; // an initial: "R. M. Berman"
        }

        return Abbreviations.Contains(word.TrimEnd('.'));
    }

    private static void Add(List<string> sentences, string s)
    {
        s = s.Trim();
        if (s.Length > 0)
        {
            sentences.Add(s);
        }
    }
}
