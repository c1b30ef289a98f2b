using System.Buffers;
using System.Globalization;
using System.Text;

namespace BotService.Safety;

/// <summary>
/// A vectorised first check for a set of patterns: literal strings such that every match of every pattern contains
/// at least one of them (the "required literals" idea of RE2's prefilter). Derived automatically from the patterns,
/// so staff never maintain it. Sound for normalised text, where whitespace is always a single space (so <c>\s</c>
/// and <c>\s+</c> both mean exactly one space). When a pattern has no such literal the filter lets everything through.
/// </summary>
internal sealed class LiteralPrefilter
{
    public static LiteralPrefilter Always { get; } = new(null, 0);

    private readonly SearchValues<string>? _values;

    private LiteralPrefilter(SearchValues<string>? values, int count)
    {
        _values = values;
        Count = count;
    }

    public int Count { get; }

    public bool IsFiltering => _values is not null;

    public bool Passes(string text) => _values is null || text.AsSpan().IndexOfAny(_values) >= 0;

    public static LiteralPrefilter Build(IEnumerable<string> patterns)
    {
        var all = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            var required = Required(pattern);
            if (required is null)
            {
                return Always;
            }

            all.UnionWith(required);
        }

        return all.Count == 0
            ? Always
            : new LiteralPrefilter(SearchValues.Create([.. all], StringComparison.OrdinalIgnoreCase), all.Count);
    }

    /// <summary>Strings of which every match contains one; null when there is no such set.</summary>
    internal static IReadOnlyCollection<string>? Required(string pattern)
    {
        try
        {
            var parser = new Parser(pattern);
            var node = parser.ParseAlternation();
            return parser.AtEnd ? node.Required : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// What is known about a regex fragment: the exact strings it matches (when few), required literals, and
    /// <paramref name="Side"/>: requirements of a positive look-around, which must match somewhere but adds no text.
    /// </summary>
    private sealed record Info(HashSet<string>? Exact, HashSet<string>? Required, HashSet<string>? Side = null)
    {
        public static Info Unknown { get; } = new(null, null);

        public static Info Empty { get; } = Of("");

        public static Info Of(params string[] strings)
        {
            var exact = new HashSet<string>(strings, StringComparer.Ordinal);
            return new Info(exact, RequiredFromExact(exact));
        }

        public static HashSet<string>? RequiredFromExact(HashSet<string> exact) =>
            exact.Count == 0 || exact.Any(s => s.Length == 0) ? null : exact;
    }

    private const int MaxExact = 64;
    private const int MaxLength = 40;

    /// <summary>A small recursive-descent parser for the regex subset the rules use (after look-arounds are removed).</summary>
    private sealed class Parser(string pattern)
    {
        private int _pos;

        public bool AtEnd => _pos >= pattern.Length;

        public Info ParseAlternation()
        {
            var branches = new List<Info> { ParseConcatenation() };
            while (!AtEnd && pattern[_pos] == '|')
            {
                _pos++;
                branches.Add(ParseConcatenation());
            }

            if (branches.Count == 1)
            {
                return branches[0];
            }

            HashSet<string>? exact = null;
            if (branches.All(b => b.Exact is not null) && branches.Sum(b => b.Exact!.Count) <= MaxExact)
            {
                exact = new HashSet<string>(branches.SelectMany(b => b.Exact!), StringComparer.Ordinal);
            }

            HashSet<string>? required = null;
            if (branches.All(b => b.Required is not null))
            {
                required = new HashSet<string>(branches.SelectMany(b => b.Required!), StringComparer.Ordinal);
            }

            return new Info(exact, required);
        }

        private Info ParseConcatenation()
        {
            var items = new List<Info>();
            while (!AtEnd && pattern[_pos] is not ('|' or ')'))
            {
                items.Add(ParseQuantified());
            }

            return Concatenate(items);
        }

        private static Info Concatenate(List<Info> items)
        {
            if (items.Count == 0)
            {
                return Info.Empty;
            }

            // Candidate requirement sets: each item's own, each look-around's, and each run of exact items joined
            // together (a run that would grow too large is kept as it was and a new run starts).
            var candidates = items.Where(i => i.Required is not null).Select(i => i.Required!).ToList();
            candidates.AddRange(items.Where(i => i.Side is not null).Select(i => i.Side!));
            HashSet<string>? run = null;
            HashSet<string>? whole = new([""], StringComparer.Ordinal);
            foreach (var item in items)
            {
                whole = item.Exact is null ? null : Cross(whole, item.Exact);
                if (item.Exact is null)
                {
                    AddRun(run, candidates);
                    run = null;
                    continue;
                }

                var next = Cross(run ?? new HashSet<string>([""], StringComparer.Ordinal), item.Exact);
                if (next is null)
                {
                    AddRun(run, candidates);
                    next = Cross(new HashSet<string>([""], StringComparer.Ordinal), item.Exact);
                }

                run = next;
            }

            AddRun(run, candidates);
            var best = candidates
                .OrderByDescending(c => c.Min(s => s.Length))
                .ThenBy(c => c.Count)
                .FirstOrDefault();
            return new Info(whole, best);
        }

        private static void AddRun(HashSet<string>? run, List<HashSet<string>> candidates)
        {
            if (run is not null && Info.RequiredFromExact(run) is { } required)
            {
                candidates.Add(required);
            }
        }

        private static HashSet<string>? Cross(HashSet<string>? left, HashSet<string> right)
        {
            if (left is null || left.Count * right.Count > MaxExact)
            {
                return null;
            }

            var result = new HashSet<string>(StringComparer.Ordinal);
            foreach (var l in left)
            {
                foreach (var r in right)
                {
                    var s = l + r;
                    if (s.Length > MaxLength)
                    {
                        return null;
                    }

                    result.Add(s);
                }
            }

            return result;
        }

        private Info ParseQuantified()
        {
            var atom = ParseAtom();
            if (AtEnd)
            {
                return atom;
            }

            int min, max;
            switch (pattern[_pos])
            {
                case '*':
                    (min, max) = (0, -1);
                    _pos++;
                    break;
                case '+':
                    (min, max) = (1, -1);
                    _pos++;
                    break;
                case '?':
                    (min, max) = (0, 1);
                    _pos++;
                    break;
                case '{' when TryParseBraces(out var lo, out var hi):
                    (min, max) = (lo, hi);
                    break;
                default:
                    return atom;
            }

            if (!AtEnd && pattern[_pos] is '?' or '+')
            {
                _pos++; // lazy or possessive marker
            }

            // In normalised text whitespace is one space, so \s+ and \s{1,n} are exactly " ".
            var isSpace = atom.Exact is { Count: 1 } && atom.Exact.Contains(" ");
            if (isSpace && min >= 1)
            {
                return atom;
            }

            if (min == 0)
            {
                HashSet<string>? exact = null;
                if (atom.Exact is not null && max == 1)
                {
                    exact = new HashSet<string>(atom.Exact, StringComparer.Ordinal) { "" };
                }
                else if (isSpace)
                {
                    exact = new HashSet<string>(["", " "], StringComparer.Ordinal);
                }

                return new Info(exact, null);
            }

            return new Info(min == 1 && max == 1 ? atom.Exact : null, atom.Required);
        }

        private bool TryParseBraces(out int min, out int max)
        {
            min = max = 0;
            var close = pattern.IndexOf('}', _pos);
            if (close < 0)
            {
                return false;
            }

            var body = pattern[(_pos + 1)..close];
            var parts = body.Split(',');
            if (parts.Length is < 1 or > 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out min))
            {
                return false;
            }

            if (parts.Length == 1)
            {
                max = min;
            }
            else if (parts[1].Length == 0)
            {
                max = -1;
            }
            else if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out max))
            {
                return false;
            }

            _pos = close + 1;
            return true;
        }

        private Info ParseAtom()
        {
            var c = pattern[_pos];
            switch (c)
            {
                case '(':
                    _pos++;
                    var lookaround = LookaroundKind();
                    if (lookaround != 0)
                    {
                        var condition = ParseAlternation();
                        Expect(')');
                        // Zero width: adds no text. A positive one must still match, so its literals are required.
                        return new Info(new HashSet<string>([""], StringComparer.Ordinal), null,
                            lookaround > 0 ? condition.Required : null);
                    }

                    SkipGroupPrefix();
                    var inner = ParseAlternation();
                    Expect(')');
                    return inner;
                case '[':
                    return ParseClass();
                case '\\':
                    return ParseEscape();
                case '^' or '$':
                    _pos++;
                    return Info.Empty;
                case '.':
                    _pos++;
                    return Info.Unknown;
                default:
                    _pos++;
                    return Info.Of(char.ToLowerInvariant(c).ToString());
            }
        }

        /// <summary>+1 for (?= and (?&lt;=, -1 for (?! and (?&lt;!, 0 otherwise; consumes the prefix.</summary>
        private int LookaroundKind()
        {
            foreach (var (prefix, kind) in (ReadOnlySpan<(string, int)>)[("?=", 1), ("?!", -1), ("?<=", 1), ("?<!", -1)])
            {
                if (string.CompareOrdinal(pattern, _pos, prefix, 0, prefix.Length) == 0)
                {
                    _pos += prefix.Length;
                    return kind;
                }
            }

            return 0;
        }

        private void SkipGroupPrefix()
        {
            if (AtEnd || pattern[_pos] != '?')
            {
                return;
            }

            _pos++;
            if (AtEnd)
            {
                throw new FormatException("unterminated group");
            }

            switch (pattern[_pos])
            {
                case ':':
                    _pos++;
                    return;
                case '<' or '\'':
                    var close = pattern[_pos] == '<' ? '>' : '\'';
                    var end = pattern.IndexOf(close, _pos + 1);
                    if (end < 0)
                    {
                        throw new FormatException("unterminated group name");
                    }

                    _pos = end + 1;
                    return;
                default:
                    // Inline options, atomic groups, conditionals: not used by the rules; give up on this pattern.
                    throw new FormatException("unsupported group");
            }
        }

        private void Expect(char c)
        {
            if (AtEnd || pattern[_pos] != c)
            {
                throw new FormatException($"expected '{c}'");
            }

            _pos++;
        }

        private Info ParseEscape()
        {
            if (_pos + 1 >= pattern.Length)
            {
                throw new FormatException("trailing backslash");
            }

            var e = pattern[_pos + 1];
            _pos += 2;
            return e switch
            {
                'b' or 'B' or 'A' or 'z' or 'Z' or 'G' => Info.Empty,
                's' => Info.Of(" "),
                'w' or 'W' or 'd' or 'D' or 'S' => Info.Unknown,
                'n' => Info.Of("\n"),
                't' => Info.Of("\t"),
                _ when !char.IsLetterOrDigit(e) => Info.Of(char.ToLowerInvariant(e).ToString()),
                _ => throw new FormatException($"unsupported escape \\{e}"),
            };
        }

        /// <summary>A class of a few plain characters ("[eé]") is an exact choice; anything else is unknown.</summary>
        private Info ParseClass()
        {
            var start = _pos;
            _pos++;
            var negated = !AtEnd && pattern[_pos] == '^';
            var chars = new StringBuilder();
            var simple = !negated;
            if (negated)
            {
                _pos++;
            }

            var first = true;
            while (!AtEnd && (pattern[_pos] != ']' || first))
            {
                var ch = pattern[_pos];
                if (ch == '\\')
                {
                    if (_pos + 1 >= pattern.Length)
                    {
                        throw new FormatException("bad class");
                    }

                    var e = pattern[_pos + 1];
                    simple &= !char.IsLetterOrDigit(e);
                    chars.Append(e);
                    _pos += 2;
                }
                else
                {
                    simple &= ch != '-' || first;
                    chars.Append(ch);
                    _pos++;
                }

                first = false;
            }

            Expect(']');
            if (!simple || chars.Length is 0 or > 4)
            {
                return Info.Unknown;
            }

            _ = start;
            return Info.Of(chars.ToString().Select(ch => char.ToLowerInvariant(ch).ToString()).Distinct().ToArray());
        }
    }
}
