using BotService.Storage.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace BotService.Migrations.Sqlite;

/// <summary>For <c>dotnet ef migrations add</c> (see src/add-migration.sh): a context on a scratch SQLite file.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<BotDbContext>
{
    public BotDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<BotDbContext>();
        StorageSetup.Configure(options, StorageTarget.Sqlite(Path.GetTempPath()));
        return new BotDbContext(options.Options);
    }
}
