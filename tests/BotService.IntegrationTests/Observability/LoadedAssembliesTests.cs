using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace BotService.IntegrationTests.Observability;

/// <summary>
/// What an instance does not use, it does not load (decision 0021): every assembly loaded stays resident for the
/// process's life (its mapped pages, its types, the code compiled from it). Read from the process's memory map, as
/// the kernel sees it, after the start-up and real traffic of a visitor-facing instance on SQLite.
/// </summary>
public sealed class LoadedAssembliesTests
{
    [SqliteFact] // on PostgreSQL Npgsql is the point
    public async Task VisitorTrafficOnSqlite_LoadsNeitherPostgreSqlNorTheKeyRingsXmlNorOpenIdConnectNorHttpClient()
    {
        // Arrange
        await using var service = await ServiceProcess.StartAsync([]);

        // Act: a question, a crisis message (escalated), a Direct Line conversation
        (await service.Http.PostAsJsonAsync("/api/ask", new { text = "how much is an infusion?" })).EnsureSuccessStatusCode();
        (await service.Http.PostAsJsonAsync("/api/ask", new { text = "I want to end my life tonight" })).EnsureSuccessStatusCode();
        var (token, conversationId) = await service.StartConversationAsync();
        using (var post = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{conversationId}/activities"))
        {
            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            post.Content = JsonContent.Create(new { type = "message", text = "is ketamine safe?", from = new { id = "visitor" } });
            (await service.Http.SendAsync(post)).EnsureSuccessStatusCode();
        }

        var mapped = (await File.ReadAllLinesAsync($"/proc/{service.ProcessId}/maps"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(p => p.Length >= 6)
            .Select(p => Path.GetFileName(p[5])).ToHashSet(StringComparer.Ordinal);

        // Assert: the check itself sees assemblies (these are loaded) ...
        Assert.Contains("Microsoft.EntityFrameworkCore.Sqlite.dll", mapped);
        Assert.Contains("Lucene.Net.dll", mapped);
        // ... and not these
        Assert.DoesNotContain("Npgsql.dll", mapped);
        Assert.DoesNotContain("Npgsql.EntityFrameworkCore.PostgreSQL.dll", mapped);
        Assert.DoesNotContain("System.Private.Xml.dll", mapped); // the Data Protection key ring, read on first dashboard use
        Assert.DoesNotContain("Microsoft.AspNetCore.Authentication.OpenIdConnect.dll", mapped);
        Assert.DoesNotContain("System.Net.Security.dll", mapped); // HttpClient's; the warm-up asks over a plain socket
    }
}
