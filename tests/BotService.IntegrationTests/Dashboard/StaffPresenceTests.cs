using System.Net.Http.Json;
using System.Text.Json;
using BotService.Dashboard;
using BotService.Storage.Staff;

namespace BotService.IntegrationTests.Dashboard;

/// <summary>
/// While no member of staff has the dashboard open, a visitor whose message was escalated is told so plainly, with the
/// resources again; while someone has it open, the crisis reply stands alone.
/// </summary>
public sealed class StaffPresenceTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    private async Task<JsonElement[]> CrisisRepliesAsync(string id)
    {
        var response = await fixture.Http.PostAsJsonAsync("/api/messages", new
        {
            type = "message", id, channelId = "emulator", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
            conversation = new { id = "presence-" + id }, from = new { id = "visitor" }, recipient = new { id = "bot" },
            text = "I want to kill myself tonight",
        });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("activities").EnumerateArray().ToArray();
    }

    [Fact]
    public async Task Crisis_NobodyOnTheDashboard_VisitorIsToldPlainlyAndGetsTheResourcesAgain()
    {
        // Arrange: a stream closed by the other test may take a moment to leave the server
        var events = (DashboardEvents)fixture.Services.GetService(typeof(DashboardEvents))!;
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (events.AnyoneOnDuty)
            {
                await Task.Delay(50, wait.Token);
            }
        }

        var replies = await CrisisRepliesAsync("p1");

        Assert.Equal(2, replies.Length);
        Assert.StartsWith("If you are in immediate danger, call 911", replies[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        var notice = replies[1].GetProperty("text").GetString()!;
        Assert.StartsWith("No one from the clinic is online right now.", notice, StringComparison.Ordinal);
        Assert.Contains("911", notice, StringComparison.Ordinal);
        Assert.Contains("988", notice, StringComparison.Ordinal);
        Assert.Contains("741741", notice, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crisis_NurseHasTheDashboardOpen_CrisisReplyStandsAlone()
    {
        // Arrange: a signed-in nurse's live stream
        using var nurse = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var stream = await nurse.Http.GetAsync("/dashboard/api/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(timeout.Token));
        while (await reader.ReadLineAsync(timeout.Token) is { } line && line != "event: ready")
        {
            // until the stream says it is subscribed
        }

        // Act
        var replies = await CrisisRepliesAsync("p2");

        // Assert
        var only = Assert.Single(replies);
        Assert.StartsWith("If you are in immediate danger, call 911", only.GetProperty("text").GetString(), StringComparison.Ordinal);
    }
}
