using System.Diagnostics;

namespace BotService.IntegrationTests;

/// <summary>
/// Real faults for tests: a tiny tmpfs that fills up, a read-only bind mount, a database lock held by another process
/// (SQLite: python3's sqlite3; PostgreSQL: psql), a PostgreSQL database that turns read-only or refuses connections.
/// Mounting needs root (the test machines and CI run as root); every fault is undone on dispose.
/// </summary>
internal static class Faults
{
    public static bool IsRoot => Environment.UserName == "root";

    public static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {error}");
        }
    }

    /// <summary>A tmpfs of <paramref name="kilobytes"/> KiB mounted on a new folder.</summary>
    public static Mount Tmpfs(int kilobytes)
    {
        var path = Path.Combine(Path.GetTempPath(), "botservice-faults", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "-o", $"size={kilobytes}k,mode=0700", "tmpfs", path);
        return new Mount(path);
    }

    /// <summary>Makes one file read-only by bind-mounting it onto itself read-only (root ignores chmod).</summary>
    public static Mount ReadOnlyFile(string file)
    {
        Run("mount", "--bind", file, file);
        Run("mount", "-o", "remount,ro,bind", file);
        return new Mount(file, removeFolder: false);
    }

    /// <summary>Makes a folder read-only the same way (files open for writing in it stay writable, as on a real remount).</summary>
    public static Mount ReadOnlyFolder(string folder) => ReadOnlyFile(folder);

    /// <summary>Fills a folder's file system until writing fails; delete the returned file to free the space.</summary>
    public static string Fill(string folder)
    {
        var filler = Path.Combine(folder, "filler.bin");
        using var stream = new FileStream(filler, FileMode.Create);
        var block = new byte[4096];
        try
        {
            while (true)
            {
                stream.Write(block);
                stream.Flush(true);
            }
        }
        catch (IOException)
        {
            // full
        }

        return filler;
    }

    /// <summary>
    /// Another process that holds the data folder's database locked against writes until disposed; reads go on, as
    /// in SQLite's WAL mode. SQLite: an exclusive lock on the file (writes fail after the busy timeout). PostgreSQL: psql
    /// holding EXCLUSIVE locks on the service's tables (writes wait). The database must exist and be migrated.
    /// </summary>
    public static async Task<DatabaseLock> LockDatabaseAsync(string dataPath)
    {
        ProcessStartInfo psi;
        if (TestStorage.IsPostgres)
        {
            psi = new ProcessStartInfo("psql") { RedirectStandardOutput = true, RedirectStandardInput = true };
            foreach (var (key, value) in TestStorage.PsqlEnvironment(dataPath))
            {
                psi.Environment[key] = value;
            }

            foreach (var a in new[] { "-X", "-q", "-v", "ON_ERROR_STOP=1" })
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardInput = true };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(
                "import sqlite3,sys\n" +
                "c=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=10)\n" +
                "c.execute('BEGIN EXCLUSIVE')\n" +
                "print('locked',flush=True)\n" +
                "sys.stdin.read()\n");
            psi.ArgumentList.Add(Path.Combine(dataPath, BotService.Storage.Data.StorageSetup.DatabaseFileName));
        }

        var process = Process.Start(psi)!;
        if (TestStorage.IsPostgres)
        {
            await process.StandardInput.WriteLineAsync(
                "BEGIN; LOCK TABLE conversations, messages, escalations, escalation_deliveries IN EXCLUSIVE MODE;\n\\echo locked");
            await process.StandardInput.FlushAsync();
        }

        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        if (line != "locked")
        {
            process.Kill();
            throw new InvalidOperationException("the locking process did not take the lock");
        }

        return new DatabaseLock(process);
    }

    /// <summary>
    /// PostgreSQL: the data folder's database made read-only for new sessions (<c>default_transaction_read_only</c>) and
    /// its current sessions ended, as a failover to a standby or a full disk's emergency setting would. Undone on dispose.
    /// </summary>
    public static PostgresFault ReadOnlyDatabase(string dataPath) =>
        PostgresFault.Apply(TestStorage.DatabaseName(dataPath), "ALTER DATABASE \"{0}\" SET default_transaction_read_only = on",
            "ALTER DATABASE \"{0}\" RESET default_transaction_read_only");

    /// <summary>PostgreSQL: the data folder's database refuses every connection (its sessions ended). Undone on dispose.</summary>
    public static PostgresFault RefuseConnections(string dataPath) =>
        PostgresFault.Apply(TestStorage.DatabaseName(dataPath), "ALTER DATABASE \"{0}\" ALLOW_CONNECTIONS false",
            "ALTER DATABASE \"{0}\" ALLOW_CONNECTIONS true");

    internal sealed class Mount(string path, bool removeFolder = true) : IDisposable
    {
        public string Path { get; } = path;

        public void Dispose()
        {
            try
            {
                Run("umount", "-l", Path);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            if (removeFolder)
            {
                try
                {
                    Directory.Delete(Path, recursive: true);
                }
                catch (IOException)
                {
                    // best effort
                }
            }
        }
    }

    internal sealed class PostgresFault : IDisposable
    {
        private readonly string _database;
        private readonly string _undo;

        private PostgresFault(string database, string undo)
        {
            _database = database;
            _undo = undo;
        }

        public static PostgresFault Apply(string database, string apply, string undo)
        {
            Admin(string.Format(System.Globalization.CultureInfo.InvariantCulture, apply, database), database);
            return new PostgresFault(database, string.Format(System.Globalization.CultureInfo.InvariantCulture, undo, database));
        }

        /// <summary>Undoes the fault; sessions opened under it end, so the service's next ones see the database as it is.</summary>
        public void Dispose() => Admin(_undo, _database);

        private static void Admin(string sql, string database)
        {
            using var admin = TestStorage.OpenAdmin();
            using (var change = admin.CreateCommand())
            {
                change.CommandText = sql;
                change.ExecuteNonQuery();
            }

            using var end = admin.CreateCommand();
            end.CommandText = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = @p0 AND pid <> pg_backend_pid()";
            var p = end.CreateParameter();
            p.ParameterName = "@p0";
            p.Value = database;
            end.Parameters.Add(p);
            end.ExecuteScalar();
        }
    }

    internal sealed class DatabaseLock(Process process) : IDisposable
    {
        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit();
            }

            process.Dispose();
        }
    }
}
