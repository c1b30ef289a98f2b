using BotService;

var app = BotServiceApp.Build(args);
await app.RunAsync();
