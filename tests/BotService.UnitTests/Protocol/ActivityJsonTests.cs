using System.Text.Json;
using System.Text.Json.Nodes;
using BotService.Protocol.Schema;

namespace BotService.UnitTests.Protocol;

/// <summary>The Activity schema on the wire: the examples of shared/protocol.md survive a round trip unchanged.</summary>
public sealed class ActivityJsonTests
{
    private static Activity Read(string json) => JsonSerializer.Deserialize(json, ProtocolJsonContext.Default.Activity)!;

    private static string Write(Activity activity) => JsonSerializer.Serialize(activity, ProtocolJsonContext.Default.Activity);

    public static TheoryData<string> WireExamples => new()
    {
        // Direct Line: a user message echoed with its clientActivityID (protocol.md §5).
        """
        {"type":"message","id":"c1|0000001","timestamp":"2024-05-01T10:00:00Z","channelId":"directline",
         "conversation":{"id":"c1"},"from":{"id":"u_42","role":"user"},"text":"opening hours?",
         "channelData":{"clientActivityID":"1714557600000abcd"}}
        """,
        // Teams: an Adaptive Card reply (protocol.md §6).
        """
        {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{
         "type":"AdaptiveCard","$schema":"http://adaptivecards.io/schemas/adaptive-card.json","version":"1.5",
         "body":[{"type":"TextBlock","text":"Clinic hours: Mon–Fri 8–18","wrap":true}],
         "actions":[{"type":"Action.OpenUrl","title":"Book online","url":"https://clinic.example/book"}]}}]}
        """,
        // Handoff (protocol.md §7).
        """
        {"type":"event","name":"handoff.initiate","conversation":{"id":"c1"},
         "value":{"MessageToAgent":"Issue Summary: billing question","Context":{"skill":"service"}},
         "attachments":[{"contentType":"application/json","name":"Transcript","content":{"activities":[]}}]}
        """,
        // Teams channel message with a mention, tenant and fields we do not model at every level.
        """
        {"type":"message","id":"1481567603816","serviceUrl":"https://smba.trafficmanager.net/teams/","channelId":"msteams",
         "from":{"id":"29:1abc","name":"Nurse Ana","aadObjectId":"00000000-0000-0000-0000-000000000001","userRole":"user"},
         "conversation":{"id":"19:abc@thread.skype;messageid=1481567603816","conversationType":"channel","tenantId":"t1","isGroup":true},
         "recipient":{"id":"28:app-id","name":"ClinicBot"},"text":"<at>ClinicBot</at> what do I do with an urgent escalation",
         "entities":[{"type":"mention","mentioned":{"id":"28:app-id","name":"ClinicBot"},"text":"<at>ClinicBot</at>"},
                     {"type":"clientInfo","locale":"en-US","country":"US","platform":"Web"}],
         "channelData":{"tenant":{"id":"t1"},"team":{"id":"19:team"},"channel":{"id":"19:abc@thread.skype"}},
         "locale":"en-US","textFormat":"plain","futureField":{"nested":[1,2,3]}}
        """,
    };

    [Theory]
    [MemberData(nameof(WireExamples))]
    public void RoundTrip_WireExample_KeepsEveryField(string json)
    {
        // Act
        var written = Write(Read(json));

        // Assert: the same JSON tree (property order aside).
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json), JsonNode.Parse(written)), written);
    }

    [Fact]
    public void Read_MisCasedNamesAndUnknownType_AreAccepted()
    {
        var activity = Read("""{"Type":"somethingNew","TEXT":"hi","From":{"ID":"u1"}}""");

        Assert.Equal("somethingNew", activity.Type);
        Assert.Equal("hi", activity.Text);
        Assert.Equal("u1", activity.From?.Id);
    }

    [Fact]
    public void Write_Reply_OmitsNullsAndUsesCamelCaseWithUtcTimestamp()
    {
        var reply = new Activity
        {
            Type = ActivityTypes.Message,
            Text = "Hello",
            Timestamp = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.FromHours(2)),
            SuggestedActions = new SuggestedActions { Actions = [new CardAction { Type = "imBack", Title = "Pricing", Value = JsonSerializer.SerializeToElement("How much is an infusion?") }] },
        };

        var json = Write(reply);

        Assert.Equal(
            """{"type":"message","timestamp":"2026-11-23T10:00:00Z","text":"Hello","suggestedActions":{"actions":[{"type":"imBack","title":"Pricing","value":"How much is an infusion?"}]}}""",
            json);
    }

    [Fact]
    public void Read_NoType_IsRejected()
    {
        Assert.Throws<JsonException>(() => Read("""{"text":"hello"}"""));
    }
}
