using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BotService.Safety;

/// <summary>
/// Reads and validates <c>knowledge/safety/rules.yaml</c>. Every problem is reported with file, line and column;
/// a file with any error is rejected as a whole (a half-loaded rule set could silently lose an emergency rule).
/// The file format is described in docs/safety.md and in the comments at the top of rules.yaml.
/// </summary>
public static partial class SafetyRulesLoader
{
    /// <summary>
    /// Regex match timeout for every rule and exception: a pathological message cannot stall a request. Generous on
    /// purpose: the timeout is wall-clock, and on a busy 2-core machine a 100 ms limit fired on ordinary messages.
    /// </summary>
    internal static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(500);

    private const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.IgnoreCase;

    /// <summary>Validates a rules file without installing it; an empty list means the file would load.</summary>
    public static IReadOnlyList<SafetyRuleError> Validate(string path) =>
        Load(path, DateTimeOffset.UtcNow).Errors;

    internal static RulesLoadResult Load(string path, DateTimeOffset now)
    {
        string yaml;
        try
        {
            yaml = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new RulesLoadResult(null, [new SafetyRuleError(path, 0, 0, $"cannot read the file: {e.Message}")]);
        }

        return Parse(yaml, path, now);
    }

    internal static RulesLoadResult Parse(string yaml, string path, DateTimeOffset now)
    {
        var reader = new NodeReader(path);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            reader.Error(e.Start, $"not valid YAML: {e.Message}");
            return new RulesLoadResult(null, reader.Errors);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            // YamlDotNet throws these for some malformed flow collections; no position is available.
            reader.Error(new Mark(), $"not valid YAML ({e.GetType().Name}); check brackets and indentation");
            return new RulesLoadResult(null, reader.Errors);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            reader.Error(new Mark(), "the file must be a mapping with version, normalise, vocab, rules and exceptions");
            return new RulesLoadResult(null, reader.Errors);
        }

        var builder = new RuleSetBuilder(reader);
        var set = builder.Build(root, path, Fingerprint(yaml), now);
        return new RulesLoadResult(reader.Errors.Count == 0 ? set : null, reader.Errors);
    }

    private static string Fingerprint(string yaml) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)))[..12];

    /// <summary>Turns a staff-written phrase into a regex: normalised like messages, whole words, optional apostrophes.</summary>
    internal static string PhraseToPattern(string normalisedPhrase)
    {
        var words = normalisedPhrase.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(w => Regex.Escape(w).Replace("'", "'?", StringComparison.Ordinal));
        return @"(?<![\w'])" + string.Join(" ", words) + @"(?![\w'])";
    }

    /// <summary>
    /// Rewrites <c>(?&lt;=CONTEXT)REST</c> as <c>(?=REST)(?&lt;=CONTEXT)REST</c>. Same meaning, but the regex engine can
    /// then skip to positions where REST's first words occur instead of evaluating the look-behind at every
    /// position (measured: ~25-50 µs → ~1 µs per message for a typical rule).
    /// </summary>
    internal static string GateLeadingLookbehind(string pattern)
    {
        if (!pattern.StartsWith("(?<=", StringComparison.Ordinal) && !pattern.StartsWith("(?<!", StringComparison.Ordinal))
        {
            return pattern;
        }

        var end = ClosingParen(pattern, 0);
        if (end < 0 || end == pattern.Length - 1)
        {
            return pattern;
        }

        var rest = pattern[(end + 1)..];
        return "(?=" + rest + ")" + pattern[..(end + 1)] + rest;
    }

    /// <summary>
    /// Removes every look-around group from a pattern. The result matches wherever the original does (and
    /// possibly more), and contains only constructs RegexOptions.NonBacktracking supports, so it can serve as a
    /// linear-time pre-filter: if the stripped pattern does not match, the original cannot.
    /// </summary>
    internal static string StripLookarounds(string pattern)
    {
        var result = new System.Text.StringBuilder(pattern.Length);
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                result.Append(c).Append(pattern[++i]);
                continue;
            }

            if (c == '[')
            {
                var end = ClassEnd(pattern, i);
                result.Append(pattern, i, end - i + 1);
                i = end;
                continue;
            }

            if (c == '(' && IsLookaround(pattern, i))
            {
                var close = ClosingParen(pattern, i);
                if (close < 0)
                {
                    return pattern;
                }

                i = close;
                continue;
            }

            result.Append(c);
        }

        return result.ToString();
    }

    private static bool IsLookaround(string pattern, int i) =>
        string.CompareOrdinal(pattern, i, "(?=", 0, 3) == 0 || string.CompareOrdinal(pattern, i, "(?!", 0, 3) == 0 ||
        string.CompareOrdinal(pattern, i, "(?<=", 0, 4) == 0 || string.CompareOrdinal(pattern, i, "(?<!", 0, 4) == 0;

    private static int ClassEnd(string pattern, int open)
    {
        var i = open + 1;
        if (i < pattern.Length && pattern[i] == '^')
        {
            i++;
        }

        if (i < pattern.Length && pattern[i] == ']')
        {
            i++;
        }

        for (; i < pattern.Length; i++)
        {
            if (pattern[i] == '\\')
            {
                i++;
            }
            else if (pattern[i] == ']')
            {
                return i;
            }
        }

        return pattern.Length - 1;
    }

    /// <summary>Index of the parenthesis closing the group that opens at <paramref name="open"/>; -1 if none.</summary>
    private static int ClosingParen(string pattern, int open)
    {
        var depth = 0;
        var inClass = false;
        for (var i = open; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\')
            {
                i++;
                continue;
            }

            if (inClass)
            {
                inClass = c != ']';
                continue;
            }

            switch (c)
            {
                case '[':
                    inClass = true;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '^')
                    {
                        i++;
                    }

                    if (i + 1 < pattern.Length && pattern[i + 1] == ']')
                    {
                        i++;
                    }

                    break;
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    if (depth == 0)
                    {
                        return i;
                    }

                    break;
            }
        }

        return -1;
    }

    [GeneratedRegex(@"\{([a-z_][a-z0-9_]*)\}")]
    private static partial Regex VocabReference();

    [GeneratedRegex("^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")]
    private static partial Regex IdShape();

    private sealed class RuleSetBuilder(NodeReader reader)
    {
        private readonly Dictionary<string, string> _vocab = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _expanded = new(StringComparer.Ordinal);
        private readonly List<string> _samples = [];
        private readonly List<string> _rulePatterns = [];
        private TextNormaliser _normaliser = new([]);

        public SafetyRuleSet Build(YamlMappingNode root, string path, string fingerprint, DateTimeOffset now)
        {
            var fields = reader.Fields(root, "the file", "version", "normalise", "vocab", "rules", "exceptions");

            if (!fields.TryGetValue("version", out var version))
            {
                reader.Error(root, "missing 'version: 1'");
            }
            else if (reader.Scalar(version, "version") is { } v && v != "1")
            {
                reader.Error(version, $"unsupported version '{v}'; this build reads version 1");
            }

            _normaliser = new TextNormaliser(fields.TryGetValue("normalise", out var n) ? ReadNormalise(n) : []);
            if (fields.TryGetValue("vocab", out var vocab))
            {
                ReadVocab(vocab);
            }

            var rules = fields.TryGetValue("rules", out var r) ? ReadRules(r) : [];
            if (r is not YamlSequenceNode { Children.Count: > 0 })
            {
                reader.Error(r ?? root, "the file defines no rules");
            }

            var ruleIds = rules.Select(x => x.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var rule in rules)
            {
                foreach (var (target, node) in rule.YieldsToNodes)
                {
                    if (!ruleIds.Contains(target))
                    {
                        reader.Error(node, $"rule '{rule.Id}' yields to unknown rule '{target}'");
                    }
                }
            }

            var exceptions = fields.TryGetValue("exceptions", out var e) ? ReadExceptions(e, ruleIds) : [];
            var anyRule = LiteralPrefilter.Build(_rulePatterns);

            return new SafetyRuleSet
            {
                Path = path,
                Fingerprint = fingerprint,
                LoadedAt = now,
                Normaliser = _normaliser,
                Rules = rules.Select(x => x.Rule).ToArray(),
                Exceptions = exceptions,
                AnyRule = anyRule,
            };
        }

        private List<(string From, string To)> ReadNormalise(YamlNode node)
        {
            var pairs = new List<(string, string)>();
            var seen = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var entry in reader.Sequence(node, "normalise"))
            {
                if (reader.Mapping(entry, "a normalise entry") is not { } map)
                {
                    continue;
                }

                var f = reader.Fields(map, "a normalise entry", "to", "from");
                var to = f.TryGetValue("to", out var toNode) ? reader.Scalar(toNode, "to") : null;
                if (to is null || to.Trim().Length == 0)
                {
                    reader.Error(toNode ?? map, "a normalise entry needs a non-empty 'to'");
                    continue;
                }

                if (!f.TryGetValue("from", out var fromNode))
                {
                    reader.Error(map, $"normalise entry '{to}' needs a 'from' list");
                    continue;
                }

                foreach (var from in reader.ScalarList(fromNode, "from"))
                {
                    var key = from.Value!.Trim().ToLowerInvariant();
                    var normalisedKey = TextNormaliser.IsSymbol(key) ? key : string.Join(' ', TextNormaliser.Tokenise(key));
                    if (normalisedKey.Length == 0)
                    {
                        reader.Error(from, "empty 'from' entry");
                    }
                    else if (!seen.TryAdd(normalisedKey, from))
                    {
                        reader.Error(from, normalisedKey == key
                            ? $"'{key}' is already mapped (line {seen[normalisedKey].Start.Line})"
                            : $"'{key}' (normalised to '{normalisedKey}') is already mapped (line {seen[normalisedKey].Start.Line})");
                    }
                    else
                    {
                        pairs.Add((normalisedKey, to.Trim().ToLowerInvariant()));
                    }
                }
            }

            return pairs;
        }

        private void ReadVocab(YamlNode node)
        {
            if (reader.Mapping(node, "vocab") is not { } map)
            {
                return;
            }

            var nodes = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (key, value) in map.Children)
            {
                var name = reader.Scalar(key, "a vocab name");
                if (name is null)
                {
                    continue;
                }

                if (!Regex.IsMatch(name, "^[a-z_][a-z0-9_]*$"))
                {
                    reader.Error(key, $"vocab name '{name}' must be lowercase letters, digits and _");
                    continue;
                }

                if (reader.Scalar(value, $"vocab '{name}'") is { } pattern)
                {
                    if (pattern.Trim().Length == 0)
                    {
                        reader.Error(value, $"vocab '{name}' is empty");
                        continue;
                    }

                    _vocab[name] = pattern;
                    nodes[name] = value;
                }
            }

            foreach (var (name, valueNode) in nodes)
            {
                if (Expand(name, valueNode, []) is { } expanded && TryRegex(expanded, valueNode, $"vocab '{name}'") is null)
                {
                    _expanded.Remove(name);
                }
            }
        }

        private string? Expand(string name, YamlNode at, HashSet<string> stack)
        {
            if (_expanded.TryGetValue(name, out var done))
            {
                return done;
            }

            if (!stack.Add(name))
            {
                reader.Error(at, $"vocab '{name}' refers to itself (through {string.Join(" → ", stack)})");
                return null;
            }

            var result = ExpandText(_vocab[name], at, stack);
            stack.Remove(name);
            if (result is not null)
            {
                _expanded[name] = result;
            }

            return result;
        }

        private string? ExpandText(string pattern, YamlNode at, HashSet<string> stack)
        {
            var ok = true;
            var result = VocabReference().Replace(pattern, m =>
            {
                var name = m.Groups[1].Value;
                if (!_vocab.ContainsKey(name))
                {
                    reader.Error(at, $"unknown vocab '{{{name}}}'");
                    ok = false;
                    return m.Value;
                }

                var expanded = Expand(name, at, stack);
                ok &= expanded is not null;
                return "(?:" + expanded + ")";
            });
            return ok ? result : null;
        }

        /// <summary>Expands vocab and checks the regex compiles and does not match empty text.</summary>
        private string? Pattern(YamlScalarNode node, string what)
        {
            var raw = node.Value ?? "";
            if (raw.Trim().Length == 0)
            {
                reader.Error(node, $"empty {what}");
                return null;
            }

            if (ExpandText(raw, node, []) is not { } expanded || TryRegex(expanded, node, what) is not { } regex)
            {
                return null;
            }

            if (regex.IsMatch(""))
            {
                reader.Error(node, $"{what} matches empty text, so it would fire on every message");
                return null;
            }

            return GateLeadingLookbehind(expanded);
        }

        private Regex? TryRegex(string pattern, YamlNode at, string what)
        {
            try
            {
                return new Regex(pattern, Options, MatchTimeout);
            }
            catch (ArgumentException e)
            {
                reader.Error(at, $"{what} is not a valid regular expression: {e.Message}");
                return null;
            }
        }

        /// <summary>
        /// One alternation per rule, run by the interpreter. RegexOptions.Compiled was measured and rejected: the
        /// compiled form of a rule here threw ArgumentOutOfRangeException and took ~110 ms per match where the
        /// interpreter was correct in ~5 µs (a known class of Compiled-engine defects, e.g. dotnet/runtime#129511),
        /// and JIT time on first use counted against the match timeout. See docs/safety.md.
        /// </summary>
        private static Regex Compile(IEnumerable<string> patterns)
        {
            var alternation = string.Join("|", patterns.Select(p => "(?:" + p + ")"));
            return new Regex(alternation, Options, MatchTimeout);
        }

        private List<string> Patterns(Dictionary<string, YamlNode> f, string key, string what)
        {
            var result = new List<string>();
            if (!f.TryGetValue(key, out var node))
            {
                return result;
            }

            foreach (var scalar in reader.ScalarList(node, key))
            {
                if (Pattern(scalar, what) is { } p)
                {
                    result.Add(p);
                }
            }

            return result;
        }

        private List<string> Phrases(Dictionary<string, YamlNode> f, string what)
        {
            var result = new List<string>();
            if (!f.TryGetValue("phrases", out var node))
            {
                return result;
            }

            foreach (var scalar in reader.ScalarList(node, "phrases"))
            {
                var normalised = _normaliser.Normalise(scalar.Value ?? "").Text;
                if (normalised.Length == 0)
                {
                    reader.Error(scalar, $"empty phrase in {what}");
                    continue;
                }

                result.Add(PhraseToPattern(normalised));
            }

            return result;
        }

        private List<LoadedRule> ReadRules(YamlNode node)
        {
            var rules = new List<LoadedRule>();
            var ids = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var entry in reader.Sequence(node, "rules"))
            {
                if (reader.Mapping(entry, "a rule") is not { } map)
                {
                    continue;
                }

                var f = reader.Fields(map, "a rule", "id", "level", "description", "phrases", "patterns", "requires",
                    "quantities", "wears_off", "yields_to", "examples");
                var id = Id(f, map, ids, "rule");
                var what = id is null ? "rule" : $"rule '{id}'";
                var level = ReadLevel(f, map, what);
                if (!f.ContainsKey("description"))
                {
                    reader.Error(map, $"{what} needs a 'description' so reviewers know what it is for");
                }

                var matchers = Phrases(f, what);
                matchers.AddRange(Patterns(f, "patterns", $"pattern in {what}"));
                var requires = Patterns(f, "requires", $"'requires' pattern in {what}");
                var quantityPatterns = new List<string>();
                var quantities = f.TryGetValue("quantities", out var q) ? ReadQuantities(q, what, quantityPatterns) : [];
                var wearsOff = f.TryGetValue("wears_off", out var w) ? ReadWearsOff(w, what) : null;
                var yields = f.TryGetValue("yields_to", out var y)
                    ? reader.ScalarList(y, "yields_to").Select(s => (s.Value ?? "", (YamlNode)s)).ToList()
                    : [];

                if (matchers.Count == 0 && quantities.Count == 0 && !f.ContainsKey("phrases") &&
                    !f.ContainsKey("patterns") && !f.ContainsKey("quantities"))
                {
                    reader.Error(map, $"{what} has no phrases, patterns or quantities");
                }

                if (id is null || level is null)
                {
                    continue;
                }

                _rulePatterns.AddRange(matchers);
                _rulePatterns.AddRange(quantityPatterns);
                var rule = new CompiledRule
                {
                    Id = id,
                    Level = level.Value,
                    Line = (int)map.Start.Line,
                    Matcher = matchers.Count > 0 ? Compile(matchers) : null,
                    // Warmed with the rule's own examples: the messages it exists for.
                    Gate = RegexGate.Build([.. matchers, .. quantityPatterns], Options, ExampleTexts(f)),
                    Literals = LiteralPrefilter.Build([.. matchers, .. quantityPatterns]),
                    Requires = requires.Count > 0 ? Compile(requires) : null,
                    Quantities = quantities,
                    WearsOff = wearsOff,
                    YieldsTo = yields.Select(x => x.Item1).ToFrozenSet(StringComparer.Ordinal),
                };
                CheckExamples(f, map, what, required: true,
                    text => rule.Literals.Passes(text) && rule.Gate.Passes(text) &&
                            (rule.Matcher?.IsMatch(text) == true || rule.Quantities.Any(q => q.Pattern.IsMatch(text))) &&
                            rule.Requires?.IsMatch(text) != false);
                rules.Add(new LoadedRule(id, rule, yields));
            }

            return rules;
        }

        private SafetyLevel? ReadLevel(Dictionary<string, YamlNode> f, YamlNode at, string what)
        {
            if (!f.TryGetValue("level", out var node))
            {
                reader.Error(at, $"{what} needs a level (emergency or urgent)");
                return null;
            }

            switch (reader.Scalar(node, "level"))
            {
                case "emergency":
                    return SafetyLevel.Emergency;
                case "urgent":
                    return SafetyLevel.Urgent;
                case { } other:
                    reader.Error(node, $"unknown level '{other}' in {what}; use emergency or urgent");
                    return null;
                default:
                    return null;
            }
        }

        private string? Id(Dictionary<string, YamlNode> f, YamlNode at, Dictionary<string, YamlNode> ids, string kind)
        {
            if (!f.TryGetValue("id", out var node) || reader.Scalar(node, "id") is not { } id)
            {
                reader.Error(at, $"a {kind} needs an id");
                return null;
            }

            if (!IdShape().IsMatch(id))
            {
                reader.Error(node, $"{kind} id '{id}' must be lowercase words joined by '-' (e.g. suicidal-intent)");
                return null;
            }

            if (!ids.TryAdd(id, node))
            {
                reader.Error(node, $"duplicate {kind} id '{id}' (first defined on line {ids[id].Start.Line})");
                return null;
            }

            return id;
        }

        private List<QuantityCheck> ReadQuantities(YamlNode node, string what, List<string> patterns)
        {
            var checks = new List<QuantityCheck>();
            foreach (var entry in reader.Sequence(node, "quantities"))
            {
                if (reader.Mapping(entry, "a quantity") is not { } map)
                {
                    continue;
                }

                var f = reader.Fields(map, "a quantity", "check", "pattern", "at_least", "default_mg", "doses_mg",
                    "systolic_at_least", "diastolic_at_least");
                var kind = (f.TryGetValue("check", out var k) ? reader.Scalar(k, "check") : null) switch
                {
                    "count" => QuantityKind.Count,
                    "dose" => QuantityKind.Dose,
                    "blood-pressure" => QuantityKind.BloodPressure,
                    var other => Fail(k ?? map, $"quantity in {what} needs check: count, dose or blood-pressure (got '{other}')"),
                };
                string? pattern = null;
                if (!f.TryGetValue("pattern", out var p) || p is not YamlScalarNode ps)
                {
                    reader.Error(p ?? map, $"quantity in {what} needs a pattern");
                }
                else
                {
                    pattern = Pattern(ps, $"quantity pattern in {what}");
                }

                if (kind is null || pattern is null)
                {
                    continue;
                }

                string[] groups = kind switch
                {
                    QuantityKind.Count => ["n"],
                    QuantityKind.Dose => ["n", "unit", "drug"],
                    _ => ["sys", "dia"],
                };
                patterns.Add(pattern);
                var names = new Regex(pattern, Options).GetGroupNames();
                var missing = groups.Where(g => !names.Contains(g)).ToList();
                if (missing.Count > 0)
                {
                    reader.Error(p!, $"quantity pattern in {what} needs named group(s) {string.Join(", ", missing.Select(g => $"(?<{g}>…)"))}");
                    continue;
                }

                var check = kind.Value switch
                {
                    QuantityKind.Count => new QuantityCheck
                    {
                        Kind = kind.Value, Pattern = Compile([pattern]), Line = (int)map.Start.Line,
                        AtLeast = Number(f, "at_least", map, what) ?? 0,
                    },
                    QuantityKind.Dose => new QuantityCheck
                    {
                        Kind = kind.Value, Pattern = Compile([pattern]), Line = (int)map.Start.Line,
                        DefaultDoseMg = Number(f, "default_mg", map, what) ?? 0,
                        DosesMg = ReadDoses(f, what),
                    },
                    _ => new QuantityCheck
                    {
                        Kind = kind.Value, Pattern = Compile([pattern]), Line = (int)map.Start.Line,
                        SystolicAtLeast = Number(f, "systolic_at_least", map, what) ?? 0,
                        DiastolicAtLeast = Number(f, "diastolic_at_least", map, what) ?? 0,
                    },
                };
                checks.Add(check);
            }

            return checks;
        }

        /// <summary>
        /// Every rule carries example messages that must match it (after normalisation), so a reviewer sees what a
        /// rule is for and an edit that breaks a rule is rejected with the example's line.
        /// </summary>
        private void CheckExamples(Dictionary<string, YamlNode> f, YamlNode at, string what, bool required, Func<string, bool> matches)
        {
            if (!f.TryGetValue("examples", out var node))
            {
                if (required)
                {
                    reader.Error(at, $"{what} needs 'examples': messages it must match");
                }

                return;
            }

            foreach (var example in reader.ScalarList(node, "examples"))
            {
                var text = _normaliser.Normalise(example.Value ?? "").Text;
                _samples.Add(text);
                if (text.Length == 0)
                {
                    reader.Error(example, $"empty example in {what}");
                    continue;
                }

                bool matched;
                try
                {
                    matched = matches(text);
                }
                catch (RegexMatchTimeoutException)
                {
                    // A busy machine must not reject a good file; the check is a review aid, not a safety net.
                    continue;
                }

                if (!matched)
                {
                    reader.Error(example, $"{what} does not match its own example '{example.Value}'");
                }
            }
        }

        /// <summary>The entry's examples, normalised, without reporting anything (<see cref="CheckExamples"/> does).</summary>
        private List<string> ExampleTexts(Dictionary<string, YamlNode> f)
        {
            var node = f.GetValueOrDefault("examples");
            var scalars = node switch
            {
                YamlScalarNode single => [single],
                YamlSequenceNode list => list.Children.OfType<YamlScalarNode>().ToList(),
                _ => new List<YamlScalarNode>(),
            };
            return scalars.Select(s => _normaliser.Normalise(s.Value ?? "").Text).Where(t => t.Length > 0).ToList();
        }

        private QuantityKind? Fail(YamlNode at, string message)
        {
            reader.Error(at, message);
            return null;
        }

        private double? Number(Dictionary<string, YamlNode> f, string key, YamlNode at, string what)
        {
            if (!f.TryGetValue(key, out var node))
            {
                reader.Error(at, $"quantity in {what} needs '{key}'");
                return null;
            }

            if (reader.Scalar(node, key) is { } text &&
                double.TryParse(text, System.Globalization.NumberStyles.Float,
                    System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0)
            {
                return value;
            }

            reader.Error(node, $"'{key}' in {what} must be a positive number");
            return null;
        }

        private FrozenDictionary<string, double> ReadDoses(Dictionary<string, YamlNode> f, string what)
        {
            var doses = new Dictionary<string, double>(StringComparer.Ordinal);
            if (!f.TryGetValue("doses_mg", out var node) || reader.Mapping(node, "doses_mg") is not { } map)
            {
                return doses.ToFrozenDictionary();
            }

            foreach (var (key, value) in map.Children)
            {
                var drug = reader.Scalar(key, "a drug name")?.Trim().ToLowerInvariant();
                var amount = reader.Scalar(value, "a dose");
                if (drug is null || amount is null)
                {
                    continue;
                }

                if (!double.TryParse(amount, System.Globalization.NumberStyles.Float,
                        System.Globalization.CultureInfo.InvariantCulture, out var mg) || mg <= 0)
                {
                    reader.Error(value, $"dose for '{drug}' in {what} must be a positive number of mg");
                    continue;
                }

                doses[_normaliser.Normalise(drug).Text] = mg;
            }

            return doses.ToFrozenDictionary(StringComparer.Ordinal);
        }

        private WearsOffWindow? ReadWearsOff(YamlNode node, string what)
        {
            if (reader.Mapping(node, "wears_off") is not { } map)
            {
                return null;
            }

            var f = reader.Fields(map, "wears_off", "hours", "unless");
            double? hours = null;
            if (f.TryGetValue("hours", out var h) && reader.Scalar(h, "hours") is { } text &&
                double.TryParse(text, System.Globalization.NumberStyles.Float,
                    System.Globalization.CultureInfo.InvariantCulture, out var value) && value > 0 && value <= 48)
            {
                hours = value;
            }
            else
            {
                reader.Error(h ?? map, $"wears_off in {what} needs hours between 0 and 48");
            }

            var unless = Patterns(f, "unless", $"wears_off 'unless' pattern in {what}");
            return hours is null
                ? null
                : new WearsOffWindow { Window = TimeSpan.FromHours(hours.Value), Unless = unless.Count > 0 ? Compile(unless) : null };
        }

        private List<CompiledException> ReadExceptions(YamlNode node, HashSet<string> ruleIds)
        {
            var result = new List<CompiledException>();
            var ids = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            var pendingDowngradedBy = new List<(string Id, YamlNode At)>();
            foreach (var entry in reader.Sequence(node, "exceptions"))
            {
                if (reader.Mapping(entry, "an exception") is not { } map)
                {
                    continue;
                }

                var f = reader.Fields(map, "an exception", "id", "kind", "effect", "scope", "applies_to",
                    "only_downgraded_by", "description", "phrases", "patterns", "examples");
                var id = Id(f, map, ids, "exception");
                if (id is not null && ruleIds.Contains(id))
                {
                    reader.Error(f["id"], $"exception id '{id}' is already a rule id");
                }

                var what = id is null ? "exception" : $"exception '{id}'";
                var kind = Enum<ExceptionKind>(f, "kind", map, what, null);
                var effect = Enum<ExceptionEffect>(f, "effect", map, what, null);
                var scope = Enum<ExceptionScope>(f, "scope", map, what, ExceptionScope.Span);
                if (!f.ContainsKey("description"))
                {
                    reader.Error(map, $"{what} needs a 'description' so reviewers know what it is for");
                }

                FrozenSet<string>? appliesTo = null;
                if (f.TryGetValue("applies_to", out var a))
                {
                    var targets = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var target in reader.ScalarList(a, "applies_to"))
                    {
                        if (!ruleIds.Contains(target.Value ?? ""))
                        {
                            reader.Error(target, $"{what} applies to unknown rule '{target.Value}'");
                        }

                        targets.Add(target.Value ?? "");
                    }

                    appliesTo = targets.ToFrozenSet(StringComparer.Ordinal);
                }
                else if (scope == ExceptionScope.Message)
                {
                    reader.Error(map, $"{what} has scope: message, so it must list the rules it applies_to");
                }

                FrozenSet<string>? onlyDowngradedBy = null;
                if (f.TryGetValue("only_downgraded_by", out var d))
                {
                    var list = reader.ScalarList(d, "only_downgraded_by").ToList();
                    pendingDowngradedBy.AddRange(list.Select(s => (s.Value ?? "", (YamlNode)s)));
                    onlyDowngradedBy = list.Select(s => s.Value ?? "").ToFrozenSet(StringComparer.Ordinal);
                }

                var matchers = Phrases(f, what);
                matchers.AddRange(Patterns(f, "patterns", $"pattern in {what}"));
                if (matchers.Count == 0 && !f.ContainsKey("phrases") && !f.ContainsKey("patterns"))
                {
                    reader.Error(map, $"{what} has no phrases or patterns");
                }

                if (id is null || kind is null || effect is null || scope is null || matchers.Count == 0)
                {
                    continue;
                }

                var matcher = Compile(matchers);
                var literals = LiteralPrefilter.Build(matchers);
                // Exceptions only run on messages where a rule fired, so the rules' examples are the right warm-up.
                var gate = RegexGate.Build(matchers, Options, _samples);
                CheckExamples(f, map, what, required: false,
                    text => literals.Passes(text) && gate.Passes(text) && matcher.IsMatch(text));
                result.Add(new CompiledException
                {
                    Id = id,
                    Kind = kind.Value,
                    Effect = effect.Value,
                    Scope = scope.Value,
                    Matcher = matcher,
                    Literals = literals,
                    Gate = gate,
                    Line = (int)map.Start.Line,
                    AppliesTo = appliesTo,
                    OnlyDowngradedBy = onlyDowngradedBy,
                });
            }

            foreach (var (target, at) in pendingDowngradedBy)
            {
                if (!ids.ContainsKey(target))
                {
                    reader.Error(at, $"only_downgraded_by names unknown exception '{target}'");
                }
            }

            return result;
        }

        private T? Enum<T>(Dictionary<string, YamlNode> f, string key, YamlNode at, string what, T? fallback)
            where T : struct, Enum
        {
            if (!f.TryGetValue(key, out var node))
            {
                if (fallback is null)
                {
                    reader.Error(at, $"{what} needs '{key}' ({Names<T>()})");
                }

                return fallback;
            }

            var text = reader.Scalar(node, key);
            if (text is not null && System.Enum.TryParse<T>(text, ignoreCase: true, out var value) &&
                System.Enum.GetNames<T>().Any(n => n.Equals(text, StringComparison.OrdinalIgnoreCase)))
            {
                return value;
            }

            reader.Error(node, $"unknown {key} '{text}' in {what}; use {Names<T>()}");
            return null;
        }

        private static string Names<T>() where T : struct, Enum =>
            string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));

        private sealed record LoadedRule(string Id, CompiledRule Rule, List<(string Target, YamlNode Node)> YieldsToNodes);
    }

    /// <summary>Reads YAML nodes, collecting errors with positions instead of throwing.</summary>
    private sealed class NodeReader(string file)
    {
        public List<SafetyRuleError> Errors { get; } = [];

        public void Error(YamlNode node, string message) => Error(node.Start, message);

        public void Error(Mark mark, string message) =>
            Errors.Add(new SafetyRuleError(file, (int)mark.Line, (int)mark.Column, message));

        public string? Scalar(YamlNode node, string what)
        {
            if (node is YamlScalarNode { Value: { } value })
            {
                return value;
            }

            Error(node, $"{what} must be a single value");
            return null;
        }

        public YamlMappingNode? Mapping(YamlNode node, string what)
        {
            if (node is YamlMappingNode map)
            {
                return map;
            }

            Error(node, $"{what} must be a mapping (key: value lines)");
            return null;
        }

        public IEnumerable<YamlNode> Sequence(YamlNode node, string what)
        {
            if (node is YamlSequenceNode sequence)
            {
                return sequence.Children;
            }

            Error(node, $"{what} must be a list ('- ' items)");
            return [];
        }

        /// <summary>A list of values, or a single value standing for a one-item list.</summary>
        public IEnumerable<YamlScalarNode> ScalarList(YamlNode node, string what)
        {
            if (node is YamlScalarNode single)
            {
                return [single];
            }

            var result = new List<YamlScalarNode>();
            foreach (var item in Sequence(node, what))
            {
                if (item is YamlScalarNode scalar)
                {
                    result.Add(scalar);
                }
                else
                {
                    Error(item, $"each item of {what} must be a single value");
                }
            }

            return result;
        }

        public Dictionary<string, YamlNode> Fields(YamlMappingNode map, string what, params string[] allowed)
        {
            var fields = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach (var (key, value) in map.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name))
                {
                    Error(key, $"unknown key '{name}' in {what}; expected one of {string.Join(", ", allowed)}");
                    continue;
                }

                fields[name] = value;
            }

            return fields;
        }
    }
}

internal sealed record RulesLoadResult(SafetyRuleSet? RuleSet, IReadOnlyList<SafetyRuleError> Errors);
