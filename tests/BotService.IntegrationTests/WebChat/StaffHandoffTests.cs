using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Bot;
using BotService.Dashboard;
using BotService.DirectLine;
using BotService.Hosting;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.WebChat;

/// <summary>
/// The hand-off over real Direct Line HTTP: "Talk to staff" creates an urgent escalation; a claimed conversation gets
/// no bot answers (but still the crisis reply); a staff reply reaches the visitor's conversation unprefixed, from a
/// "Clinic staff" sender whose id starts with <c>staff:</c> (what the chat page labels), and is stored as role staff; after
/// resolve the bot answers again.
/// </summary>
public sealed class StaffHandoffTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    [Fact]
    public async Task TalkToStaff_Event_UrgentEscalationAndAcknowledgement()
    {
        // Arrange
        var (token, conversationId, _) = await service.StartConversationAsync();

        // Act
        var eventId = await PostAsync(token, conversationId, new { type = "event", name = ClinicBot.HandoffRequestEvent, value = new { reason = "visitor" } });
        var escalation = await EscalationOfAsync(conversationId);
        var ack = await UntilAsync(token, conversationId, a => a.GetProperty("replyToId").GetString() == eventId);

        // Assert
        Assert.Equal(("urgent", "open", "directline"), (escalation.Level, escalation.Status, escalation.Channel));
        Assert.Contains(SafetyGate.VisitorRequestRule, escalation.ReasonsJson, StringComparison.Ordinal);
        Assert.Equal(Replies.StaffRequestedText, ack.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Claimed_BotQuiet_CrisisStillAnswered_StaffReplyDelivered_ResolvedBotAnswersAgain()
    {
        // Arrange
        var (token, conversationId, _) = await service.StartConversationAsync();
        await PostAsync(token, conversationId, new { type = "event", name = ClinicBot.HandoffRequestEvent });
        var escalation = await EscalationOfAsync(conversationId);
        var board = service.Services.GetRequiredService<EscalationBoard>();
        var nurse = new Actor("nurse-" + Guid.NewGuid().ToString("n"), "nurse@clinic.test", IsAdmin: false);
        var reply = "staff-" + Guid.NewGuid().ToString("n") + " I am a nurse at the clinic.";

        // Act
        Assert.Equal(ActionOutcome.Done, await board.ClaimAsync(escalation.Id, nurse, takeOver: false, CancellationToken.None));
        Assert.Equal(ActionOutcome.Done, await board.ReplyAsync(escalation.Id, nurse, reply, CancellationToken.None));
        var delivered = await UntilAsync(token, conversationId, a => a.GetProperty("text").GetString() == reply);
        var quietId = await PostAsync(token, conversationId, new { type = "message", text = "how much is an infusion" });
        var crisisId = await PostAsync(token, conversationId, new { type = "message", text = "I want to end my life" });
        var crisis = await UntilAsync(token, conversationId, a => a.GetProperty("replyToId").GetString() == crisisId);
        await Task.Delay(500); // an answer to the quiet question, had there been one, was sent before the crisis reply
        var whileClaimed = await ActivitiesAsync(token, conversationId);
        Assert.Equal(ActionOutcome.Done, await board.ResolveAsync(escalation.Id, nurse, "handled", CancellationToken.None));
        var againId = await PostAsync(token, conversationId, new { type = "message", text = "how much is an infusion" });
        var answer = await UntilAsync(token, conversationId, a => a.GetProperty("replyToId").GetString() == againId);

        // Assert
        var from = delivered.GetProperty("from");
        Assert.Matches("^staff:[0-9a-f]{16}$", from.GetProperty("id").GetString());
        Assert.Equal((DirectLineReplySender.StaffName, "bot"), (from.GetProperty("name").GetString(), from.GetProperty("role").GetString()));
        Assert.Equal(DirectLineReplySender.StaffAccount(nurse.Name).Id, from.GetProperty("id").GetString());
        Assert.NotEqual(DirectLineReplySender.StaffAccount("someone-else@clinic.test").Id, from.GetProperty("id").GetString());
        await using (var db = service.Services.GetRequiredService<Database>().Open())
        {
            var stored = await db.Messages.SingleAsync(m => m.ConversationId == conversationId && m.Role == "staff");
            Assert.Equal(reply, stored.Text);
        }

        Assert.DoesNotContain(whileClaimed, a => a.TryGetProperty("replyToId", out var r) && r.GetString() == quietId);
        Assert.StartsWith("If you are in immediate danger", crisis.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Contains("$275", answer.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    private Task<string> PostAsync(string token, string conversationId, object activity) => service.PostActivityAsync(token, conversationId, activity);

    private Task<List<JsonElement>> ActivitiesAsync(string token, string conversationId) => service.ActivitiesAsync(token, conversationId);

    private Task<JsonElement> UntilAsync(string token, string conversationId, Func<JsonElement, bool> match) =>
        service.UntilActivityAsync(token, conversationId, a => (a.TryGetProperty("replyToId", out _) || a.TryGetProperty("from", out _)) && match(a));

    private async Task<EscalationRecord> EscalationOfAsync(string conversationId)
    {
        var database = service.Services.GetRequiredService<Database>();
        var until = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < until)
        {
            await using (var db = database.Open())
            {
                if (await db.Escalations.AsNoTracking().FirstOrDefaultAsync(e => e.ConversationId == conversationId) is { } found)
                {
                    return found;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("no escalation within 10 s");
    }
}
