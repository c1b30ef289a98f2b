using BotService.Dashboard;

namespace BotService.DirectLine;

/// <summary>
/// Staff replies to Direct Line visitors (the website's Web Chat) go into their conversation, stored as role
/// <c>staff</c> and pushed to their socket as "Clinic staff". Other channels, and a Direct Line conversation the
/// channel does not know, keep the transcript-only sender.
/// </summary>
internal sealed class DirectLineReplySender(DirectLineChannel channel, TranscriptReplySender transcriptOnly) : IVisitorReplySender
{
    public async Task<string> SendAsync(StaffReply reply, CancellationToken cancellationToken)
    {
        if (reply.Channel == DirectLineChannel.ChannelId
            && await channel.SendStaffReplyAsync(reply.ConversationId, reply.Text, cancellationToken) is { } activityId)
        {
            return activityId;
        }

        return await transcriptOnly.SendAsync(reply, cancellationToken);
    }
}
