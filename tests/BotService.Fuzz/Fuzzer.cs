using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace BotService.Fuzz;

/// <summary>What a fuzz run saw.</summary>
public sealed class FuzzReport
{
    public int Inputs;
    public int ServerErrors;
    public int TransportErrors;

    /// <summary>501 from /api/messages: an invoke activity the bot does not handle, answered as the Bot Framework says (not a failure).</summary>
    public int UnhandledInvokes;
    public TimeSpan Elapsed;
    public ConcurrentDictionary<int, int> ByStatus { get; } = new();
    public ConcurrentDictionary<string, int> ByKind { get; } = new();

    /// <summary>The first inputs that got a 5xx or no answer at all, to reproduce them.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    public override string ToString()
    {
        var statuses = string.Join(", ", ByStatus.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"));
        var kinds = string.Join(", ", ByKind.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key} {k.Value}"));
        return $"{Inputs} inputs in {Elapsed.TotalSeconds:F1} s ({Inputs / Math.Max(0.001, Elapsed.TotalSeconds):F0}/s): {ServerErrors} 5xx, {TransportErrors} without an answer " +
               $"({UnhandledInvokes} of the 501s are unhandled invokes on /api/messages, as the protocol answers them)\n" +
               $"  statuses: {statuses}\n  kinds: {kinds}";
    }
}

/// <summary>
/// Malformed Activities to <c>/api/messages</c> and malformed Direct Line requests (plus <c>/api/ask</c>, unknown routes
/// and methods), generated from a seed so a run can be repeated: bad JSON, wrong types, huge strings, deep nesting,
/// Unicode edge cases (lone surrogates, NUL, bidi controls, invalid UTF-8), wrong content types, missing, forged and
/// mismatched tokens, odd ids and watermarks. Every answer must be below 500 (except the protocol's 501 for an invoke
/// activity the bot does not handle, counted apart); any other 5xx or a dropped connection is a failure.
/// </summary>
public sealed class Fuzzer(HttpClient http, int seed)
{
    private static readonly string[] Texts =
    [
        "how much is an infusion?", "I want to end my life", "I took 30 pills an hour ago", "what is KAP", "",
        " ", "\u0000", "\ud83d\ude00\ud83d\udc4d", "e\u0301\u0301\u0301", "\u202e\u202dreversed", "\ufeffbom", "\u200b\u200c\u200d",
        "<script>alert(1)</script>", "' OR 1=1 --", "%s%n%x", "{{nonce}}", "../../etc/passwd", "\r\n\r\nHTTP/1.1 200 OK",
    ];

    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

    private static readonly string[] Routes =
    [
        "/api/messages", "/api/ask", "/v3/directline/conversations", "/v3/directline/tokens/generate", "/v3/directline/tokens/refresh",
        "/api/webchat/token", "/v3/directline/conversations/x/activities", "/v3/directline/conversations/x/stream", "/v3/directline/conversations/x",
        "/v3/directline/conversations/x/upload", "/v3/directline/session/getsessionid", "/api/messages/x", "/nope", "/%2e%2e/%2e%2e/etc/passwd",
        "/dashboard/api/escalations", "/healthz/ready", "/webchat/../appsettings.json", "/" + new string('a', 4000),
    ];

    private readonly List<(string Token, string ConversationId)> _conversations = [];

    /// <summary>Direct Line conversations to aim at (tokens from <c>/api/webchat/token</c>, as the chat page gets them).</summary>
    public async Task PrepareAsync(int conversations, CancellationToken cancellationToken)
    {
        for (var i = 0; i < conversations; i++)
        {
            var issued = await http.PostAsync("/api/webchat/token", null, cancellationToken);
            issued.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await issued.Content.ReadAsStringAsync(cancellationToken));
            var token = body.RootElement.GetProperty("token").GetString()!;
            var id = body.RootElement.GetProperty("conversationId").GetString()!;
            using var start = new HttpRequestMessage(HttpMethod.Post, "/v3/directline/conversations");
            start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            (await http.SendAsync(start, cancellationToken)).EnsureSuccessStatusCode();
            _conversations.Add((token, id));
        }
    }

    public async Task<FuzzReport> RunAsync(int inputs, int concurrency, CancellationToken cancellationToken)
    {
        var report = new FuzzReport();
        var next = -1;
        var watch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) < inputs && !cancellationToken.IsCancellationRequested)
            {
                var random = new Random(HashCode.Combine(seed, n)); // input n is the same in every run with this seed
                var (kind, request) = Generate(random);
                using (request)
                {
                    report.ByKind.AddOrUpdate(kind, 1, (_, c) => c + 1);
                    Interlocked.Increment(ref report.Inputs);
                    try
                    {
                        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                        var status = (int)response.StatusCode;
                        report.ByStatus.AddOrUpdate(status, 1, (_, c) => c + 1);
                        if (status == 501 && request.Method == HttpMethod.Post && request.RequestUri is { IsAbsoluteUri: true, AbsolutePath: "/api/messages" })
                        {
                            Interlocked.Increment(ref report.UnhandledInvokes); // the Bot Framework's answer to an invoke no handler takes
                        }
                        else if (status >= 500)
                        {
                            Interlocked.Increment(ref report.ServerErrors);
                            Remember(report, $"input {n} ({kind}): {status} for {request.Method} {request.RequestUri}");
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref report.TransportErrors);
                        Remember(report, $"input {n} ({kind}): {e.GetType().Name} {e.Message} for {request.Method} {request.RequestUri}");
                    }
                }
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers);
        report.Elapsed = watch.Elapsed;
        return report;
    }

    private static void Remember(FuzzReport report, string failure)
    {
        if (report.Failures.Count < 20)
        {
            report.Failures.Enqueue(failure);
        }
    }

    private (string Kind, HttpRequestMessage Request) Generate(Random random) => random.Next(100) switch
    {
        < 35 => ("messages", Messages(random)),
        < 70 => ("directline-post", DirectLinePost(random)),
        < 80 => ("directline-other", DirectLineOther(random)),
        < 90 => ("ask", Ask(random)),
        _ => ("route-method", RouteAndMethod(random)),
    };

    private HttpRequestMessage Messages(Random random)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages");
        request.Content = Body(random, () => Activity(random, forMessages: true));
        MaybeAuthorization(random, request, null);
        return request;
    }

    private HttpRequestMessage DirectLinePost(Random random)
    {
        var (token, id) = _conversations.Count > 0 ? _conversations[random.Next(_conversations.Count)] : ("none", "none");
        var target = random.Next(10) switch
        {
            0 => Odd(random),
            1 when _conversations.Count > 1 => _conversations[random.Next(_conversations.Count)].ConversationId, // another visitor's
            _ => id,
        };
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v3/directline/conversations/{Uri.EscapeDataString(target)}/activities");
        request.Content = Body(random, () => Activity(random, forMessages: false));
        MaybeAuthorization(random, request, token);
        return request;
    }

    private HttpRequestMessage DirectLineOther(Random random)
    {
        var (token, id) = _conversations.Count > 0 ? _conversations[random.Next(_conversations.Count)] : ("none", "none");
        var watermark = random.Next(6) switch
        {
            0 => "", 1 => "-1", 2 => "99999999999999999999999", 3 => "abc", 4 => random.Next(1000).ToString(System.Globalization.CultureInfo.InvariantCulture), _ => "%00",
        };
        var (method, path) = random.Next(7) switch
        {
            0 => (HttpMethod.Get, $"/v3/directline/conversations/{id}/activities?watermark={watermark}"),
            1 => (HttpMethod.Get, $"/v3/directline/conversations/{id}?watermark={watermark}"),
            2 => (HttpMethod.Get, $"/v3/directline/conversations/{id}/stream?t={Odd(random)}&watermark={watermark}"),
            3 => (HttpMethod.Post, "/v3/directline/tokens/refresh"),
            4 => (HttpMethod.Post, "/v3/directline/tokens/generate"),
            5 => (HttpMethod.Post, "/v3/directline/conversations"),
            _ => (HttpMethod.Get, $"/v3/directline/conversations/{Uri.EscapeDataString(Odd(random))}/activities"),
        };
        var request = new HttpRequestMessage(method, path);
        if (method == HttpMethod.Post && random.Next(2) == 0)
        {
            request.Content = Body(random, () => random.Next(3) switch
            {
                0 => new Dictionary<string, object?> { ["user"] = Value(random) },
                1 => new Dictionary<string, object?> { ["user"] = new Dictionary<string, object?> { ["id"] = Value(random) }, ["locale"] = Value(random) },
                _ => new Dictionary<string, object?> { ["trustedOrigins"] = Value(random) },
            });
        }

        MaybeAuthorization(random, request, token);
        return request;
    }

    private static HttpRequestMessage Ask(Random random)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/ask");
        request.Content = Body(random, () => new Dictionary<string, object?>
        {
            ["text"] = random.Next(4) == 0 ? Value(random) : Text(random),
            ["audience"] = random.Next(3) == 0 ? Value(random) : "public",
            ["conversationId"] = random.Next(3) == 0 ? Value(random) : null,
        });
        return request;
    }

    private static HttpRequestMessage RouteAndMethod(Random random)
    {
        var request = new HttpRequestMessage(new HttpMethod(Methods[random.Next(Methods.Length)]), Routes[random.Next(Routes.Length)]);
        if (request.Method != HttpMethod.Get && request.Method != HttpMethod.Head && random.Next(2) == 0)
        {
            request.Content = new ByteArrayContent(RandomBytes(random, random.Next(2000)));
        }

        return request;
    }

    /// <summary>An activity, then mutated: fields dropped, retyped, blown up, nested.</summary>
    private static Dictionary<string, object?> Activity(Random random, bool forMessages)
    {
        var types = new[] { "message", "message", "message", "event", "invoke", "typing", "conversationUpdate", "endOfConversation", "", "MESSAGE", "x" };
        var activity = new Dictionary<string, object?>
        {
            ["type"] = types[random.Next(types.Length)],
            ["id"] = Guid.NewGuid().ToString("n"),
            ["text"] = Text(random),
            ["from"] = new Dictionary<string, object?> { ["id"] = "fuzz-user", ["name"] = Text(random) },
            ["locale"] = "en-US",
            ["channelData"] = new Dictionary<string, object?> { ["clientActivityID"] = Guid.NewGuid().ToString("n") },
        };
        if (forMessages)
        {
            activity["channelId"] = random.Next(5) == 0 ? Value(random) : "emulator";
            // Replies are buffered (expectReplies) or refused (a non-loopback serviceUrl in anonymous mode): nothing is sent anywhere.
            activity["serviceUrl"] = random.Next(4) == 0 ? Value(random) : "https://fuzz.invalid/";
            activity["deliveryMode"] = random.Next(3) == 0 ? Value(random) : "expectReplies";
            activity["conversation"] = new Dictionary<string, object?> { ["id"] = "fuzz-" + random.Next(200) };
            activity["recipient"] = new Dictionary<string, object?> { ["id"] = "bot" };
        }

        if (activity["type"] as string == "event")
        {
            activity["name"] = random.Next(4) switch { 0 => "webchat/join", 1 => "handoff.status", 2 => Value(random), _ => "other" };
            activity["value"] = Value(random);
        }

        for (var i = random.Next(4); i > 0; i--)
        {
            var keys = activity.Keys.ToArray();
            var key = keys[random.Next(keys.Length)];
            switch (random.Next(5))
            {
                case 0: activity.Remove(key); break;
                case 1: activity[key] = Value(random); break;
                case 2: activity[key] = Nested(random.Next(2, 200)); break;
                case 3: activity["x" + random.Next(1000)] = Value(random); break;
                default: activity[key] = null; break;
            }
        }

        return activity;
    }

    /// <summary>A body: usually the JSON of <paramref name="make"/>, sometimes broken JSON, deep nesting, invalid UTF-8 or another content type.</summary>
    private static HttpContent Body(Random random, Func<object> make)
    {
        var roll = random.Next(100);
        byte[] bytes;
        if (roll < 55)
        {
            bytes = Serialize(make());
        }
        else if (roll < 65)
        {
            var json = Serialize(make());
            bytes = json[..random.Next(json.Length + 1)]; // truncated
        }
        else if (roll < 72)
        {
            var depth = random.Next(60, 20_000);
            bytes = Encoding.UTF8.GetBytes(new string('[', depth) + new string(']', random.Next(2) == 0 ? depth : 0));
        }
        else if (roll < 78)
        {
            bytes = Encoding.UTF8.GetBytes("{\"type\":\"message\",\"text\":\"" + new string('a', random.Next(60_000, 300_000)) + "\"}");
        }
        else if (roll < 84)
        {
            // Invalid UTF-8 and lone surrogates inside an otherwise good activity.
            var good = Encoding.UTF8.GetBytes("{\"type\":\"message\",\"text\":\"X\",\"conversation\":{\"id\":\"fuzz-1\"},\"deliveryMode\":\"expectReplies\",\"serviceUrl\":\"https://fuzz.invalid/\"}");
            var at = Array.IndexOf(good, (byte)'X');
            byte[][] bad = [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF], [0xF4, 0x90, 0x80, 0x80], Encoding.UTF8.GetBytes("\\ud800"), Encoding.UTF8.GetBytes("\\udfff\\ud800"), [0x00]];
            var insert = bad[random.Next(bad.Length)];
            bytes = [.. good[..at], .. insert, .. good[(at + 1)..]];
        }
        else if (roll < 90)
        {
            bytes = Encoding.UTF8.GetBytes(random.Next(6) switch
            {
                0 => "null", 1 => "[]", 2 => "\"message\"", 3 => "42", 4 => "{\"type\":1e999}", _ => "{\"type\":\"message\",\"type\":{\"a\":[1,2,{}]}}",
            });
        }
        else if (roll < 95)
        {
            bytes = RandomBytes(random, random.Next(0, 4096));
        }
        else
        {
            bytes = [];
        }

        var content = new ByteArrayContent(bytes);
        content.Headers.TryAddWithoutValidation("Content-Type", random.Next(10) switch
        {
            < 6 => "application/json",
            6 => "text/plain",
            7 => "application/x-www-form-urlencoded",
            8 => "multipart/form-data; boundary=x",
            _ => "application/json; charset=utf-16",
        });
        if (random.Next(15) == 0)
        {
            content.Headers.ContentType = null;
        }

        return content;
    }

    /// <summary>JSON of a value; what the serializer refuses to write (deeper than 64, lone surrogates) is written by hand instead.</summary>
    private static byte[] Serialize(object value)
    {
        try
        {
            return JsonSerializer.SerializeToUtf8Bytes(value);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            return Encoding.UTF8.GetBytes("{\"type\":\"message\",\"text\":\"\\ud800\\udc00\\ud800\",\"value\":" + new string('[', 300) + new string(']', 300) + "}");
        }
    }

    private void MaybeAuthorization(Random random, HttpRequestMessage request, string? good)
    {
        var value = random.Next(10) switch
        {
            < 6 when good is not null => "Bearer " + good,
            0 or 1 => null,
            2 => "Bearer " + Odd(random),
            3 => "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyIjoieCIsImNvbnYiOiJ5IiwiZXhwIjo5OTk5OTk5OTk5fQ.",
            4 => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("a:b")),
            5 when good is not null => "Bearer " + good[..^3] + "abc", // a signature that no longer fits
            _ => "Bearer",
        };
        if (value is not null)
        {
            // HttpClient sends ASCII headers only; a non-ASCII token goes percent-encoded, as a proxy would pass it on.
            request.Headers.TryAddWithoutValidation("Authorization", value.All(char.IsAscii) ? value : Uri.EscapeDataString(value));
        }
    }

    private static string Text(Random random) => random.Next(10) switch
    {
        < 6 => Texts[random.Next(Texts.Length)],
        6 => new string((char)random.Next(0x20, 0xD7FF), random.Next(1, 3000)),
        7 => string.Concat(Enumerable.Range(0, random.Next(1, 200)).Select(_ => Texts[random.Next(Texts.Length)])),
        8 => new string('\ud800', random.Next(1, 50)), // lone surrogates (escaped as \ud800 by the serializer)
        _ => new string('x', random.Next(2_000, 70_000)),
    };

    /// <summary>A value of a random JSON type.</summary>
    private static object? Value(Random random) => random.Next(9) switch
    {
        0 => null,
        1 => random.Next(),
        2 => random.NextDouble() * 1e308,
        3 => true,
        4 => new[] { 1, 2, 3 },
        5 => new Dictionary<string, object?> { ["id"] = random.Next(), ["x"] = new[] { "a" } },
        6 => Text(random),
        7 => Odd(random),
        _ => "",
    };

    private static object Nested(int depth)
    {
        object value = "leaf";
        for (var i = 0; i < depth; i++)
        {
            value = i % 2 == 0 ? new object[] { value } : new Dictionary<string, object?> { ["a"] = value };
        }

        return value;
    }

    private static string Odd(Random random) => random.Next(8) switch
    {
        0 => "",
        1 => new string('a', random.Next(100, 5000)),
        2 => "..%2F..%2Fetc",
        3 => "a|0000001",
        4 => "\u202e\u0000\ud83d\ude00",
        5 => Guid.NewGuid().ToString(),
        6 => "eyJ" + Convert.ToBase64String(RandomBytes(random, 60)),
        _ => "%",
    };

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
