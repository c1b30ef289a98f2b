using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace BotService.Migrations.PostgreSQL;

/// <summary>
/// For <c>dotnet ef migrations add</c> (see src/add-migration.sh), which never connects: a context on the PostgreSQL
/// provider. <c>dotnet ef database update</c> and <c>migrations script</c> connect to <c>BOTSERVICE_PG</c> if set.
/// </summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<BotDbContext>
{
    public BotDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<BotDbContext>();
        var connection = Environment.GetEnvironmentVariable("BOTSERVICE_PG") ?? "Host=127.0.0.1;Database=botservice;Username=botservice";
        StorageSetup.Configure(options, StorageTarget.PostgreSql(connection, Path.GetTempPath()));
        return new BotDbContext(options.Options);
    }
}
