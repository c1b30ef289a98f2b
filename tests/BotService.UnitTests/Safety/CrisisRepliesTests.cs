using BotService.Safety;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.UnitTests.Safety;

public sealed class CrisisRepliesTests : IDisposable
{
    private const string Valid = """
        emergency: |
          Call 911 if you are in danger. Call or text 988. Text HOME to 741741. Staff have been alerted.
        urgent: |
          Please call the clinic. Call 911 if it gets worse. Call or text 988 in a crisis.
        """;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CrisisReplies Create(string path, ILogger<CrisisReplies>? log = null) =>
        new(path, log ?? NullLogger<CrisisReplies>.Instance, TimeProvider.System, TimeSpan.FromMilliseconds(50));

    [Fact]
    public void Validate_RealCrisisRepliesFile_NoErrors()
    {
        // Act
        var errors = CrisisReplies.Validate(SafetyTestFiles.CrisisRepliesPath);

        // Assert
        Assert.Empty(errors);
    }

    [Fact]
    public void Constructor_RealFile_UsesFileWording()
    {
        // Act
        using var replies = Create(SafetyTestFiles.CrisisRepliesPath);

        // Assert
        Assert.False(replies.Emergency.IsBuiltIn);
        Assert.StartsWith("If you are in immediate danger, call 911", replies.Emergency.Text);
        Assert.False(replies.Status.UsingBuiltIn);
    }

    [Fact]
    public void Constructor_MissingFile_UsesBuiltInWording()
    {
        // Act
        using var replies = Create(_temp.File("absent.yaml"));

        // Assert
        Assert.True(replies.Emergency.IsBuiltIn);
        Assert.Equal(CrisisReplies.BuiltInEmergencyText, replies.Emergency.Text);
        Assert.Equal(CrisisReplies.BuiltInUrgentText, replies.Urgent.Text);
        Assert.True(replies.Status.UsingBuiltIn);
    }

    [Fact]
    public void Constructor_BrokenYaml_UsesBuiltInAndLogsLine()
    {
        // Arrange
        var path = _temp.File("crisis-replies.yaml");
        File.WriteAllText(path, "emergency: |\n  call 911\nurgent: [unclosed\n");
        var log = new ListLogger<CrisisReplies>();

        // Act
        using var replies = Create(path, log);

        // Assert
        Assert.True(replies.Emergency.IsBuiltIn);
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Error && e.Message.StartsWith($"{path}:", StringComparison.Ordinal));
        Assert.NotNull(replies.Status.LastError);
    }

    [Fact]
    public void Constructor_EmergencyWithout988_RejectedWithLine()
    {
        // Arrange
        var path = _temp.File("crisis-replies.yaml");
        File.WriteAllText(path, Valid.Replace("Call or text 988. ", ""));

        // Act
        using var replies = Create(path);

        // Assert
        Assert.True(replies.Emergency.IsBuiltIn);
        Assert.Contains(":1:", replies.Status.LastError);
        Assert.Contains("must mention 988", replies.Status.LastError);
    }

    [Fact]
    public void For_EachLevel_MatchingReplyOrNull()
    {
        // Arrange
        var path = _temp.File("crisis-replies.yaml");
        File.WriteAllText(path, Valid);
        using var replies = Create(path);

        // Act
        var emergency = replies.For(SafetyLevel.Emergency);
        var urgent = replies.For(SafetyLevel.Urgent);
        var none = replies.For(SafetyLevel.None);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, emergency!.Level);
        Assert.Contains("741741", emergency.Text);
        Assert.Equal(SafetyLevel.Urgent, urgent!.Level);
        Assert.Null(none);
    }

    [Fact]
    public async Task Watch_EditBroken_KeepsPreviousFileWording()
    {
        // Arrange
        var path = _temp.File("crisis-replies.yaml");
        File.WriteAllText(path, Valid);
        using var replies = Create(path);
        var rejected = new TaskCompletionSource<CrisisRepliesStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        replies.ReloadAttempted += (_, s) =>
        {
            if (s.LastError is not null)
            {
                rejected.TrySetResult(s);
            }
        };

        // Act
        File.WriteAllText(path, "emergency: |\n  hello\n");
        await rejected.Task.WaitAsync(TimeSpan.FromSeconds(15));

        // Assert
        Assert.False(replies.Emergency.IsBuiltIn);
        Assert.Contains("741741", replies.Emergency.Text);
    }

    [Fact]
    public void BuiltInEmergencyText_LeadsWithResources()
    {
        // Assert: 911 first, then 988 and 741741, then that staff know.
        var text = CrisisReplies.BuiltInEmergencyText;
        var i911 = text.IndexOf("911", StringComparison.Ordinal);
        var i988 = text.IndexOf("988", StringComparison.Ordinal);
        var i741 = text.IndexOf("741741", StringComparison.Ordinal);
        var iStaff = text.IndexOf("staff", StringComparison.Ordinal);
        Assert.True(i911 >= 0 && i911 < i988 && i988 < i741 && i741 < iStaff);
        Assert.StartsWith("If you are in immediate danger", text);
    }
}
