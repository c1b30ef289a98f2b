using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BotService.Storage.Escalations;

/// <summary>
/// The durable outbox: an append-only JSON-lines file under <c>Data:Path</c>, created owner-only, each record flushed
/// to the disk (fsync) before <see cref="Append"/> returns. An escalation is written here first, so a crash, a locked
/// database or a dead notifier cannot lose it; a "done" record follows once it has landed everywhere.
/// </summary>
public sealed class EscalationOutbox
{
    public const string FileName = "escalations.outbox.jsonl";
    private const long CompactAbove = 256 * 1024;

    private readonly Lock _lock = new();

    public EscalationOutbox(string dataPath) => FilePath = Path.Combine(dataPath, FileName);

    public string FilePath { get; }

    /// <summary>Writes the escalation and forces it to the disk. Throws on any I/O failure (full disk, read-only).</summary>
    public void Append(Escalation escalation) => Write(new OutboxLine { Add = escalation });

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

            File.Move(temp, FilePath, overwrite: true);
        }
    }

    private void Write(OutboxLine line)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(line, OutboxJsonContext.Default.OutboxLine) + "\n");
        lock (_lock)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
            using var stream = Open(FilePath, FileMode.Append);
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
    }

    private static FileStream Open(string path, FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.Read };
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
