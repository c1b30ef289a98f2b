using System.Globalization;
using BotService.Dashboard;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>The queue: open and claimed escalations, emergencies first, then newest; filters; live via SSE.</summary>
internal sealed class QueueModel(EscalationBoard board) : PageModel
{
    [FromQuery(Name = "level")]
    public string? Level { get; set; }

    [FromQuery(Name = "status")]
    public string? Status { get; set; }

    [FromQuery(Name = "channel")]
    public string? Channel { get; set; }

    [FromQuery(Name = "mine")]
    public bool Mine { get; set; }

    public IReadOnlyList<QueueItem> Rows { get; private set; } = [];

    public IReadOnlyList<string> Channels { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        Rows = await board.QueueAsync(Filter(), User.ToActor(), cancellationToken);
        Channels = await board.ChannelsAsync(cancellationToken);
    }

    /// <summary>Just the table body, for the page's live refresh.</summary>
    public async Task<IActionResult> OnGetRowsAsync(CancellationToken cancellationToken) =>
        Partial("_QueueRows", await board.QueueAsync(Filter(), User.ToActor(), cancellationToken));

    private QueueFilter Filter() => new(Empty(Level), Empty(Status), Empty(Channel), Mine);

    private static string? Empty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    public static string Age(TimeSpan age) => age.TotalMinutes < 1 ? "under a minute"
        : age.TotalHours < 1 ? ((int)age.TotalMinutes).ToString(CultureInfo.InvariantCulture) + " min"
        : age.TotalDays < 1 ? ((int)age.TotalHours).ToString(CultureInfo.InvariantCulture) + " h " + age.Minutes.ToString(CultureInfo.InvariantCulture) + " min"
        : ((int)age.TotalDays).ToString(CultureInfo.InvariantCulture) + " days";
}
