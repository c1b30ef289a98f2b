using BotService.Dashboard;
using Microsoft.AspNetCore.Html;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>
/// One escalation and its conversation. The route carries the escalation's random Guid, never the channel's
/// conversation id; every handler looks the escalation up again and checks the actor's right to act on it.
/// Actions redirect back (post/redirect/get), or show the page again with 403/409 when refused.
/// </summary>
internal sealed class EscalationModel(EscalationBoard board) : PageModel
{
    public ConversationView? View { get; private set; }

    /// <summary>A message with its matched words in &lt;mark&gt;; every piece of text is HTML-encoded.</summary>
    public static IHtmlContent Render(IReadOnlyList<TextSegment> segments)
    {
        var html = new HtmlContentBuilder();
        foreach (var s in segments)
        {
            if (s.Matched)
            {
                html.AppendHtml("<mark>").Append(s.Text).AppendHtml("</mark>");
            }
            else
            {
                html.Append(s.Text);
            }
        }

        return html;
    }

    public string? Error { get; private set; }

    /// <summary>
    /// A note's or reply's text. Bound as a property, not a handler argument: MVC logs handler arguments at Trace,
    /// and this is health data that must never reach a log.
    /// </summary>
    [BindProperty]
    public string? Text { get; set; }

    [BindProperty]
    public string? Outcome { get; set; }

    public async Task<IActionResult> OnGetAsync(Guid id, CancellationToken cancellationToken)
    {
        View = await board.ViewAsync(id, User.ToActor(), cancellationToken);
        return View is null ? NotFound() : Page();
    }

    public Task<IActionResult> OnPostClaimAsync(Guid id, CancellationToken cancellationToken) =>
        ActAsync(id, board.ClaimAsync(id, User.ToActor(), takeOver: false, cancellationToken), "Claimed: you own this escalation now.", cancellationToken);

    public Task<IActionResult> OnPostTakeOverAsync(Guid id, CancellationToken cancellationToken) =>
        ActAsync(id, board.ClaimAsync(id, User.ToActor(), takeOver: true, cancellationToken), "Taken over: you own this escalation now.", cancellationToken);

    public async Task<IActionResult> OnPostNoteAsync(Guid id, CancellationToken cancellationToken) =>
        await CheckText(id, cancellationToken) ?? await ActAsync(id, board.AddNoteAsync(id, User.ToActor(), Text!.Trim(), cancellationToken), "Note added.", cancellationToken);

    public async Task<IActionResult> OnPostReplyAsync(Guid id, CancellationToken cancellationToken) =>
        await CheckText(id, cancellationToken) ?? await ActAsync(id, board.ReplyAsync(id, User.ToActor(), Text!.Trim(), cancellationToken), "Reply sent.", cancellationToken);

    public Task<IActionResult> OnPostResolveAsync(Guid id, CancellationToken cancellationToken) =>
        ActAsync(id, board.ResolveAsync(id, User.ToActor(), Outcome ?? string.Empty, cancellationToken), "Resolved.", cancellationToken);

    public Task<IActionResult> OnPostReopenAsync(Guid id, CancellationToken cancellationToken) =>
        ActAsync(id, board.ReopenAsync(id, User.ToActor(), cancellationToken), "Reopened: it is back in the queue.", cancellationToken);

    private async Task<IActionResult?> CheckText(Guid id, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(Text) && Text.Length <= EscalationBoard.MaxTextLength)
        {
            return null;
        }

        return await ShowAsync(id, StatusCodes.Status400BadRequest,
            $"Write some text (at most {EscalationBoard.MaxTextLength} characters).", cancellationToken);
    }

    private async Task<IActionResult> ActAsync(Guid id, Task<ActionOutcome> action, string done, CancellationToken cancellationToken)
    {
        switch (await action)
        {
            case ActionOutcome.Done:
                TempData["Status"] = done;
                return RedirectToPage(new { id });
            case ActionOutcome.NotFound:
                return NotFound();
            case ActionOutcome.Forbidden:
                return await ShowAsync(id, StatusCodes.Status403Forbidden,
                    "Not allowed: only the staff member who claimed this escalation (or an admin, for resolving and taking over) can do that.",
                    cancellationToken);
            default:
                return await ShowAsync(id, StatusCodes.Status409Conflict,
                    "That is no longer possible: someone else has changed this escalation. The page shows its current state.", cancellationToken);
        }
    }

    private async Task<IActionResult> ShowAsync(Guid id, int status, string error, CancellationToken cancellationToken)
    {
        View = await board.ViewAsync(id, User.ToActor(), cancellationToken);
        if (View is null)
        {
            return NotFound();
        }

        Error = error;
        Response.StatusCode = status;
        return Page();
    }
}
