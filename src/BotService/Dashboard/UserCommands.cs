using BotService.Storage.Data;
using BotService.Storage.Staff;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace BotService.Dashboard;

/// <summary>
/// <c>dotnet run --project src/BotService -- users add|list|disable|enable ...</c>: staff accounts from the command
/// line, so the first admin never needs a default password. Passwords are read from standard input (one line) or
/// typed at a prompt without echo; never from the arguments, which other users can see in the process list.
/// Any other arguments (<c>--Data:Path=...</c>) configure the service as usual, so the right database is used.
/// </summary>
internal static class UserCommands
{
    public const string Usage = """
        usage:
          users add --email ADDRESS --role staff|admin   (password from stdin, or typed at the prompt)
          users list
          users disable --email ADDRESS                  (locks the account and ends its sessions within a minute)
          users enable --email ADDRESS
        any further --Key=value arguments configure the service (e.g. --Data:Path=/srv/bot)
        """;

    public static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error,
        bool interactive, CancellationToken cancellationToken = default)
    {
        if (args.Length == 0)
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        var command = args[0];
        string? email = null, role = null;
        var rest = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--email" when i + 1 < args.Length:
                    email = args[++i];
                    break;
                case "--role" when i + 1 < args.Length:
                    role = args[++i];
                    break;
                case "--password":
                    await error.WriteLineAsync("users: passwords are never taken from arguments; pipe it on stdin or type it at the prompt");
                    return 2;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        await using var app = BotServiceApp.Build([.. rest]);
        app.Services.GetRequiredService<Database>().EnsureReady();
        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();
        var actor = new Actor("cli", "cli:" + Environment.UserName, IsAdmin: true);
        switch (command)
        {
            case "add":
                return await AddAsync(scope.ServiceProvider, users, audit, actor, email, role, input, output, error, interactive, cancellationToken);
            case "list":
                foreach (var user in await users.Users.OrderBy(u => u.Email).ToListAsync(cancellationToken))
                {
                    var roles = string.Join(',', await users.GetRolesAsync(user));
                    var state = await users.IsLockedOutAsync(user) ? "disabled-or-locked" : "active";
                    await output.WriteLineAsync($"{user.Email}\t{roles}\t{state}");
                }

                return 0;
            case "disable" or "enable" when email is not null:
                var found = await users.FindByEmailAsync(email);
                if (found is null)
                {
                    await error.WriteLineAsync($"users: no account {email}");
                    return 1;
                }

                if (command == "disable")
                {
                    await users.SetLockoutEnabledAsync(found, true);
                    await users.SetLockoutEndDateAsync(found, DateTimeOffset.MaxValue);
                    await users.UpdateSecurityStampAsync(found); // signed-in cookies stop working at the next check
                    await audit.AppendAsync(actor, AuditActions.UserDisable, detail: email, cancellationToken: cancellationToken);
                }
                else
                {
                    await users.SetLockoutEndDateAsync(found, null);
                    await users.ResetAccessFailedCountAsync(found);
                    await audit.AppendAsync(actor, AuditActions.UserEnable, detail: email, cancellationToken: cancellationToken);
                }

                await output.WriteLineAsync($"{command}d {email}");
                return 0;
            default:
                await error.WriteLineAsync(Usage);
                return 2;
        }
    }

    private static async Task<int> AddAsync(IServiceProvider services, UserManager<IdentityUser> users, AuditLog audit, Actor actor,
        string? email, string? role, TextReader input, TextWriter output, TextWriter error, bool interactive, CancellationToken cancellationToken)
    {
        if (email is null || role is null || !StaffRoles.All.Contains(role))
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        var password = interactive ? Prompt(error) : await input.ReadLineAsync(cancellationToken);
        if (string.IsNullOrEmpty(password))
        {
            await error.WriteLineAsync("users: no password given");
            return 2;
        }

        var roles = services.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var name in StaffRoles.All)
        {
            if (!await roles.RoleExistsAsync(name))
            {
                await roles.CreateAsync(new IdentityRole(name));
            }
        }

        var user = new IdentityUser { UserName = email, Email = email, EmailConfirmed = true, LockoutEnabled = true };
        var created = await users.CreateAsync(user, password);
        if (!created.Succeeded)
        {
            await error.WriteLineAsync("users: " + string.Join("; ", created.Errors.Select(e => e.Description)));
            return 1;
        }

        var roles2 = role == StaffRoles.Admin ? new[] { StaffRoles.Staff, StaffRoles.Admin } : [StaffRoles.Staff];
        await users.AddToRolesAsync(user, roles2);
        await audit.AppendAsync(actor, AuditActions.UserAdd, detail: $"{email} as {role}", cancellationToken: cancellationToken);
        await output.WriteLineAsync($"added {email} ({role})");
        return 0;
    }

    /// <summary>Reads a password twice at the terminal without echoing it.</summary>
    private static string? Prompt(TextWriter error)
    {
        var first = ReadHidden(error, "Password: ");
        var second = ReadHidden(error, "Again: ");
        if (first != second)
        {
            error.WriteLine("users: the two passwords differ");
            return null;
        }

        return first;
    }

    private static string ReadHidden(TextWriter error, string label)
    {
        error.Write(label);
        var chars = new List<char>();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (chars.Count > 0)
                {
                    chars.RemoveAt(chars.Count - 1);
                }

                continue;
            }

            chars.Add(key.KeyChar);
        }

        error.WriteLine();
        return new string([.. chars]);
    }
}
