using Microsoft.Extensions.Logging;

namespace BotService.Safety;

/// <summary>
/// Owns the rule set loaded from <c>knowledge/safety/rules.yaml</c>. Loads it at construction (throwing
/// <see cref="SafetyRulesException"/> when there is no valid rule set at all, so the host refuses to start), then
/// watches the file and reloads it after a short debounce. A broken edit is rejected as a whole: the last good rule
/// set stays in use and every error is logged with file and line. Thread-safe; dispose to stop watching.
/// </summary>
public sealed partial class SafetyRulesProvider : IDisposable
{
    /// <summary>Editors often write a file in several steps; wait this long after the last change before reloading.</summary>
    public static readonly TimeSpan DefaultDebounce = TimeSpan.FromMilliseconds(300);

    private readonly string _path;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly FileWatch _watch;
    private readonly Lock _reloadLock = new();
    private SafetyRuleSet _current;
    private RulesStatus _status;

    /// <param name="rulesPath">Path of rules.yaml (the host passes its configured path).</param>
    /// <param name="logger">Receives load results and errors (file, line, message); never message text.</param>
    /// <param name="timeProvider">Clock for load times and the debounce timer; <see cref="TimeProvider.System"/> if null.</param>
    /// <param name="debounce">Quiet time after the last file change before reloading; <see cref="DefaultDebounce"/> if null.</param>
    /// <exception cref="SafetyRulesException">The file is missing, unreadable or has any error.</exception>
    public SafetyRulesProvider(string rulesPath, ILogger<SafetyRulesProvider> logger, TimeProvider? timeProvider = null,
        TimeSpan? debounce = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(rulesPath);
        ArgumentNullException.ThrowIfNull(logger);
        _path = rulesPath;
        _log = logger;
        _time = timeProvider ?? TimeProvider.System;

        var result = SafetyRulesLoader.Load(rulesPath, _time.GetUtcNow());
        if (result.RuleSet is null)
        {
            LogErrors(result.Errors);
            throw new SafetyRulesException(
                $"No valid safety rules in '{rulesPath}': the service must not start without them.", result.Errors);
        }

        _current = result.RuleSet;
        _status = StatusOf(result.RuleSet, lastErrorAt: null, lastError: null);
        RulesLoaded(_log, rulesPath, result.RuleSet.Rules.Count, result.RuleSet.Exceptions.Count, result.RuleSet.Fingerprint);
        _watch = new FileWatch(rulesPath, debounce ?? DefaultDebounce, _time, ReloadFromWatcher, logger);
    }

    /// <summary>Raised after every reload attempt (successful or not) with the resulting status.</summary>
    public event EventHandler<RulesStatus>? ReloadAttempted;

    /// <summary>Health of the rules in use: load time, counts, fingerprint and the last rejected edit.</summary>
    public RulesStatus Status => Volatile.Read(ref _status);

    /// <summary>The rule set in use; an immutable snapshot.</summary>
    internal SafetyRuleSet Current => Volatile.Read(ref _current);

    /// <summary>Reloads the file now. Returns false (keeping the last good rules) when the file has errors.</summary>
    public bool Reload()
    {
        RulesStatus status;
        bool loaded;
        lock (_reloadLock)
        {
            var result = SafetyRulesLoader.Load(_path, _time.GetUtcNow());
            if (result.RuleSet is { } set)
            {
                Volatile.Write(ref _current, set);
                status = StatusOf(set, lastErrorAt: null, lastError: null);
                RulesLoaded(_log, _path, set.Rules.Count, set.Exceptions.Count, set.Fingerprint);
                loaded = true;
            }
            else
            {
                LogErrors(result.Errors);
                var kept = Current;
                RulesRejected(_log, _path, result.Errors.Count, kept.Fingerprint);
                status = StatusOf(kept, _time.GetUtcNow(), Summarise(result.Errors));
                loaded = false;
            }

            Volatile.Write(ref _status, status);
        }

        ReloadAttempted?.Invoke(this, status);
        return loaded;
    }

    public void Dispose() => _watch.Dispose();

    private void ReloadFromWatcher()
    {
        try
        {
            Reload();
        }
        catch (Exception e)
        {
            // A bug in loading must not take the process down from a timer thread; the last good rules stay.
            ReloadFailed(_log, _path, e.GetType().Name);
        }
    }

    private RulesStatus StatusOf(SafetyRuleSet set, DateTimeOffset? lastErrorAt, string? lastError) =>
        new(_path, set.LoadedAt, set.Rules.Count, set.Exceptions.Count, set.Fingerprint, lastErrorAt, lastError);

    private static string Summarise(IReadOnlyList<SafetyRuleError> errors) =>
        errors.Count == 1 ? errors[0].ToString() : $"{errors[0]} (and {errors.Count - 1} more)";

    private void LogErrors(IReadOnlyList<SafetyRuleError> errors)
    {
        foreach (var error in errors)
        {
            RuleFileError(_log, error.File, error.Line, error.Column, error.Message);
        }
    }

    [LoggerMessage(3001, LogLevel.Information,
        "Safety rules loaded from {Path}: {RuleCount} rules, {ExceptionCount} exceptions, fingerprint {Fingerprint}")]
    private static partial void RulesLoaded(ILogger logger, string path, int ruleCount, int exceptionCount, string fingerprint);

    [LoggerMessage(3002, LogLevel.Error,
        "Safety rules file {Path} rejected with {ErrorCount} errors; still using rules {Fingerprint}")]
    private static partial void RulesRejected(ILogger logger, string path, int errorCount, string fingerprint);

    [LoggerMessage(3004, LogLevel.Error, "Reloading safety rules from {Path} failed ({ExceptionType}); still using the previous rules")]
    private static partial void ReloadFailed(ILogger logger, string path, string exceptionType);

    [LoggerMessage(3003, LogLevel.Error, "{File}:{Line}:{Column}: {Problem}")]
    private static partial void RuleFileError(ILogger logger, string file, int line, int column, string problem);
}
