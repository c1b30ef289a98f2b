using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BotService.Dashboard;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace BotService.IntegrationTests.Dashboard;

/// <summary>What staff do with an escalation, end to end over HTTP: the queue, live events, claim rules, note, reply,
/// resolve, reopen, the audit trail, the false-alarm export, retention and the users command.</summary>
public sealed class DashboardWorkflowTests(ServiceFixture fixture) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task Events_NewEmergencyFromTheSafetyPath_ArrivesWithin2Seconds()
    {
        // Arrange: a signed-in nurse's live stream, subscribed ("ready") before the visitor writes.
        using var nurse = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var stream = await nurse.Http.GetAsync("/dashboard/api/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(timeout.Token));
        Assert.Equal("ready", (await NextEventAsync(reader, timeout.Token)).Event);
        const string text = "i am going to kill myself tonight, i have the pills here";
        var conversation = "sse-" + Guid.NewGuid().ToString("n");

        // Act
        var clock = Stopwatch.StartNew();
        using var ask = await fixture.Http.PostAsJsonAsync("/api/ask", new { text, conversationId = conversation });
        (string Event, string Data) received;
        do
        {
            received = await NextEventAsync(reader, timeout.Token);
        }
        while (received.Event != "escalation");
        clock.Stop();

        // Assert
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the escalation event took {clock.Elapsed.TotalMilliseconds:F0} ms");
        using var json = JsonDocument.Parse(received.Data);
        Assert.Equal("emergency", json.RootElement.GetProperty("level").GetString());
        Assert.DoesNotContain("kill", received.Data, StringComparison.OrdinalIgnoreCase); // rule ids only, never the words
        Assert.DoesNotContain(conversation, received.Data, StringComparison.Ordinal);
        var id = json.RootElement.GetProperty("escalationId").GetGuid();
        var page = await nurse.Http.GetStringAsync($"/dashboard/escalations/{id}");
        Assert.Contains("<mark>kill myself</mark>", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Overdue_UnclaimedEmergency_ReAlertedOnceToOpenDashboards()
    {
        // Arrange: a live stream first (so the hosted 30 s check cannot alert before anyone listens), then an
        // emergency unclaimed for 10 minutes (the default limit is 5) and a fresh one.
        using var nurse = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var stream = await nurse.Http.GetAsync("/dashboard/api/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(timeout.Token));
        Assert.Equal("ready", (await NextEventAsync(reader, timeout.Token)).Event);
        var id = await DashboardSeed.EscalationAsync(fixture, "overdue", at: DateTimeOffset.UtcNow.AddMinutes(-10));
        var fresh = await DashboardSeed.EscalationAsync(fixture, "overdue");
        var watch = fixture.Services.GetRequiredService<OverdueWatch>();

        // Act
        await watch.CheckOnceAsync(CancellationToken.None);
        var again = await watch.CheckOnceAsync(CancellationToken.None);
        var alerts = new List<Guid>();
        (string Event, string Data) received;
        do
        {
            received = await NextEventAsync(reader, timeout.Token);
            if (received.Event == "overdue")
            {
                alerts.Add(JsonDocument.Parse(received.Data).RootElement.GetProperty("escalationId").GetGuid());
            }
        }
        while (!alerts.Contains(id));

        // Assert
        Assert.Equal(0, again); // once per escalation, not every 30 s
        Assert.DoesNotContain(fresh, alerts);
        Assert.Contains(fixture.Logs.Lines, l => l.Contains("OVERDUE", StringComparison.Ordinal) && l.Contains(id.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Queue_EmergenciesFirstThenNewest_OverdueMarked()
    {
        // Arrange: one channel name per test keeps other tests' escalations out of this queue.
        var channel = "q-" + Guid.NewGuid().ToString("n")[..8];
        var now = DateTimeOffset.UtcNow;
        var urgentNew = await DashboardSeed.EscalationAsync(fixture, channel, level: "urgent", at: now.AddMinutes(-1));
        var emergencyOld = await DashboardSeed.EscalationAsync(fixture, channel, at: now.AddMinutes(-30));
        var emergencyNew = await DashboardSeed.EscalationAsync(fixture, channel, at: now.AddMinutes(-2));
        var urgentOld = await DashboardSeed.EscalationAsync(fixture, channel, level: "urgent", at: now.AddMinutes(-40));
        using var nurse = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);

        // Act
        var queue = await nurse.Http.GetFromJsonAsync<JsonElement>($"/dashboard/api/escalations?channel={channel}");
        var emergenciesOnly = await nurse.Http.GetFromJsonAsync<JsonElement>($"/dashboard/api/escalations?channel={channel}&level=emergency");
        var page = await nurse.Http.GetStringAsync($"/dashboard?channel={channel}");

        // Assert
        var rows = queue.EnumerateArray().Select(r => (Id: r.GetProperty("id").GetGuid(), Overdue: r.GetProperty("overdue").GetBoolean())).ToList();
        Assert.Equal([emergencyNew, emergencyOld, urgentNew, urgentOld], rows.Select(r => r.Id));
        Assert.Equal([false, true, false, false], rows.Select(r => r.Overdue)); // default 5 min; urgent is never overdue
        Assert.Equal(2, emergenciesOnly.GetArrayLength());
        Assert.Contains("Overdue: unclaimed", page, StringComparison.Ordinal);
        Assert.DoesNotContain("kill myself", page, StringComparison.Ordinal); // the queue shows why, not what was said
    }

    [Fact]
    public async Task Actions_ClaimNoteReplyResolveReopen_RecordedAndAudited()
    {
        // Arrange
        var id = await DashboardSeed.EscalationAsync(fixture, "flow");
        var nurseEmail = await DashboardSeed.UserAsync(fixture, StaffRoles.Staff);
        using var nurse = await StaffClient.SignedInAsync(fixture, nurseEmail, DashboardSeed.Password);
        var note = "note-" + Guid.NewGuid().ToString("n") + " called the listed number, no answer";
        var reply = "reply-" + Guid.NewGuid().ToString("n") + " Please call 988 now; a nurse will call you in five minutes.";

        // Act
        var view = await nurse.Http.GetAsync($"/dashboard/escalations/{id}");
        var claim = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Claim");
        var addNote = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Note", ("text", note));
        var sendReply = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Reply", ("text", reply));
        var badOutcome = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Resolve", ("outcome", "whatever"));
        var resolve = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Resolve", ("outcome", "false-alarm"));
        var resolved = await DashboardSeed.ReadAsync(fixture, id);
        var reopen = await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Reopen");
        var page = await nurse.Http.GetStringAsync($"/dashboard/escalations/{id}");

        // Assert
        Assert.Equal(HttpStatusCode.OK, view.StatusCode);
        Assert.All(new[] { claim, addNote, sendReply, resolve, reopen }, r => Assert.Equal(HttpStatusCode.Redirect, r.StatusCode));
        Assert.Equal(HttpStatusCode.Conflict, badOutcome.StatusCode);
        Assert.Equal(("resolved", "false-alarm"), (resolved.Status, resolved.Outcome));
        var reopened = await DashboardSeed.ReadAsync(fixture, id);
        Assert.Equal(("open", null, null), (reopened.Status, reopened.ClaimedById, reopened.Outcome));
        await using (var db = fixture.Services.GetRequiredService<Database>().Open())
        {
            var staffMessage = await db.Messages.SingleAsync(m => m.ConversationId == reopened.ConversationId && m.Role == "staff");
            Assert.Equal(reply, staffMessage.Text);
        }

        Assert.Contains(note, page, StringComparison.Ordinal);
        Assert.Contains("Clinic staff", page, StringComparison.Ordinal);
        var actions = (await DashboardSeed.AuditAsync(fixture, id)).Select(a => (a.Action, a.ActorName)).ToList();
        Assert.Equal(
        [
            (AuditActions.TranscriptView, nurseEmail), (AuditActions.Claim, nurseEmail), (AuditActions.Note, nurseEmail),
            (AuditActions.Reply, nurseEmail), (AuditActions.TranscriptView, nurseEmail), (AuditActions.Resolve, nurseEmail),
            (AuditActions.Reopen, nurseEmail), (AuditActions.TranscriptView, nurseEmail),
        ], actions);
        // MVC logs handler arguments at Trace: the texts are bound as properties so they never reach a log line.
        var leaks = fixture.Logs.Lines.Where(l => l.Contains(note[..20], StringComparison.Ordinal) || l.Contains(reply[..20], StringComparison.Ordinal));
        Assert.True(!leaks.Any(), "logged: " + leaks.FirstOrDefault());
        await using (var db = fixture.Services.GetRequiredService<Database>().Open())
        {
            Assert.DoesNotContain(await db.AuditEvents.Select(a => a.Detail).ToListAsync(), d => d != null && (d.Contains(note[..20]) || d.Contains(reply[..20])));
        }
    }

    [Fact]
    public async Task Claim_Rules_OneOwnerAdminTakesOver()
    {
        // Arrange
        var id = await DashboardSeed.EscalationAsync(fixture, "claims");
        var adminEmail = await DashboardSeed.UserAsync(fixture, StaffRoles.Admin);
        using var first = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var second = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Staff), DashboardSeed.Password);
        using var admin = await StaffClient.SignedInAsync(fixture, adminEmail, DashboardSeed.Password);

        // Act
        using var claimFirst = await first.PostAsync($"/dashboard/escalations/{id}?handler=Claim");
        using var claimAgain = await first.PostAsync($"/dashboard/escalations/{id}?handler=Claim");
        using var claimSecond = await second.PostAsync($"/dashboard/escalations/{id}?handler=Claim");
        using var adminPlainClaim = await admin.PostAsync($"/dashboard/escalations/{id}?handler=Claim");
        using var takeOver = await admin.PostAsync($"/dashboard/escalations/{id}?handler=TakeOver");
        using var firstReplyAfter = await first.PostAsync($"/dashboard/escalations/{id}?handler=Reply", ("text", "after losing the claim"));

        // Assert
        Assert.Equal(HttpStatusCode.Redirect, claimFirst.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, claimAgain.StatusCode); // already mine: not an error
        Assert.Equal(HttpStatusCode.Conflict, claimSecond.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, adminPlainClaim.StatusCode); // taking over is its own, explicit action
        Assert.Equal(HttpStatusCode.Redirect, takeOver.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, firstReplyAfter.StatusCode);
        var after = await DashboardSeed.ReadAsync(fixture, id);
        Assert.Equal(("claimed", adminEmail), (after.Status, after.ClaimedByName));
        var audit = await DashboardSeed.AuditAsync(fixture, id);
        Assert.Equal([AuditActions.Claim, AuditActions.TakeOver], audit.Where(a => a.Action != AuditActions.TranscriptView).Select(a => a.Action));
    }

    [Fact]
    public async Task Exports_AdminGetsAuditCsvAndFalseAlarmCases_BothAudited()
    {
        // Arrange: a staff member views and resolves one escalation as a false alarm.
        const string text = "lol this exam will kill myself jk";
        var id = await DashboardSeed.EscalationAsync(fixture, "export", text: text);
        var nurseEmail = await DashboardSeed.UserAsync(fixture, StaffRoles.Staff);
        using var nurse = await StaffClient.SignedInAsync(fixture, nurseEmail, DashboardSeed.Password);
        using var adminClient = await StaffClient.SignedInAsync(fixture, await DashboardSeed.UserAsync(fixture, StaffRoles.Admin), DashboardSeed.Password);
        (await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Claim")).Dispose();
        (await nurse.PostAsync($"/dashboard/escalations/{id}?handler=Resolve", ("outcome", "false-alarm"))).Dispose();

        // Act
        var csv = await adminClient.Http.GetStringAsync("/dashboard/api/audit.csv");
        var jsonl = await adminClient.Http.GetStringAsync("/dashboard/api/false-alarms.jsonl");

        // Assert
        Assert.Contains($",{nurseEmail},{AuditActions.Resolve},{id},", csv, StringComparison.Ordinal);
        Assert.DoesNotContain(text, csv, StringComparison.Ordinal);
        var cases = jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var exported = Assert.Single(cases, c => c.GetProperty("text").GetString() == text);
        Assert.Equal("none", exported.GetProperty("level").GetString());
        Assert.Equal(["text", "level", "group", "holdout"], exported.EnumerateObject().Select(p => p.Name));
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        var exports = await db.AuditEvents.Where(a => a.Action == AuditActions.AuditExport || a.Action == AuditActions.FalseAlarmExport).CountAsync();
        Assert.True(exports >= 2);
    }

    [Fact]
    public async Task AuditTrail_UpdateOrDelete_RefusedByDatabaseAndContext()
    {
        // Arrange
        var database = fixture.Services.GetRequiredService<Database>();
        await fixture.Services.GetRequiredService<AuditLog>().AppendAsync(new Actor("t", "tester", false), "test.append");
        await using var db = database.Open();
        var row = await db.AuditEvents.OrderByDescending(a => a.Id).FirstAsync();

        // Act
        var update = await Record.ExceptionAsync(() => db.Database.ExecuteSqlRawAsync("""UPDATE audit_events SET "Action" = 'x' WHERE "Id" = {0}""", row.Id));
        var delete = await Record.ExceptionAsync(() => db.Database.ExecuteSqlRawAsync("""DELETE FROM audit_events WHERE "Id" = {0}""", row.Id));
        var truncate = TestStorage.IsPostgres ? await Record.ExceptionAsync(() => db.Database.ExecuteSqlRawAsync("TRUNCATE audit_events")) : null;
        row.Detail = "changed";
        var tracked = await Record.ExceptionAsync(() => db.SaveChangesAsync());

        // Assert
        Assert.Contains("append-only", Assert.IsAssignableFrom<System.Data.Common.DbException>(update).Message, StringComparison.Ordinal);
        Assert.Contains("append-only", Assert.IsAssignableFrom<System.Data.Common.DbException>(delete).Message, StringComparison.Ordinal);
        if (TestStorage.IsPostgres)
        {
            Assert.Contains("append-only", Assert.IsAssignableFrom<System.Data.Common.DbException>(truncate).Message, StringComparison.Ordinal);
        }

        Assert.IsType<InvalidOperationException>(tracked);
        await using var check = database.Open();
        Assert.Equal("test.append", (await check.AuditEvents.SingleAsync(a => a.Id == row.Id)).Action);
    }

    [Fact]
    public async Task Retention_Purge_KeepsOpenEscalationTranscriptsAndIsAudited()
    {
        // Arrange: three old conversations (open, claimed and resolved escalations) and a recent one.
        var old = DateTimeOffset.UtcNow.AddDays(-400);
        var open = await DashboardSeed.EscalationAsync(fixture, "retention", at: old);
        var claimed = await DashboardSeed.EscalationAsync(fixture, "retention", at: old, status: "claimed");
        var resolved = await DashboardSeed.EscalationAsync(fixture, "retention", at: old, status: "resolved");
        var recent = await DashboardSeed.EscalationAsync(fixture, "retention", status: "resolved");
        var job = fixture.Services.GetRequiredService<RetentionJob>();

        // Act (the hosted job may have run this same purge first: the outcome is the same either way)
        await job.PurgeOnceAsync(CancellationToken.None);

        // Assert
        Assert.Equal(1, await MessageCountAsync(open));
        Assert.Equal(1, await MessageCountAsync(claimed));
        Assert.Equal(0, await MessageCountAsync(resolved));
        Assert.Equal(1, await MessageCountAsync(recent));
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        var purge = await db.AuditEvents.OrderByDescending(a => a.Id).FirstAsync(a => a.Action == AuditActions.RetentionPurge);
        Assert.Equal("system", purge.ActorId);
        Assert.Contains("messages", purge.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsersCommand_AddFromStdinListDisable_DisabledCannotSignIn()
    {
        // Arrange
        var email = $"cli-{Guid.NewGuid():n}@clinic.test";
        string[] config = [$"--Data:Path={fixture.DataPath}", $"--Knowledge:Path={fixture.KnowledgePath}", "--Logging:LogLevel:Default=Warning",
            .. TestStorage.ServiceArgs(fixture.DataPath)];
        var output = new StringWriter();
        var error = new StringWriter();

        // Act
        var refused = await UserCommands.RunAsync(["add", "--email", email, "--role", "staff", "--password", "Some-password-123", .. config],
            new StringReader(""), output, error, interactive: false);
        var added = await UserCommands.RunAsync(["add", "--email", email, "--role", "staff", .. config],
            new StringReader(DashboardSeed.Password + "\n"), output, error, interactive: false);
        using var client = new StaffClient(fixture.Http.BaseAddress!);
        using var signIn = await client.SignInAsync(email, DashboardSeed.Password);
        var listed = await UserCommands.RunAsync(["list", .. config], new StringReader(""), output, error, interactive: false);
        var disabled = await UserCommands.RunAsync(["disable", "--email", email, .. config], new StringReader(""), output, error, interactive: false);
        using var afterDisable = await new StaffClient(fixture.Http.BaseAddress!).SignInAsync(email, DashboardSeed.Password);

        // Assert
        Assert.Equal(2, refused);
        Assert.Equal((0, 0, 0), (added, listed, disabled));
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Contains($"{email}\tstaff\tactive", output.ToString(), StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode)423, afterDisable.StatusCode);
        Assert.DoesNotContain(DashboardSeed.Password, output.ToString() + error.ToString(), StringComparison.Ordinal);
    }

    private async Task<int> MessageCountAsync(Guid escalationId)
    {
        await using var db = fixture.Services.GetRequiredService<Database>().Open();
        var conversation = (await db.Escalations.SingleAsync(e => e.Id == escalationId)).ConversationId;
        return await db.Messages.CountAsync(m => m.ConversationId == conversation);
    }

    /// <summary>Reads one server-sent event (its <c>event:</c> and <c>data:</c> lines, up to the blank line).</summary>
    private static async Task<(string Event, string Data)> NextEventAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        string? name = null, data = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (name is not null || data is not null)
                {
                    return (name ?? "message", data ?? string.Empty);
                }

                continue;
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }

        throw new EndOfStreamException("the event stream ended");
    }
}
