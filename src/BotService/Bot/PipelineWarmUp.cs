using System.Text.Json;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Safety;

namespace BotService.Bot;

/// <summary>
/// Runs one ordinary turn through the whole pipeline before the server takes requests (hosted services start before
/// the server), so the first visitor after a start, who may be the one in crisis, does not pay for compiling it. The
/// turn is marked as recorded so nothing is written, and its replies go nowhere; the crisis card and the activity
/// JSON are built once too. Failures are ignored: this only saves time.
/// </summary>
internal sealed class PipelineWarmUp(BotPipeline pipeline, CrisisReplies replies) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            var activity = new Activity
            {
                Type = ActivityTypes.Message,
                Id = "warm-up",
                ChannelId = "warmup",
                Conversation = new ConversationAccount { Id = "warm-up" },
                From = new ChannelAccount { Id = "warm-up", Role = "user" },
                Recipient = new ChannelAccount { Id = "bot", Role = "bot" },
                Text = "how much is an infusion",
                DeliveryMode = DeliveryModes.ExpectReplies,
            };
            var turn = new TurnContext(activity, (sent, ct) =>
            {
                foreach (var reply in sent)
                {
                    _ = JsonSerializer.Serialize(reply, ProtocolJsonContext.Default.Activity);
                }

                return Task.FromResult<IReadOnlyList<string?>>(new string?[sent.Count]);
            });
            turn.TurnState[TranscriptMiddleware.RecordedByAdapter] = true;
            await pipeline.RunTurnAsync(turn, cancellationToken);
            _ = JsonSerializer.Serialize(Replies.Crisis(replies.For(SafetyLevel.Emergency)!), ProtocolJsonContext.Default.Activity);
            _ = JsonSerializer.Deserialize(JsonSerializer.Serialize(activity, ProtocolJsonContext.Default.Activity), ProtocolJsonContext.Default.Activity);
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            // Only a head start; the real turns report their own problems.
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
