namespace BotService.Storage.Data;

/// <summary>
/// This process among the service instances sharing one database: a random id, new at every start, that tags the
/// notifications it sends (PostgreSQL <c>NOTIFY</c>) so it can tell its own from the others' (decision 0017).
/// </summary>
public static class ServiceInstance
{
    public static string Id { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    /// <summary>A notification's payload: this instance's id, a space, then the message (ids only, never text).</summary>
    public static string Payload(string message) => Id + " " + message;

    /// <summary>Splits a payload into the sending instance and the message; false if it has no sender.</summary>
    public static bool TryParse(string payload, out string origin, out string message)
    {
        var space = payload.IndexOf(' ', StringComparison.Ordinal);
        origin = space > 0 ? payload[..space] : string.Empty;
        message = space > 0 ? payload[(space + 1)..] : string.Empty;
        return space > 0;
    }

    public static bool IsSelf(string origin) => string.Equals(origin, Id, StringComparison.Ordinal);
}
