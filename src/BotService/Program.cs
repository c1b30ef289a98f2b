using BotService;
using BotService.Dashboard;

// `users add|list|disable|enable`: manage staff accounts, then exit (see README, "Staff dashboard").
if (args is ["users", .. var userArgs])
{
    return await UserCommands.RunAsync(userArgs, Console.In, Console.Out, Console.Error, interactive: !Console.IsInputRedirected);
}

var app = BotServiceApp.Build(args);
await app.RunAsync();
return 0;
