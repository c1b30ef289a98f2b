using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace BotService.IntegrationTests.Auth;

/// <summary>
/// Teams-shaped activities (shared/protocol.md §6) posted with valid channel tokens to the real endpoint; replies go
/// to the loopback Connector with the bot's token.
/// </summary>
public sealed class TeamsTests(AuthenticatedService service) : IClassFixture<AuthenticatedService>
{
    private object TeamsMessage(string id, string text, string tenant = AuthenticatedService.TenantId, bool mention = true, string? thread = null) => new
    {
        type = "message",
        id,
        channelId = "msteams",
        serviceUrl = service.Issuer.ServiceUrl,
        timestamp = "2026-11-23T10:00:00.000Z",
        text = mention ? "<at>Clinic Bot</at> " + text : text,
        textFormat = "plain",
        from = new { id = "29:1a2b3c-staff", name = "Night Nurse", aadObjectId = "00000000-0000-0000-0000-0000000000aa" },
        recipient = new { id = "28:" + BotFrameworkIssuer.AppId, name = "Clinic Bot" },
        conversation = new { id = "19:staffchannel@thread.skype;messageid=" + (thread ?? id), conversationType = "channel", isGroup = true, tenantId = tenant },
        entities = mention
            ? new object[] { new { type = "mention", mentioned = new { id = "28:" + BotFrameworkIssuer.AppId, name = "Clinic Bot" }, text = "<at>Clinic Bot</at>" } }
            : [],
        channelData = new
        {
            tenant = new { id = tenant },
            team = new { id = "19:team@thread.skype", name = "Clinic staff" },
            channel = new { id = "19:staffchannel@thread.skype", name = "Escalations" },
        },
    };

    private async Task<JsonElement[]> SendAsync(object activity, string conversationMarker)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        request.Headers.Authorization = new("Bearer", BotFrameworkIssuer.ChannelToken(service.ChannelKey, service.Issuer.ServiceUrl));
        var response = await service.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return service.Issuer.Received
            .Where(r => r.Path.Contains(conversationMarker, StringComparison.Ordinal))
            .Select(r => JsonDocument.Parse(r.Body).RootElement)
            .Where(a => a.GetProperty("type").GetString() == "message")
            .ToArray();
    }

    [Fact]
    public async Task Teams_ChannelMessageWithMention_AnsweredAsAnAdaptiveCardWithTheSourceAndOpenArticle()
    {
        // Act
        var replies = await SendAsync(TeamsMessage("t1", "how much is an infusion?"), "messageid=t1");

        // Assert
        var reply = Assert.Single(replies);
        var attachment = reply.GetProperty("attachments")[0];
        Assert.Equal("application/vnd.microsoft.card.adaptive", attachment.GetProperty("contentType").GetString());
        var card = attachment.GetProperty("content");
        Assert.Equal("1.5", card.GetProperty("version").GetString());
        Assert.Contains("$275", card.GetProperty("body")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("Source: ", card.GetProperty("body")[1].GetProperty("text").GetString(), StringComparison.Ordinal);
        var open = card.GetProperty("actions")[0];
        Assert.Equal("Action.OpenUrl", open.GetProperty("type").GetString());
        Assert.StartsWith("https://bot.clinic.example/articles/", open.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.Equal("28:" + BotFrameworkIssuer.AppId, reply.GetProperty("from").GetProperty("id").GetString());
    }

    [Fact]
    public async Task Teams_MemberOfAnotherTenant_GetsAPoliteRefusalAndNoAnswer()
    {
        var replies = await SendAsync(TeamsMessage("t2", "how much is an infusion?", tenant: "00000000-0000-0000-0000-00000000beef"), "messageid=t2");

        var reply = Assert.Single(replies);
        Assert.Equal(Bot.TeamsMiddleware.NotServed, reply.GetProperty("text").GetString());
        Assert.False(reply.TryGetProperty("attachments", out _));
    }

    [Fact]
    public async Task Teams_CrisisMessage_GetsTheCrisisReplyWhateverTheTenant()
    {
        var replies = await SendAsync(TeamsMessage("t3", "a patient says he took 40 pills", tenant: "00000000-0000-0000-0000-00000000beef"), "messageid=t3");

        Assert.Contains("988", replies[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Teams_FollowUpInTheSameThread_IsReadWithItsTopicAndSaysSo()
    {
        await SendAsync(TeamsMessage("t30", "What is ketamine-assisted psychotherapy?"), "messageid=t30");

        var replies = await SendAsync(TeamsMessage("t31", "how much is it?", thread: "t30"), "messageid=t30");

        var card = replies[^1].GetProperty("attachments")[0].GetProperty("content");
        Assert.StartsWith("Taking this as a question about ketamine-assisted psychotherapy: ", card.GetProperty("body")[0].GetProperty("text").GetString(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Teams_VagueQuestion_DidYouMeanCardWithMessageBackButtons_ATapIsAnsweredFromThatSection()
    {
        // Act
        var asked = Assert.Single(await SendAsync(TeamsMessage("t40", "is it safe?"), "messageid=t40"));

        // Assert: a card whose buttons send the question back as the visitor's message
        var attachment = asked.GetProperty("attachments")[0];
        Assert.Equal("application/vnd.microsoft.card.adaptive", attachment.GetProperty("contentType").GetString());
        var actions = attachment.GetProperty("content").GetProperty("actions").EnumerateArray().ToArray();
        Assert.InRange(actions.Length, 2, 3);
        Assert.All(actions, a =>
        {
            Assert.Equal("Action.Submit", a.GetProperty("type").GetString());
            var msteams = a.GetProperty("data").GetProperty("msteams");
            Assert.Equal("messageBack", msteams.GetProperty("type").GetString());
            Assert.Equal(msteams.GetProperty("text").GetString(), msteams.GetProperty("displayText").GetString());
        });

        // Act: the tap (Teams posts the messageBack text as a message in the thread)
        var chosen = actions[^1];
        var replies = await SendAsync(TeamsMessage("t41", chosen.GetProperty("data").GetProperty("msteams").GetProperty("text").GetString()!,
            mention: false, thread: "t40"), "messageid=t40");

        // Assert: answered from the chosen heading
        var card = replies[^1].GetProperty("attachments")[0].GetProperty("content");
        Assert.Contains($"section “{chosen.GetProperty("title").GetString()!.TrimEnd('…')}", card.GetProperty("body")[1].GetProperty("text").GetString(),
            StringComparison.Ordinal);
    }
}
