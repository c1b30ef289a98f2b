using BotService.Knowledge.Articles;
using Lucene.Net.Analysis.Synonym;

namespace BotService.Knowledge.Analysis;

/// <summary>
/// Reads <c>knowledge/synonyms.txt</c> in Solr's synonym format. A line that does not parse is reported with its line
/// number and skipped; the other lines still apply.
/// </summary>
internal static class SynonymsFile
{
    public sealed record Result(SynonymMap? Map, IReadOnlySet<string> Words);

    public static Result Parse(string path, string text, List<KnowledgeProblem> problems)
    {
        using var analyzer = new SurfaceAnalyzer();
        var good = new List<string>();
        var words = new HashSet<string>(StringComparer.Ordinal);
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            try
            {
                // Parse each line alone first, so a bad line can be named and skipped.
                var probe = new SolrSynonymParser(dedup: true, expand: true, analyzer);
                probe.Parse(new StringReader(line));
                probe.Build();
                good.Add(line);
                foreach (var w in line.Split([',', ' ', '=', '>'], StringSplitOptions.RemoveEmptyEntries))
                {
                    words.Add(w.ToLowerInvariant());
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                problems.Add(new(path, i + 1, $"synonym line is not valid: {e.Message}"));
            }
        }

        if (good.Count == 0)
        {
            return new Result(null, words);
        }

        var parser = new SolrSynonymParser(dedup: true, expand: true, analyzer);
        parser.Parse(new StringReader(string.Join('\n', good)));
        return new Result(parser.Build(), words);
    }
}
