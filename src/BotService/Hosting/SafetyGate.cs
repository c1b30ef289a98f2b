using System.ComponentModel.DataAnnotations;
using BotService.Bot;
using BotService.Safety;
using BotService.Storage.Escalations;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace BotService.Hosting;

/// <summary>Where the safety rules and crisis wording live (configuration section <c>Safety</c>).</summary>
public sealed class SafetyOptions
{
    public const string SectionName = "Safety";

    /// <summary>The rules file; default <c>{Knowledge:Path}/safety/rules.yaml</c>.</summary>
    public string? RulesPath { get; set; }

    /// <summary>The crisis wording; default <c>{Knowledge:Path}/safety/crisis-replies.yaml</c> (a built-in wording is used if it is missing).</summary>
    public string? RepliesPath { get; set; }

    /// <summary>
    /// How many of a conversation's earlier messages a message is also read with ("I have all my pills here", then
    /// "goodbye"); 0 reads every message alone. Kept in memory only, per instance (decision 0029).
    /// </summary>
    [Range(0, 10)]
    public int EarlierMessages { get; set; } = 3;

    /// <summary>Earlier messages older than this (since the conversation's last message) are not read with a new one.</summary>
    public TimeSpan EarlierMessagesFor { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The most conversations whose earlier messages are held at once (the least recently active go first).</summary>
    [Range(1, 1_000_000)]
    public int ConversationCapacity { get; set; } = 10_000;
}

/// <summary>The verdict on one message, and what to say if it needs more than an answer.</summary>
/// <param name="Reply">The crisis or urgent wording, or null for an ordinary message.</param>
/// <param name="Escalated">True if an escalation was accepted for staff.</param>
internal sealed record SafetyOutcome(SafetyAssessment Assessment, CrisisReply? Reply, bool Escalated);

/// <summary>
/// Runs in front of retrieval on every channel: classifies the message and, for emergency and urgent ones, hands an
/// escalation to the dispatcher (which returns within its outbox budget, whatever the database or notifiers are doing)
/// and picks the crisis wording. Depends on nothing that can be down: the classifier and the wording are in memory.
/// </summary>
internal sealed partial class SafetyGate(
    ISafetyClassifier classifier,
    CrisisReplies replies,
    EscalationDispatcher dispatcher,
    TimeProvider time,
    BotMetrics metrics,
    IOptions<SafetyOptions> options,
    ILogger<SafetyGate> log)
{
    /// <summary>Earlier messages longer than this are kept by their end (where a message usually says what it means).</summary>
    internal const int MaxEarlierLength = 1000;

    private readonly ConversationMemory<EarlierMessage[]> _earlier = new(
        () => options.Value.ConversationCapacity, () => options.Value.EarlierMessagesFor, time);

    /// <param name="classified">
    /// The classifier's verdict on <paramref name="text"/> when the caller already has it (a follow-up's reading, which
    /// the bot classified to see whether it is worse than the message): not classified a second time.
    /// </param>
    public SafetyOutcome Check(string text, string channel, string conversationId, string messageId, SafetyAssessment? classified = null)
    {
        using var span = Telemetry.Source.StartActivity("safety check");
        var outcome = Escalate(text, channel, conversationId, messageId, classified ?? Classify(text, channel));
        Remember(channel, conversationId, outcome.Assessment.Level);
        Tag(span, outcome);
        return outcome;
    }

    /// <summary>
    /// A level reached outside the conversation reading (a follow-up read with its topic) counts as the conversation's
    /// last message's: the next message read together with it is then not escalated again for the same words.
    /// </summary>
    private void Remember(string channel, string conversationId, SafetyLevel level)
    {
        if (level == SafetyLevel.None || options.Value.EarlierMessages == 0 || _earlier.Get(channel, conversationId) is not [.., var last] earlier
            || last.Level >= level)
        {
            return;
        }

        _earlier.Set(channel, conversationId, [.. earlier[..^1], last with { Level = level }]);
    }

    /// <summary>
    /// A visitor's message as a turn of its conversation: classified alone, then read together with the conversation's
    /// last few messages on this instance (<see cref="ConversationReading"/>), then remembered for the next one (in
    /// memory, never logged or written anywhere).
    /// </summary>
    public SafetyOutcome CheckInConversation(string text, string channel, string conversationId, string messageId)
    {
        using var span = Telemetry.Source.StartActivity("safety check");
        var assessment = Classify(text, channel);
        var settings = options.Value;
        if (settings.EarlierMessages > 0)
        {
            var earlier = _earlier.Get(channel, conversationId) ?? [];
            assessment = ReadWithEarlier(text, assessment, earlier, channel);

            var kept = text.Length <= MaxEarlierLength ? text : text[^MaxEarlierLength..];
            var stay = earlier[Math.Max(0, earlier.Length - (settings.EarlierMessages - 1))..]; // a slice, no LINQ: every turn
            _earlier.Set(channel, conversationId, [.. stay, new EarlierMessage(kept, assessment.Level)]);
        }

        var outcome = Escalate(text, channel, conversationId, messageId, assessment);
        Tag(span, outcome);
        return outcome;
    }

    private static void Tag(System.Diagnostics.Activity? span, SafetyOutcome outcome)
    {
        if (span is { IsAllDataRequested: true })
        {
            // Levels and rule ids only: the matched words stay out of traces like everything else the person wrote.
            span.SetTag("safety.level", outcome.Assessment.Level.ToString().ToLowerInvariant());
            span.SetTag("safety.rules", string.Join(',', outcome.Assessment.Reasons.Select(r => r.RuleId).Distinct()));
            span.SetTag("safety.escalated", outcome.Escalated);
            span.SetTag("safety.read_with_earlier", outcome.Assessment.Reasons.Any(r => r.RuleId == ConversationReading.RuleId));
        }
    }

    private SafetyAssessment ReadWithEarlier(string text, SafetyAssessment own, EarlierMessage[] earlier, string channel)
    {
        try
        {
            return classifier.ReadWithEarlier(text, own, earlier);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ClassifierFailed(log, e.GetType().Name, channel);
            return own;
        }
    }

    private SafetyAssessment Classify(string text, string channel)
    {
        try
        {
            return classifier.Classify(text);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The classifier promises not to throw; if it ever does, say so loudly and answer normally.
            ClassifierFailed(log, e.GetType().Name, channel);
            return SafetyAssessment.None;
        }
    }

    private SafetyOutcome Escalate(string text, string channel, string conversationId, string messageId, SafetyAssessment assessment)
    {
        if (assessment.Level == SafetyLevel.None)
        {
            return new SafetyOutcome(assessment, null, false);
        }

        var level = assessment.Level == SafetyLevel.Emergency ? EscalationLevel.Emergency : EscalationLevel.Urgent;
        var escalation = new Escalation(
            Key: $"{channel}:{conversationId}:{messageId}",
            ConversationId: conversationId,
            Channel: channel,
            Level: level,
            Reasons: assessment.Reasons
                .Where(r => r.Level != SafetyLevel.None)
                .Select(r => new EscalationReason(r.RuleId, r.Level == SafetyLevel.Emergency ? EscalationLevel.Emergency : EscalationLevel.Urgent, r.Start, r.Length))
                .ToArray(),
            MessageActivityId: messageId,
            MessageText: text,
            CreatedAt: time.GetUtcNow());
        dispatcher.Submit(escalation);
        metrics.Escalated(level, "safety");
        return new SafetyOutcome(assessment, replies.For(assessment.Level), true);
    }

    /// <summary>The rule id recorded with an escalation the visitor asked for ("Talk to staff"), not one a safety rule raised.</summary>
    public const string VisitorRequestRule = "visitor-request";

    /// <summary>
    /// "Talk to staff": an escalation at the lowest level staff queue (<see cref="EscalationLevel.Urgent"/>, below every
    /// emergency), submitted through the same durable dispatcher as the safety path, once per request activity.
    /// </summary>
    /// <returns>True when it is on disk in the outbox (it is retried until it lands either way).</returns>
    public bool RequestStaff(string channel, string conversationId, string activityId)
    {
        var escalation = new Escalation(
            Key: $"{channel}:{conversationId}:{activityId}",
            ConversationId: conversationId,
            Channel: channel,
            Level: EscalationLevel.Urgent,
            Reasons: [new EscalationReason(VisitorRequestRule, EscalationLevel.Urgent, 0, 0)],
            MessageActivityId: activityId,
            MessageText: "(asked to talk to staff)",
            CreatedAt: time.GetUtcNow());
        var durable = dispatcher.Submit(escalation);
        metrics.Escalated(EscalationLevel.Urgent, "visitor");
        return durable;
    }

    [LoggerMessage(6001, LogLevel.Critical, "The safety classifier threw {Error} on a message from {Channel}; the message was answered without a safety verdict")]
    private static partial void ClassifierFailed(ILogger logger, string error, string channel);
}

internal static class SafetyServices
{
    public static IServiceCollection AddSafety(this IServiceCollection services)
    {
        services.AddOptions<SafetyOptions>().BindConfiguration(SafetyOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => new SafetyRulesProvider(Resolve(sp, o => o.RulesPath, "rules.yaml"),
            sp.GetRequiredService<ILogger<SafetyRulesProvider>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new CrisisReplies(Resolve(sp, o => o.RepliesPath, "crisis-replies.yaml"),
            sp.GetRequiredService<ILogger<CrisisReplies>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ISafetyClassifier>(sp => new SafetyClassifier(sp.GetRequiredService<SafetyRulesProvider>(),
            sp.GetRequiredService<ILogger<SafetyClassifier>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<SafetyGate>();
        services.AddHostedService<SafetyStartup>();
        return services;
    }

    private static string Resolve(IServiceProvider sp, Func<SafetyOptions, string?> pick, string fileName)
    {
        var env = sp.GetRequiredService<IHostEnvironment>();
        var configured = pick(sp.GetRequiredService<IOptions<SafetyOptions>>().Value);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(Path.Combine(env.ContentRootPath, configured));
        }

        var knowledge = sp.GetRequiredService<IOptions<KnowledgeOptions>>().Value.Path;
        return Path.GetFullPath(Path.Combine(env.ContentRootPath, knowledge, "safety", fileName));
    }
}

/// <summary>
/// Loads the safety rules and wording before the service accepts a request. With no valid rules at all the
/// provider throws and the service refuses to start: answering without the safety path would fail silently.
/// </summary>
internal sealed class SafetyStartup(SafetyRulesProvider rules, CrisisReplies replies, ISafetyClassifier classifier) : IHostedService
{
    private static readonly string[] WarmUp =
    [
        "how much is an infusion",
        "I took 30 pills an hour ago",
        "I took two bottles of tylenol",
        "chest pain 3 hours after my session yesterday",
        "I feel dizzy since my infusion on Monday",
        "I want to end my life",
    ];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = rules.Status;
        _ = replies.Emergency;
        // Load the recognizers' models and compile the rules before the first visitor: cold, the first crisis
        // message would take seconds.
        foreach (var text in WarmUp)
        {
            classifier.Classify(text);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Degraded when a rules or wording edit was rejected (the last good one is still in use).</summary>
internal sealed class SafetyHealthCheck(SafetyRulesProvider rules, CrisisReplies replies) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var r = rules.Status;
        var c = replies.Status;
        var data = new Dictionary<string, object> { ["rules"] = r.RuleCount, ["builtInWording"] = c.UsingBuiltIn };
        var problems = new List<string>();
        if (!r.IsCurrent)
        {
            problems.Add($"rules: the last edit was rejected ({r.LastError}); the previous rules are in use");
        }

        if (c.LastError is { } wording && c.LastErrorAt is not null)
        {
            problems.Add($"crisis wording: {wording}");
        }

        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy($"{r.RuleCount} rules", data)
            : HealthCheckResult.Degraded(string.Join("; ", problems), data: data));
    }
}
