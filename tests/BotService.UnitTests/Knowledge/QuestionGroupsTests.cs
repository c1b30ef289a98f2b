using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Review;

namespace BotService.UnitTests.Knowledge;

/// <summary>
/// Grouping similar questions for the staff review page: key terms from the articles' own analysis (stems, stop words,
/// the clinic's synonyms as one term per group), then groups by shared terms (docs/decisions/0018-answer-feedback-and-review-groups.md).
/// </summary>
public sealed class QuestionGroupsTests : IDisposable
{
    private readonly KnowledgeBase _kb = new(new AnswerOptions());

    public QuestionGroupsTests() => _kb.Load(RepoPaths.Knowledge);

    public void Dispose() => _kb.Dispose();

    [Fact]
    public void QuestionTerms_SynonymsStemsAndStopWords_ReadAsTheSameKey()
    {
        // Act: "fee", "cost" and "how much" are on one line of knowledge/synonyms.txt; "parks"/"parking" share a stem.
        var terms = _kb.QuestionTerms(["What is the fee for parking?", "how much does parking cost", "Parking: what does it cost?", "Do you validate parking?"]);

        // Assert
        Assert.Equal(terms[0].Key, terms[1].Key);
        Assert.Equal(terms[0].Key, terms[2].Key);
        Assert.NotEqual(terms[0].Key, terms[3].Key);
        Assert.DoesNotContain("the", terms[0].Terms);
        Assert.Contains("park", terms[0].Terms);
    }

    [Fact]
    public void Group_SimilarQuestionsTogether_DifferentApart_BiggestFirst()
    {
        // Arrange
        string[] questions =
        [
            "can I bring my dog to the session",     // 0
            "is parking free",                       // 1
            "may I bring my dog along to a session", // 2
            "can my dog come to my session",         // 3
            "where do I park",                       // 4
            "do you take bitcoin",                   // 5
        ];

        // Act
        var groups = QuestionGroups.Group(_kb.QuestionTerms(questions));

        // Assert: the dog questions form the first group; parking and bitcoin are not in it.
        Assert.Equal([0, 2, 3], groups[0]);
        Assert.Equal(questions.Length, groups.Sum(g => g.Count));
        Assert.All(groups.Skip(1), g => Assert.DoesNotContain(0, g));
        Assert.Contains(groups, g => g.SequenceEqual([5]));
    }

    [Fact]
    public void Group_SameInputTwice_SameGroups()
    {
        var terms = _kb.QuestionTerms(["a", "how much is it", "what does it cost", "hello", "hi", "price?"]);

        Assert.Equal(QuestionGroups.Group(terms), QuestionGroups.Group(terms));
    }
}
