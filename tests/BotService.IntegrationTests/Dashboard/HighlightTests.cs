using BotService.Dashboard;

namespace BotService.IntegrationTests.Dashboard;

/// <summary>The conversation page's highlighting from stored spans, and the CSV export's quoting.</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class HighlightTests
{
    [Fact]
    public void Highlight_OverlappingAndOutOfRangeSpans_MergedAndClipped()
    {
        // Arrange: "kill myself" and "myself tonight" overlap; a span past the end comes from a corrupted row.
        const string text = "I will kill myself tonight";
        DashboardReason[] reasons =
        [
            new("suicidal-intent", "emergency", 7, 11),
            new("timeframe", "emergency", 12, 14),
            new("broken", "urgent", 40, 5),
        ];

        // Act
        var segments = EscalationBoard.Highlight(text, reasons);

        // Assert
        Assert.Equal([("I will ", false), ("kill myself", true), (" tonight", true)], segments.Select(s => (s.Text, s.Matched)));
        Assert.Equal(text, string.Concat(segments.Select(s => s.Text)));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"")]
    [InlineData("-1", "'-1")]
    public void Csv_Field_QuotedAndFormulaSafe(string value, string expected)
    {
        // Act
        var field = AuditLog.Csv(value);

        // Assert
        Assert.Equal(expected, field);
    }
}
