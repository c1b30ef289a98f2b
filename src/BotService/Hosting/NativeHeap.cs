using System.Runtime.InteropServices;

namespace BotService.Hosting;

/// <summary>
/// The C library's heap (the JIT, SQLite's page caches, OpenSSL allocate there; the managed heap does not). Two glibc
/// defaults cost this service memory it never uses again (decisions 0021 and 0026):
/// <list type="bullet">
/// <item>A thread that finds the heap's lock taken gets an arena of its own, up to eight per core, and an arena keeps
/// the memory it once held: ~7 MB over a 60-second soak. Two arenas are plenty here.</item>
/// <item>Blocks under the mmap threshold come from the heap, and freed ones go back to the kernel only from its top.
/// The JIT works in 64 KiB slabs: the first parse by the safety classifier's number recogniser alone peaks at ~15 MB of
/// them, and tier-1 recompilation keeps taking more. Once freed they sit resident under live blocks: ~16 MB of the
/// heap's ~20 MB after a minute of traffic. From 64 KiB up, a block is its own mapping, returned when freed.</item>
/// </list>
/// </summary>
internal static partial class NativeHeap
{
    private const int MMmapThreshold = -3; // M_MMAP_THRESHOLD in glibc's malloc.h
    private const int MArenaMax = -8; // M_ARENA_MAX

    private const int JitSlabSize = 64 * 1024; // blocks from this size up are mapped on their own

    /// <summary>
    /// Sets both, before the host starts its threads. An operator's own <c>MALLOC_ARENA_MAX</c> or
    /// <c>MALLOC_MMAP_THRESHOLD_</c> (or the same in <c>GLIBC_TUNABLES</c>) wins; elsewhere than Linux with glibc
    /// nothing happens.
    /// </summary>
    public static void Configure()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            if (!Chosen("MALLOC_ARENA_MAX", "glibc.malloc.arena_max"))
            {
                _ = mallopt(MArenaMax, 2);
            }

            if (!Chosen("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"))
            {
                _ = mallopt(MMmapThreshold, JitSlabSize);
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // not glibc (musl has neither arenas nor this threshold)
        }
    }

    private static bool Chosen(string variable, string tunable) =>
        Environment.GetEnvironmentVariable(variable) is not null
        || Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains(tunable, StringComparison.Ordinal) == true;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
