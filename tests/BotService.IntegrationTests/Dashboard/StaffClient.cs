using System.Net;
using System.Text.RegularExpressions;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Dashboard;

/// <summary>
/// A browser stand-in for the dashboard: its own cookie jar, no automatic redirects (tests look at each 302), and
/// the antiforgery token read from the page's hidden field, as a browser would send it.
/// </summary>
internal sealed partial class StaffClient : IDisposable
{
    private readonly HttpClientHandler _handler;

    public StaffClient(Uri baseAddress, CookieContainer? cookies = null)
    {
        _handler = new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false, UseCookies = true };
        Http = new HttpClient(_handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>The same browser (this client's cookies) talking to another address: another instance of the service.</summary>
    public StaffClient For(Uri baseAddress) => new(baseAddress, _handler.CookieContainer);

    public HttpClient Http { get; }

    public CookieCollection Cookies => _handler.CookieContainer.GetCookies(Http.BaseAddress!);

    public static async Task<StaffClient> SignedInAsync(ServiceFixture fixture, string email, string password)
    {
        var client = new StaffClient(fixture.Http.BaseAddress!);
        var response = await client.SignInAsync(email, password);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return client;
    }

    public async Task<HttpResponseMessage> SignInAsync(string email, string password)
    {
        var token = await TokenAsync("/account/login");
        return await Http.PostAsync("/account/login", Form(("Email", email), ("Password", password), ("__RequestVerificationToken", token)));
    }

    /// <summary>The antiforgery token of a page's forms (every signed-in page has one in its sign-out form).</summary>
    public async Task<string> TokenAsync(string page = "/dashboard")
    {
        var html = await Http.GetStringAsync(page);
        return TokenField().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new InvalidOperationException("no antiforgery token on " + page);
    }

    /// <summary>Posts a page handler's form with a valid antiforgery token.</summary>
    public async Task<HttpResponseMessage> PostAsync(string path, params (string Name, string Value)[] fields)
    {
        var token = await TokenAsync();
        return await Http.PostAsync(path, Form([.. fields, ("__RequestVerificationToken", token)]));
    }

    public static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)));

    public void Dispose()
    {
        Http.Dispose();
        _handler.Dispose();
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}

/// <summary>Test data put straight into the service's database: staff accounts and escalations.</summary>
internal static class DashboardSeed
{
    public const string Password = "Night-shift-passphrase-7";

    public static Task<string> UserAsync(ServiceFixture fixture, string role) => UserAsync(fixture.Services, role);

    public static async Task<string> UserAsync(IServiceProvider services, string role)
    {
        await using var scope = services.CreateAsyncScope();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var name in StaffRoles.All)
        {
            if (!await roles.RoleExistsAsync(name))
            {
                await roles.CreateAsync(new IdentityRole(name));
            }
        }

        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var email = $"{role}-{Guid.NewGuid():n}@clinic.test";
        var user = new IdentityUser { UserName = email, Email = email, EmailConfirmed = true, LockoutEnabled = true };
        var created = await users.CreateAsync(user, Password);
        Assert.True(created.Succeeded, string.Join("; ", created.Errors.Select(e => e.Description)));
        await users.AddToRolesAsync(user, role == StaffRoles.Admin ? [StaffRoles.Staff, StaffRoles.Admin] : [StaffRoles.Staff]);
        return email;
    }

    /// <summary>An escalation with its conversation and triggering message; returns the escalation's id.</summary>
    public static async Task<Guid> EscalationAsync(ServiceFixture fixture, string channel, string text = "I want to kill myself tonight",
        string level = "emergency", DateTimeOffset? at = null, string status = "open", string? conversationId = null)
    {
        var database = fixture.Services.GetRequiredService<Database>();
        database.EnsureReady();
        await using var db = database.Open();
        var when = at ?? DateTimeOffset.UtcNow;
        var conversation = conversationId ?? "conv-" + Guid.NewGuid().ToString("n");
        if (await db.Conversations.FindAsync(conversation) is null)
        {
            db.Conversations.Add(new ConversationRecord { Id = conversation, Channel = channel, CreatedAt = when, LastActivityAt = when });
        }

        var activity = "act-" + Guid.NewGuid().ToString("n");
        db.Messages.Add(new MessageRecord { ConversationId = conversation, ActivityId = activity, Role = "visitor", Text = text, CreatedAt = when });
        var start = text.IndexOf("kill myself", StringComparison.Ordinal);
        var id = Guid.NewGuid();
        db.Escalations.Add(new EscalationRecord
        {
            Id = id, Key = "seed-" + id.ToString("n"), ConversationId = conversation, MessageActivityId = activity, Channel = channel,
            Level = level, CreatedAt = when, Status = status,
            ReasonsJson = start < 0 ? "[]" : $"[{{\"rule\":\"suicidal-intent\",\"level\":\"{level}\",\"start\":{start},\"length\":11}}]",
        });
        await db.SaveChangesAsync();
        return id;
    }

    public static async Task<EscalationRecord> ReadAsync(ServiceFixture fixture, Guid id)
    {
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        return await db.Escalations.AsNoTracking().SingleAsync(e => e.Id == id);
    }

    public static async Task<List<AuditEventRecord>> AuditAsync(ServiceFixture fixture, Guid escalationId)
    {
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        return await db.AuditEvents.Where(a => a.EscalationId == escalationId).OrderBy(a => a.Id).ToListAsync();
    }
}
