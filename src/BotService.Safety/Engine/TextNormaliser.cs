using System.Collections.Frozen;

namespace BotService.Safety;

/// <summary>
/// Lowercases, straightens curly quotes, collapses whitespace, splits hyphenated words, squeezes letters repeated
/// three or more times ("dieee" → "die") and applies the rules file's typo/slang map on whole tokens, keeping a map
/// from every output character back to the original text. Immutable and thread-safe.
/// </summary>
internal sealed class TextNormaliser
{
    private readonly FrozenDictionary<string, TokenReplacement[]> _byFirstToken;
    private readonly (string Symbol, string To)[] _symbols;

    public TextNormaliser(IEnumerable<(string From, string To)> replacements)
    {
        var tokenised = new Dictionary<string, List<TokenReplacement>>(StringComparer.Ordinal);
        var symbols = new List<(string, string)>();
        foreach (var (from, to) in replacements)
        {
            if (IsSymbol(from))
            {
                symbols.Add((from, to));
                continue;
            }

            var tokens = Tokenise(from);
            if (tokens.Length == 0)
            {
                continue;
            }

            if (!tokenised.TryGetValue(tokens[0], out var list))
            {
                tokenised[tokens[0]] = list = [];
            }

            list.Add(new TokenReplacement(tokens, to));
        }

        _byFirstToken = tokenised.ToFrozenDictionary(
            kv => kv.Key,
            kv => kv.Value.OrderByDescending(r => r.Tokens.Length).ToArray(),
            StringComparer.Ordinal);
        _symbols = symbols.OrderByDescending(s => s.Item1.Length).ToArray();
    }

    /// <summary>The same character rules the normaliser applies, for splitting a map key into tokens.</summary>
    public static string[] Tokenise(string phrase)
    {
        var normalised = new TextNormaliser([]).Normalise(phrase).Text;
        return normalised.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>A map key with no letter or digit (an emoji) is replaced wherever it occurs, not on token bounds.</summary>
    public static bool IsSymbol(string from) => !from.Any(char.IsLetterOrDigit);

    public NormalisedText Normalise(string text)
    {
        var first = new Builder(text.Length + 8);
        FirstPass(text, first);
        var second = new Builder(first.Length + 16);
        SecondPass(first, second);
        second.TrimEnd();
        return second.Build();
    }

    private void FirstPass(string text, Builder output)
    {
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (_symbols.Length > 0 && !char.IsAsciiLetterOrDigit(c) && TryEmitSymbol(text, ref i, output))
            {
                continue;
            }

            if (c is '\u200B' or '\u200C' or '\u200D' or '\uFEFF' or '\u00AD')
            {
                i++;
                continue;
            }

            if (char.IsWhiteSpace(c))
            {
                output.AppendSpace(i, i + 1);
                i++;
                continue;
            }

            var mapped = c switch
            {
                '\u2019' or '\u2018' or '\u02BC' or '\u02BB' or '`' or '\u00B4' or '\u2032' => '\'',
                '\u201C' or '\u201D' or '\u201E' or '\u2033' or '\u00AB' or '\u00BB' => '"',
                '\u2013' or '\u2014' or '\u2010' or '\u2011' or '\u2212' => '-',
                _ => char.ToLowerInvariant(c),
            };

            // "self-harm", "drop-dead", "twenty-five": split hyphenated words so rules need only one spelling.
            if (mapped == '-' && output.LastIsLetter && i + 1 < text.Length && char.IsLetter(text[i + 1]))
            {
                output.AppendSpace(i, i + 1);
                i++;
                continue;
            }

            if (char.IsLetter(mapped))
            {
                var run = 1;
                while (i + run < text.Length && char.ToLowerInvariant(text[i + run]) == mapped)
                {
                    run++;
                }

                if (run >= 3)
                {
                    output.Append(mapped, i, i + run);
                    i += run;
                    continue;
                }
            }

            output.Append(mapped, i, i + 1);
            i++;
        }
    }

    private bool TryEmitSymbol(string text, ref int i, Builder output)
    {
        foreach (var (symbol, to) in _symbols)
        {
            if (string.CompareOrdinal(text, i, symbol, 0, symbol.Length) != 0)
            {
                continue;
            }

            var end = i + symbol.Length;
            output.AppendSpace(i, end);
            foreach (var ch in to)
            {
                output.Append(ch, i, end);
            }

            output.AppendSpace(i, end);
            i = end;
            return true;
        }

        return false;
    }

    private void SecondPass(Builder input, Builder output)
    {
        var tokens = FindTokens(input);
        var pos = 0;
        for (var t = 0; t < tokens.Count; t++)
        {
            var (start, end) = tokens[t];
            output.CopyFrom(input, pos, start);
            pos = start;

            if (TryReplace(input, tokens, t, output, out var consumed))
            {
                pos = tokens[t + consumed - 1].End;
                t += consumed - 1;
                continue;
            }

            output.CopyFrom(input, start, end);
            pos = end;
        }

        output.CopyFrom(input, pos, input.Length);
    }

    private bool TryReplace(Builder input, List<(int Start, int End)> tokens, int t, Builder output, out int consumed)
    {
        consumed = 0;
        if (_byFirstToken.Count == 0)
        {
            return false;
        }

        var lookup = _byFirstToken.GetAlternateLookup<ReadOnlySpan<char>>();
        var (start, end) = tokens[t];
        if (!lookup.TryGetValue(input.Chars(start, end), out var candidates))
        {
            return false;
        }

        foreach (var candidate in candidates)
        {
            if (!Matches(input, tokens, t, candidate.Tokens))
            {
                continue;
            }

            consumed = candidate.Tokens.Length;
            var sourceStart = input.StartOf(start);
            var sourceEnd = input.EndOf(tokens[t + consumed - 1].End - 1);
            foreach (var ch in candidate.To)
            {
                output.Append(ch, sourceStart, sourceEnd);
            }

            return true;
        }

        return false;
    }

    private static bool Matches(Builder input, List<(int Start, int End)> tokens, int t, string[] wanted)
    {
        if (t + wanted.Length > tokens.Count)
        {
            return false;
        }

        for (var k = 0; k < wanted.Length; k++)
        {
            var (start, end) = tokens[t + k];
            if (!input.Chars(start, end).SequenceEqual(wanted[k]))
            {
                return false;
            }

            // Tokens of a multi-word key must be separated by exactly one space ("my self", not "my, self").
            if (k > 0 && !(tokens[t + k - 1].End + 1 == start && input[start - 1] == ' '))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Tokens are runs of letters and digits, with apostrophes allowed inside ("i'm", "od'd").</summary>
    private static List<(int Start, int End)> FindTokens(Builder input)
    {
        var tokens = new List<(int, int)>();
        var i = 0;
        while (i < input.Length)
        {
            if (!char.IsLetterOrDigit(input[i]))
            {
                i++;
                continue;
            }

            var start = i;
            while (i < input.Length &&
                   (char.IsLetterOrDigit(input[i]) ||
                    (input[i] == '\'' && i + 1 < input.Length && char.IsLetterOrDigit(input[i + 1]))))
            {
                i++;
            }

            tokens.Add((start, i));
        }

        return tokens;
    }

    private sealed record TokenReplacement(string[] Tokens, string To);

    /// <summary>A growable char buffer with the original [start, end) range of every character.</summary>
    private sealed class Builder(int capacity)
    {
        private char[] _text = new char[Math.Max(capacity, 16)];
        private int[] _starts = new int[Math.Max(capacity, 16)];
        private int[] _ends = new int[Math.Max(capacity, 16)];

        public int Length { get; private set; }

        public char this[int index] => _text[index];

        public bool LastIsLetter => Length > 0 && char.IsLetter(_text[Length - 1]);

        public int StartOf(int index) => _starts[index];

        public int EndOf(int index) => _ends[index];

        public ReadOnlySpan<char> Chars(int start, int end) => _text.AsSpan(start, end - start);

        public void Append(char c, int sourceStart, int sourceEnd)
        {
            if (Length == _text.Length)
            {
                Array.Resize(ref _text, Length * 2);
                Array.Resize(ref _starts, Length * 2);
                Array.Resize(ref _ends, Length * 2);
            }

            _text[Length] = c;
            _starts[Length] = sourceStart;
            _ends[Length] = sourceEnd;
            Length++;
        }

        /// <summary>Appends one space, or widens the previous one; never a leading space.</summary>
        public void AppendSpace(int sourceStart, int sourceEnd)
        {
            if (Length == 0)
            {
                return;
            }

            if (_text[Length - 1] == ' ')
            {
                _ends[Length - 1] = Math.Max(_ends[Length - 1], sourceEnd);
                return;
            }

            Append(' ', sourceStart, sourceEnd);
        }

        public void CopyFrom(Builder other, int start, int end)
        {
            for (var i = start; i < end; i++)
            {
                if (other._text[i] == ' ')
                {
                    AppendSpace(other._starts[i], other._ends[i]);
                }
                else
                {
                    Append(other._text[i], other._starts[i], other._ends[i]);
                }
            }
        }

        public void TrimEnd()
        {
            while (Length > 0 && _text[Length - 1] == ' ')
            {
                Length--;
            }
        }

        public NormalisedText Build() =>
            new(new string(_text, 0, Length), _starts.AsSpan(0, Length).ToArray(), _ends.AsSpan(0, Length).ToArray());
    }
}
