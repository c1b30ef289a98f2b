using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>Shown (with 403) when a signed-in user's role does not allow a page.</summary>
internal sealed class DeniedModel : PageModel
{
    public void OnGet()
    {
    }
}
