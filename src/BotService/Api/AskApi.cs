using System.Text.Json;
using BotService.Knowledge;
using BotService.Knowledge.Answers;
using BotService.Knowledge.Articles;
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
        app.MapPost("/api/ask", AskAsync)
            .WithName("Ask")
            .Produces<AskResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    internal static async Task<Results<Ok<AskResponse>, ValidationProblem, ProblemHttpResult>> AskAsync(
        HttpContext http, KnowledgeBase knowledge, ILoggerFactory loggers, CancellationToken cancellationToken)
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

        Answer answer;
        try
        {
            answer = knowledge.Ask(parsed.Text!, parsed.Audience);
        }
        catch (KnowledgeNotReadyException)
        {
            http.Response.Headers.RetryAfter = "1";
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "The knowledge index is still loading.", detail: "Try again in a moment.");
        }

        Asked(loggers.CreateLogger("BotService.Api.Ask"), parsed.Audience, answer.Answered, answer.Confidence,
            answer.Sources.Count > 0 ? answer.Sources[0].Path : null);
        return TypedResults.Ok(ToResponse(answer));
    }

    private static AskResponse ToResponse(Answer answer) => new(
        answer.Answered,
        answer.Text,
        answer.Confidence,
        answer.Sources.Select(s => new SourceDto(s.Title, s.Clinic, s.Section, s.Path, s.Updated.ToString("yyyy-MM-dd"))).ToArray(),
        SafetyDto.None,
        answer.Corrections.Count > 0 ? string.Join(", ", answer.Corrections.Select(c => $"{c.From} → {c.To}")) : null);

    private sealed record Parsed(string? Text, Audience Audience, Dictionary<string, string[]>? Errors, ProblemHttpResult? Problem);

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
            document = await JsonDocument.ParseAsync(request.Body, default, cancellationToken);
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

        using (document)
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

            return errors.Count > 0 ? new Parsed(null, audience, errors, null) : new Parsed(text, audience, null, null);
        }
    }

    private static Parsed Invalid(string field, string message) => new(null, Audience.Public, new() { [field] = [message] }, null);

    private static Parsed TooLarge() => Fail(StatusCodes.Status413PayloadTooLarge, "The body is too large.",
        $"The body may be at most {MaxBodyBytes / 1024} KiB, and \"text\" at most {MaxTextLength} characters.");

    private static Parsed Fail(int status, string title, string detail) =>
        new(null, Audience.Public, null, TypedResults.Problem(statusCode: status, title: title, detail: detail));

    [LoggerMessage(4001, LogLevel.Debug, "Ask for {Audience}: answered {Answered} with confidence {Confidence} from {Source}")]
    private static partial void Asked(ILogger logger, Audience audience, bool answered, double confidence, string? source);
}
