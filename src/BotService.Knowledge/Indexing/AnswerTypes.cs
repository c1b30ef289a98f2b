using System.Text.RegularExpressions;

namespace BotService.Knowledge.Indexing;

/// <summary>
/// Kinds of fact a question can ask for, and a passage can hold. A question that asks "how much" prefers passages
/// with a price in them; "how long" prefers a duration. Classic question answering calls this the expected answer type.
/// </summary>
[Flags]
internal enum AnswerTypes
{
    None = 0,
    Money = 1,
    Duration = 2,
    Percent = 4,
    Location = 8,
    Timeframe = 16,
    Definition = 32,
}

internal static partial class AnswerTypeDetector
{
    public static readonly AnswerTypes[] All =
        [AnswerTypes.Money, AnswerTypes.Duration, AnswerTypes.Percent, AnswerTypes.Location, AnswerTypes.Timeframe, AnswerTypes.Definition];

    // Words that only say what kind of fact is wanted ("how much does it COST", "do you have an OFFICE"). A passage
    // that holds that kind of fact (a price, a place) answers them even if it never uses the word.
    private static readonly (AnswerTypes Type, HashSet<string> Stems)[] Cues =
    [
        (AnswerTypes.Money, Stems("money cost costs price prices pricing fee fees charge charges pay paying afford affordable expensive cheap dollars discount")),
        (AnswerTypes.Duration, Stems("long duration length minutes hours last lasts take takes")),
        (AnswerTypes.Percent, Stems("percent percentage common often prevalence proportion")),
        (AnswerTypes.Location, Stems("location locations located office offices address near nearby")),
        (AnswerTypes.Timeframe, Stems("soon fast quick quickly rapid rapidly long")),
    ];

    /// <summary>Every cue word's analysed form: words that name a kind of fact, not a subject.</summary>
    public static IEnumerable<string> CueTerms => Cues.SelectMany(c => c.Stems);

    /// <summary>A plain word that asks for the first kind of fact in <paramref name="wants"/> ("cost" for a price), or null.</summary>
    public static string? CueFor(AnswerTypes wants) =>
        wants.HasFlag(AnswerTypes.Money) ? "cost"
        : wants.HasFlag(AnswerTypes.Duration) ? "duration"
        : wants.HasFlag(AnswerTypes.Percent) ? "percent"
        : wants.HasFlag(AnswerTypes.Location) ? "location"
        : wants.HasFlag(AnswerTypes.Timeframe) ? "soon"
        : null;

    public static string FieldValue(AnswerTypes t) => t.ToString().ToLowerInvariant();

    /// <summary>True if the term only names a kind of fact that <paramref name="holds"/> includes and the question wants.</summary>
    public static bool IsAnsweredCue(string term, AnswerTypes wants, AnswerTypes holds)
    {
        foreach (var (type, stems) in Cues)
        {
            if ((wants & holds & type) != 0 && stems.Contains(term))
            {
                return true;
            }
        }

        return false;
    }

    private static HashSet<string> Stems(string words) =>
        new(words.Split(' ').SelectMany(w => Search.QueryInterpreter.Analyze(w)), StringComparer.Ordinal);

    /// <summary>What kinds of fact a passage of article text holds.</summary>
    public static AnswerTypes InText(string text)
    {
        var types = AnswerTypes.None;
        if (MoneyInText().IsMatch(text))
        {
            types |= AnswerTypes.Money;
        }

        if (DurationInText().IsMatch(text))
        {
            types |= AnswerTypes.Duration;
        }

        if (PercentInText().IsMatch(text))
        {
            types |= AnswerTypes.Percent;
        }

        if (PlaceInText().IsMatch(text))
        {
            types |= AnswerTypes.Location;
        }

        if (TimeframeInText().IsMatch(text))
        {
            types |= AnswerTypes.Timeframe;
        }

        if (DefinitionInText().IsMatch(text))
        {
            types |= AnswerTypes.Definition;
        }

        return types;
    }

    /// <summary>What kind of fact a question asks for.</summary>
    public static AnswerTypes InQuestion(string question)
    {
        var types = AnswerTypes.None;
        if (MoneyQuestion().IsMatch(question))
        {
            types |= AnswerTypes.Money;
        }

        if (DurationQuestion().IsMatch(question))
        {
            types |= AnswerTypes.Duration;
        }

        if (PercentQuestion().IsMatch(question))
        {
            types |= AnswerTypes.Percent;
        }

        if (PlaceQuestion().IsMatch(question))
        {
            types |= AnswerTypes.Location;
        }

        if (TimeframeQuestion().IsMatch(question))
        {
            types |= AnswerTypes.Timeframe;
        }

        // "What is PTSD?", "define KAP": a short question about what something is wants a sentence that defines it.
        if (types == AnswerTypes.None && DefinitionQuestion().IsMatch(question))
        {
            types |= AnswerTypes.Definition;
        }

        return types;
    }

    // A sentence that says what something is: "PTSD is a mental health condition…", "PTSD, or Post Traumatic Stress
    // Disorder, is an anxiety disorder…", "Ketamine is a dissociative anesthetic…".
    [GeneratedRegex(@"^(?<subject>[A-Z][\w’'\-]*(\s+[\w’'\-()]+){0,6}?(\s*,[^,]{1,60},)?)\s+(is|are|refers to|means)\s+(a|an|the|one)\b", RegexOptions.CultureInvariant)]
    private static partial Regex DefinitionInText();

    /// <summary>The words a defining sentence defines ("PTSD, or Post Traumatic Stress Disorder"), or null.</summary>
    public static string? DefinedSubject(string text)
    {
        var m = DefinitionInText().Match(text);
        return m.Success ? m.Groups["subject"].Value : null;
    }

    [GeneratedRegex(@"^\W*(what\s+(is|are)|what's|whats|define|definition of|meaning of|explain)\s+(a\s+|an\s+|the\s+)?[\w’'\-]+(\s+[\w’'\-]+){0,2}\W*$|^\W*what\s+(does|do)\s+[\w’'\-]+(\s+[\w’'\-]+){0,3}\s+(mean|stand for)\W*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DefinitionQuestion();

    [GeneratedRegex(@"\$\s?\d|\b\d+(\.\d+)?\s?(dollars|usd)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MoneyInText();

    [GeneratedRegex(@"\b(\d+|one|two|three|four|five|six|ten|fifteen|twenty|thirty|forty|forty-five|sixty|ninety)[\s-]?(minutes?|mins?|hours?|hrs?)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DurationInText();

    [GeneratedRegex(@"\d\s?%|\bpercent(age)?\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PercentInText();

    // "in Aurora and Chicago, Illinois", "Sioux Falls, South Dakota", or a US state name.
    [GeneratedRegex(@"\b[A-Z][a-z]+( [A-Z][a-z]+)?, (Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming)\b", RegexOptions.CultureInvariant)]
    private static partial Regex PlaceInText();

    [GeneratedRegex(@"\b(within|after)\s+(just\s+)?(\d+|a few|one|hours|days|minutes)\b|\bhours (to|or) days\b|\brapid(ly)?\b|\bimmediate(ly)?\b|\bfast(-acting| relief)?\b|\b\d+(-\d+)? weeks\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TimeframeInText();

    [GeneratedRegex(@"\b(money|costs?|price[sd]?|pricing|save|savings|fees?|charges?|pay|paying|payment|afford|affordable|expensive|cheap|dollars?|discounts?|how much (is|does|do|will|would|are)\b(?! .*\b(take|dose|dosage|ketamine should)\b))|\$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MoneyQuestion();

    [GeneratedRegex(@"\bhow long (is|are|does|do|will|would)(\s+[\w']+){0,3}?\s+(sessions?|infusions?|appointments?|visits?)\b|\bhow long (is|are|does|do|will)\b(?! .*\b(last|lasting|work)\b)|\bduration\b|\blength of (a |the |each )?(session|infusion|appointment|treatment)\b|\bhow many (minutes|hours)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DurationQuestion();

    [GeneratedRegex(@"\bpercent(age)?\b|%|\bhow (many|common|likely)\b|\bprevalence\b|\bproportion\b|\bhow often\b|\ba lot\b|\bfrequent(ly)?\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PercentQuestion();

    [GeneratedRegex(@"\bwhere\b|\blocat(ed|ion|ions)\b|\boffices?\b|\bnear me\b|\baddress\b|\bwhich (city|cities|state|states)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PlaceQuestion();

    [GeneratedRegex(@"\bhow (soon|fast|quickly|quick)\b|\bwhen (will|would|do|does|can) (i|you|it|patients|people|results)\b|\bhow long (until|before|till|does it take)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TimeframeQuestion();
}
