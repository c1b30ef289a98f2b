using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Feedback;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// Nothing is lost while the database is unavailable (another process holds it locked: SQLite's file lock, or on
/// PostgreSQL the transcript's tables): the answer still goes out at once with its buttons, a vote on it meanwhile is
/// told to try again (not that the answer is unknown), and once the lock is gone the record lands and the vote is stored.
/// </summary>
public sealed class AnswerLogFaultTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task DatabaseLocked_AnswerSentAtOnce_VoteToldToRetry_RecordLandsAfter_VoteStored()
    {
        // Arrange
        var conversation = "locked-" + Guid.NewGuid().ToString("n");
        var locker = await Faults.LockDatabaseAsync(fixture.DataPath);
        JsonElement answer;
        TimeSpan answeredAfter;
        string? duringLock;
        try
        {
            // Act
            var clock = Stopwatch.StartNew();
            answer = (await MessageAsync(conversation, new { type = "message", text = "how much is an infusion?" }))[0];
            answeredAfter = clock.Elapsed;
            var replies = await MessageAsync(conversation, DirectLineFeedbackTests.FeedbackEvent(DirectLineFeedbackTests.PotentialActions(answer)["DislikeAction"]));
            duringLock = replies.Length == 0 ? null : replies[0].GetProperty("text").GetString();
        }
        finally
        {
            locker.Dispose();
        }

        var answerId = DirectLineFeedbackTests.AnswerIdOf(DirectLineFeedbackTests.PotentialActions(answer)["DislikeAction"]);
        await Auth.TeamsKit.WaitUntilAsync(async ct =>
        {
            await using var db = fixture.Services.GetRequiredService<Database>().Open();
            return await db.Answers.AnyAsync(a => a.AnswerId == answerId, ct);
        }, TimeSpan.FromSeconds(30), "the answer's record after the lock");
        var after = await MessageAsync(conversation, DirectLineFeedbackTests.FeedbackEvent(DirectLineFeedbackTests.PotentialActions(answer)["DislikeAction"]));

        // Assert: the answer within the transcript's 2 s budget (plus slack for a loaded machine), not the lock's 5 s.
        Assert.True(answeredAfter < TimeSpan.FromSeconds(4), $"the answer took {answeredAfter.TotalMilliseconds:F0} ms");
        Assert.Contains("$275", answer.GetProperty("text").GetString(), StringComparison.Ordinal);
        if (!TestStorage.IsPostgres) // PostgreSQL's lock holds the transcript's tables only, so there the vote may be stored at once
        {
            Assert.Equal(FeedbackMiddleware.RefusedPrefix + "the clinic's system is busy; please try again in a minute.", duringLock);
        }

        Assert.Empty(after);
        await using var check = fixture.Services.GetRequiredService<Database>().Open();
        Assert.Equal(-1, (await check.Answers.AsNoTracking().SingleAsync(a => a.AnswerId == answerId)).Vote);
    }

    private Task<JsonElement[]> MessageAsync(string conversationId, object activity) => fixture.ExpectRepliesAsync(conversationId, activity);
}
