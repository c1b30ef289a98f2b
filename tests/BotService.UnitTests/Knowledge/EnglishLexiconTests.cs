using BotService.Knowledge.Analysis;

namespace BotService.UnitTests.Knowledge;

/// <summary>The WordNet-derived lexicon embedded in the knowledge assembly (decision 0028).</summary>
public sealed class EnglishLexiconTests
{
    [Theory]
    [InlineData("twitched", "twitch")]
    [InlineData("reactions", "reaction")]
    [InlineData("easier", "easy")]
    [InlineData("Psychotic", "psychotic")]
    public void Find_AnInflectedWord_FindsItsDictionaryForm(string word, string lemma)
    {
        var entry = EnglishLexicon.Default.Find(word);

        Assert.NotNull(entry);
        Assert.Equal(lemma, entry.Lemma);
    }

    [Fact]
    public void Find_AWord_GivesItsPartsOfSpeechFrequencyAndRelatedForms()
    {
        var psychotic = EnglishLexicon.Default.Find("psychotic")!;
        var scary = EnglishLexicon.Default.Find("scary")!;
        var parking = EnglishLexicon.Default.Find("parking")!;
        var decide = EnglishLexicon.Default.Find("decide")!;

        Assert.Contains("psychosis", psychotic.Related);
        Assert.False(scary.IsMostlyNoun);
        Assert.True(parking.IsMostlyNoun);
        Assert.True(decide.Frequency >= 5, $"decide seen {decide.Frequency} times");
    }

    [Theory]
    [InlineData("qwzxv")]
    [InlineData("")]
    public void Find_NotAWord_IsNull(string word) => Assert.Null(EnglishLexicon.Default.Find(word));

    [Fact]
    public void Default_HoldsTheWholeWordNetVocabulary() => Assert.InRange(EnglishLexicon.Default.Count, 80_000, 90_000);
}
