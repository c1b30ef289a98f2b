using BotService;
using BotService.Dashboard;

// `users add|list|disable|enable`: manage staff accounts, then exit (see README, "Staff dashboard").
if (args is ["users", .. var userArgs])
{
    return await UserCommands.RunAsync(userArgs, Console.In, Console.Out, Console.Error, interactive: !Console.IsInputRedirected);
}

// `teams package [--out teams-app.zip]`: write the Teams app package from configuration, then exit (README, "Microsoft Teams").
if (args is ["teams", "package", .. var packageArgs])
{
    return BotService.Bot.TeamsPackageCommand.Run(packageArgs, Console.Out, Console.Error);
}

// `migrate`: bring the database up to date, then exit: the deployment step before starting instances (docs/operations.md).
if (args is ["migrate", .. var migrateArgs])
{
    return await BotService.Hosting.MigrateCommand.RunAsync(migrateArgs, Console.Out, Console.Error);
}

BotService.Hosting.NativeHeap.Configure();
var app = BotServiceApp.Build(args);
await app.RunAsync();
return 0;
