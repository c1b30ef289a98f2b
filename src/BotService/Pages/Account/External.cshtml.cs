using System.Security.Claims;
using BotService.Dashboard;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>
/// Where OpenID Connect comes back. The provider only says who it is; a local account with the same e-mail address
/// must exist (an admin creates it with <c>users add</c>), and its roles and lockout apply. The first time, the
/// provider's login is linked to that account, so later sign-ins match on the provider's subject id.
/// </summary>
internal sealed class ExternalModel(SignInManager<IdentityUser> signIn, UserManager<IdentityUser> users, AuditLog audit) : PageModel
{
    public async Task<IActionResult> OnGetAsync(string? returnUrl, CancellationToken cancellationToken)
    {
        var target = Url.IsLocalUrl(returnUrl) ? returnUrl! : "/dashboard";
        var info = await signIn.GetExternalLoginInfoAsync();
        if (info is null)
        {
            return RedirectToPage("/Account/Login", new { error = "external" });
        }

        var result = await signIn.ExternalLoginSignInAsync(info.LoginProvider, info.ProviderKey, isPersistent: false, bypassTwoFactor: true);
        if (result.Succeeded)
        {
            var linked = await users.FindByLoginAsync(info.LoginProvider, info.ProviderKey);
            await audit.AppendAsync(new Actor(linked!.Id, linked.UserName ?? linked.Id, false), AuditActions.SignIn, detail: info.LoginProvider,
                cancellationToken: cancellationToken);
            return LocalRedirect(target);
        }

        var email = info.Principal.FindFirstValue(ClaimTypes.Email) ?? info.Principal.FindFirstValue("email");
        var user = email is null || result.IsLockedOut ? null : await users.FindByEmailAsync(email);
        if (user is null || await users.IsLockedOutAsync(user))
        {
            await HttpContext.SignOutAsync(IdentityConstants.ExternalScheme);
            await audit.AppendAsync(new Actor("unknown", "external:" + info.LoginProvider, false), AuditActions.SignInFailed, cancellationToken: cancellationToken);
            return RedirectToPage("/Account/Login", new { error = "external" });
        }

        await users.AddLoginAsync(user, info);
        await signIn.SignInAsync(user, isPersistent: false, info.LoginProvider);
        await HttpContext.SignOutAsync(IdentityConstants.ExternalScheme);
        await audit.AppendAsync(new Actor(user.Id, user.UserName ?? user.Id, false), AuditActions.SignIn, detail: info.LoginProvider + " (linked)",
            cancellationToken: cancellationToken);
        return LocalRedirect(target);
    }
}
