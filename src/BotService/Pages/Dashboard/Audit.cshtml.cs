using BotService.Dashboard;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace BotService.Pages;

/// <summary>Admins only (see the page conventions in <see cref="DashboardApi"/>): the audit trail, and the exports.</summary>
internal sealed class AuditModel(AuditLog audit) : PageModel
{
    public const int Shown = 500;

    public IReadOnlyList<AuditEventRecord> Rows { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        await audit.AppendAsync(User.ToActor(), AuditActions.AuditView, cancellationToken: cancellationToken);
        Rows = await audit.ReadAsync(null, Shown, cancellationToken);
    }
}
