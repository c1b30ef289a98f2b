using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace BotService.IntegrationTests;

/// <summary>POST /api/messages over real HTTP in anonymous local mode (issue 5, in progress).</summary>
public sealed class MessagesApiTests(ServiceFixture service) : IClassFixture<ServiceFixture>
{
    private static object Message(string text, string id) => new
    {
        type = "message",
        id,
        channelId = "emulator",
        serviceUrl = "http://127.0.0.1:9/",
        deliveryMode = "expectReplies",
        conversation = new { id = "conv-" + id },
        from = new { id = "user-1", role = "user" },
        recipient = new { id = "bot", role = "bot" },
        text,
    };

    [Fact]
    public async Task Messages_ExpectReplies_ReturnsTheCitedAnswerAddressedToTheUser()
    {
        // Act
        var response = await service.Http.PostAsJsonAsync("/api/messages", Message("how much is an infusion", "m1"));

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var reply = Assert.Single(body.GetProperty("activities").EnumerateArray());
        Assert.Equal("message", reply.GetProperty("type").GetString());
        Assert.Contains("$275", reply.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("conv-m1", reply.GetProperty("conversation").GetProperty("id").GetString());
        Assert.Equal("user-1", reply.GetProperty("recipient").GetProperty("id").GetString());
        Assert.Equal("m1", reply.GetProperty("replyToId").GetString());
    }

    [Fact]
    public async Task Messages_Emergency_RepliesWithTheCrisisWordingOnly()
    {
        var response = await service.Http.PostAsJsonAsync("/api/messages", Message("i took all my sleeping pills", "m2"));

        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var reply = Assert.Single(body.GetProperty("activities").EnumerateArray());
        Assert.StartsWith("If you are in immediate danger, call 911", reply.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"text\": \"no type\"}")]
    [InlineData("not json")]
    public async Task Messages_NotAnActivity_Gets400ProblemDetails(string body)
    {
        var response = await service.Http.PostAsync("/api/messages", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Messages_AuthorizationHeaderThatCannotBeValidated_Gets401AndNothingIsProcessed()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages")
        {
            Content = JsonContent.Create(Message("i took all my sleeping pills", "m3")),
        };
        request.Headers.Authorization = new("Bearer", "not-a-real-token");

        var response = await service.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var dispatcher = (BotService.Storage.Escalations.EscalationDispatcher)service.Services.GetService(typeof(BotService.Storage.Escalations.EscalationDispatcher))!;
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            while (!dispatcher.IsIdle)
            {
                await Task.Delay(20, wait.Token); // let anything accepted land before counting
            }
        }

        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(service.DataPath, "botservice.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var count = db.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM escalations WHERE ConversationId = 'conv-m3'";
        Assert.Equal(0L, (long)count.ExecuteScalar()!);
    }
}
