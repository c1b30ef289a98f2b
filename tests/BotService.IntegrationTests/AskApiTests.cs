using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace BotService.IntegrationTests;

/// <summary>The HTTP contract of POST /api/ask, over real loopback HTTP.</summary>
[Trait(TestStorage.Trait, TestStorage.NoStorage)] // not run again in the PostgreSQL pass (decision 0015)
public sealed class AskApiTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    [Fact]
    public async Task Ask_PriceQuestion_ReturnsCitedAnswerInTheDocumentedShape()
    {
        // Act
        var body = await service.AskAsync("What does an infusion cost?");

        // Assert
        Assert.True(body.GetProperty("answered").GetBoolean());
        Assert.Contains("$275", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.InRange(body.GetProperty("confidence").GetDouble(), 0.55, 1.0);
        var source = Assert.Single(body.GetProperty("sources").EnumerateArray());
        Assert.Equal("Ketamine for PTSD Management", source.GetProperty("title").GetString());
        Assert.Equal("Not named in the article", source.GetProperty("clinic").GetString());
        Assert.Equal("New Patient Special", source.GetProperty("section").GetString());
        Assert.Equal("articles/ketamine-for-ptsd-management.md", source.GetProperty("path").GetString());
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}$", source.GetProperty("updated").GetString());
        Assert.Equal("none", body.GetProperty("safety").GetProperty("level").GetString());
        Assert.Equal(0, body.GetProperty("safety").GetProperty("reasons").GetArrayLength());
    }

    [Fact]
    public async Task Ask_OutOfScope_DeclinesPolitely()
    {
        var body = await service.AskAsync("who won the world cup in 1998");

        Assert.False(body.GetProperty("answered").GetBoolean());
        Assert.Contains("I can help with", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, body.GetProperty("sources").GetArrayLength());
    }

    [Fact]
    public async Task Ask_Typo_SaysHowTheQuestionWasRead()
    {
        var body = await service.AskAsync("whats the prise of an infusoin");

        Assert.Contains("$275", body.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("prise → price, infusoin → infusion", body.GetProperty("interpretedAs").GetString());
    }

    public static TheoryData<string, string, HttpStatusCode, string> BadBodies => new()
    {
        { "application/json", "{\"text\": \"price\"", HttpStatusCode.BadRequest, "not valid JSON" },
        { "application/json", "[\"price\"]", HttpStatusCode.BadRequest, "JSON object" },
        { "application/json", "{\"question\": \"price\"}", HttpStatusCode.BadRequest, "\\\"text\\\" is required" },
        { "application/json", "{\"text\": 42}", HttpStatusCode.BadRequest, "must be a string" },
        { "application/json", "{\"text\": null}", HttpStatusCode.BadRequest, "must be a string" },
        { "application/json", "{\"text\": \"  \\n\\t \"}", HttpStatusCode.BadRequest, "is empty" },
        { "application/json", "{\"text\": \"" + new string('a', 2001) + "\"}", HttpStatusCode.BadRequest, "2001 characters" },
        { "application/json", "{\"text\": \"price\", \"audience\": \"doctors\"}", HttpStatusCode.BadRequest, "\\\"public\\\" or \\\"staff\\\"" },
        { "application/json", "{\"text\": \"price\", \"audience\": 1}", HttpStatusCode.BadRequest, "\\\"public\\\" or \\\"staff\\\"" },
        { "application/json", "{\"text\": \"" + new string('a', 20_000) + "\"}", HttpStatusCode.RequestEntityTooLarge, "too large" },
        { "text/plain", "how much is it", HttpStatusCode.UnsupportedMediaType, "must be JSON" },
        // Found by the fuzz run (was 500): unpaired surrogate escapes are valid JSON but not a string .NET can hold.
        { "application/json", "{\"text\": \"price \\ud800\"}", HttpStatusCode.BadRequest, "not valid Unicode" },
        { "application/json", "{\"text\": \"price\", \"conversationId\": \"\\udfff\"}", HttpStatusCode.BadRequest, "not valid Unicode" },
        // The conversation id goes into logs and database keys: no text (spaces), no NUL (PostgreSQL refuses it).
        { "application/json", "{\"text\": \"price\", \"conversationId\": \"I want to end my life\"}", HttpStatusCode.BadRequest, "without spaces" },
        { "application/json", "{\"text\": \"price\", \"conversationId\": \"conv\\u0000\"}", HttpStatusCode.BadRequest, "without spaces" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Ask_BadInput_GetsProblemDetailsWithAClearMessage(string contentType, string body, HttpStatusCode status, string message)
    {
        // Act
        using var content = new StringContent(body, Encoding.UTF8, contentType);
        var response = await service.Http.PostAsync("/api/ask", content);

        // Assert
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Contains(message, problem, StringComparison.Ordinal);
        Assert.Contains("\"status\":" + (int)status, problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_ChunkedBodyOverTheLimit_Gets413()
    {
        // A body without Content-Length is cut off by the server as it reads.
        using var content = new PushStreamContent(new string(' ', 40_000) + "{\"text\":\"price\"}");
        var response = await service.Http.PostAsync("/api/ask", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Healthz_IndexLoaded_Returns200WithTheKnowledgeStatus()
    {
        var response = await service.Http.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        Assert.True(body.GetProperty("checks").GetProperty("knowledge").GetProperty("articles").GetInt32() >= 5);
    }

    /// <summary>Content with no length, sent chunked.</summary>
    private sealed class PushStreamContent : HttpContent
    {
        private readonly string _text;

        public PushStreamContent(string text)
        {
            _text = text;
            Headers.ContentType = new("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            stream.WriteAsync(Encoding.UTF8.GetBytes(_text)).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Theory]
    [InlineData("what do I do with an urgent escalation?")]
    [InlineData("how do I claim an escalation in the dashboard")]
    [InlineData("what does an emergency escalation mean")]
    public async Task Ask_StaffQuestion_AnsweredFromTheStaffGuideForStaffOnly(string question)
    {
        // Act
        var staff = await service.AskAsync(question, "staff");
        var visitor = await service.AskAsync(question, "public");

        // Assert: staff get the guide; a visitor never sees a staff article, whatever they ask
        Assert.True(staff.GetProperty("answered").GetBoolean(), staff.GetProperty("text").GetString());
        Assert.Equal("articles/staff-guide-escalations.md", staff.GetProperty("sources")[0].GetProperty("path").GetString());
        Assert.DoesNotContain(visitor.GetProperty("sources").EnumerateArray(),
            s => s.GetProperty("path").GetString() == "articles/staff-guide-escalations.md");
        Assert.DoesNotContain("Staff guide", visitor.GetProperty("text").GetString(), StringComparison.Ordinal);
    }
}
