using System.ComponentModel.DataAnnotations;

namespace BotService.Hosting;

/// <summary>Where the service keeps its state (configuration section <c>Data</c>).</summary>
public sealed class DataOptions
{
    public const string SectionName = "Data";

    /// <summary>Folder for all state; relative paths are under the content root. Created (owner-only) if missing.</summary>
    [Required]
    public string Path { get; set; } = "./data";
}

/// <summary>Where the articles are (configuration section <c>Knowledge</c>).</summary>
public sealed class KnowledgeOptions
{
    public const string SectionName = "Knowledge";

    /// <summary>The knowledge folder; relative paths are under the content root.</summary>
    [Required]
    public string Path { get; set; } = "knowledge";

    /// <summary>How long changes must settle before the index is rebuilt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ReloadDelay { get; set; } = TimeSpan.FromMilliseconds(300);
}
