using System.Text.Json;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
using BotService.Bot;
using BotService.Hosting;
using BotService.Protocol.Schema;
using BotService.Protocol.Turns;
using BotService.Safety;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace BotService.Api;

/// <summary><c>POST /api/ask</c>: a question in, a cited answer (or an honest decline) out.</summary>
internal static partial class AskApi
{
    public const int MaxTextLength = 2000;
    public const long MaxBodyBytes = 16 * 1024;

    public static IEndpointRouteBuilder MapAskApi(this IEndpointRouteBuilder app)
    {
        // One logger for the endpoint: ILoggerFactory.CreateLogger takes the factory's lock, so not once per request.
        var log = app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("BotService.Api.Ask");
        app.MapPost("/api/ask", (HttpContext http, BotPipeline pipeline, CancellationToken cancellationToken) => AskAsync(http, pipeline, log, cancellationToken))
            .WithMetadata(new MessageEndpoint("ask", MaxBodyBytes, () => TooLarge().Problem!, IsActivity: false)) // rate limits, safety lane
            .WithName("Ask")
            .Produces<AskResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    internal static async Task<Results<Ok<AskResponse>, ValidationProblem, ProblemHttpResult>> AskAsync(
        HttpContext http, BotPipeline pipeline, ILogger log, CancellationToken cancellationToken)
    {
        var parsed = await ReadAsync(http, cancellationToken);
        if (parsed.Problem is { } problem)
        {
            return problem;
        }

        if (parsed.Errors is { } errors)
        {
            return TypedResults.ValidationProblem(errors, title: "The question could not be read.");
        }

        var conversationId = parsed.ConversationId ?? "ask-" + Guid.NewGuid().ToString("n");
        var turn = await RunTurnAsync(pipeline, parsed.Text!, parsed.Audience, conversationId, oneOff: parsed.ConversationId is null, cancellationToken);
        var outcome = turn.Safety() ?? new SafetyOutcome(SafetyAssessment.None, null, false);
        var safetyDto = ToDto(outcome.Assessment);
        if (outcome.Assessment.Level == SafetyLevel.Emergency)
        {
            Asked(log, parsed.Audience, "emergency", false, 0, null);
            return TypedResults.Ok(new AskResponse(false, outcome.Reply!.Text, 0, [], safetyDto, null));
        }

        if (turn.Answer() is not { } answer)
        {
            if (outcome.Reply is { } urgentOnly)
            {
                return TypedResults.Ok(new AskResponse(false, urgentOnly.Text, 0, [], safetyDto, null));
            }

            http.Response.Headers.RetryAfter = "1";
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The knowledge index is still loading.", detail: "Try again in a moment.");
        }
        Asked(log, parsed.Audience, safetyDto.Level, answer.Answered, answer.Confidence, answer.Sources.Count > 0 ? answer.Sources[0].Path : null);

        // Urgent: the advice to contact the clinic comes first; the question is still answered if the articles can.
        var text = outcome.Reply is { } urgent
            ? answer.Answered ? $"{urgent.Text}\n\n{answer.Text}" : urgent.Text
            : answer.Text;
        return TypedResults.Ok(ToResponse(answer, text, safetyDto));
    }

    /// <summary>
    /// Runs the question through the same turn pipeline as every channel (safety middleware, then the bot), as a
    /// message on the <c>api</c> channel; the JSON is built from what the turn left in its state, not from its replies.
    /// </summary>
    private static async Task<ITurnContext> RunTurnAsync(BotPipeline pipeline, string text, Audience audience, string conversationId,
        bool oneOff, CancellationToken cancellationToken)
    {
        var activity = new Activity
        {
            Type = ActivityTypes.Message,
            Id = Guid.NewGuid().ToString("n"),
            ChannelId = "api",
            Conversation = new ConversationAccount { Id = conversationId },
            From = new ChannelAccount { Id = conversationId, Role = "user" },
            Recipient = new ChannelAccount { Id = "bot", Role = "bot" },
            Text = text,
            DeliveryMode = DeliveryModes.ExpectReplies,
        };
        var turn = new TurnContext(activity, (activities, _) => Task.FromResult<IReadOnlyList<string?>>(new string?[activities.Count]));
        turn.SetAudience(audience);
        if (oneOff)
        {
            turn.SetOneOff();
        }

        await pipeline.RunTurnAsync(turn, cancellationToken);
        return turn;
    }

    private static SafetyDto ToDto(SafetyAssessment a) => a.Level == SafetyLevel.None && a.Reasons.Count == 0
        ? SafetyDto.None
        : new SafetyDto(LevelName(a.Level), a.Reasons.Select(r => new SafetyReasonDto(r.RuleId, LevelName(r.Level), r.Start, r.Length)).ToArray());

    private static string LevelName(SafetyLevel level) => level switch
    {
        SafetyLevel.Emergency => "emergency",
        SafetyLevel.Urgent => "urgent",
        _ => "none",
    };

    private static AskResponse ToResponse(Answer answer, string text, SafetyDto safety) => new(
        answer.Answered,
        text,
        answer.Confidence,
        answer.Sources.Select(s => new SourceDto(s.Title, s.Clinic, s.Section, s.Path, s.Updated.ToString("yyyy-MM-dd"))).ToArray(),
        safety,
        answer.Corrections.Count > 0 ? string.Join(", ", answer.Corrections.Select(c => $"{c.From} → {c.To}")) : null,
        answer.FollowUpAbout,
        answer.DidYouMean.Count > 0 ? answer.DidYouMean.Select(s => new SuggestionDto(s.Question, s.Section, s.Title, s.Path)).ToArray() : null);

    private sealed record Parsed(string? Text, Audience Audience, string? ConversationId, Dictionary<string, string[]>? Errors, ProblemHttpResult? Problem);

    /// <summary>Reads and validates the body by hand, so every kind of bad input gets its own clear message.</summary>
    private static async Task<Parsed> ReadAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var request = http.Request;
        if (!request.HasJsonContentType())
        {
            return Fail(StatusCodes.Status415UnsupportedMediaType, "The body must be JSON.",
                "Send Content-Type: application/json with a body like {\"text\": \"How much does an infusion cost?\"}.");
        }

        if (request.ContentLength > MaxBodyBytes)
        {
            return TooLarge();
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        JsonDocument document;
        try
        {
            document = Admission.TryGetReadBody(http, out var body) // in memory since admission: no stream to go through
                ? JsonDocument.Parse(body)
                : await JsonDocument.ParseAsync(request.Body, default, cancellationToken);
        }
        catch (JsonException)
        {
            return Fail(StatusCodes.Status400BadRequest, "The body is not valid JSON.",
                "Send a JSON object like {\"text\": \"How much does an infusion cost?\", \"audience\": \"public\"}.");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge();
        }

        try
        {
            return Validate(document);
        }
        catch (InvalidOperationException)
        {
            // GetString on a string that is not valid Unicode (invalid UTF-8, an unpaired surrogate escape): found by the fuzz run.
            return Fail(StatusCodes.Status400BadRequest, "The body is not valid JSON text.",
                "A string in it is not valid Unicode (invalid UTF-8 or an unpaired surrogate).");
        }
        finally
        {
            document.Dispose();
        }
    }

    private static Parsed Validate(JsonDocument document)
    {
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Invalid("body", "The body must be a JSON object with a \"text\" field.");
        }

        var errors = new Dictionary<string, string[]>();
        string? text = null;
        if (!root.TryGetProperty("text", out var textElement))
        {
            errors["text"] = ["\"text\" is required: the question to answer."];
        }
        else if (textElement.ValueKind != JsonValueKind.String)
        {
            errors["text"] = ["\"text\" must be a string."];
        }
        else
        {
            text = textElement.GetString()!;
            if (string.IsNullOrWhiteSpace(text))
            {
                errors["text"] = ["\"text\" is empty: write a question."];
            }
            else if (text.Length > MaxTextLength)
            {
                errors["text"] = [$"\"text\" is {text.Length} characters long; the limit is {MaxTextLength}."];
            }
        }

        var audience = Audience.Public;
        if (root.TryGetProperty("audience", out var audienceElement) && audienceElement.ValueKind != JsonValueKind.Null)
        {
            switch (audienceElement.ValueKind == JsonValueKind.String ? audienceElement.GetString() : null)
            {
                case "public": audience = Audience.Public; break;
                case "staff": audience = Audience.Staff; break;
                default: errors["audience"] = ["\"audience\" must be \"public\" or \"staff\"."]; break;
            }
        }

        string? conversationId = null;
        if (root.TryGetProperty("conversationId", out var conversationElement) && conversationElement.ValueKind != JsonValueKind.Null)
        {
            conversationId = conversationElement.ValueKind == JsonValueKind.String ? conversationElement.GetString() : null;
            if (string.IsNullOrWhiteSpace(conversationId) || conversationId.Length > 200 || !ActivityIds.IsId(conversationId))
            {
                errors["conversationId"] = ["\"conversationId\" must be 1 to 200 printable ASCII characters without spaces."];
            }
        }

        return errors.Count > 0 ? new Parsed(null, audience, null, errors, null) : new Parsed(text, audience, conversationId, null, null);
    }

    private static Parsed Invalid(string field, string message) => new(null, Audience.Public, null, new() { [field] = [message] }, null);

    private static Parsed TooLarge() => Fail(StatusCodes.Status413PayloadTooLarge, "The body is too large.",
        $"The body may be at most {MaxBodyBytes / 1024} KiB, and \"text\" at most {MaxTextLength} characters.");

    private static Parsed Fail(int status, string title, string detail) =>
        new(null, Audience.Public, null, null, TypedResults.Problem(statusCode: status, title: title, detail: detail));

    [LoggerMessage(4001, LogLevel.Debug, "Ask for {Audience}: safety {Safety}, answered {Answered} with confidence {Confidence} from {Source}")]
    private static partial void Asked(ILogger logger, Audience audience, string safety, bool answered, double confidence, string? source);
}
