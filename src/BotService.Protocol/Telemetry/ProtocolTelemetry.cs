using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace BotService.Protocol.Telemetry;

/// <summary>
/// The protocol's spans (<see cref="SourceName"/>): the turn, each middleware, the bot, and each Connector send. Spans
/// carry ids, types and a hash of the conversation id, never an activity's text. Without a listener (no trace exporter
/// configured) no span is created and the cost is one check per step.
/// </summary>
public static class ProtocolTelemetry
{
    public const string SourceName = "BotService.Protocol";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// A short, stable stand-in for a conversation id in logs and traces: the first 8 bytes of its SHA-256, as hex. It
    /// ties one conversation's log lines and spans together without writing the id (which, on Direct Line, opens the
    /// conversation together with a token) or anything the person wrote.
    /// </summary>
    public static string ConversationHash(string? conversationId)
    {
        if (string.IsNullOrEmpty(conversationId))
        {
            return "none";
        }

        // Ids are short (Direct Line's are 30-odd characters): encoded on the stack, not into a new array each time.
        var length = Encoding.UTF8.GetMaxByteCount(conversationId.Length);
        var bytes = length <= 512 ? stackalloc byte[length] : new byte[length];
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(bytes[..Encoding.UTF8.GetBytes(conversationId, bytes)], hash);
        return Convert.ToHexStringLower(hash[..8]);
    }
}
