using System.Security.Cryptography;
using System.Text;
using BotService.Dashboard;
using BotService.Protocol.Schema;

namespace BotService.DirectLine;

/// <summary>
/// Staff replies to Direct Line visitors (the website's Web Chat) go into their conversation, stored as role
/// <c>staff</c> and pushed to their socket from <see cref="StaffAccount"/>. Other channels, and a Direct Line
/// conversation the channel does not know, keep the transcript-only sender.
/// </summary>
internal sealed class DirectLineReplySender(DirectLineChannel channel, TranscriptReplySender transcriptOnly) : IVisitorReplySender
{
    /// <summary>The prefix of a staff member's <c>from.id</c> on Direct Line; the chat page labels such messages "Clinic staff".</summary>
    public const string StaffIdPrefix = "staff:";

    /// <summary>The name every staff member's replies carry (the staff member's own name is not shared).</summary>
    public const string StaffName = "Clinic staff";

    /// <summary>Keys the opaque part of staff ids; new at every start, so an id says nothing about who wrote.</summary>
    private static readonly byte[] StaffIdKey = RandomNumberGenerator.GetBytes(32);

    /// <summary>
    /// The sender of a staff member's replies: <c>staff:</c> and 16 hex digits that stay the same for one staff member
    /// while the service runs (so Web Chat groups one person's messages) but cannot be turned back into a name; role
    /// <c>bot</c>, since Web Chat knows only the visitor (<c>user</c>) and everyone else.
    /// </summary>
    public static ChannelAccount StaffAccount(string staffName) => new()
    {
        Id = StaffIdPrefix + Convert.ToHexStringLower(HMACSHA256.HashData(StaffIdKey, Encoding.UTF8.GetBytes(staffName)), 0, 8),
        Name = StaffName,
        Role = "bot",
    };

    public async Task<string> SendAsync(StaffReply reply, CancellationToken cancellationToken)
    {
        if (reply.Channel == DirectLineChannel.ChannelId
            && await channel.SendStaffReplyAsync(reply.ConversationId, StaffAccount(reply.StaffName), reply.Text, cancellationToken) is { } activityId)
        {
            return activityId;
        }

        return await transcriptOnly.SendAsync(reply, cancellationToken);
    }
}
