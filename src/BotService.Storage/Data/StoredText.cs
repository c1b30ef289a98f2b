namespace BotService.Storage.Data;

/// <summary>
/// Text as every provider can store it. PostgreSQL's text type cannot hold U+0000, and Npgsql refuses strings that are
/// not valid UTF-16 (a lone surrogate, e.g. half of an emoji cut off by a client); SQLite takes both. Either would
/// make a visitor's message fail to store on one provider only, so both are replaced by U+FFFD on every provider.
/// One UTF-16 unit becomes one, so the safety reasons' offsets into the text still point at the same words.
/// </summary>
public static class StoredText
{
    public static string Of(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var i = FirstBad(text);
        if (i < 0)
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (; i < chars.Length; i++)
        {
            var c = chars[i];
            if (c == '\0')
            {
                chars[i] = '\uFFFD';
            }
            else if (char.IsHighSurrogate(c))
            {
                if (i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
                {
                    i++; // a pair: keep both
                }
                else
                {
                    chars[i] = '\uFFFD';
                }
            }
            else if (char.IsLowSurrogate(c))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    private static int FirstBad(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0' || char.IsLowSurrogate(c))
            {
                return i;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }

                return i;
            }
        }

        return -1;
    }
}
