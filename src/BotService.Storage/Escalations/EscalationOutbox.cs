using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BotService.Storage.Escalations;

/// <summary>
/// The durable outbox: an append-only JSON-lines file under <c>Data:Path</c>, created owner-only, each record flushed
/// to the disk (fsync) before <see cref="Append"/> returns. An escalation is written here first, so a crash, a locked
/// database or a dead notifier cannot lose it; a "done" record follows once it has landed everywhere.
/// </summary>
public sealed class EscalationOutbox : IDisposable
{
    public const string FileName = "escalations.outbox.jsonl";
    private const long CompactAbove = 256 * 1024;

    private readonly Lock _lock = new();
    private FileStream? _stream; // kept open: an fsync on an open file costs a fraction of open + write + fsync + close

    public EscalationOutbox(string dataPath) => FilePath = Path.Combine(dataPath, FileName);

    public string FilePath { get; }

    /// <summary>Writes the escalation and forces it to the disk. Throws on any I/O failure (full disk, read-only).</summary>
    public void Append(Escalation escalation) => Write(new OutboxLine { Add = escalation });

    /// <summary>
    /// Appends unless another write has held the file for longer than <paramref name="wait"/> (a stuck disk): then
    /// returns false at once and the caller keeps the escalation in memory. Throws on I/O failure like <see cref="Append"/>.
    /// </summary>
    public bool TryAppend(Escalation escalation, TimeSpan wait)
    {
        if (!_lock.TryEnter(wait))
        {
            return false;
        }

        try
        {
            Append(escalation);
            return true;
        }
        finally
        {
            _lock.Exit();
        }
    }

    /// <summary>Runs the serializer once on a sample (nothing is written), so the first real escalation is quick.</summary>
    public void WarmUp() => _ = JsonSerializer.Serialize(
        new OutboxLine { Add = new Escalation("warm-up", "warm-up", "none", EscalationLevel.Urgent, [new("warm-up", EscalationLevel.Urgent, 0, 0)], "warm-up", string.Empty, DateTimeOffset.UnixEpoch) },
        OutboxJsonContext.Default.OutboxLine);

    /// <summary>Records that the escalation has landed; it will not be replayed.</summary>
    public void MarkDone(string key) => Write(new OutboxLine { Done = key });

    /// <summary>Everything appended and not yet marked done, in order. A torn last line (a crash mid-write) is skipped.</summary>
    public List<Escalation> ReadPending()
    {
        lock (_lock)
        {
            var pending = new Dictionary<string, Escalation>(StringComparer.Ordinal);
            var order = new List<string>();
            if (!File.Exists(FilePath))
            {
                return [];
            }

            foreach (var line in File.ReadLines(FilePath))
            {
                OutboxLine? record;
                try
                {
                    record = JsonSerializer.Deserialize(line, OutboxJsonContext.Default.OutboxLine);
                }
                catch (JsonException)
                {
                    continue;
                }

                if (record?.Add is { } add && pending.TryAdd(add.Key, add))
                {
                    order.Add(add.Key);
                }
                else if (record?.Done is { } done)
                {
                    pending.Remove(done);
                }
            }

            return order.Where(pending.ContainsKey).Select(k => pending[k]).ToList();
        }
    }

    /// <summary>
    /// Rewrites the file with only what is pending, once it has grown, through a temporary file and an atomic rename.
    /// </summary>
    public void CompactIfLarge()
    {
        lock (_lock)
        {
            var info = new FileInfo(FilePath);
            if (!info.Exists || info.Length < CompactAbove)
            {
                return;
            }
        }

        var pending = ReadPending();
        lock (_lock)
        {
            var temp = FilePath + ".tmp";
            using (var stream = Open(temp, FileMode.Create))
            {
                foreach (var e in pending)
                {
                    var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new OutboxLine { Add = e }, OutboxJsonContext.Default.OutboxLine) + "\n");
                    stream.Write(bytes);
                }

                stream.Flush(flushToDisk: true);
            }

            _stream?.Dispose();
            _stream = null;
            File.Move(temp, FilePath, overwrite: true);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _stream?.Dispose();
            _stream = null;
        }
    }

    private void Write(OutboxLine line)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(line, OutboxJsonContext.Default.OutboxLine) + "\n");
        lock (_lock)
        {
            try
            {
                // Reopen if the file was moved away (compaction) or deleted: an open handle would write into the void.
                if (_stream is null || !File.Exists(FilePath))
                {
                    _stream?.Dispose();
                    Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
                    _stream = Open(FilePath, FileMode.Append);
                }

                _stream.Write(bytes);
                _stream.Flush(flushToDisk: true);
            }
            catch
            {
                var broken = _stream;
                _stream = null;
                try
                {
                    broken?.Dispose(); // may throw again while flushing what the disk refused
                }
                catch (IOException)
                {
                }

                throw;
            }
        }
    }

    private static FileStream Open(string path, FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(path, options);
    }
}

internal sealed class OutboxLine
{
    public Escalation? Add { get; set; }

    public string? Done { get; set; }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(OutboxLine))]
internal sealed partial class OutboxJsonContext : JsonSerializerContext;
