using BotService.IntegrationTests.Dashboard;
using BotService.IntegrationTests.DirectLine;
using BotService.IntegrationTests.WebChat;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// Feedback and the review page in Debian's chromium (playwright-core) against the real service: the thumbs under a
/// Web Chat answer store the vote (checked here in the database), and the review page signs in, shows the group, passes
/// axe in light, dark and phone layouts and marks it handled (each view and the change audited).
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class FeedbackBrowserTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    [Fact]
    public async Task WebChat_ThumbsDownByKeyboard_VoteStoredWithTheAnswersSource()
    {
        // Arrange
        var result = Path.Combine(Path.GetTempPath(), "wc-feedback-" + Guid.NewGuid().ToString("n"));

        // Act
        await Browser.RunAsync("feedback.test.mjs", "feedback: thumbs down on an answer, by keyboard on a phone, 44px targets, pressed state",
            service, ("WC_RESULT", result));
        Screenshots.Keep("webchat-feedback-phone.png");
        var conversationId = await File.ReadAllTextAsync(result);
        File.Delete(result);

        // Assert (the vote is stored once the answer's record has landed: records gather for 2 s)
        AnswerRecord? record = null;
        await Auth.TeamsKit.WaitUntilAsync(async ct =>
        {
            await using var db = service.Services.GetRequiredService<Database>().Open();
            record = await db.Answers.AsNoTracking().SingleOrDefaultAsync(a => a.ConversationId == conversationId && a.Answered, ct);
            return record?.Vote is not null;
        }, TimeSpan.FromSeconds(10), "the vote");
        Assert.Equal((-1, "directline", "articles/ketamine-for-ptsd-management.md"), (record!.Vote, record.Channel, record.SourcePath));
    }

    [Fact]
    public async Task ReviewPage_SignInGroupAxeMarkHandled_Audited()
    {
        // Arrange
        var email = await DashboardSeed.UserAsync(service.Services, StaffRoles.Staff);
        var mark = "zq" + Guid.NewGuid().ToString("n")[..6];

        // Act
        await Browser.RunAsync("a11y.test.mjs", "axe: the unanswered-question review page in light, dark and phone layouts, and marking a group handled",
            service, ("WC_STAFF_EMAIL", email), ("WC_STAFF_PASSWORD", DashboardSeed.Password), ("WC_MARK", mark));
        Screenshots.Keep("dashboard-review-phone.png");

        // Assert
        await using var db = service.Services.GetRequiredService<Database>().Open();
        var actions = await db.AuditEvents.AsNoTracking().Where(a => a.ActorName == email).Select(a => a.Action).ToListAsync();
        Assert.Contains(AuditActions.ReviewView, actions);
        Assert.Contains(AuditActions.ReviewHandled, actions);
        Assert.Equal(2, await db.Answers.CountAsync(a => a.Question.Contains(mark) && a.HandledBy == email));
    }
}
