using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;

namespace BotService.UnitTests.Knowledge;

public sealed class AnswerCacheTests
{
    private static string Article(string title, string audience, string body) =>
        ReloadAndAudienceTests.Article(title, audience, body);

    private static Answer Dummy(string text) => new(true, text, 1.0, [], [], false);

    [Fact]
    public void Ask_RepeatedQuestion_ReturnsTheSameAnswerWithoutSearchingAgain()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("articles/parking.md", Article("Parking", "public", "Parking costs five dollars per visit."));
        using var cached = new KnowledgeBase(new AnswerOptions());
        using var uncached = new KnowledgeBase(new AnswerOptions(), answerCacheCapacity: 0);
        cached.Load(folder.Path);
        uncached.Load(folder.Path);

        // Act
        var first = cached.Ask("how much is parking", Audience.Public);
        var second = cached.Ask("how much is parking", Audience.Public);
        var typographic = cached.Ask("how much is parking’s fee", Audience.Public);
        var plain = cached.Ask("how much is parking's fee", Audience.Public);
        var fresh1 = uncached.Ask("how much is parking", Audience.Public);
        var fresh2 = uncached.Ask("how much is parking", Audience.Public);

        // Assert: the cached instance comes back; without the cache every ask builds a new, equal answer.
        Assert.Contains("five dollars", first.Text, StringComparison.Ordinal);
        Assert.Same(first, second);
        Assert.Same(typographic, plain);
        Assert.NotSame(fresh1, fresh2);
        Assert.Equal(fresh1.Text, first.Text);
    }

    [Fact]
    public void Ask_AfterReload_NeverServesTheOldArticlesAnswer()
    {
        // Arrange
        using var folder = new TempFolder();
        var path = folder.Write("articles/parking.md", Article("Parking", "public", "Parking costs five dollars per visit."));
        using var kb = new KnowledgeBase(new AnswerOptions());
        kb.Load(folder.Path);
        var before = kb.Ask("how much is parking", Audience.Public);
        Assert.Same(before, kb.Ask("how much is parking", Audience.Public));

        // Act
        File.WriteAllText(path, Article("Parking", "public", "Parking costs seven dollars per visit."));
        kb.Load(folder.Path);
        var after = kb.Ask("how much is parking", Audience.Public);

        // Assert
        Assert.Contains("five dollars", before.Text, StringComparison.Ordinal);
        Assert.Contains("seven dollars", after.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("five dollars", after.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Ask_StaffAnswerCached_IsNeverServedToAVisitor()
    {
        // Arrange
        using var folder = new TempFolder();
        folder.Write("articles/public.md", Article("Parking", "public", "Parking is free in the lot behind the clinic."));
        folder.Write("articles/staff.md", Article("Escalations", "staff", "An urgent escalation must be claimed within fifteen minutes by the nurse on duty."));
        using var kb = new KnowledgeBase(new AnswerOptions());
        kb.Load(folder.Path);

        // Act: staff ask first (and twice, so the answer is certainly cached), then a visitor asks the same words.
        var staff = kb.Ask("what do I do with an urgent escalation", Audience.Staff);
        Assert.Same(staff, kb.Ask("what do I do with an urgent escalation", Audience.Staff));
        var visitor = kb.Ask("what do I do with an urgent escalation", Audience.Public);

        // Assert
        Assert.Contains("fifteen minutes", staff.Text, StringComparison.Ordinal);
        Assert.False(visitor.Answered);
        Assert.DoesNotContain("fifteen minutes", visitor.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_ManyQuestionsFromManyThreads_NeverHoldsMoreThanTheCapacity()
    {
        // Arrange
        var cache = new AnswerCache(capacity: 16);
        var answer = Dummy("x");
        var largest = 0;

        // Act
        Parallel.For(0, 4_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            cache.Add($"question {i}", i % 2 == 0 ? Audience.Public : Audience.Staff, answer);
            var count = cache.Count;
            int seen;
            while (count > (seen = Volatile.Read(ref largest)) && Interlocked.CompareExchange(ref largest, count, seen) != seen)
            {
            }
        });
        cache.Add("the last question", Audience.Public, answer);

        // Assert: bounded, and still caching after filling up many times.
        Assert.InRange(largest, 1, 16);
        Assert.InRange(cache.Count, 1, 16);
        Assert.True(cache.TryGet("the last question", Audience.Public, out var last));
        Assert.Same(answer, last);
    }

    [Fact]
    public void Add_QuestionLongerThanTheLimit_IsNotKept()
    {
        // Arrange
        var cache = new AnswerCache(capacity: 16);
        var longQuestion = "is ketamine safe " + new string('x', AnswerCache.MaxQuestionLength);

        // Act
        cache.Add(longQuestion, Audience.Public, Dummy("long"));
        cache.Add("is ketamine safe", Audience.Public, Dummy("short"));

        // Assert
        Assert.False(cache.TryGet(longQuestion, Audience.Public, out _));
        Assert.True(cache.TryGet("is ketamine safe", Audience.Public, out var kept));
        Assert.Equal("short", kept.Text);
        Assert.False(cache.TryGet("is ketamine safe", Audience.Staff, out _));
        Assert.Equal(1, cache.Count);
    }
}
