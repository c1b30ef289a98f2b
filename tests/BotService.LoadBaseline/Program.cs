using BotService.LoadBaseline;

await FixedBodyServer.Build(args).RunAsync();
