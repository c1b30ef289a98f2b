using BotService.Dashboard;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>
/// Staff and admins (the /Dashboard folder's policy): questions the bot declined and answers voted down, grouped by
/// similarity, with what to change in <c>knowledge/</c>. Every view is audited; marking a group handled is a POST
/// with the antiforgery token (Razor Pages' default), audited with the count.
/// </summary>
internal sealed class ReviewModel(ReviewBoard board) : PageModel
{
    public ReviewView? View { get; private set; }

    /// <summary>The ids of a group's questions, comma-separated (what the reviewer saw).</summary>
    [BindProperty]
    public string? Ids { get; set; }

    public async Task OnGetAsync(int? days, CancellationToken cancellationToken) =>
        View = await board.ViewAsync(User.ToActor(), ReviewBoard.Period(days), AuditActions.ReviewView, cancellationToken);

    public async Task<IActionResult> OnPostHandledAsync(int? days, CancellationToken cancellationToken)
    {
        var ids = new List<long>();
        foreach (var part in (Ids ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || ids.Count >= ReviewBoard.MaxRows)
            {
                return BadRequest();
            }

            ids.Add(id);
        }

        var marked = await board.MarkHandledAsync(User.ToActor(), ids, cancellationToken);
        TempData["Status"] = marked == 1 ? "Marked 1 question handled." : $"Marked {marked} questions handled.";
        return RedirectToPage(new { days = ReviewBoard.Period(days) });
    }
}
