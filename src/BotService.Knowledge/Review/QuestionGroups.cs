namespace BotService.Knowledge.Review;

/// <summary>A question's key terms (<see cref="KnowledgeBase.QuestionTerms"/>): stems, each synonym group as one term.</summary>
public sealed class QuestionTerms(IReadOnlySet<string> terms)
{
    public IReadOnlySet<string> Terms { get; } = terms;

    /// <summary>The terms in order, joined: questions with the same key read the same to the search.</summary>
    public string Key { get; } = string.Join(' ', terms.Order(StringComparer.Ordinal));

    /// <summary>Shared terms over all terms (Jaccard); 1 for two questions with no terms at all.</summary>
    public double Similarity(QuestionTerms other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Terms.Count == 0 && other.Terms.Count == 0)
        {
            return 1;
        }

        var shared = Terms.Count(other.Terms.Contains);
        return (double)shared / (Terms.Count + other.Terms.Count - shared);
    }
}

/// <summary>
/// Groups similar questions for staff review (docs/decisions/0018-answer-feedback-and-review-groups.md). Questions with the same key
/// terms form one group; then, biggest group first, a group takes in every smaller one whose key is at least
/// <see cref="Threshold"/> similar to its own (Jaccard over the key terms). Deterministic: the same questions
/// always give the same groups, so a group can be marked handled and found again.
/// </summary>
public static class QuestionGroups
{
    /// <summary>How similar two keys must be to join: half their distinct terms shared.</summary>
    public const double Threshold = 0.5;

    /// <summary>Groups items by their terms; returns groups of indexes into <paramref name="terms"/>, biggest first.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Group(IReadOnlyList<QuestionTerms> terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var byKey = new Dictionary<string, (QuestionTerms Terms, List<int> Items)>(StringComparer.Ordinal);
        for (var i = 0; i < terms.Count; i++)
        {
            if (!byKey.TryGetValue(terms[i].Key, out var entry))
            {
                entry = (terms[i], []);
                byKey.Add(terms[i].Key, entry);
            }

            entry.Items.Add(i);
        }

        // Biggest first (ties by key, for a stable order); each unassigned key starts a group and collects the keys
        // after it that are similar enough to it (its own key, not a growing union, so groups cannot drift).
        var keys = byKey.Values.OrderByDescending(k => k.Items.Count).ThenBy(k => k.Terms.Key, StringComparer.Ordinal).ToArray();
        var taken = new bool[keys.Length];
        var groups = new List<List<int>>();
        for (var i = 0; i < keys.Length; i++)
        {
            if (taken[i])
            {
                continue;
            }

            var group = new List<int>(keys[i].Items);
            for (var j = i + 1; j < keys.Length; j++)
            {
                if (!taken[j] && keys[i].Terms.Similarity(keys[j].Terms) >= Threshold)
                {
                    taken[j] = true;
                    group.AddRange(keys[j].Items);
                }
            }

            group.Sort();
            groups.Add(group);
        }

        return groups.OrderByDescending(g => g.Count).ThenBy(g => g[0]).ToArray();
    }
}
