using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;

namespace BotService.UnitTests.Knowledge;

public sealed class ReloadAndAudienceTests
{
    internal static string Article(string title, string audience, string body) => $"""
        ---
        title: "{title}"
        clinic: "Test Clinic"
        audience: {audience}
        updated: 2026-11-23
        ---

        ## Details

        {body}
        """;

    [Fact]
    public void Ask_StaffOnlyArticle_IsSeenByStaffButNeverByVisitors()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("articles/public.md", Article("Parking", "public", "Parking is free in the lot behind the clinic."));
        folder.Write("articles/staff.md", Article("Escalations", "staff", "An urgent escalation must be claimed within fifteen minutes by the nurse on duty."));
        using var kb = new KnowledgeBase(new AnswerOptions());
        kb.Load(folder.Path);

        // Act
        var staff = kb.Ask("what do I do with an urgent escalation", Audience.Staff);
        var visitor = kb.Ask("what do I do with an urgent escalation", Audience.Public);

        // Assert
        Assert.True(staff.Answered);
        Assert.Equal("articles/staff.md", staff.Sources[0].Path);
        Assert.False(visitor.Answered);
        Assert.DoesNotContain("fifteen minutes", visitor.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_EditedArticle_SwapsInNewAnswersWhileQuestionsKeepBeingAnswered()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.Write("articles/parking.md", Article("Parking", "public", "Parking costs five dollars per visit."));
        using var kb = new KnowledgeBase(new AnswerOptions());
        kb.Load(folder.Path);
        var failures = 0;
        var answered = 0;
        using var stop = new CancellationTokenSource();
        var askers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (kb.Ask("how much is parking", Audience.Public).Answered)
                    {
                        Interlocked.Increment(ref answered);
                    }
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToArray();

        // Act: once the askers are answering, rebuild many times under them, then change the fact.
        while (Volatile.Read(ref answered) == 0 && Volatile.Read(ref failures) == 0)
        {
            await Task.Yield();
        }

        for (var i = 0; i < 20; i++)
        {
            kb.Load(folder.Path);
        }

        File.WriteAllText(path, Article("Parking", "public", "Parking costs seven dollars per visit."));
        kb.Load(folder.Path);
        stop.Cancel();
        await Task.WhenAll(askers);

        // Assert
        Assert.Equal(0, failures);
        Assert.True(answered > 0);
        Assert.Contains("seven dollars", kb.Ask("how much is parking", Audience.Public).Text, StringComparison.Ordinal);
        Assert.Equal(22, kb.Status.Generation);
    }

    [Fact]
    public void Load_FolderEmptiedByMistake_KeepsThePreviousIndex()
    {
        using var folder = new TempFolder();
        var path = folder.Write("articles/parking.md", Article("Parking", "public", "Parking costs five dollars per visit."));
        using var kb = new KnowledgeBase(new AnswerOptions());
        kb.Load(folder.Path);

        File.Delete(path);
        var problems = kb.Load(folder.Path);

        Assert.Empty(problems);
        Assert.Equal(1, kb.Status.Generation);
        Assert.Contains("five dollars", kb.Ask("how much is parking", Audience.Public).Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watcher_FileChanged_CallsBackOnceChangesSettle()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.Write("articles/a.md", "x");
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new KnowledgeWatcher(folder.Path, TimeSpan.FromMilliseconds(50), () => changed.TrySetResult());

        // Act
        File.WriteAllText(path, "y");

        // Assert
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
