using System.Net;
using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>
/// Client networks named in configuration (CIDR, separated by spaces or commas): the rate limits' exempt networks, the
/// networks that may read <c>/metrics</c>.
/// </summary>
internal static class ClientNetworks
{
    /// <summary>Parses the list; an entry that is not a network stops the start with <paramref name="prefix"/> and the entry.</summary>
    public static IPNetwork[] Parse(string list, string section, Type optionsType, string prefix = "") => list
        .Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(n => IPNetwork.TryParse(n, out var network)
            ? network
            : throw new OptionsValidationException(section, optionsType, [$"{prefix}'{n}' is not a network in CIDR notation (e.g. 10.0.0.0/8)"]))
        .ToArray();

    /// <summary>Whether the address (an IPv4-mapped IPv6 one as IPv4) is in one of the networks; false without an address.</summary>
    public static bool Contains(IPNetwork[] networks, IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
