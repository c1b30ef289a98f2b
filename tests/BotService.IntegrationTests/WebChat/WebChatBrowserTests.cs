using BotService.IntegrationTests.Dashboard;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Staff;

namespace BotService.IntegrationTests.WebChat;

/// <summary>
/// The chat page (<c>GET /</c>) in Debian's chromium driven by playwright-core: each test here runs one test of
/// <c>tests/node/webchat.test.mjs</c> against the real service (loopback HTTP and WebSocket, real SQLite), so each
/// counts on its own. Screenshots: <see cref="Screenshots"/>.
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class WebChatBrowserTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    [Fact]
    public Task Page_WelcomeOnceNoticeKeyboardAndCsp() => RunAsync("welcome once, with suggestions, the notice and strict headers");

    [Fact]
    public Task Page_Question_CitedAnswer() => RunAsync("a question gets the cited answer");

    [Fact]
    public Task Page_VagueQuestion_DidYouMean_TapAsksTheChoice() => RunAsync("a vague question gets \"did you mean\", and a tap asks the chosen one");

    [Fact]
    public Task Page_Crisis_CardWithinOneSecond() => RunAsync("a crisis message shows the crisis card within a second");

    [Fact]
    public Task Page_Reload_HistoryResumes_EndChatClears() => RunAsync("reload resumes with the history, End chat clears it");

    [Fact]
    public async Task Page_Screenshots_PhoneAndDesktop()
    {
        await RunAsync("screenshots at 390x844 and desktop");
        Screenshots.Keep("webchat-phone.png", "webchat-desktop.png");
    }

    [Fact]
    public Task Page_TalkToStaff_Acknowledged() => RunAsync("talk to staff asks for staff");

    [Fact]
    public async Task Handoff_CrisisToNurseQueue_ClaimReplyVisitorSeesClinicStaff_Resolve()
    {
        var nurse = await DashboardSeed.UserAsync(service.Services, StaffRoles.Staff);
        await RunAsync("staff hand-off: crisis in Web Chat, nurse claims and replies, visitor sees Clinic staff, nurse resolves",
            ("WC_STAFF_EMAIL", nurse), ("WC_STAFF_PASSWORD", DashboardSeed.Password));
        Screenshots.Keep("webchat-staff-reply-phone.png");
    }

    private Task RunAsync(string testName, params (string Name, string Value)[] env) =>
        Browser.RunAsync("webchat.test.mjs", testName, service, env);
}

/// <summary>The browser the tests drive (shared/feasibility.md: Debian's chromium, no Playwright download).</summary>
internal static class Browser
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>Runs one browser test of tests/node against the service; its screenshots go to <see cref="Screenshots.Folder"/>.</summary>
    public static Task RunAsync(string file, string testName, DirectLineFixture service, params (string Name, string Value)[] env)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: bash tests/node/install.sh installs Debian's chromium");
        return NodeTest.RunAsync(file, testName,
            [("WC_BASE", service.Http.BaseAddress!.ToString().TrimEnd('/')), ("WC_OUT", Screenshots.Folder), .. env]);
    }
}

/// <summary>
/// The browser tests' screenshots: written under the test output (<c>screenshots/</c>); with
/// <c>BOTSERVICE_UPDATE_SCREENSHOTS=1</c> also copied to docs/screenshots/ (a normal run leaves the repository alone).
/// </summary>
internal static class Screenshots
{
    public static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>Asserts the test wrote each screenshot, and copies it to docs/screenshots/ when asked to.</summary>
    public static void Keep(params string[] names)
    {
        foreach (var name in names)
        {
            var file = Path.Combine(Folder, name);
            Assert.True(File.Exists(file) && new FileInfo(file).Length > 10_000, name + " is missing or empty");
            if (Environment.GetEnvironmentVariable("BOTSERVICE_UPDATE_SCREENSHOTS") == "1")
            {
                File.Copy(file, Path.Combine(RepoPaths.Root, "docs", "screenshots", name), overwrite: true);
            }
        }
    }
}
