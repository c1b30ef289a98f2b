using BotService.Knowledge.Indexing;
using BotService.Knowledge.Search;

namespace BotService.UnitTests.Knowledge;

public sealed class TextToolsTests
{
    [Fact]
    public void SentenceSplitter_AbbreviationsAndInitials_DoNotEndASentence()
    {
        var sentences = SentenceSplitter.Split(
            "A study by Berman, R. M., et al. found relief (Feder et al., 2014). Dr. Smith agreed! Was it fast? Yes.");

        Assert.Equal(
            ["A study by Berman, R. M., et al. found relief (Feder et al., 2014).", "Dr. Smith agreed!", "Was it fast?", "Yes."],
            sentences);
    }

    [Theory]
    [InlineData("prise", "price")]
    [InlineData("infusoin", "infusion")]
    [InlineData("ketamin", "ketamine")]
    [InlineData("insurence", "insurance")]
    public void SpellingCorrector_UnknownWordNearAKnownOne_IsCorrected(string typo, string expected)
    {
        // Arrange: "arise" is as close to "prise" as "price" is, but changes the first letter.
        var speller = new SpellingCorrector(new Dictionary<string, int>
        {
            ["price"] = 1, ["arise"] = 5, ["infusion"] = 9, ["ketamine"] = 40, ["insurance"] = 2, ["fusion"] = 1,
        });

        // Act
        var corrected = speller.Correct(typo);

        // Assert
        Assert.Equal(expected, corrected);
    }

    [Theory]
    [InlineData("price")]      // known
    [InlineData("tms")]        // too short to judge
    [InlineData("football")]   // nothing close
    [InlineData("york")]       // "work" is one letter away, but people rarely mistype the first letter
    [InlineData("covid19")]    // not a plain word
    public void SpellingCorrector_KnownShortOrFarWord_IsLeftAlone(string word)
    {
        var speller = new SpellingCorrector(new Dictionary<string, int> { ["price"] = 1, ["tmss"] = 1, ["footnote"] = 1, ["work"] = 9 });

        Assert.Null(speller.Correct(word));
    }

    [Theory]
    [InlineData("kitten", "sitting", 3, 3)]
    [InlineData("abcd", "acbd", 2, 1)]        // one transposition
    [InlineData("same", "same", 2, 0)]
    [InlineData("short", "muchlongerword", 3, 4)] // cut off: max + 1
    [InlineData("abcdef", "uvwxyz", 2, 3)]      // cut off mid-way
    public void Distance_Pairs_AreOptimalStringAlignment(string a, string b, int max, int expected)
    {
        Assert.Equal(expected, SpellingCorrector.Distance(a, b, max));
    }
}
