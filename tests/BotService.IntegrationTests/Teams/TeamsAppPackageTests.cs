using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.Json;
using BotService.Bot;

namespace BotService.IntegrationTests.Teams;

/// <summary>The Teams app package against the required fields of manifest schema 1.29 (OfficeDev/microsoft-teams-app-schema).</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class TeamsAppPackageTests
{
    private static readonly TeamsOptions Teams = new() { TenantId = "t", PublicBaseUrl = "https://bot.clinic.example/" };

    private static ZipArchive Package(string appId = "2f6a6c1e-0000-4000-8000-000000000b07", TeamsAppOptions? app = null)
    {
        var output = new MemoryStream();
        var problems = TeamsAppPackage.Write(appId, Teams, app ?? new TeamsAppOptions(), output);
        Assert.Empty(problems);
        output.Position = 0;
        return new ZipArchive(output, ZipArchiveMode.Read);
    }

    [Fact]
    public void Package_Manifest_HasEveryFieldTheSchemaRequires()
    {
        // Arrange
        using var zip = Package();
        using var manifest = JsonDocument.Parse(zip.GetEntry("manifest.json")!.Open());
        var m = manifest.RootElement;

        // Assert: schema 1.29's "required" lists, at every level the package fills
        foreach (var field in new[] { "manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor" })
        {
            Assert.True(m.TryGetProperty(field, out _), $"manifest.{field} is required");
        }

        Assert.Equal("1.29", m.GetProperty("manifestVersion").GetString());
        Assert.Matches("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", m.GetProperty("id").GetString());
        Assert.Matches("^#[0-9a-fA-F]{6}$", m.GetProperty("accentColor").GetString());
        var developer = m.GetProperty("developer");
        Assert.InRange(developer.GetProperty("name").GetString()!.Length, 1, 32);
        foreach (var field in new[] { "websiteUrl", "privacyUrl", "termsOfUseUrl" })
        {
            Assert.StartsWith("https://", developer.GetProperty(field).GetString(), StringComparison.Ordinal);
        }

        Assert.InRange(m.GetProperty("name").GetProperty("short").GetString()!.Length, 1, 30);
        Assert.InRange(m.GetProperty("description").GetProperty("short").GetString()!.Length, 1, 80);
        Assert.InRange(m.GetProperty("description").GetProperty("full").GetString()!.Length, 1, 4000);
        var bot = Assert.Single(m.GetProperty("bots").EnumerateArray());
        Assert.Equal(m.GetProperty("id").GetString(), bot.GetProperty("botId").GetString());
        Assert.Equal(["personal", "team", "groupChat"], bot.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("bot.clinic.example", Assert.Single(m.GetProperty("validDomains").EnumerateArray()).GetString());
    }

    [Theory]
    [InlineData("color.png", 192, false)]
    [InlineData("outline.png", 32, true)]
    public void Package_Icons_ArePngsOfTheSizeTeamsAsksFor(string name, int size, bool transparent)
    {
        using var zip = Package();
        using var manifest = JsonDocument.Parse(zip.GetEntry("manifest.json")!.Open());
        Assert.Contains(name, manifest.RootElement.GetProperty("icons").EnumerateObject().Select(p => p.Value.GetString()));

        using var png = new MemoryStream();
        zip.GetEntry(name)!.Open().CopyTo(png);
        var bytes = png.ToArray();
        Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(size, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(size, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        var pixels = Pixels(bytes, size);
        Assert.Equal(transparent, pixels.Any(p => p.A == 0));
        if (transparent)
        {
            Assert.All(pixels.Where(p => p.A != 0), p => Assert.Equal((255, 255, 255), (p.R, p.G, p.B))); // white outline only
        }
    }

    [Theory]
    [InlineData("not-a-guid", "MicrosoftAppId")]
    [InlineData(null, "Teams:PublicBaseUrl")]
    public void Package_BadConfiguration_NamesTheKeyToSet(string? appId, string key)
    {
        var teams = appId is null ? new TeamsOptions { PublicBaseUrl = "http://insecure.example" } : Teams;

        var problems = TeamsAppPackage.Write(appId ?? Guid.NewGuid().ToString(), teams, new TeamsAppOptions(), new MemoryStream());

        Assert.Contains(problems, p => p.Contains(key, StringComparison.Ordinal));
    }

    [Fact]
    public void Command_WithConfiguration_WritesTheZip_AndWithoutItNamesWhatIsMissing()
    {
        var path = Path.Combine(Path.GetTempPath(), $"teams-{Guid.NewGuid():n}.zip");
        var output = new StringWriter();
        var error = new StringWriter();
        try
        {
            var ok = TeamsPackageCommand.Run(["--out", path, "--MicrosoftAppId=2f6a6c1e-0000-4000-8000-000000000b07",
                "--Teams:PublicBaseUrl=https://bot.clinic.example/", "--Teams:App:ShortName=Clinic Bot"], output, error);
            var missing = TeamsPackageCommand.Run(["--out", path + ".2", "--MicrosoftAppId="], TextWriter.Null, error);

            Assert.Equal(0, ok);
            using (var zip = ZipFile.OpenRead(path))
            {
                Assert.Equal(["color.png", "manifest.json", "outline.png"], zip.Entries.Select(e => e.FullName).Order());
            }

            Assert.Equal(2, missing);
            Assert.Contains("MicrosoftAppId", error.ToString(), StringComparison.Ordinal);
            Assert.False(File.Exists(path + ".2"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static List<(byte R, byte G, byte B, byte A)> Pixels(byte[] png, int size)
    {
        // The IDAT chunk follows IHDR (8 signature + 25 IHDR bytes).
        var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        Assert.Equal("IDAT", System.Text.Encoding.ASCII.GetString(png, 37, 4));
        using var z = new ZLibStream(new MemoryStream(png, 41, length), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        var data = raw.ToArray();
        var pixels = new List<(byte, byte, byte, byte)>();
        for (var y = 0; y < size; y++)
        {
            var row = y * (1 + size * 4) + 1;
            for (var x = 0; x < size; x++)
            {
                var p = row + x * 4;
                pixels.Add((data[p], data[p + 1], data[p + 2], data[p + 3]));
            }
        }

        return pixels;
    }
}
