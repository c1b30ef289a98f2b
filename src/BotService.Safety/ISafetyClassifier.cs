namespace BotService.Safety;

/// <summary>Classifies one user message. Implementations are thread-safe and never throw for any input text.</summary>
public interface ISafetyClassifier
{
    SafetyAssessment Classify(string text);
}
