using BotService.Safety;

namespace BotService.UnitTests.Safety;

public sealed class TextNormaliserTests
{
    private static readonly TextNormaliser Normaliser = new([
        ("im", "i'm"), ("kms", "kill myself"), ("my self", "myself"), ("\U0001F48A", "pills"),
    ]);

    [Theory]
    [InlineData("  I\u2019M   Going\tHOME ", "i'm going home")]
    [InlineData("self-harm and drop-dead", "self harm and drop dead")]
    [InlineData("soooo tired, dieeee", "so tired, die")]
    [InlineData("zero\u200Bwidth", "zerowidth")]
    [InlineData("\u201Cquoted\u201D \u2013 dash", "\"quoted\" - dash")]
    public void Normalise_CharacterRules_Applied(string input, string expected)
    {
        // Act
        var result = Normaliser.Normalise(input).Text;

        // Assert
        Assert.Equal(expected, result);
    }

    [Theory]
    [InlineData("im sad", "i'm sad")]
    [InlineData("gonna kms", "gonna kill myself")]
    [InlineData("hurt my self", "hurt myself")]
    [InlineData("my, self", "my, self")]
    [InlineData("took 3\U0001F48Anow", "took 3 pills now")]
    [InlineData("kmsx", "kmsx")]
    public void Normalise_TokenMap_ReplacesWholeTokensOnly(string input, string expected)
    {
        // Act
        var result = Normaliser.Normalise(input).Text;

        // Assert
        Assert.Equal(expected, result);
    }

    [Fact]
    public void ToOriginal_ReplacedToken_MapsEveryCharacterToWholeSource()
    {
        // Arrange
        const string input = "so  KMS!";
        var norm = Normaliser.Normalise(input);
        var start = norm.Text.IndexOf("myself", StringComparison.Ordinal);

        // Act
        var (s, length) = norm.ToOriginal(start, "myself".Length);

        // Assert
        Assert.Equal("KMS", input.Substring(s, length));
    }

    [Fact]
    public void ToOriginal_CollapsedWhitespace_SpanIncludesAllOriginalSpaces()
    {
        // Arrange
        const string input = "a \t\n b";
        var norm = Normaliser.Normalise(input);

        // Act
        var (s, length) = norm.ToOriginal(0, norm.Text.Length);

        // Assert
        Assert.Equal("a b", norm.Text);
        Assert.Equal(input, input.Substring(s, length));
    }

    [Theory]
    [InlineData("thirty", 30)]
    [InlineData("forty five", 45)]
    [InlineData("a dozen", 12)]
    [InlineData("two hundred", 200)]
    [InlineData("one thousand and fifty", 1050)]
    public void ParseWords_EnglishNumberWords_Value(string words, double expected)
    {
        // Act
        var value = QuantityReader.ParseWords(words);

        // Assert
        Assert.Equal(expected, value);
    }

    [Fact]
    public void ParseWords_NotANumber_Null()
    {
        // Act
        var value = QuantityReader.ParseWords("a few");

        // Assert
        Assert.Null(value);
    }
}

public sealed class LiteralPrefilterTests
{
    [Theory]
    [InlineData(@"\bkill\s+(?:myself|himself)\b", "i want to kill himself now", "kill himself")]
    [InlineData(@"(?<=\bi\s)want\s+to\s+die\b", "i want to die", "want to die")]
    [InlineData(@"(?:took|swallowed)\s+\d+\s+pills", "she swallowed 30 pills", " pills")]
    [InlineData(@"fianc[eé]e?", "my fiancée", "fiancée")]
    [InlineData(@"\bself\s+harm(?:ing)?", "been self harming", "self harming")]
    [InlineData(@"(?<=\b(?:blood pressure|bp)\b[^.]{0,30})\d{2,3}/\d{2,3}", "my bp is 170/105", "bp")]
    public void Required_MatchingText_ContainsARequiredLiteral(string pattern, string text, string literalFound)
    {
        // Arrange
        Assert.Matches(pattern, text);

        // Act
        var required = LiteralPrefilter.Required(pattern);

        // Assert
        Assert.NotNull(required);
        Assert.Contains(literalFound, required!);
        Assert.Contains(required!, r => text.Contains(r, StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [InlineData(@"(?:kill)?\s*me", "me")]
    [InlineData(@"(?!kill)\bme", "me")]
    [InlineData(@"a(?:bc)*d", "ad")]
    public void Required_OptionalParts_NeverRequiredAlone(string pattern, string shortestMatch)
    {
        // Act
        var required = LiteralPrefilter.Required(pattern);

        // Assert: the shortest possible match must still pass.
        Assert.True(required is null || required.Any(r => shortestMatch.Contains(r, StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public void Build_PatternWithoutLiterals_LetsEverythingThrough()
    {
        // Act
        var filter = LiteralPrefilter.Build([@"\bkill\s+myself\b", @"\w+"]);

        // Assert
        Assert.False(filter.IsFiltering);
        Assert.True(filter.Passes("anything"));
    }

    [Fact]
    public void Passes_CaseInsensitiveSubstring_OnlyWhenALiteralOccurs()
    {
        // Arrange
        var filter = LiteralPrefilter.Build([@"\bkill\s+myself\b"]);

        // Act / Assert
        Assert.True(filter.Passes("i want to KILL MYSELF"));
        Assert.False(filter.Passes("what is the price"));
    }
}
