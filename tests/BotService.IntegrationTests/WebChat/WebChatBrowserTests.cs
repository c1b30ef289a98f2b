using BotService.IntegrationTests.Dashboard;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Staff;

namespace BotService.IntegrationTests.WebChat;

/// <summary>
/// The chat page (<c>GET /</c>) in Debian's chromium driven by playwright-core: each test here runs one test of
/// <c>tests/node/webchat.test.mjs</c> against the real service (loopback HTTP and WebSocket, real SQLite), so each
/// counts on its own. Screenshots are written under this test's output (<c>screenshots/</c>); with
/// <c>BOTSERVICE_UPDATE_SCREENSHOTS=1</c> they are also copied to docs/screenshots/ (a normal run leaves the repository alone).
/// </summary>
public sealed class WebChatBrowserTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");

    [Fact]
    public Task Page_WelcomeOnceNoticeKeyboardAndCsp() => RunAsync("welcome once, with suggestions, the notice and strict headers");

    [Fact]
    public Task Page_Question_CitedAnswer() => RunAsync("a question gets the cited answer");

    [Fact]
    public Task Page_Crisis_CardWithinOneSecond() => RunAsync("a crisis message shows the crisis card within a second");

    [Fact]
    public Task Page_Reload_HistoryResumes_EndChatClears() => RunAsync("reload resumes with the history, End chat clears it");

    [Fact]
    public async Task Page_Screenshots_PhoneAndDesktop()
    {
        await RunAsync("screenshots at 390x844 and desktop");
        foreach (var name in new[] { "webchat-phone.png", "webchat-desktop.png" })
        {
            var file = Path.Combine(Screenshots, name);
            Assert.True(new FileInfo(file).Length > 10_000, name + " is missing or empty");
            if (Environment.GetEnvironmentVariable("BOTSERVICE_UPDATE_SCREENSHOTS") == "1")
            {
                File.Copy(file, Path.Combine(RepoPaths.Root, "docs", "screenshots", name), overwrite: true);
            }
        }
    }

    [Fact]
    public Task Page_TalkToStaff_Acknowledged() => RunAsync("talk to staff asks for staff");

    [Fact]
    public async Task Handoff_CrisisToNurseQueue_ClaimReplyVisitorSeesClinicStaff_Resolve()
    {
        var nurse = await DashboardSeed.UserAsync(service.Services, StaffRoles.Staff);
        await RunAsync("staff hand-off: crisis in Web Chat, nurse claims and replies, visitor sees Clinic staff, nurse resolves",
            ("WC_STAFF_EMAIL", nurse), ("WC_STAFF_PASSWORD", DashboardSeed.Password));
    }

    private Task RunAsync(string testName, params (string Name, string Value)[] env)
    {
        Assert.True(File.Exists(Browser.Chromium), $"{Browser.Chromium} is missing: bash tests/node/install.sh installs Debian's chromium");
        return NodeTest.RunAsync("webchat.test.mjs", testName,
            [("WC_BASE", service.Http.BaseAddress!.ToString().TrimEnd('/')), ("WC_OUT", Screenshots), .. env]);
    }
}

/// <summary>The browser the tests drive (shared/feasibility.md: Debian's chromium, no Playwright download).</summary>
internal static class Browser
{
    public const string Chromium = "/usr/bin/chromium";
}
