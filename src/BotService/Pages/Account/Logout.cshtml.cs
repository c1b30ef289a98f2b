using System.Security.Claims;
using BotService.Dashboard;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>Sign-out is a POST with an antiforgery token, so another site cannot sign a nurse out mid-shift.</summary>
internal sealed class LogoutModel(SignInManager<IdentityUser> signIn, AuditLog audit) : PageModel
{
    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        if (User.FindFirstValue(ClaimTypes.NameIdentifier) is not null)
        {
            await audit.AppendAsync(User.ToActor(), AuditActions.SignOut, cancellationToken: cancellationToken);
        }

        await signIn.SignOutAsync();
        return RedirectToPage("/Account/Login");
    }
}
