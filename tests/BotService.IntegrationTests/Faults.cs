using System.Diagnostics;

namespace BotService.IntegrationTests;

/// <summary>
/// Real faults for tests: a tiny tmpfs that fills up, a read-only bind mount, a SQLite lock held by another process.
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

    /// <summary>Another process that holds an exclusive lock on a SQLite database until disposed.</summary>
    public static async Task<SqliteLock> LockDatabaseAsync(string databaseFile)
    {
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(
            "import sqlite3,sys\n" +
            "c=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=10)\n" +
            "c.execute('BEGIN EXCLUSIVE')\n" +
            "print('locked',flush=True)\n" +
            "sys.stdin.read()\n");
        psi.ArgumentList.Add(databaseFile);
        var process = Process.Start(psi)!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        if (line != "locked")
        {
            process.Kill();
            throw new InvalidOperationException("the locking process did not take the lock");
        }

        return new SqliteLock(process);
    }

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

    internal sealed class SqliteLock(Process process) : IDisposable
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
