using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Dashboard;
using BotService.IntegrationTests.Dashboard;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Feedback;

/// <summary>
/// The unanswered-question review page over real HTTP: declined questions and down-voted answers (made through the
/// real endpoints) grouped with counts, examples and the cited file; each view and export audited; marking a group
/// handled is an antiforgery-checked POST; and the end-to-end loop staff are meant to run: a declined question, an
/// alternate phrasing added to knowledge/synonyms.txt while the service runs, the question answered, the group handled.
/// </summary>
public sealed class ReviewPageTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task Staff_SeesDeclinedGroupedAndDownVotedWithItsFile_ViewAndExportAudited_MarkHandledRemovesIt()
    {
        // Arrange: three phrasings of one question the articles don't cover, one unrelated decline, and a down-voted answer.
        var marker = "zq" + Guid.NewGuid().ToString("n")[..6];
        foreach (var q in new[] { $"can I bring my dog {marker} to the session", $"may I bring my dog {marker} along to a session", $"can my dog {marker} come to my session" })
        {
            Assert.False((await fixture.AskAsync(q)).GetProperty("answered").GetBoolean());
        }

        Assert.False((await fixture.AskAsync($"do you take bitcoin {marker}")).GetProperty("answered").GetBoolean());
        var conversation = "review-" + Guid.NewGuid().ToString("n");
        var answer = await MessageAsync(conversation, new { type = "message", text = "how much is an infusion?" }); // (an unknown word would make it a decline)
        var dislike = DirectLineFeedbackTests.PotentialActions(answer)["DislikeAction"];
        await MessageAsync(conversation, DirectLineFeedbackTests.FeedbackEvent(dislike), expectReply: false);
        var email = await DashboardSeed.UserAsync(fixture, StaffRoles.Staff);
        using var staff = await StaffClient.SignedInAsync(fixture, email, DashboardSeed.Password);
        await WaitRecordedAsync(marker, 4);

        // Act
        var html = WebUtility.HtmlDecode(await staff.Http.GetStringAsync("/dashboard/review?days=7"));
        var csv = await staff.Http.GetAsync("/dashboard/api/review.csv?days=7");
        var csvText = await csv.Content.ReadAsStringAsync();
        var dogIds = DogGroupIds(html, marker);
        var withoutToken = await staff.Http.PostAsync("/dashboard/review?handler=Handled&days=7", StaffClient.Form(("Ids", dogIds)));
        var handled = await staff.PostAsync("/dashboard/review?handler=Handled&days=7", ("Ids", dogIds));
        var after = WebUtility.HtmlDecode(await staff.Http.GetStringAsync("/dashboard/review?days=7"));

        // Assert: one group of three for the dog questions (newest example first), the bitcoin one apart.
        var dog = Section(html, $"can my dog {marker} come to my session");
        Assert.Contains("3 times", dog, StringComparison.Ordinal);
        Assert.Contains($"may I bring my dog {marker} along to a session", dog, StringComparison.Ordinal);
        Assert.DoesNotContain("bitcoin", dog, StringComparison.Ordinal);
        Assert.Contains($"do you take bitcoin {marker}", html, StringComparison.Ordinal);
        var down = Section(html, "how much is an infusion?");
        Assert.Contains("knowledge/articles/ketamine-for-ptsd-management.md", down, StringComparison.Ordinal);
        Assert.Contains("New Patient Special", down, StringComparison.Ordinal);
        Assert.Contains("knowledge/synonyms.txt", html, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Contains("declined,3,", csvText, StringComparison.Ordinal);
        Assert.Contains($"can my dog {marker} come to my session", csvText, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, withoutToken.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, handled.StatusCode);
        Assert.DoesNotContain($"bring my dog {marker}", after, StringComparison.Ordinal);
        Assert.Contains($"do you take bitcoin {marker}", after, StringComparison.Ordinal);
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        var audit = await db.AuditEvents.AsNoTracking().Where(a => a.ActorName == email).Select(a => a.Action).ToListAsync();
        Assert.Equal(2, audit.Count(a => a == AuditActions.ReviewView)); // the two views of the page (the export is its own action)
        Assert.Contains(AuditActions.ReviewExport, audit);
        Assert.Contains(AuditActions.ReviewHandled, audit);
        Assert.Equal(3, await db.Answers.CountAsync(a => a.Question.Contains(marker) && a.HandledBy == email));
    }

    [Fact]
    public async Task DeclinedQuestion_AlternatePhrasingAddedToSynonyms_AnsweredAfterHotReload()
    {
        // Arrange: visitors ask whether ketamine is "habit forming"; the articles say "addictive", and synonyms.txt has no line for it.
        const string question = "is ketamine habit forming";
        Assert.False((await fixture.AskAsync(question)).GetProperty("answered").GetBoolean());
        var email = await DashboardSeed.UserAsync(fixture, StaffRoles.Staff);
        using var staff = await StaffClient.SignedInAsync(fixture, email, DashboardSeed.Password);
        await WaitRecordedAsync(question, 1);
        Assert.Contains(question, WebUtility.HtmlDecode(await staff.Http.GetStringAsync("/dashboard/review")), StringComparison.Ordinal);

        // Act: staff add the phrasing to synonyms.txt, as the page says, while the service runs.
        await File.AppendAllTextAsync(Path.Combine(fixture.KnowledgePath, "synonyms.txt"), "\naddictive, addiction, habit forming\n");
        JsonElement reply;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
        {
            while (!(reply = await fixture.AskAsync(question)).GetProperty("answered").GetBoolean())
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        // Assert
        Assert.Contains("addict", reply.GetProperty("text").GetString()!, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Retention_OldQuestionsPurgedWithTheTranscript_RecentKept()
    {
        // Arrange
        var marker = "ret-" + Guid.NewGuid().ToString("n");
        await using (var db = fixture.Services.GetRequiredService<Database>().Open())
        {
            db.Answers.Add(Row(marker + "-old", DateTimeOffset.UtcNow.AddDays(-400)));
            db.Answers.Add(Row(marker + "-new", DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
        }

        // Act
        await fixture.Services.GetRequiredService<RetentionJob>().PurgeOnceAsync(CancellationToken.None);

        // Assert
        await using var check = fixture.Services.GetRequiredService<Database>().Open();
        Assert.Equal([marker + "-new"], await check.Answers.Where(a => a.ConversationId.StartsWith(marker)).Select(a => a.ConversationId).ToListAsync());
        var purge = await check.AuditEvents.OrderByDescending(a => a.Id).FirstAsync(a => a.Action == AuditActions.RetentionPurge);
        Assert.Contains("questions", purge.Detail, StringComparison.Ordinal);

        static AnswerRecord Row(string conversation, DateTimeOffset at) => new()
        {
            AnswerId = BotService.Feedback.AnswerLog.NewAnswerId(DateTimeOffset.UtcNow), ConversationId = conversation, Channel = "api", Question = "is parking free", CreatedAt = at,
        };
    }

    /// <summary>A turn on /api/messages; returns the one reply, or checks there is none.</summary>
    private async Task<JsonElement> MessageAsync(string conversationId, object activity, bool expectReply = true)
    {
        var replies = await fixture.ExpectRepliesAsync(conversationId, activity);
        Assert.Equal(expectReply ? 1 : 0, replies.Length);
        return expectReply ? replies[0] : default;
    }

    /// <summary>Waits until the answer log has written the questions (it writes after the reply).</summary>
    private async Task WaitRecordedAsync(string marker, int count)
    {
        await Auth.TeamsKit.WaitUntilAsync(async ct =>
        {
            await using var db = fixture.Services.GetRequiredService<Database>().Open();
            return await db.Answers.CountAsync(a => a.Question.Contains(marker), ct) >= count;
        }, TimeSpan.FromSeconds(10), "the questions to be recorded");
    }

    /// <summary>The review group (one list item) whose examples include <paramref name="example"/>.</summary>
    private static string Section(string html, string example)
    {
        var at = html.IndexOf(example, StringComparison.Ordinal);
        Assert.True(at >= 0, "not on the page: " + example);
        var start = html.LastIndexOf("<li class=\"review-group\">", at, StringComparison.Ordinal);
        var end = html.IndexOf("</form>", at, StringComparison.Ordinal);
        return html[start..end];
    }

    private static string DogGroupIds(string html, string marker)
    {
        var group = Section(html, $"can my dog {marker} come to my session");
        var m = System.Text.RegularExpressions.Regex.Match(group, "name=\"Ids\" value=\"([0-9,]+)\"");
        Assert.True(m.Success, "no ids on the group");
        return m.Groups[1].Value;
    }
}
