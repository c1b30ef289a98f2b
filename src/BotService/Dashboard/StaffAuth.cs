using System.Runtime.CompilerServices;
using System.Security.Claims;
using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;

namespace BotService.Dashboard;

/// <summary>
/// Staff sign-in: ASP.NET Core Identity with its EF Core store in <see cref="BotDbContext"/>, a short sliding cookie,
/// lockout, and an optional OpenID Connect scheme. Every dashboard policy names the Identity cookie scheme, so another
/// default scheme (the Bot Framework JWT one) cannot change who is signed in here.
/// </summary>
internal static class StaffAuth
{
    public const string StaffPolicy = "dashboard-staff";
    public const string AdminPolicy = "dashboard-admin";
    public const string OidcScheme = OpenIdConnectDefaults.AuthenticationScheme;
    public const string CookieName = "clinic.staff";

    /// <summary>Where the dashboard's JSON, SSE and export endpoints live: they answer 401/403, never a redirect.</summary>
    public const string ApiPrefix = "/dashboard/api";

    public static IServiceCollection AddStaffAuth(this IServiceCollection services, IConfiguration configuration)
    {
        var dashboard = configuration.GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions();
        var oidc = configuration.GetSection(OpenIdConnectSettings.SectionName).Get<OpenIdConnectSettings>() ?? new OpenIdConnectSettings();
        services.Configure<OpenIdConnectSettings>(configuration.GetSection(OpenIdConnectSettings.SectionName));

        services.AddIdentity<IdentityUser, IdentityRole>(o =>
            {
                o.User.RequireUniqueEmail = true;
                o.Password.RequiredLength = 12; // long beats complex; Identity's character-class rules stay on as well
                o.Lockout.AllowedForNewUsers = true;
                o.Lockout.MaxFailedAccessAttempts = dashboard.MaxFailedSignIns;
                o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(dashboard.LockoutMinutes);
            })
            .AddEntityFrameworkStores<BotDbContext>()
            .AddDefaultTokenProviders();

        // The keys that protect sign-in cookies and antiforgery tokens live in the database, so every instance on it
        // accepts the others' (a sign-in on one, the next click on another); the application name keeps them
        // independent of where each instance is installed (decision 0017).
        services.AddDataProtection().SetApplicationName("BotService").PersistKeysToDbContext<BotDbContext>();

        // A disabled account (users disable) gets a new security stamp; signed-in cookies are re-checked this often.
        services.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = TimeSpan.FromMinutes(1));

        services.ConfigureApplicationCookie(o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest; // Secure whenever the request is HTTPS
            // Strict: the cookie never rides on a request started by another site. OpenID Connect returns through a
            // cross-site redirect chain on which a Strict cookie is not sent, so with OIDC on it is Lax; every state
            // change is a POST with an antiforgery token either way.
            o.Cookie.SameSite = oidc.Enabled ? SameSiteMode.Lax : SameSiteMode.Strict;
            o.ExpireTimeSpan = TimeSpan.FromMinutes(dashboard.SessionMinutes);
            o.SlidingExpiration = true;
            o.LoginPath = "/account/login";
            o.LogoutPath = "/account/logout";
            o.AccessDeniedPath = "/account/denied";
            o.ReturnUrlParameter = "returnUrl";
            o.Events.OnRedirectToLogin = ctx => ApiOr(ctx, StatusCodes.Status401Unauthorized);
            o.Events.OnRedirectToAccessDenied = ctx => ApiOr(ctx, StatusCodes.Status403Forbidden);
        });
        services.ConfigureExternalCookie(o =>
        {
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromMinutes(5);
        });

        if (oidc.Enabled)
        {
            AddOpenIdConnect(services, oidc);
        }

        services.AddAuthorizationBuilder()
            .AddPolicy(StaffPolicy, p => p.AddAuthenticationSchemes(IdentityConstants.ApplicationScheme)
                .RequireAuthenticatedUser().RequireRole(StaffRoles.Staff, StaffRoles.Admin))
            .AddPolicy(AdminPolicy, p => p.AddAuthenticationSchemes(IdentityConstants.ApplicationScheme)
                .RequireAuthenticatedUser().RequireRole(StaffRoles.Admin));
        return services;
    }

    /// <summary>
    /// The Data Protection key ring is read when it is first needed (a dashboard page, a sign-in) rather than at start
    /// by Data Protection's own hosted service, so an instance that only serves visitors never loads it, nor the XML
    /// stack its keys are kept in: a few MB resident for life (decision 0021). A key ring that cannot be read then fails
    /// that first dashboard request; at start the hosted service only logged it. Called after every registration,
    /// since each <c>AddDataProtection()</c> (antiforgery's, Identity's) adds the hosted service again.
    /// </summary>
    public static void ReadKeyRingOnFirstUse(IServiceCollection services)
    {
        var atStart = services.Where(d => d.ServiceType == typeof(IHostedService)
            && d.ImplementationType?.FullName == "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService").ToList();
        foreach (var descriptor in atStart)
        {
            services.Remove(descriptor);
        }
    }

    /// <summary>
    /// A method of its own so that the OpenID Connect handler's assemblies are loaded only when it is configured (the
    /// JIT loads what a method refers to when it compiles it, taken branch or not).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AddOpenIdConnect(IServiceCollection services, OpenIdConnectSettings oidc)
    {
        services.AddAuthentication().AddOpenIdConnect(OidcScheme, oidc.DisplayName, o =>
        {
            o.SignInScheme = IdentityConstants.ExternalScheme;
            o.Authority = oidc.Authority;
            o.ClientId = oidc.ClientId;
            o.ClientSecret = oidc.ClientSecret;
            o.ResponseType = "code"; // authorization code flow with PKCE (the handler's default)
            o.UsePkce = true;
            o.Scope.Clear();
            o.Scope.Add("openid");
            o.Scope.Add("profile");
            o.Scope.Add("email");
            o.CallbackPath = "/signin-oidc";
            // HTTPS metadata, except for a provider on this machine (a local test provider); never for a remote one.
            o.RequireHttpsMetadata = !(Uri.TryCreate(oidc.Authority, UriKind.Absolute, out var authority) && authority.IsLoopback);
            // The nonce and correlation cookies are Secure whenever the request is HTTPS, like the others (the
            // handler's default, Always, would make them unusable for a plain-HTTP loopback test provider).
            o.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.SaveTokens = false; // we only need who it is, not tokens to call anything
        });
    }

    /// <summary>Pages get the usual redirect; the dashboard's API gets a bare status and a problem body.</summary>
    private static Task ApiOr(Microsoft.AspNetCore.Authentication.RedirectContext<CookieAuthenticationOptions> ctx, int status)
    {
        if (ctx.Request.Path.StartsWithSegments(ApiPrefix))
        {
            ctx.Response.StatusCode = status;
            return ctx.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = ctx.HttpContext,
                ProblemDetails = { Status = status, Title = status == 401 ? "Sign in first" : "Not allowed for your role" },
            }).AsTask();
        }

        ctx.Response.Redirect(ctx.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>The signed-in staff member, as recorded in the audit trail and on claims.</summary>
    public static Actor ToActor(this ClaimsPrincipal user) => new(
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("not signed in"),
        user.Identity?.Name ?? "unknown",
        user.IsInRole(StaffRoles.Admin));
}

/// <summary>Who is acting: Identity user id, user name (e-mail) and whether they are an admin.</summary>
internal sealed record Actor(string Id, string Name, bool IsAdmin)
{
    public static readonly Actor System = new("system", "system", false);
}
