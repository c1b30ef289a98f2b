using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BotService.Safety;

/// <summary>
/// The wording of the emergency and urgent replies, from the staff-editable <c>knowledge/safety/crisis-replies.yaml</c>
/// (keys <c>emergency</c> and <c>urgent</c>, each a block of text). A wording built into the binary is used when the
/// file is missing or broken, so a crisis reply never depends on a file. An edited file must keep the essential
/// numbers (emergency: 911, 988 and 741741; urgent: 911 and 988) or it is rejected. The file is watched: a good edit
/// takes effect after a short debounce, a broken one is logged with its line and the previous wording stays.
/// Thread-safe; dispose to stop watching.
/// </summary>
public sealed partial class CrisisReplies : IDisposable
{
    /// <summary>Compiled-in emergency wording: resources first, then that staff know. No advice of its own.</summary>
    public const string BuiltInEmergencyText =
        "If you are in immediate danger, call 911 (or your local emergency number) now.\n\n" +
        "Call or text 988 to reach the Suicide & Crisis Lifeline, any time, day or night.\n\n" +
        "Or text HOME to 741741 to reach the Crisis Text Line.\n\n" +
        "Our clinic staff have been alerted and will reach out to you. You are not alone, and you deserve support right now.";

    /// <summary>Compiled-in urgent wording: contact the clinic or get care, with the escalation numbers.</summary>
    public const string BuiltInUrgentText =
        "What you describe should be checked by a person, not a chatbot. Please call the clinic, or get medical care today.\n\n" +
        "If your symptoms get worse or feel life-threatening, call 911.\n\n" +
        "If you are in emotional crisis, call or text 988 (Suicide & Crisis Lifeline).\n\n" +
        "Our clinic staff have been notified of your message.";

    private static readonly FrozenDictionary<string, string[]> RequiredText = new Dictionary<string, string[]>
    {
        ["emergency"] = ["911", "988", "741741"],
        ["urgent"] = ["911", "988"],
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private readonly string _path;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly FileWatch _watch;
    private readonly Lock _reloadLock = new();
    private Replies _replies;
    private CrisisRepliesStatus _status;

    /// <param name="path">Path of crisis-replies.yaml. A missing file is allowed: the built-in wording is used.</param>
    /// <param name="logger">Receives load results and errors (file, line); never message text.</param>
    /// <param name="timeProvider">Clock for load times and the debounce timer; <see cref="TimeProvider.System"/> if null.</param>
    /// <param name="debounce">Quiet time after the last change before reloading; 300 ms if null.</param>
    public CrisisReplies(string path, ILogger<CrisisReplies> logger, TimeProvider? timeProvider = null, TimeSpan? debounce = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(logger);
        _path = path;
        _log = logger;
        _time = timeProvider ?? TimeProvider.System;
        _replies = BuiltIn();
        _status = new CrisisRepliesStatus(path, UsingBuiltIn: true, LoadedAt: null, LastErrorAt: null, LastError: null);
        Reload();
        _watch = new FileWatch(path, debounce ?? SafetyRulesProvider.DefaultDebounce, _time, ReloadFromWatcher, logger);
    }

    /// <summary>Raised after every reload attempt with the resulting status.</summary>
    public event EventHandler<CrisisRepliesStatus>? ReloadAttempted;

    public CrisisReply Emergency => Volatile.Read(ref _replies).Emergency;

    public CrisisReply Urgent => Volatile.Read(ref _replies).Urgent;

    public CrisisRepliesStatus Status => Volatile.Read(ref _status);

    /// <summary>The reply for a level, or null for <see cref="SafetyLevel.None"/> (answer normally).</summary>
    public CrisisReply? For(SafetyLevel level) => level switch
    {
        SafetyLevel.Emergency => Emergency,
        SafetyLevel.Urgent => Urgent,
        _ => null,
    };

    /// <summary>Reloads the file now. Returns false when the built-in or previous wording stays in use.</summary>
    public bool Reload()
    {
        CrisisRepliesStatus status;
        bool loaded;
        lock (_reloadLock)
        {
            var now = _time.GetUtcNow();
            if (!File.Exists(_path))
            {
                Volatile.Write(ref _replies, BuiltIn());
                RepliesMissing(_log, _path);
                status = new CrisisRepliesStatus(_path, UsingBuiltIn: true, LoadedAt: null, now, "file not found; using the built-in wording");
                loaded = false;
            }
            else
            {
                var (replies, errors) = Load(_path);
                if (replies is not null)
                {
                    Volatile.Write(ref _replies, replies);
                    RepliesLoaded(_log, _path);
                    status = new CrisisRepliesStatus(_path, UsingBuiltIn: false, now, LastErrorAt: null, LastError: null);
                    loaded = true;
                }
                else
                {
                    foreach (var error in errors)
                    {
                        RepliesFileError(_log, error.File, error.Line, error.Column, error.Message);
                    }

                    var previous = Status;
                    status = previous with
                    {
                        LastErrorAt = now,
                        LastError = errors.Count == 1 ? errors[0].ToString() : $"{errors[0]} (and {errors.Count - 1} more)",
                    };
                    RepliesRejected(_log, _path, errors.Count, previous.UsingBuiltIn);
                    loaded = false;
                }
            }

            Volatile.Write(ref _status, status);
        }

        ReloadAttempted?.Invoke(this, status);
        return loaded;
    }

    public void Dispose() => _watch.Dispose();

    /// <summary>Validates a crisis-replies file; an empty list means it would be used.</summary>
    public static IReadOnlyList<SafetyRuleError> Validate(string path) => Load(path).Errors;

    private void ReloadFromWatcher()
    {
        try
        {
            Reload();
        }
        catch (Exception e)
        {
            ReloadFailed(_log, _path, e.GetType().Name);
        }
    }

    private static Replies BuiltIn() => new(
        new CrisisReply(SafetyLevel.Emergency, BuiltInEmergencyText, IsBuiltIn: true),
        new CrisisReply(SafetyLevel.Urgent, BuiltInUrgentText, IsBuiltIn: true));

    private static (Replies? Replies, IReadOnlyList<SafetyRuleError> Errors) Load(string path)
    {
        var errors = new List<SafetyRuleError>();
        void Error(Mark at, string message) => errors.Add(new SafetyRuleError(path, (int)at.Line, (int)at.Column, message));

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(File.ReadAllText(path)));
        }
        catch (YamlException e)
        {
            Error(e.Start, $"not valid YAML: {e.Message}");
            return (null, errors);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add(new SafetyRuleError(path, 0, 0, $"cannot read the file: {e.Message}"));
            return (null, errors);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            errors.Add(new SafetyRuleError(path, 0, 0, $"not valid YAML ({e.GetType().Name}); check indentation"));
            return (null, errors);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            Error(new Mark(), "the file must have 'emergency:' and 'urgent:' entries");
            return (null, errors);
        }

        var texts = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in root.Children)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            if (!RequiredText.TryGetValue(name, out var required))
            {
                Error(key.Start, $"unknown key '{name}'; expected emergency or urgent");
                continue;
            }

            seen.Add(name);
            var text = ((value as YamlScalarNode)?.Value ?? "").Trim();
            if (text.Length == 0)
            {
                Error(value.Start, $"'{name}' must be a non-empty block of text");
                continue;
            }

            var missing = required.Where(r => !text.Contains(r, StringComparison.Ordinal)).ToList();
            if (missing.Count > 0)
            {
                Error(value.Start, $"the {name} reply must mention {string.Join(", ", missing)}");
                continue;
            }

            texts[name] = text;
        }

        foreach (var name in RequiredText.Keys.Where(k => !seen.Contains(k)))
        {
            Error(root.Start, $"missing '{name}:' reply");
        }

        return errors.Count > 0
            ? (null, errors)
            : (new Replies(
                new CrisisReply(SafetyLevel.Emergency, texts["emergency"], IsBuiltIn: false),
                new CrisisReply(SafetyLevel.Urgent, texts["urgent"], IsBuiltIn: false)), errors);
    }

    private sealed record Replies(CrisisReply Emergency, CrisisReply Urgent);

    [LoggerMessage(3010, LogLevel.Information, "Crisis replies loaded from {Path}")]
    private static partial void RepliesLoaded(ILogger logger, string path);

    [LoggerMessage(3011, LogLevel.Warning, "Crisis replies file {Path} not found; using the built-in wording")]
    private static partial void RepliesMissing(ILogger logger, string path);

    [LoggerMessage(3012, LogLevel.Error,
        "Crisis replies file {Path} rejected with {ErrorCount} errors; keeping the previous wording (built-in: {UsingBuiltIn})")]
    private static partial void RepliesRejected(ILogger logger, string path, int errorCount, bool usingBuiltIn);

    [LoggerMessage(3013, LogLevel.Error, "{File}:{Line}:{Column}: {Problem}")]
    private static partial void RepliesFileError(ILogger logger, string file, int line, int column, string problem);

    [LoggerMessage(3014, LogLevel.Error, "Reloading crisis replies from {Path} failed ({ExceptionType}); keeping the previous wording")]
    private static partial void ReloadFailed(ILogger logger, string path, string exceptionType);
}
