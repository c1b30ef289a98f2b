using System.Text.Json;

namespace BotService.IntegrationTests.FollowUps;

/// <summary>Follow-up questions and "did you mean" through POST /api/ask with a conversationId, over real loopback HTTP.</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class FollowUpApiTests(FollowUpFixture service) : IClassFixture<FollowUpFixture>
{
    private static string NewConversation() => "fu-" + Guid.NewGuid().ToString("n");

    private static string Text(JsonElement body) => body.GetProperty("text").GetString()!;

    private static string? About(JsonElement body) =>
        body.TryGetProperty("followUpAbout", out var about) ? about.GetString() : null;

    [Fact]
    public async Task Ask_FollowUpInTheSameConversation_IsReadWithItsTopicAndSaysSo()
    {
        // Arrange
        var conversation = NewConversation();
        var first = await service.AskAsync("What is ketamine-assisted psychotherapy?", conversation);
        Assert.Null(About(first));

        // Act
        var followUp = await service.AskAsync("how much is it?", conversation);

        // Assert
        Assert.True(followUp.GetProperty("answered").GetBoolean());
        Assert.Equal("ketamine-assisted psychotherapy", About(followUp));
        Assert.StartsWith("Taking this as a question about ketamine-assisted psychotherapy: ", Text(followUp), StringComparison.Ordinal);
        Assert.Contains("financial investment", Text(followUp), StringComparison.Ordinal);
        Assert.Equal("none", followUp.GetProperty("safety").GetProperty("level").GetString());
    }

    [Fact]
    public async Task Ask_SameFollowUpWithoutOrInAnotherConversation_HasNoTopic()
    {
        await service.AskAsync("What is ketamine-assisted psychotherapy?", NewConversation());

        var alone = await service.AskAsync("how much is it?", null);
        var elsewhere = await service.AskAsync("how much is it?", NewConversation());

        Assert.Null(About(alone));
        Assert.Null(About(elsewhere));
        Assert.DoesNotContain("Taking this as", Text(elsewhere), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_TopicChange_ResetsTheTopic()
    {
        var conversation = NewConversation();
        await service.AskAsync("What is ketamine-assisted psychotherapy?", conversation);

        var other = await service.AskAsync("what is the difference between ketamine and MDMA?", conversation);
        var followUp = await service.AskAsync("is it safe?", conversation);

        Assert.Null(About(other));
        Assert.NotEqual("ketamine-assisted psychotherapy", About(followUp));
        Assert.NotNull(About(followUp));
    }

    [Fact]
    public async Task Ask_AfterMaxTurns_TheTopicHasExpired()
    {
        var conversation = NewConversation();
        await service.AskAsync("How much does an infusion cost?", conversation);
        foreach (var followUp in new[] { "how long is it?", "and the discount?", "is it safe?" })
        {
            Assert.Equal("infusion", About(await service.AskAsync(followUp, conversation)));
        }

        var fourth = await service.AskAsync("how long does it last?", conversation);

        Assert.Null(About(fourth));
    }

    [Fact]
    public async Task Ask_AfterTheIdleTimeout_TheTopicHasExpired()
    {
        var conversation = NewConversation();
        await service.AskAsync("How much does an infusion cost?", conversation);

        await Task.Delay(FollowUpFixture.IdleTimeout + TimeSpan.FromSeconds(0.5));
        var late = await service.AskAsync("how long is it?", conversation);

        Assert.Null(About(late));
    }

    [Fact]
    public async Task Ask_EmergencyFollowUp_GetsTheCrisisReplyWhateverTheTopic()
    {
        var conversation = NewConversation();
        await service.AskAsync("What is ketamine-assisted psychotherapy?", conversation);

        var crisis = await service.AskAsync("and honestly I want to end my life", conversation);

        Assert.Equal("emergency", crisis.GetProperty("safety").GetProperty("level").GetString());
        Assert.False(crisis.GetProperty("answered").GetBoolean());
        Assert.Contains("988", Text(crisis), StringComparison.Ordinal);
        Assert.Null(About(crisis));
    }

    [Fact]
    public async Task Ask_FollowUpThatIsUrgentOnlyWithItsTopic_IsClassifiedAsReadAndEscalated()
    {
        // Arrange: "and I still feel dizzy after it" names no treatment, so on its own it is no symptom after one
        var conversation = NewConversation();
        await service.AskAsync("How much does an infusion cost?", conversation);
        var alone = await service.AskAsync("and I still feel dizzy after it", NewConversation());
        Assert.Equal("none", alone.GetProperty("safety").GetProperty("level").GetString());

        // Act
        var followUp = await service.AskAsync("and I still feel dizzy after it", conversation);

        // Assert: read as about the infusion, it is a symptom after treatment
        var safety = followUp.GetProperty("safety");
        Assert.Equal("urgent", safety.GetProperty("level").GetString());
        Assert.Contains(safety.GetProperty("reasons").EnumerateArray(), r => r.GetProperty("rule").GetString() == "post-treatment-symptom");
        Assert.Contains("clinic", Text(followUp), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Ask_VagueQuestion_DidYouMean_ThenOneChoiceIsAnsweredFromItsSection()
    {
        // Arrange
        var conversation = NewConversation();
        var asked = await service.AskAsync("is it safe?", conversation);
        Assert.False(asked.GetProperty("answered").GetBoolean());
        var choices = asked.GetProperty("didYouMean").EnumerateArray().ToArray();
        Assert.InRange(choices.Length, 2, 3);
        Assert.All(choices, c => Assert.Contains(c.GetProperty("section").GetString()!, Text(asked), StringComparison.Ordinal));
        var chosen = choices[1];

        // Act: what a tap sends
        var answer = await service.AskAsync(chosen.GetProperty("question").GetString()!, conversation);

        // Assert
        Assert.True(answer.GetProperty("answered").GetBoolean());
        var source = Assert.Single(answer.GetProperty("sources").EnumerateArray());
        Assert.Equal(chosen.GetProperty("section").GetString(), source.GetProperty("section").GetString());
        Assert.Equal(chosen.GetProperty("path").GetString(), source.GetProperty("path").GetString());
        Assert.False(answer.TryGetProperty("didYouMean", out _));
    }

    [Fact]
    public async Task Ask_FollowUps_NeverLogTheirWordsOrTopic()
    {
        var conversation = NewConversation();
        await service.AskAsync("tell me about the glutamate system", conversation);
        await service.AskAsync("and how does it feel?", conversation);

        var log = string.Join('\n', service.Logs.Lines);
        Assert.NotEmpty(service.Logs.Lines);
        Assert.DoesNotContain("glutamate", log, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("how does it feel", log, StringComparison.OrdinalIgnoreCase);
    }
}
