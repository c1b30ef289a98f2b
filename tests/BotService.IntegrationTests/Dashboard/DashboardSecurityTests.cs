using System.Net;
using System.Text.RegularExpressions;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Dashboard;

/// <summary>
/// The security cases of issue 7, over real HTTP against the real host (docs/security.md lists them with results):
/// anonymous access, role limits, antiforgery, unguessable ids, other staff's claims, lockout, cookie and CSP.
/// </summary>
public sealed partial class DashboardSecurityTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    private static readonly string[] PagePaths = ["/dashboard", "/dashboard?handler=Rows", "/dashboard/audit", "/dashboard/review"];

    private static readonly string[] ApiPaths =
        ["/dashboard/api/events", "/dashboard/api/escalations", "/dashboard/api/audit.csv", "/dashboard/api/false-alarms.jsonl", "/dashboard/api/review.csv"];

    [Fact]
    public async Task Get_AnonymousOnEveryPage_RedirectsToSignIn()
    {
        // Arrange
        var id = await DashboardSeed.EscalationAsync(fixture, "sec-anon");
        using var anonymous = new StaffClient(fixture.Http.BaseAddress!);

        foreach (var path in PagePaths.Append($"/dashboard/escalations/{id}"))
        {
            // Act
            using var response = await anonymous.Http.GetAsync(path);

            // Assert
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.StartsWith("/account/login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Get_AnonymousOnEveryApi_Returns401ProblemDetails()
    {
        // Arrange
        using var anonymous = new StaffClient(fixture.Http.BaseAddress!);

        foreach (var path in ApiPaths)
        {
            // Act
            using var response = await anonymous.Http.GetAsync(path);

            // Assert
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Post_AnonymousActionWithValidToken_RedirectsAndChangesNothing()
    {
        // Arrange: a real antiforgery token from the sign-in page, so only the missing sign-in can refuse it.
        var id = await DashboardSeed.EscalationAsync(fixture, "sec-anon-post");
        using var anonymous = new StaffClient(fixture.Http.BaseAddress!);
        var token = await anonymous.TokenAsync("/account/login");

        foreach (var handler in new[] { "Claim", "Note", "Reply", "Resolve", "Reopen", "TakeOver" })
        {
            // Act
            using var response = await anonymous.Http.PostAsync($"/dashboard/escalations/{id}?handler={handler}",
                StaffClient.Form(("text", "anonymous words"), ("outcome", "false-alarm"), ("__RequestVerificationToken", token)));

            // Assert
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.StartsWith("/account/login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        }

        var after = await DashboardSeed.ReadAsync(fixture, id);
        Assert.Equal("open", after.Status);
        Assert.Empty(await DashboardSeed.AuditAsync(fixture, id));
    }

    [Fact]
    public async Task Get_StaffOnAdminPageAndExports_Refused()
    {
        // Arrange
        using var staff = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);

        // Act
        using var page = await staff.Http.GetAsync("/dashboard/audit");
        using var csv = await staff.Http.GetAsync("/dashboard/api/audit.csv");
        using var jsonl = await staff.Http.GetAsync("/dashboard/api/false-alarms.jsonl");
        using var denied = await staff.Http.GetAsync(page.Headers.Location);

        // Assert
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith("/account/denied", page.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, csv.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, jsonl.StatusCode);
    }

    [Fact]
    public async Task Get_AdminOnAdminPageAndExports_Allowed()
    {
        // Arrange: the other side of the role check, so the refusal above is about the role and not a broken page.
        using var admin = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Admin), DashboardSeed.Password);

        // Act
        using var page = await admin.Http.GetAsync("/dashboard/audit");
        using var csv = await admin.Http.GetAsync("/dashboard/api/audit.csv");

        // Assert
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.StartsWith("id,at,actor_id,actor_name,action,", await csv.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_WithoutOrWithForeignAntiforgeryToken_Refused()
    {
        // Arrange
        var id = await DashboardSeed.EscalationAsync(fixture, "sec-csrf");
        using var staff = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var other = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        var foreignToken = await other.TokenAsync();

        // Act
        using var missing = await staff.Http.PostAsync($"/dashboard/escalations/{id}?handler=Claim", StaffClient.Form(("x", "y")));
        using var foreign = await staff.Http.PostAsync($"/dashboard/escalations/{id}?handler=Claim",
            StaffClient.Form(("__RequestVerificationToken", foreignToken)));
        using var signOut = await staff.Http.PostAsync("/account/logout", StaffClient.Form(("x", "y")));

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, signOut.StatusCode);
        Assert.Equal("open", (await DashboardSeed.ReadAsync(fixture, id)).Status);
        using var stillIn = await staff.Http.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.OK, stillIn.StatusCode);
    }

    [Fact]
    public async Task Get_GuessedOrConversationIds_NotFound()
    {
        // Arrange: the channel's conversation id is known to the visitor; it must not open anything.
        var id = await DashboardSeed.EscalationAsync(fixture, "sec-ids", conversationId: "known-conversation-id");
        using var staff = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);

        // Act
        using var byConversation = await staff.Http.GetAsync("/dashboard/escalations/known-conversation-id");
        using var byGuess = await staff.Http.GetAsync($"/dashboard/escalations/{Guid.NewGuid()}");
        using var claimGuess = await staff.PostAsync($"/dashboard/escalations/{Guid.NewGuid()}?handler=Claim");
        using var real = await staff.Http.GetAsync($"/dashboard/escalations/{id}");

        // Assert
        Assert.Equal(HttpStatusCode.NotFound, byConversation.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, byGuess.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, claimGuess.StatusCode);
        Assert.Equal(HttpStatusCode.OK, real.StatusCode);
        Assert.DoesNotContain("known-conversation-id", await real.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_ActingOnAnotherStaffMembersClaim_Refused()
    {
        // Arrange: A owns E1; B has a valid session and token and changes only the id in the URL.
        var e1 = await DashboardSeed.EscalationAsync(fixture, "sec-owner");
        using var a = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var b = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var claimed = await a.PostAsync($"/dashboard/escalations/{e1}?handler=Claim");
        Assert.Equal(HttpStatusCode.Redirect, claimed.StatusCode);
        var owner = (await DashboardSeed.ReadAsync(fixture, e1)).ClaimedById;

        // Act
        using var reply = await b.PostAsync($"/dashboard/escalations/{e1}?handler=Reply", ("text", "words from someone who does not own it"));
        using var resolve = await b.PostAsync($"/dashboard/escalations/{e1}?handler=Resolve", ("outcome", "handled"));
        using var takeOver = await b.PostAsync($"/dashboard/escalations/{e1}?handler=TakeOver");
        using var claim = await b.PostAsync($"/dashboard/escalations/{e1}?handler=Claim");

        // Assert
        Assert.Equal(HttpStatusCode.Forbidden, reply.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, resolve.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, takeOver.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, claim.StatusCode);
        var after = await DashboardSeed.ReadAsync(fixture, e1);
        Assert.Equal(("claimed", owner), (after.Status, after.ClaimedById));
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        Assert.False(await db.Messages.AnyAsync(m => m.ConversationId == after.ConversationId && m.Role == "staff"));
    }

    [Fact]
    public async Task SignIn_RepeatedFailures_LocksTheAccount()
    {
        // Arrange
        var email = await DashboardSeed.UserAsync(fixture, StaffRoles.Staff);
        using var client = new StaffClient(fixture.Http.BaseAddress!);

        // Act: five wrong passwords (the configured limit), then the right one.
        var failures = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var wrong = await client.SignInAsync(email, "Wrong-password-" + i);
            failures.Add(wrong.StatusCode);
        }

        using var right = await client.SignInAsync(email, DashboardSeed.Password);

        // Assert
        Assert.All(failures.Take(4), s => Assert.Equal(HttpStatusCode.Unauthorized, s));
        Assert.Equal((HttpStatusCode)423, right.StatusCode);
        Assert.DoesNotContain(client.Cookies, c => c.Name == "clinic.staff");
        await using var scope = fixture.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        Assert.True(await users.IsLockedOutAsync((await users.FindByEmailAsync(email))!));
        using var dashboard = await client.Http.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.Redirect, dashboard.StatusCode);
    }

    [Fact]
    public async Task SignIn_Cookie_IsHttpOnlySameSiteStrictAndSessionOnly()
    {
        // Arrange
        var email = await DashboardSeed.UserAsync(fixture, StaffRoles.Staff);
        using var client = new StaffClient(fixture.Http.BaseAddress!);

        // Act
        using var response = await client.SignInAsync(email, DashboardSeed.Password);

        // Assert
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("clinic.staff=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("expires=", cookie, StringComparison.OrdinalIgnoreCase); // dies with the browser
    }

    [Fact]
    public async Task Get_DashboardPage_HasStrictCspAndNoExternalAssets()
    {
        // Arrange
        await DashboardSeed.EscalationAsync(fixture, "sec-csp");
        using var staff = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);

        // Act
        using var response = await staff.Http.GetAsync("/dashboard");
        var html = await response.Content.ReadAsStringAsync();

        // Assert
        var csp = string.Join(';', response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.True(response.Headers.CacheControl?.NoStore);
        Assert.Empty(ExternalAsset().Matches(html));
        var nonce = Regex.Match(csp, "'nonce-([^']+)'").Groups[1].Value;
        Assert.Contains($"<script nonce=\"{nonce}\">", html, StringComparison.Ordinal);
    }

    [GeneratedRegex("(src|href)=\"(https?:)?//", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalAsset();
}
