using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;

namespace BotService.UnitTests.Knowledge;

/// <summary>
/// Above a few thousand passages retrieval runs in two stages (a cheap first stage, then the usual ranking). These
/// check that the first stage still finds what a question asks for, with rare words and with only common ones.
/// </summary>
public sealed class LargeCorpusTests : IClassFixture<LargeCorpusTests.Corpus>
{
    private readonly KnowledgeBase _kb;

    public LargeCorpusTests(Corpus corpus) => _kb = corpus.Kb;

    public sealed class Corpus : IDisposable
    {
        public Corpus()
        {
            var random = new Random(7);
            string[] common = ["ketamine", "therapy", "patients", "treatment", "clinic", "symptoms", "sessions", "relief"];
            var articles = new List<Article>();
            for (var i = 0; i < 2_200; i++)
            {
                var sections = Enumerable.Range(0, 3).Select(s => new ArticleSection($"Part {s}",
                [
                    string.Join(' ', Enumerable.Range(0, 12).Select(_ => common[random.Next(common.Length)])) + ".",
                    $"Filler sentence number {i} in section {s} about nothing in particular.",
                ])).ToList();
                articles.Add(new Article($"articles/a{i}.md", $"Article {i}", "Clinic", Audience.Public, null, new DateOnly(2026, 1, 1), [], sections));
            }

            articles.Add(new Article("articles/needle.md", "Parking", "Clinic", Audience.Public, null, new DateOnly(2026, 1, 1), [],
                [new ArticleSection("Where to park", ["Visitors park for free in the Elm Street garage behind the clinic."])]));
            articles.Add(new Article("articles/common.md", "Sessions", "Clinic", Audience.Public, null, new DateOnly(2026, 1, 1), [],
                [new ArticleSection("Relief", ["Most patients feel relief of symptoms after the second ketamine therapy session at the clinic."])]));
            Kb = new KnowledgeBase(new AnswerOptions());
            Kb.Load(KnowledgeSource.FromArticles(articles));
            Assert.True(Kb.Status.Passages > 5_000, $"only {Kb.Status.Passages} passages: the two-stage path would not run");
        }

        public KnowledgeBase Kb { get; }

        public void Dispose() => Kb.Dispose();
    }

    [Fact]
    public void Ask_RareWordsInALargeCorpus_FindsThePassageThatHoldsThem()
    {
        var answer = _kb.Ask("where do visitors park, is the garage free", Audience.Public);

        Assert.True(answer.Answered, answer.Text);
        Assert.Equal("articles/needle.md", answer.Sources[0].Path);
    }

    [Fact]
    public void Ask_OnlyCommonWordsInALargeCorpus_StillAnswersFromAPassageWithAllOfThem()
    {
        var answer = _kb.Ask("do patients feel relief of symptoms after the second ketamine session", Audience.Public);

        Assert.True(answer.Answered, answer.Text);
        Assert.Equal("articles/common.md", answer.Sources[0].Path);
    }
}
