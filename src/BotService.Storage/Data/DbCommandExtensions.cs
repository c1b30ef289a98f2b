using System.Data.Common;

namespace BotService.Storage.Data;

/// <summary>Parameters for the hand-written SQL of <see cref="Database.OpenConnectionAsync"/> (decision 0031).</summary>
public static class DbCommandExtensions
{
    /// <summary>Adds <paramref name="name"/> (<c>@name</c>, which SQLite and Npgsql both read) with <paramref name="value"/>; null is SQL NULL.</summary>
    public static void AddParameter(this DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}
