namespace BotService.Knowledge.Search;

/// <summary>
/// Typo tolerance for words the corpus does not know ("prise" -> "price", "infusoin" -> "infusion"), with the
/// vocabulary read from the index's own term dictionary. Candidates come from a symmetric-delete table (each
/// vocabulary word and every form of it with one letter removed), so a look-up is a handful of dictionary probes,
/// not a scan; each candidate is then checked with the optimal-string-alignment distance.
/// </summary>
internal sealed class SpellingCorrector
{
    private readonly Dictionary<string, int> _frequency;
    private readonly Dictionary<string, List<string>> _deletes = new(StringComparer.Ordinal);

    public SpellingCorrector(IEnumerable<KeyValuePair<string, int>> vocabulary)
    {
        _frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (word, frequency) in vocabulary)
        {
            if (!IsWord(word))
            {
                continue;
            }

            _frequency[word] = _frequency.TryGetValue(word, out var f) ? f + frequency : frequency;
        }

        foreach (var word in _frequency.Keys)
        {
            AddVariant(word, word);
            for (var i = 0; i < word.Length; i++)
            {
                AddVariant(word.Remove(i, 1), word);
            }
        }
    }

    public int Count => _frequency.Count;

    public bool IsKnown(string word) => _frequency.ContainsKey(word);

    /// <summary>The closest known word, or null when the word is known, too short to judge, or nothing is close.</summary>
    public string? Correct(string word)
    {
        if (word.Length < 4 || !IsWord(word) || _frequency.ContainsKey(word))
        {
            return null;
        }

        var maxDistance = word.Length <= 5 ? 1 : 2;
        string? best = null;
        var bestKey = (Distance: int.MaxValue, Frequency: 0);
        void Consider(string candidate)
        {
            // People rarely mistype the first letter, and "york" -> "work" or "joke" -> "poke" changes the question.
            if (candidate[0] != word[0])
            {
                return;
            }

            var d = Distance(word, candidate, maxDistance);
            if (d > maxDistance)
            {
                return;
            }

            // Closest first; then the commonest.
            var key = (Distance: d, Frequency: _frequency[candidate]);
            var better = key.Distance != bestKey.Distance ? key.Distance < bestKey.Distance
                : key.Frequency != bestKey.Frequency ? key.Frequency > bestKey.Frequency
                : string.CompareOrdinal(candidate, best) < 0;
            if (better)
            {
                best = candidate;
                bestKey = key;
            }
        }

        Probe(word, Consider);
        for (var i = 0; i < word.Length; i++)
        {
            Probe(word.Remove(i, 1), Consider);
        }

        return best;
    }

    private void Probe(string variant, Action<string> consider)
    {
        if (_deletes.TryGetValue(variant, out var words))
        {
            foreach (var w in words)
            {
                consider(w);
            }
        }
    }

    private void AddVariant(string variant, string word)
    {
        if (!_deletes.TryGetValue(variant, out var list))
        {
            _deletes[variant] = list = new List<string>(1);
        }

        if (list.Count == 0 || !ReferenceEquals(list[^1], word))
        {
            list.Add(word);
        }
    }

    private static bool IsWord(string s)
    {
        foreach (var c in s)
        {
            if (c is < 'a' or > 'z')
            {
                return false;
            }
        }

        return s.Length > 0;
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions), cut off above max.</summary>
    internal static int Distance(string a, string b, int max)
    {
        if (Math.Abs(a.Length - b.Length) > max)
        {
            return max + 1;
        }

        var rows = new int[3][];
        for (var r = 0; r < 3; r++)
        {
            rows[r] = new int[b.Length + 1];
        }

        for (var j = 0; j <= b.Length; j++)
        {
            rows[1][j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            // Row k lives in rows[(k + 1) % 3]: cur is row i, prev row i-1, prev2 row i-2.
            var cur = rows[(i + 1) % 3];
            var prev = rows[i % 3];
            var prev2 = rows[(i + 2) % 3];
            cur[0] = i;
            var rowMin = cur[0];
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                var v = Math.Min(Math.Min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    v = Math.Min(v, prev2[j - 2] + 1);
                }

                cur[j] = v;
                rowMin = Math.Min(rowMin, v);
            }

            if (rowMin > max)
            {
                return max + 1;
            }
        }

        return rows[(a.Length + 1) % 3][b.Length];
    }
}
