using BotService.Dashboard;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace BotService.Pages;

/// <summary>
/// Local sign-in with lockout (Identity counts failures and locks the account), and the button for OpenID Connect
/// when it is configured. Every outcome is audited; a failed attempt names the account only if it exists, so a
/// password typed into the e-mail field never lands in the audit trail.
/// </summary>
internal sealed class LoginModel(SignInManager<IdentityUser> signIn, UserManager<IdentityUser> users, AuditLog audit,
    IOptions<OpenIdConnectSettings> oidc) : PageModel
{
    [BindProperty]
    public string? Email { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Error { get; private set; }

    public OpenIdConnectSettings Oidc => oidc.Value;

    public void OnGet(string? error)
    {
        Error = error switch
        {
            "external" => "Sign-in with your organisation did not succeed, or there is no clinic account for that e-mail address.",
            _ => null,
        };
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(Email) || string.IsNullOrEmpty(Password))
        {
            Error = "Enter your e-mail address and password.";
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        var user = await users.FindByEmailAsync(Email);
        var result = user is null
            ? Microsoft.AspNetCore.Identity.SignInResult.Failed
            : await signIn.PasswordSignInAsync(user, Password, isPersistent: false, lockoutOnFailure: true);
        var actor = user is null ? new Actor("unknown", "unknown account", false) : new Actor(user.Id, user.UserName ?? user.Id, false);
        if (result.Succeeded)
        {
            await audit.AppendAsync(actor, AuditActions.SignIn, detail: "password", cancellationToken: cancellationToken);
            return LocalRedirect(Url.IsLocalUrl(ReturnUrl) ? ReturnUrl! : "/dashboard");
        }

        if (result.IsLockedOut)
        {
            await audit.AppendAsync(actor, AuditActions.SignInLockedOut, cancellationToken: cancellationToken);
            Error = "This account is locked after too many failed sign-ins, or disabled. Try again later or ask an admin.";
            Response.StatusCode = StatusCodes.Status423Locked;
            return Page();
        }

        await audit.AppendAsync(actor, AuditActions.SignInFailed, cancellationToken: cancellationToken);
        Error = "That e-mail address and password do not match an account.";
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        return Page();
    }

    /// <summary>Starts OpenID Connect; the provider comes back to <c>/account/external</c>.</summary>
    public IActionResult OnPostExternal()
    {
        if (!Oidc.Enabled)
        {
            return NotFound();
        }

        var redirect = Url.Page("/Account/External", new { returnUrl = Url.IsLocalUrl(ReturnUrl) ? ReturnUrl : "/dashboard" });
        var properties = signIn.ConfigureExternalAuthenticationProperties(StaffAuth.OidcScheme, redirect);
        return Challenge(properties, StaffAuth.OidcScheme);
    }
}
