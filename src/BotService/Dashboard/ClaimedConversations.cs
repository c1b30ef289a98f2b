using System.Collections.Concurrent;
using BotService.Storage.Data;
using BotService.Storage.Escalations;

namespace BotService.Dashboard;

/// <summary>
/// The conversations a staff member has claimed (an escalation of theirs is <c>claimed</c>), so the bot stays quiet
/// in them. Kept in memory for a lookup on every turn: loaded at start and updated by <see cref="EscalationBoard"/>
/// after each claim, resolve and reopen. Fails open: until it has loaded (or if the database could not be read), no
/// conversation counts as claimed, so the bot answers as before rather than leaving a visitor unanswered.
/// </summary>
internal sealed partial class ClaimedConversations(Database database, ILogger<ClaimedConversations> log) : IHostedService
{
    private readonly ConcurrentDictionary<string, byte> _claimed = new(StringComparer.Ordinal);

    public bool IsClaimed(string conversationId) => _claimed.ContainsKey(conversationId);

    /// <summary>Re-reads one conversation after a change to one of its escalations.</summary>
    public async Task RefreshAsync(string conversationId, CancellationToken cancellationToken)
    {
        var claimed = await EscalationRows.AnyWithStatusAsync(database, conversationId, EscalationBoard.Claimed, cancellationToken);
        if (claimed)
        {
            _claimed[conversationId] = 0;
        }
        else
        {
            _claimed.TryRemove(conversationId, out _);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) =>
        database.MayHoldData
            ? ReloadAsync(cancellationToken)
            : Task.CompletedTask; // a new service: nothing is claimed (and creating the database is the first write's job, not the start's)

    /// <summary>Reads every claimed conversation again (at start, and after changes from other instances may have been missed).</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var ids = await EscalationRows.ConversationsWithStatusAsync(database, EscalationBoard.Claimed, cancellationToken);
            foreach (var id in ids)
            {
                _claimed[id] = 0;
            }

            foreach (var gone in _claimed.Keys.Except(ids, StringComparer.Ordinal).ToList())
            {
                _claimed.TryRemove(gone, out _);
            }

            Loaded(log, ids.Count);
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            LoadFailed(log, e.GetType().Name); // fail open: the bot answers every conversation
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(8020, LogLevel.Information, "{Count} claimed conversations loaded; the bot stays quiet in them")]
    private static partial void Loaded(ILogger logger, int count);

    [LoggerMessage(8021, LogLevel.Warning, "Claimed conversations could not be loaded ({Error}); the bot answers every conversation until they are")]
    private static partial void LoadFailed(ILogger logger, string error);
}
