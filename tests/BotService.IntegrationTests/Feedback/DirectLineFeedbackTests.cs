using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Feedback;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// Thumbs up and down over real Direct Line HTTP, in the shape Web Chat 4.18 sends them (the event
/// <c>webchat:activity-status/feedback</c> with the pressed LikeAction or DislikeAction as its entity): the vote is
/// stored on the answer's record, with the question, the cited source and the confidence, linked to the question's
/// and the reply's transcript ids; a second vote replaces the first; a vote naming no answer of the conversation is
/// refused with a reply saying so, and changes nothing.
/// </summary>
public sealed class DirectLineFeedbackTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    [Fact]
    public async Task Answer_CarriesLikeAndDislike_DownThenUp_OneVoteStoredWithQuestionSourceAndScore()
    {
        // Arrange
        var (token, conversationId, _) = await service.StartConversationAsync();
        var questionId = await PostAsync(token, conversationId, new { type = "message", text = "how much is an infusion?" });
        var reply = await UntilAsync(token, conversationId, a => a.GetProperty("replyToId").GetString() == questionId);
        var actions = PotentialActions(reply);

        // Act
        var down = await PostAsync(token, conversationId, FeedbackEvent(actions["DislikeAction"]));
        var afterDown = await RecordAsync(AnswerIdOf(actions["DislikeAction"]));
        var up = await PostAsync(token, conversationId, FeedbackEvent(actions["LikeAction"]));
        var afterUp = await RecordAsync(AnswerIdOf(actions["LikeAction"]));
        await Task.Delay(300); // a refusal, had there been one, is a reply to the vote

        // Assert
        Assert.Equal(["DislikeAction", "LikeAction"], actions.Keys.Order());
        Assert.Equal(-1, afterDown.Vote);
        Assert.Equal(1, afterUp.Vote);
        Assert.Equal(afterDown.Id, afterUp.Id); // replaced on the same record
        Assert.Equal(("how much is an infusion?", true, "articles/ketamine-for-ptsd-management.md", "New Patient Special"),
            (afterUp.Question, afterUp.Answered, afterUp.SourcePath, afterUp.SourceSection));
        Assert.InRange(afterUp.Confidence, 0.55, 1.0);
        Assert.Equal((conversationId, "directline", questionId, reply.GetProperty("id").GetString()),
            (afterUp.ConversationId, afterUp.Channel, afterUp.QuestionActivityId, afterUp.ReplyActivityId));
        await using var db = service.Services.GetRequiredService<Database>().Open();
        Assert.Equal(1, await db.Answers.CountAsync(a => a.ConversationId == conversationId));
        Assert.True(await db.Messages.AnyAsync(m => m.ConversationId == conversationId && m.ActivityId == afterUp.ReplyActivityId && m.Role == "bot"));
        var all = await ActivitiesAsync(token, conversationId);
        Assert.DoesNotContain(all, a => a.TryGetProperty("replyToId", out var r) && (r.GetString() == down || r.GetString() == up));
    }

    [Fact]
    public async Task Decline_HasNoFeedbackButtons_ButIsRecordedForReview()
    {
        // Arrange
        var (token, conversationId, _) = await service.StartConversationAsync();

        // Act
        var questionId = await PostAsync(token, conversationId, new { type = "message", text = "can I bring my dog to the session?" });
        var reply = await UntilAsync(token, conversationId, a => a.GetProperty("replyToId").GetString() == questionId);
        var record = await RecordWhereAsync(a => a.ConversationId == conversationId);

        // Assert
        Assert.False(reply.TryGetProperty("entities", out _));
        Assert.Equal(("can I bring my dog to the session?", false, null, null), (record.Question, record.Answered, record.SourcePath, record.Vote));
    }

    [Fact]
    public async Task Vote_UnknownAnswerOtherConversationsOrMalformed_RefusedWithAReply_NothingChanged()
    {
        // Arrange: an answer in conversation A, and a second conversation B.
        var (tokenA, conversationA, _) = await service.StartConversationAsync();
        var questionId = await PostAsync(tokenA, conversationA, new { type = "message", text = "how much is an infusion?" });
        var dislike = PotentialActions(await UntilAsync(tokenA, conversationA, a => a.GetProperty("replyToId").GetString() == questionId))["DislikeAction"];
        var (tokenB, conversationB, _) = await service.StartConversationAsync();

        // Act
        var unknown = await RefusalAsync(tokenB, conversationB, FeedbackEvent(Action("DislikeAction", "urn:clinic-answer:" + AnswerLog.NewAnswerId(DateTimeOffset.UtcNow) + ":dislike")));
        var otherConversations = await RefusalAsync(tokenB, conversationB, FeedbackEvent(dislike));
        var mismatched = await RefusalAsync(tokenA, conversationA, FeedbackEvent(Action("LikeAction", dislike.GetProperty("@id").GetString()!)));
        var noEntity = await RefusalAsync(tokenA, conversationA, new { type = "event", name = FeedbackReplies.WebChatEvent });
        var record = await RecordAsync(AnswerIdOf(dislike));

        // Assert
        Assert.Equal(FeedbackMiddleware.RefusedPrefix + "it does not name an answer given in this conversation.", unknown);
        Assert.Equal(unknown, otherConversations);
        Assert.StartsWith(FeedbackMiddleware.RefusedPrefix + "the feedback must be a LikeAction or DislikeAction", mismatched, StringComparison.Ordinal);
        Assert.StartsWith(FeedbackMiddleware.RefusedPrefix + "the feedback must carry one", noEntity, StringComparison.Ordinal);
        Assert.Null(record.Vote);
    }

    /// <summary>A JSON-LD action as Web Chat sends it (C# anonymous types cannot name "@type").</summary>
    internal static Dictionary<string, string> Action(string type, string id) => new() { ["@type"] = type, ["@id"] = id };

    internal static object FeedbackEvent(object action) => new { type = "event", name = FeedbackReplies.WebChatEvent, entities = new[] { action } };

    /// <summary>The reply's LikeAction and DislikeAction, by type, from its schema.org Message entity.</summary>
    internal static Dictionary<string, JsonElement> PotentialActions(JsonElement reply) =>
        reply.GetProperty("entities").EnumerateArray()
            .Single(e => e.GetProperty("type").GetString() == "https://schema.org/Message")
            .GetProperty("potentialAction").EnumerateArray()
            .ToDictionary(a => a.GetProperty("@type").GetString()!, a => a.Clone());

    internal static string AnswerIdOf(JsonElement action) => action.GetProperty("@id").GetString()!.Split(':')[2];

    private async Task<AnswerRecord> RecordAsync(string answerId) => await RecordWhereAsync(a => a.AnswerId == answerId);

    private async Task<AnswerRecord> RecordWhereAsync(System.Linq.Expressions.Expression<Func<AnswerRecord, bool>> match)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            await using var db = service.Services.GetRequiredService<Database>().Open();
            if (await db.Answers.AsNoTracking().FirstOrDefaultAsync(match) is { } found)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < until, "the answer was never recorded");
            await Task.Delay(50);
        }
    }

    /// <summary>Posts an activity the bot must refuse; returns the refusal's text.</summary>
    private async Task<string> RefusalAsync(string token, string conversationId, object activity)
    {
        var id = await PostAsync(token, conversationId, activity);
        return (await UntilAsync(token, conversationId, a => a.GetProperty("replyToId").GetString() == id)).GetProperty("text").GetString()!;
    }

    private Task<string> PostAsync(string token, string conversationId, object activity) => service.PostActivityAsync(token, conversationId, activity);

    private Task<List<JsonElement>> ActivitiesAsync(string token, string conversationId) => service.ActivitiesAsync(token, conversationId);

    private Task<JsonElement> UntilAsync(string token, string conversationId, Func<JsonElement, bool> match) =>
        service.UntilActivityAsync(token, conversationId, match);
}
