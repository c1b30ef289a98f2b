using System.Runtime.InteropServices;

namespace BotService.Hosting;

/// <summary>
/// The C library's heap (SQLite's page caches, the JIT, OpenSSL allocate there). glibc gives a thread that finds the
/// heap's lock taken an arena of its own, up to eight per core, and an arena keeps the memory it once held: on this
/// service ~7 MB resident over a 60-second soak for arenas the managed code never needed (decision 0021). Two arenas
/// are plenty here, since the managed heap does not use malloc.
/// </summary>
internal static partial class NativeHeap
{
    private const int MArenaMax = -8; // M_ARENA_MAX in glibc's malloc.h

    /// <summary>
    /// Limits glibc to two arenas, before the host starts its threads. An operator's own <c>MALLOC_ARENA_MAX</c> wins;
    /// elsewhere than Linux with glibc nothing happens.
    /// </summary>
    public static void LimitArenas()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null)
        {
            return;
        }

        try
        {
            _ = mallopt(MArenaMax, 2);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // not glibc (musl has no arenas to limit)
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
