using BenchmarkDotNet.Attributes;
using BotService.Safety;
using Microsoft.Extensions.Logging.Abstractions;

namespace BotService.Benchmarks;

/// <summary>
/// Cost of <see cref="SafetyClassifier.Classify"/> per message, over the real knowledge/safety/rules.yaml.
/// Each benchmark classifies a fixed list of messages per invocation (OperationsPerInvoke = list length), so the
/// reported times are per message, averaged over the list.
///   dotnet run -c Release --project tests/BotService.Benchmarks -- --anyCategories safety --job short
/// </summary>
[BenchmarkCategory("safety")]
[MemoryDiagnoser]
[MedianColumn]
public class SafetyBenchmarks
{
    // What a clinic FAQ bot mostly receives: practical and informational questions (some on sensitive topics),
    // a few idioms and denials, and a small share of urgent and emergency messages (12 of 60 here, far more than
    // real traffic, so the figure errs high).
    private static readonly string[] RealisticMix =
    [
        "What is the cost of ketamine infusion therapy?", "how long is a session", "do new patients pay an intake fee",
        "is this covered by insurance or medicaid", "Tell me about ketamine-assisted psychotherapy",
        "what are the benefits of KAP over infusions alone", "what receptors does ketamine act on",
        "how soon will I notice results", "are the benefits long lasting", "does it work for treatment-resistant PTSD",
        "compare ketamine with cognitive behavioral therapy", "what is the remission rate for SSRIs",
        "are there serious adverse effects", "is a nurse present during the infusion", "do you have an office in Illinois",
        "how can I schedule a consultation", "does ketamine reduce nightmares and flashbacks", "whats the prise of an infusoin",
        "what time does the football game start", "Can I drive home after my treatment?", "Do you take Blue Cross?",
        "what's the difference between IV ketamine and the nasal spray", "is spravato covered by medicare",
        "Can ketamine help people with suicidal thoughts?", "what is the overdose risk of ketamine",
        "is ketamine safe for someone who has had suicidal thoughts", "is it normal to feel dizzy after an infusion",
        "What side effects are common after an infusion, like nausea?", "can ketamine cause high blood pressure",
        "How long does the dissociation last after treatment?", "I took 2 tylenol this morning, is that ok before my session?",
        "I'm on lexapro, can I still do infusions?", "What should I eat before my infusion?", "do you offer payment plans",
        "I'm nervous about my first infusion, what happens during it?", "can I bring my husband to my appointment",
        "Is ketamine addictive?", "hi", "thanks so much!", "I'd like to talk to a human about billing",
        "this price is killing me, do you offer discounts", "I'm dying to know if you take Aetna",
        "I'm not in crisis, just curious about KAP", "I'm not suicidal, just want pricing",
        "Years ago I attempted suicide, now I'm doing well and want to know about KAP",
        "my feet are killing me after the walk from parking", "I could kill for a coffee after fasting",
        "I nearly died laughing at the intake video",
        "I want to end my life", "I just swallowed all my sleeping pills", "nobody would miss me if I was gone",
        "I'm having chest pain and trouble breathing after my infusion", "my brother took a whole bottle of pills",
        "I keep thinking about hurting myself", "I'm going to hurt someone", "i took thirty pills",
        "I feel very nauseous and dizzy hours after my infusion", "I've been hallucinating since my treatment",
        "I feel like a burden to everyone", "my blood pressure is 175/110 after my session",
    ];

    // Messages where a number or a time decides the level, so Microsoft.Recognizers.Text runs (number words, times).
    private static readonly string[] QuantityMessages =
    [
        "I took thirty pills", "i swallowed twenty five of my sleeping pills", "took two dozen advil",
        "I took two tylenol for a headache", "my brother took forty of his antidepressants",
        "I took five grams of tylenol", "took eight hundred mg of xanax", "I took two bottles of my meds",
        "I felt a bit floaty thirty minutes after my infusion", "a little dizzy an hour after my session",
        "I felt a bit floaty three hours after my infusion", "i took twelve pills an hour ago",
    ];

    private string _rulesPath = "";
    private SafetyRulesProvider? _provider;
    private SafetyClassifier? _classifier;

    [GlobalSetup]
    public void Setup()
    {
        _rulesPath = Environment.GetEnvironmentVariable("SAFETY_RULES_PATH") ?? FindRulesFile();
        _provider = new SafetyRulesProvider(_rulesPath, NullLogger<SafetyRulesProvider>.Instance);
        _classifier = new SafetyClassifier(_provider, NullLogger<SafetyClassifier>.Instance);
        foreach (var text in RealisticMix.Concat(QuantityMessages))
        {
            _classifier.Classify(text);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _provider?.Dispose();

    [Benchmark(OperationsPerInvoke = 60)]
    public int ClassifyRealisticMix()
    {
        var flagged = 0;
        foreach (var text in RealisticMix)
        {
            flagged += (int)_classifier!.Classify(text).Level;
        }

        return flagged;
    }

    [Benchmark(OperationsPerInvoke = 12)]
    public int ClassifyQuantityMessages()
    {
        var flagged = 0;
        foreach (var text in QuantityMessages)
        {
            flagged += (int)_classifier!.Classify(text).Level;
        }

        return flagged;
    }

    private static string FindRulesFile()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "knowledge", "safety", "rules.yaml");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("knowledge/safety/rules.yaml not found above " + AppContext.BaseDirectory +
                                        "; set SAFETY_RULES_PATH");
    }
}
