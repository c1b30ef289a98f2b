using System.ComponentModel.DataAnnotations;

namespace BotService.Dashboard;

/// <summary>The staff dashboard (configuration section <c>Dashboard</c>).</summary>
public sealed class DashboardOptions
{
    public const string SectionName = "Dashboard";

    /// <summary>An emergency still open (unclaimed) after this many minutes is shown as overdue.</summary>
    [Range(1, 1440)]
    public int OverdueAfterMinutes { get; set; } = 5;

    /// <summary>
    /// Idle minutes before the sign-in cookie expires (sliding). Short, because the dashboard runs on shared nurses'
    /// station computers where a walked-away session must not stay open.
    /// </summary>
    [Range(1, 480)]
    public int SessionMinutes { get; set; } = 15;

    /// <summary>Failed sign-ins in a row before an account is locked out.</summary>
    [Range(1, 100)]
    public int MaxFailedSignIns { get; set; } = 5;

    /// <summary>How long a locked-out account stays locked.</summary>
    [Range(1, 1440)]
    public int LockoutMinutes { get; set; } = 15;
}

/// <summary>Transcript retention (configuration section <c>Retention</c>).</summary>
public sealed class RetentionOptions
{
    public const string SectionName = "Retention";

    /// <summary>Messages and notes older than this are purged, unless their conversation has an open or claimed escalation.</summary>
    [Range(1, 36500)]
    public int Days { get; set; } = 365;

    /// <summary>How often the purge runs (first run shortly after start).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Optional OpenID Connect sign-in (configuration section <c>Authentication:OpenIdConnect</c>), for clinics on Entra ID
/// or another provider. Off unless <see cref="Authority"/> and <see cref="ClientId"/> are set. It only authenticates:
/// the person must already have a local account (created with <c>users add</c>) with the same e-mail address, and the
/// local account's roles and lockout decide what they may do.
/// </summary>
public sealed class OpenIdConnectSettings
{
    public const string SectionName = "Authentication:OpenIdConnect";

    public string? Authority { get; set; }

    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>The button's wording on the sign-in page.</summary>
    public string DisplayName { get; set; } = "Sign in with your organisation";

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority) && !string.IsNullOrWhiteSpace(ClientId);
}
