using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;

namespace BotService.Bot;

/// <summary>What goes into the Teams app package besides the bot's app id (section <c>Teams:App</c>).</summary>
public sealed class TeamsAppOptions
{
    /// <summary>The app's version; raise it for every change an admin uploads (semver).</summary>
    public string Version { get; set; } = "1.0.0";

    /// <summary>The bot's name in Teams (at most 30 characters).</summary>
    public string ShortName { get; set; } = "Clinic Assistant";

    public string FullName { get; set; } = "Clinic Assistant for staff";

    /// <summary>The clinic (the "developer" shown in Teams; at most 32 characters).</summary>
    public string DeveloperName { get; set; } = "The Clinic";

    /// <summary>The clinic's site, privacy policy and terms (Teams requires all three). Default: pages under the public address.</summary>
    public string? WebsiteUrl { get; set; }

    public string? PrivacyUrl { get; set; }

    public string? TermsOfUseUrl { get; set; }

    /// <summary>The icon's background colour.</summary>
    public string AccentColor { get; set; } = "#2E6B5E";
}

/// <summary>
/// Writes the Teams app package an admin uploads: <c>manifest.json</c> for manifest schema 1.29 (the current one in
/// OfficeDev/microsoft-teams-app-schema) with the bot in personal, team and group-chat scope, and the two icons (a
/// 192×192 colour icon and a 32×32 white outline on transparency), zipped at the root as Teams expects.
/// </summary>
public static class TeamsAppPackage
{
    public const string ManifestVersion = "1.29";

    /// <summary>Builds the package; the problems, if any, name the configuration key to set.</summary>
    public static IReadOnlyList<string> Write(string appId, TeamsOptions teams, TeamsAppOptions app, Stream output)
    {
        var problems = new List<string>();
        if (!Guid.TryParse(appId, out _))
        {
            problems.Add("MicrosoftAppId must be the bot's app id (a GUID).");
        }

        if (!Uri.TryCreate(teams.PublicBaseUrl, UriKind.Absolute, out var publicBase) || publicBase.Scheme != Uri.UriSchemeHttps)
        {
            problems.Add("Teams:PublicBaseUrl must be the service's public https address (for the valid domain and the default links).");
        }

        if (app.ShortName.Length is 0 or > 30 || app.FullName.Length > 100 || app.DeveloperName.Length is 0 or > 32)
        {
            problems.Add("Teams:App:ShortName (1–30 characters), FullName (≤100) and DeveloperName (1–32) are out of range.");
        }

        if (!System.Text.RegularExpressions.Regex.IsMatch(app.AccentColor, "^#[0-9a-fA-F]{6}$"))
        {
            problems.Add("Teams:App:AccentColor must be a colour like #2E6B5E.");
        }

        if (problems.Count > 0)
        {
            return problems;
        }

        var site = publicBase!.GetLeftPart(UriPartial.Authority);
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        using (var manifest = zip.CreateEntry("manifest.json").Open())
        using (var w = new Utf8JsonWriter(manifest, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("$schema", $"https://developer.microsoft.com/json-schemas/teams/v{ManifestVersion}/MicrosoftTeams.schema.json");
            w.WriteString("manifestVersion", ManifestVersion);
            w.WriteString("version", app.Version);
            w.WriteString("id", appId);
            w.WriteStartObject("developer");
            w.WriteString("name", app.DeveloperName);
            w.WriteString("websiteUrl", app.WebsiteUrl ?? site + "/");
            w.WriteString("privacyUrl", app.PrivacyUrl ?? site + "/privacy");
            w.WriteString("termsOfUseUrl", app.TermsOfUseUrl ?? site + "/terms");
            w.WriteEndObject();
            w.WriteStartObject("name");
            w.WriteString("short", app.ShortName);
            w.WriteString("full", app.FullName);
            w.WriteEndObject();
            w.WriteStartObject("description");
            w.WriteString("short", "Answers from the clinic's articles, and escalation alerts.");
            w.WriteString("full", "Ask about the clinic's articles and staff guides, and get an alert in the staff channel for " +
                "every escalated visitor conversation, with a link to the dashboard. Alerts carry no message text.");
            w.WriteEndObject();
            w.WriteStartObject("icons");
            w.WriteString("color", "color.png");
            w.WriteString("outline", "outline.png");
            w.WriteEndObject();
            w.WriteString("accentColor", app.AccentColor);
            w.WriteStartArray("bots");
            w.WriteStartObject();
            w.WriteString("botId", appId);
            w.WriteStartArray("scopes");
            w.WriteStringValue("personal");
            w.WriteStringValue("team");
            w.WriteStringValue("groupChat");
            w.WriteEndArray();
            w.WriteBoolean("supportsFiles", false);
            w.WriteBoolean("isNotificationOnly", false);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("permissions");
            w.WriteStringValue("identity");
            w.WriteStringValue("messageTeamMembers");
            w.WriteEndArray();
            w.WriteStartArray("validDomains");
            w.WriteStringValue(publicBase.Host);
            w.WriteEndArray();
            w.WriteEndObject();
        }

        var accent = Convert.FromHexString(app.AccentColor[1..]);
        using (var color = zip.CreateEntry("color.png").Open())
        {
            // The accent colour with a white cross: the clinic's mark, until the clinic supplies its own.
            Png(color, 192, (x, y) => Math.Abs(x - 96) < 18 && Math.Abs(y - 96) < 60 || Math.Abs(y - 96) < 18 && Math.Abs(x - 96) < 60
                ? (byte)255 : (byte)0, accent);
        }

        using (var outline = zip.CreateEntry("outline.png").Open())
        {
            // White on transparency, as Teams requires of the outline icon.
            Png(outline, 32, (x, y) => Math.Abs(x - 16) < 3 && Math.Abs(y - 16) < 10 || Math.Abs(y - 16) < 3 && Math.Abs(x - 16) < 10
                ? (byte)255 : (byte)0, null);
        }

        return [];
    }

    /// <summary>A square RGBA PNG: white where <paramref name="mark"/> is 255, else the background (transparent if null).</summary>
    private static void Png(Stream output, int size, Func<int, int, byte> mark, byte[]? background)
    {
        var raw = new byte[size * (1 + size * 4)];
        for (var y = 0; y < size; y++)
        {
            var row = y * (1 + size * 4);
            raw[row] = 0; // filter: none
            for (var x = 0; x < size; x++)
            {
                var p = row + 1 + x * 4;
                var white = mark(x, y) == 255;
                raw[p] = white ? (byte)255 : background?[0] ?? 0;
                raw[p + 1] = white ? (byte)255 : background?[1] ?? 0;
                raw[p + 2] = white ? (byte)255 : background?[2] ?? 0;
                raw[p + 3] = white || background is not null ? (byte)255 : (byte)0;
            }
        }

        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(raw);
        }

        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, size);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), size);
        header[8] = 8; // bit depth
        header[9] = 6; // RGBA
        Chunk(output, "IHDR", header);
        Chunk(output, "IDAT", compressed.ToArray());
        Chunk(output, "IEND", []);
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        output.Write(length);
        var typed = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type, typed);
        data.CopyTo(typed, 4);
        output.Write(typed);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, System.IO.Hashing.Crc32.HashToUInt32(typed));
        output.Write(crc);
    }
}

/// <summary>
/// <c>dotnet run --project src/BotService -- teams package [--out teams-app.zip] [--Key=value ...]</c>: reads the same
/// configuration as the service (appsettings.json, environment, <c>--Key=value</c>) and writes the package an admin
/// uploads to Teams. Exit code 0, or 2 with each problem on its own line naming the key to set.
/// </summary>
public static class TeamsPackageCommand
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var outPath = "teams-app.zip";
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--out" && i + 1 < args.Length)
            {
                outPath = args[++i];
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        var configuration = new ConfigurationBuilder()
            .SetBasePath(Hosting.ContentRoot.Find())
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine([.. rest])
            .Build();
        var teams = configuration.GetSection(TeamsOptions.SectionName).Get<TeamsOptions>() ?? new TeamsOptions();
        var app = configuration.GetSection("Teams:App").Get<TeamsAppOptions>() ?? new TeamsAppOptions();
        using var buffer = new MemoryStream();
        var problems = TeamsAppPackage.Write(configuration["MicrosoftAppId"] ?? string.Empty, teams, app, buffer);
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                error.WriteLine("teams package: " + problem);
            }

            return 2;
        }

        File.WriteAllBytes(outPath, buffer.ToArray());
        output.WriteLine($"Wrote {Path.GetFullPath(outPath)} (manifest {TeamsAppPackage.ManifestVersion}); upload it in Teams admin center or Teams → Apps → Manage your apps.");
        return 0;
    }
}
