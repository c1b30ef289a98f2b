using System.Text.Json;
using BotService.Feedback;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// The per-turn parts of an answer's feedback buttons that skip the general machinery for speed: the Web Chat actions
/// put together from bytes must be the JSON the writer path makes, and answer ids, their time and then bytes drawn from
/// a per-thread block of random bytes, must stay well formed, never repeat, and start alike when made together.
/// </summary>
public sealed class FeedbackRepliesTests
{
    [Fact]
    public void PotentialActions_ForAnAnswerId_AreWhatTheJsonWriterWrites()
    {
        // Arrange
        var id = AnswerLog.NewAnswerId(DateTimeOffset.UtcNow);
        var written = FeedbackReplies.WrittenPotentialActions(id);

        // Act
        var built = FeedbackReplies.PotentialActions(id);

        // Assert
        Assert.Equal(JsonSerializer.Serialize(written), JsonSerializer.Serialize(built));
        Assert.Equal("urn:clinic-answer:" + id + ":dislike", built[1].GetProperty("@id").GetString());
    }

    [Fact]
    public void PotentialActions_ForAnyOtherId_AreEscapedByTheWriter()
    {
        // Act
        var built = FeedbackReplies.PotentialActions("not \"an\" id");

        // Assert
        Assert.Equal("urn:clinic-answer:not \"an\" id:like", built[0].GetProperty("@id").GetString());
    }

    [Fact]
    public async Task NewAnswerId_ManyOnSeveralThreads_WellFormedAndAllDifferent()
    {
        // Act: more ids per thread than one block of random bytes holds
        var ids = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Enumerable.Range(0, 1000).Select(_ => AnswerLog.NewAnswerId(DateTimeOffset.UtcNow)).ToArray())));

        // Assert
        var all = ids.SelectMany(x => x).ToArray();
        Assert.All(all, id => Assert.True(AnswerLog.IsAnswerId(id), id));
        Assert.Equal(all.Length, all.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void NewAnswerId_MadeCloseInTime_StartAlike_SoTheirIndexEntriesSitTogether()
    {
        // Arrange: a time on a 4,096 ms boundary (the first 6 characters carry the milliseconds above the low 12 bits)
        var at = DateTimeOffset.FromUnixTimeMilliseconds(438_000_000L * 4096);

        // Act
        var together = Enumerable.Range(0, 100).Select(_ => AnswerLog.NewAnswerId(at)).ToArray();
        var aSecondLater = AnswerLog.NewAnswerId(at.AddSeconds(1));
        var aDayLater = AnswerLog.NewAnswerId(at.AddDays(1));

        // Assert: the same millisecond shares the 8 characters of the time, a second later the first 6; a day later
        // starts elsewhere; the random part still makes every id different
        Assert.All(together, id => Assert.True(AnswerLog.IsAnswerId(id), id));
        Assert.All(together, id => Assert.Equal(together[0][..8], id[..8]));
        Assert.Equal(together.Length, together.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(together[0][..6], aSecondLater[..6]);
        Assert.NotEqual(together[0][..6], aDayLater[..6]);
    }
}
