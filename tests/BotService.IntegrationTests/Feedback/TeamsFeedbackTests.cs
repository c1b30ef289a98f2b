using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Feedback;
using BotService.IntegrationTests.Auth;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// Feedback in Teams through the real /api/messages with signed channel tokens: the answer card carries "Helpful" and
/// "Not helpful" <c>Action.Submit</c> buttons; pressing one (a message whose <c>value</c> is the button's data) stores
/// the vote with the answer's source and score and is thanked; a vote naming another answer id is refused.
/// </summary>
public sealed class TeamsFeedbackTests(AuthenticatedService service) : IClassFixture<AuthenticatedService>
{
    private object TeamsActivity(string id, string conversationId, string? text, object? value = null) => new
    {
        type = "message",
        id,
        channelId = "msteams",
        serviceUrl = service.Issuer.ServiceUrl,
        timestamp = DateTimeOffset.UtcNow.ToString("O"),
        text,
        value,
        from = new { id = "29:1a2b3c-staff", name = "Night Nurse", aadObjectId = "00000000-0000-0000-0000-0000000000aa" },
        recipient = new { id = "28:" + BotFrameworkIssuer.AppId, name = "Clinic Bot" },
        conversation = new { id = conversationId, conversationType = "personal", tenantId = AuthenticatedService.TenantId },
        channelData = new { tenant = new { id = AuthenticatedService.TenantId } },
    };

    private async Task<JsonElement> SendAsync(object activity, string conversationId, string replyToId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        request.Headers.Authorization = new("Bearer", BotFrameworkIssuer.ChannelToken(service.ChannelKey, service.Issuer.ServiceUrl));
        var response = await service.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = default(JsonElement);
        await TeamsKit.WaitUntilAsync(() =>
        {
            reply = service.Issuer.Received
                .Where(r => r.Path.Contains(Uri.EscapeDataString(conversationId), StringComparison.Ordinal) || r.Path.Contains(conversationId, StringComparison.Ordinal))
                .Select(r => JsonDocument.Parse(r.Body).RootElement)
                .FirstOrDefault(a => a.GetProperty("type").GetString() == "message" && a.TryGetProperty("replyToId", out var to) && to.GetString() == replyToId);
            return reply.ValueKind == JsonValueKind.Object;
        }, TimeSpan.FromSeconds(10), "the reply to " + replyToId);
        return reply;
    }

    [Fact]
    public async Task AnswerCard_NotHelpfulPressed_VoteStoredAndThanked_UnknownAnswerRefused()
    {
        // Arrange
        var conversationId = "a:personal-" + Guid.NewGuid().ToString("n");
        var card = (await SendAsync(TeamsActivity("q1", conversationId, "how much is an infusion?"), conversationId, "q1"))
            .GetProperty("attachments")[0].GetProperty("content");
        var submits = card.GetProperty("actions").EnumerateArray()
            .Where(a => a.GetProperty("type").GetString() == "Action.Submit" && a.GetProperty("data").TryGetProperty(FeedbackReplies.CardDataKey, out _)).ToArray();
        var notHelpful = submits.Single(a => a.GetProperty("title").GetString() == FeedbackReplies.NotHelpfulTitle).GetProperty("data");
        var answerId = notHelpful.GetProperty(FeedbackReplies.CardDataKey).GetProperty("answerId").GetString()!;

        // Act: Teams sends the pressed button's data as the value of a message without text.
        var thanks = await SendAsync(TeamsActivity("v1", conversationId, null, notHelpful), conversationId, "v1");
        var refused = await SendAsync(TeamsActivity("v2", conversationId, null,
            new Dictionary<string, object> { [FeedbackReplies.CardDataKey] = new { answerId = AnswerLog.NewAnswerId(DateTimeOffset.UtcNow), vote = "up" } }), conversationId, "v2");
        var badVote = await SendAsync(TeamsActivity("v3", conversationId, null,
            new Dictionary<string, object> { [FeedbackReplies.CardDataKey] = new { answerId, vote = "sideways" } }), conversationId, "v3");

        // Assert
        Assert.Equal([FeedbackReplies.HelpfulTitle, FeedbackReplies.NotHelpfulTitle], submits.Select(a => a.GetProperty("title").GetString()));
        Assert.Equal(FeedbackMiddleware.ThanksText, thanks.GetProperty("text").GetString());
        Assert.Equal(FeedbackMiddleware.RefusedPrefix + "it does not name an answer given in this conversation.", refused.GetProperty("text").GetString());
        Assert.Equal(FeedbackMiddleware.RefusedPrefix + "the vote must be up or down.", badVote.GetProperty("text").GetString());
        await using var db = service.Services.GetRequiredService<Database>().Open();
        var record = await db.Answers.AsNoTracking().SingleAsync(a => a.AnswerId == answerId);
        Assert.Equal((-1, "msteams", "q1", "how much is an infusion?", "articles/ketamine-for-ptsd-management.md"),
            (record.Vote, record.Channel, record.QuestionActivityId, record.Question, record.SourcePath));
        Assert.InRange(record.Confidence, 0.55, 1.0);
    }
}
