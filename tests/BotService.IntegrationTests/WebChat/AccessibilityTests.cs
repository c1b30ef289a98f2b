using BotService.IntegrationTests.Dashboard;
using BotService.IntegrationTests.DirectLine;
using BotService.Storage.Staff;

namespace BotService.IntegrationTests.WebChat;

/// <summary>
/// Accessibility of the chat page and the staff dashboard in Debian's chromium (playwright-core): each test runs one
/// test of <c>tests/node/a11y.test.mjs</c> against the real service: axe-core's rules on every page in the states
/// visitors and staff see, and the keyboard (Tab order and visible focus). What is checked and the results:
/// docs/accessibility.md. The dashboard screenshots at phone width come from here (<see cref="Screenshots"/>).
/// </summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class AccessibilityTests(DirectLineFixture service) : IClassFixture<DirectLineFixture>
{
    [Fact]
    public Task Axe_ChatPage_WelcomeAnswerCrisisCardPhone() =>
        RunAsync("axe: the chat page after the welcome, after a cited answer and a crisis card, and on a phone");

    [Fact]
    public async Task Axe_Dashboard_SignInQueueConversation_StaffReplyInChat()
    {
        await RunAsync("axe: the dashboard sign-in, queue and conversation pages in light, dark and phone layouts, and a staff reply in the chat page", await StaffAsync());
        Screenshots.Keep("dashboard-queue-phone.png", "dashboard-conversation-phone.png");
    }

    [Fact]
    public Task Keyboard_ChatPage_TabOrderAndVisibleFocus() =>
        RunAsync("keyboard: Tab reaches the chat page controls in order, each with a visible focus");

    [Fact]
    public async Task Keyboard_Dashboard_TabOrderVisibleFocus_ClaimReplyResolve() =>
        await RunAsync("keyboard: the dashboard by Tab from sign-in to claim, reply and resolve, each with a visible focus", await StaffAsync());

    private async Task<(string, string)[]> StaffAsync() =>
        [("WC_STAFF_EMAIL", await DashboardSeed.UserAsync(service.Services, StaffRoles.Staff)), ("WC_STAFF_PASSWORD", DashboardSeed.Password)];

    private Task RunAsync(string testName, params (string Name, string Value)[] env) =>
        Browser.RunAsync("a11y.test.mjs", testName, service, env);
}
