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
        var replies = body.GetProperty("activities").EnumerateArray().ToArray();
        Assert.StartsWith("If you are in immediate danger, call 911", replies[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        // Nothing but resources: at most the notice that nobody is on the dashboard (StaffPresenceTests), no answer.
        Assert.All(replies.Skip(1), r => Assert.StartsWith("No one from the clinic is online", r.GetProperty("text").GetString(), StringComparison.Ordinal));
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

    [Theory]
    [InlineData("channelId", "I want to end my life")] // ids go to logs and metric labels: text must not
    [InlineData("channelId", "emulator\u0000")]
    [InlineData("conversation", "conv with spaces")]
    [InlineData("conversation", "conv-\u0000")] // PostgreSQL refuses a NUL in a key
    [InlineData("from", "user\u00e9")]
    public async Task Messages_MalformedId_Gets400NamingTheField(string field, string value)
    {
        var activity = JsonSerializer.SerializeToNode(Message("how much is an infusion", "m-bad-id"))!.AsObject();
        if (field == "channelId")
        {
            activity["channelId"] = value;
        }
        else
        {
            activity[field]!["id"] = value;
        }

        var response = await service.Http.PostAsJsonAsync("/api/messages", activity);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(field, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_UnknownFieldsNestedDeeperThanRepliesCanCarry_Gets400Not500()
    {
        // The conversation's unknown fields are kept and copied into every reply, one array and two objects deeper:
        // a body the reader took at 60 levels would have failed the writer's 64 on the way out (found by the fuzz run).
        var activity = JsonSerializer.SerializeToNode(Message("how much is an infusion", "m-deep"))!.AsObject();
        var nested = new System.Text.Json.Nodes.JsonObject();
        var inner = nested;
        for (var i = 0; i < 60; i++)
        {
            var next = new System.Text.Json.Nodes.JsonObject();
            inner["x"] = next;
            inner = next;
        }

        activity["conversation"]!["extra"] = nested;

        var response = await service.Http.PostAsync("/api/messages",
            new StringContent(activity.ToJsonString(new JsonSerializerOptions { MaxDepth = 128 }), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
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

        Assert.Equal(0L, TestStorage.Scalar(service.DataPath, """SELECT COUNT(*) FROM escalations WHERE "ConversationId" = 'conv-m3'"""));
    }

    private async Task<JsonElement[]> RepliesTo(object activity)
    {
        var response = await service.Http.PostAsJsonAsync("/api/messages", activity);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("activities").EnumerateArray().ToArray();
    }

    [Fact]
    public async Task Messages_Answer_CarriesACitationEntityFollowUpsAndNoNullFields()
    {
        // Act
        var reply = Assert.Single(await RepliesTo(Message("what is ketamine assisted psychotherapy", "m4")));

        // Assert: Web Chat's citation shape (a Claim at position 1 matching the [1] reference in the Markdown)
        Assert.Equal("markdown", reply.GetProperty("textFormat").GetString());
        Assert.Matches(@"\[1\]\n\n\[1\]: cite:1 ""Source: “", reply.GetProperty("text").GetString());
        var message = Assert.Single(reply.GetProperty("entities").EnumerateArray());
        Assert.Equal("https://schema.org/Message", message.GetProperty("type").GetString());
        var claim = Assert.Single(message.GetProperty("citation").EnumerateArray());
        Assert.Equal(1, claim.GetProperty("position").GetInt32());
        Assert.False(string.IsNullOrEmpty(claim.GetProperty("appearance").GetProperty("name").GetString()));
        var actions = reply.GetProperty("suggestedActions").GetProperty("actions").EnumerateArray().ToArray();
        Assert.InRange(actions.Length, 1, 3);
        Assert.All(actions, a => Assert.Equal("imBack", a.GetProperty("type").GetString()));
        // Nulls are omitted on the wire, as the SDK's serializer does.
        Assert.DoesNotContain(reply.EnumerateObject(), p => p.Value.ValueKind == JsonValueKind.Null);
        Assert.DoesNotContain(reply.GetProperty("from").EnumerateObject(), p => p.Value.ValueKind == JsonValueKind.Null);
    }

    [Fact]
    public async Task Messages_MemberJoins_GetsTheWelcomeWithStarterQuestions()
    {
        var replies = await RepliesTo(new
        {
            type = "conversationUpdate", id = "cu1", channelId = "emulator", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
            conversation = new { id = "conv-cu1" }, recipient = new { id = "bot" },
            membersAdded = new[] { new { id = "bot" }, new { id = "user-7" } },
        });

        var welcome = Assert.Single(replies);
        Assert.Contains("can't give medical advice", welcome.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, welcome.GetProperty("suggestedActions").GetProperty("actions").GetArrayLength());
    }

    [Fact]
    public async Task Messages_OnlyTheBotJoins_NoWelcome()
    {
        var replies = await RepliesTo(new
        {
            type = "conversationUpdate", id = "cu2", channelId = "emulator", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
            conversation = new { id = "conv-cu2" }, recipient = new { id = "bot" }, membersAdded = new[] { new { id = "bot" } },
        });

        Assert.Empty(replies);
    }

    [Theory]
    [InlineData("webchat/join", 1)]
    [InlineData("handoff.status", 0)] // must be accepted, never rejected (protocol.md §7)
    [InlineData("something/unknown", 0)]
    public async Task Messages_Event_JoinGetsTheWelcomeOthersAreAcceptedQuietly(string name, int expected)
    {
        var replies = await RepliesTo(new
        {
            type = "event", name, id = "ev-" + name, channelId = "webchat", serviceUrl = "http://127.0.0.1:9/", deliveryMode = "expectReplies",
            conversation = new { id = "conv-ev" }, from = new { id = "user-1" }, recipient = new { id = "bot" },
        });

        Assert.Equal(expected, replies.Length);
    }

    [Fact]
    public async Task Messages_InvokeTheBotDoesNotHandle_Gets501()
    {
        var response = await service.Http.PostAsJsonAsync("/api/messages", new
        {
            type = "invoke", name = "composeExtension/query", id = "inv1", channelId = "msteams", serviceUrl = "http://127.0.0.1:9/",
            conversation = new { id = "conv-inv" }, from = new { id = "user-1" }, recipient = new { id = "bot" },
        });

        Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
    }

    [Fact]
    public async Task Messages_ActivityOver256KiB_Gets413()
    {
        var response = await service.Http.PostAsJsonAsync("/api/messages", Message(new string('a', 300 * 1024), "big"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Messages_Turn_IsInTheTranscriptInOrderWhenThe200Arrives()
    {
        // Act
        await RepliesTo(Message("how much is an infusion", "tr1"));

        // Assert: the visitor's message, then the answer, numbered in order, with no wait after the response
        using var db = TestStorage.Open(service.DataPath, readOnly: true);
        using var query = TestStorage.Command(db, """SELECT "Role", "Seq" FROM messages WHERE "ConversationId" = 'conv-tr1' ORDER BY "Seq" """);
        using var rows = query.ExecuteReader();
        var roles = new List<(string, long)>();
        while (rows.Read())
        {
            roles.Add((rows.GetString(0), rows.GetInt64(1)));
        }

        Assert.Equal([("visitor", 1L), ("bot", 2L)], roles);
    }
}
