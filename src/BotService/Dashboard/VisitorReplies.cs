using BotService.Storage.Data;

namespace BotService.Dashboard;

/// <summary>A staff member's reply to the visitor of an escalated conversation.</summary>
public sealed record StaffReply(string ConversationId, string Channel, string Text, string StaffName, DateTimeOffset At);

/// <summary>
/// Delivers a staff reply to the visitor and records it in the transcript as role <c>staff</c>. The dashboard only
/// talks to this interface: the Direct Line channel replaces the implementation with one that also puts the reply
/// into the visitor's conversation (shown as "Clinic staff").
/// </summary>
public interface IVisitorReplySender
{
    /// <returns>The activity id the reply was stored under.</returns>
    Task<string> SendAsync(StaffReply reply, CancellationToken cancellationToken);
}

/// <summary>For now: appends the reply to the transcript only (no channel delivers it to the visitor yet).</summary>
internal sealed class TranscriptReplySender(Database database) : IVisitorReplySender
{
    public async Task<string> SendAsync(StaffReply reply, CancellationToken cancellationToken)
    {
        var activityId = "staff-" + Guid.NewGuid().ToString("n");
        database.EnsureReady();
        await using var db = database.Open();
        db.Messages.Add(new MessageRecord
        {
            ConversationId = reply.ConversationId, ActivityId = activityId, Role = "staff", Text = reply.Text, CreatedAt = reply.At,
        });
        if (await db.Conversations.FindAsync([reply.ConversationId], cancellationToken) is { } conversation && conversation.LastActivityAt < reply.At)
        {
            conversation.LastActivityAt = reply.At;
        }

        await db.SaveChangesAsync(cancellationToken);
        return activityId;
    }
}
