using System.ComponentModel.DataAnnotations;

namespace BotService.Knowledge.Answers;

/// <summary>How answers are decided and worded (configuration section <c>Answers</c>).</summary>
public sealed class AnswerOptions
{
    public const string SectionName = "Answers";

    /// <summary>Below this confidence the bot declines instead of guessing.</summary>
    [Range(0.0, 1.0)]
    public double MinConfidence { get; set; } = 0.55;

    /// <summary>What the bot can help with, as a phrase that completes "I can help with …".</summary>
    [Required]
    public string Topics { get; set; } =
        "PTSD and its symptoms, how ketamine therapy works, ketamine-assisted psychotherapy (KAP), what the research shows, " +
        "safety and side effects, how ketamine is given, pricing and insurance, and booking a consultation";

    /// <summary>How to reach the clinic, as a phrase that completes "For anything else, …".</summary>
    [Required]
    public string ClinicContact { get; set; } = "please call the clinic or book a consultation, and the team will be glad to help.";
}
