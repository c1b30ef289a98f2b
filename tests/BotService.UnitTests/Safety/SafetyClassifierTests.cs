using BotService.Safety;

namespace BotService.UnitTests.Safety;

/// <summary>Behaviour of the classifier over the real rules file, one rule family or exception kind at a time.</summary>
[Collection(SafetyCollection.Name)]
public sealed class SafetyClassifierTests(ClassifierFixture fixture)
{
    private SafetyAssessment Classify(string text) => fixture.Classifier.Classify(text);

    // The seven emergencies, two urgents and three benign messages from the dev set must always hold.
    [Theory]
    [InlineData("I am going to commit suicide")]
    [InlineData("i want to end my life")]
    [InlineData("I just swallowed all my sleeping pills")]
    [InlineData("I'm having chest pain and trouble breathing after my infusion")]
    [InlineData("I keep thinking about hurting myself")]
    [InlineData("nobody would miss me if I was gone")]
    [InlineData("I'm going to hurt someone")]
    public void Classify_DevSetEmergency_Emergency(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("I feel very nauseous and dizzy hours after my infusion")]
    [InlineData("I've been hallucinating since my treatment")]
    public void Classify_DevSetUrgent_UrgentOrEmergency(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.True(result.Level >= SafetyLevel.Urgent, $"got {result.Level}");
    }

    [Theory]
    [InlineData("can ketamine help people with suicidal thinking")]
    [InlineData("I'm not in crisis, just curious about KAP")]
    [InlineData("this price is killing me, do you offer discounts")]
    public void Classify_DevSetBenign_None(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
        Assert.Empty(result.Reasons);
    }

    [Theory]
    [InlineData("I'm going to kill myself tonight", "suicidal-intent")]
    [InlineData("I can't stop thinking about ending it all", "suicidal-thoughts")]
    [InlineData("everyone would be better off without me", "suicidal-indirect")]
    [InlineData("how many pills would it take to die", "suicide-plan")]
    [InlineData("I tried to kill myself last night", "suicide-attempt")]
    [InlineData("I bought a gun and I don't want to be here anymore", "means-access")]
    [InlineData("I'm standing on a bridge", "dangerous-place")]
    [InlineData("I've been cutting my arms again", "self-harm")]
    [InlineData("my brother took a whole bottle of pills", "overdose")]
    [InlineData("my toddler drank some bleach", "poisoning")]
    [InlineData("I want to stab my roommate", "violence")]
    [InlineData("I'm in crisis right now", "crisis-statement")]
    [InlineData("I fainted after my session today", "post-treatment-medical")]
    [InlineData("she's not breathing", "medical-emergency")]
    public void Classify_EmergencyFamily_EmergencyWithRuleId(string text, string ruleId)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
        Assert.Contains(result.Reasons, r => r.RuleId == ruleId && r.Level == SafetyLevel.Emergency);
    }

    [Theory]
    [InlineData("I keep throwing up since my infusion yesterday", "post-treatment-symptom")]
    [InlineData("my bp is 175/108 after the session", "high-blood-pressure")]
    [InlineData("I keep hearing voices that aren't there", "hallucinations")]
    [InlineData("I accidentally took a double dose of my meds", "medication-error")]
    [InlineData("I feel like a burden to everyone", "hopelessness")]
    public void Classify_UrgentFamily_UrgentWithRuleId(string text, string ruleId)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Urgent, result.Level);
        Assert.Contains(result.Reasons, r => r.RuleId == ruleId);
    }

    [Theory]
    [InlineData("I'm not suicidal, just curious about infusions")]
    [InlineData("not thinking about hurting myself, only asking about pricing")]
    [InlineData("I would never hurt myself, I just want to know the side effects")]
    [InlineData("no suicidal thoughts, just want to book")]
    public void Classify_ExplicitNegation_None(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
    }

    [Fact]
    public void Classify_NegationFollowedByBut_Urgent()
    {
        // Act
        var result = Classify("I'm not going to kill myself, but I really am not okay");

        // Assert
        Assert.Equal(SafetyLevel.Urgent, result.Level);
    }

    [Fact]
    public void Classify_NegationThenSeparateIntent_Emergency()
    {
        // A denial covers only its own words; a present intent elsewhere still counts.
        // Act
        var result = Classify("I'm not in crisis. I just took 30 pills");

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("I'm dying to know if you take Cigna")]
    [InlineData("kill two birds with one stone and book both sessions?")]
    [InlineData("my feet are killing me after the walk to your office")]
    [InlineData("I could kill for a coffee after fasting")]
    [InlineData("your receptionist is drop-dead gorgeous")]
    [InlineData("I nearly killed myself laughing at the waiting room music")]
    [InlineData("shoot me an email with the intake forms")]
    public void Classify_Idiom_None(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
    }

    [Fact]
    public void Classify_ChestIsKillingMeAfterTreatment_Emergency()
    {
        // Idioms never apply to the medical rules.
        // Act
        var result = Classify("my chest is killing me after the infusion");

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("what is the overdose risk of ketamine")]
    [InlineData("is ketamine safe for someone who has had suicidal thoughts")]
    [InlineData("does ketamine help patients who self harm")]
    [InlineData("can ketamine cause seizures")]
    [InlineData("is it normal to feel dissociated during an infusion")]
    public void Classify_InformationalQuestion_None(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
    }

    [Fact]
    public void Classify_PastAttemptWithTreatmentQuestion_None()
    {
        // Act
        var result = Classify("Years ago I attempted suicide, now I'm doing well and want to know about KAP");

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
    }

    [Fact]
    public void Classify_PastAttemptWithoutResolution_Urgent()
    {
        // Act
        var result = Classify("I attempted suicide when I was 19 and I think about it a lot");

        // Assert
        Assert.Equal(SafetyLevel.Urgent, result.Level);
        Assert.Contains(result.Reasons, r => r.RuleId == "suicide-attempt" && r.Level == SafetyLevel.Urgent);
    }

    [Fact]
    public void Classify_PastAttemptThenPresentIntent_Emergency()
    {
        // Act
        var result = Classify("I tried to kill myself years ago and now I want to do it again");

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Fact]
    public void Classify_SuicidalThoughtsInTreatmentQuestion_Urgent()
    {
        // Act
        var result = Classify("I've had suicidal thoughts for years, can ketamine help?");

        // Assert
        Assert.Equal(SafetyLevel.Urgent, result.Level);
    }

    [Fact]
    public void Classify_IntentInTreatmentQuestion_StaysEmergency()
    {
        // Act
        var result = Classify("can ketamine help? I'm going to kill myself tonight");

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("i want to kil myself")]
    [InlineData("thinking about sucide")]
    [InlineData("im suicidel")]
    [InlineData("kms")]
    [InlineData("gonna unalive myself")]
    [InlineData("i think i od'd")]
    [InlineData("im gonna OD")]
    [InlineData("considering sewerslide")]
    [InlineData("i want to dieeee")]
    [InlineData("I WANT TO DIE")]
    public void Classify_TypoOrSlang_Emergency(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("my brother took a whole bottle of pills")]
    [InlineData("my friend says she wants to die")]
    [InlineData("my dad is talking about shooting himself")]
    [InlineData("my wife is unresponsive after her infusion")]
    public void Classify_ThirdPerson_Emergency(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("I won't be around much longer")]
    [InlineData("I want to go to sleep and never wake up")]
    [InlineData("I've written my goodbye letters")]
    [InlineData("I've started giving away my things")]
    [InlineData("everyone would be better off without me")]
    public void Classify_IndirectStatement_Emergency(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Theory]
    [InlineData("I took 30 pills", SafetyLevel.Emergency)]
    [InlineData("I took thirty pills", SafetyLevel.Emergency)]
    [InlineData("I swallowed two dozen advil", SafetyLevel.Emergency)]
    [InlineData("I took 2 pills for a headache", SafetyLevel.None)]
    [InlineData("I took two tylenol this morning", SafetyLevel.None)]
    [InlineData("I took two bottles of my meds", SafetyLevel.Emergency)]
    [InlineData("I took a whole bottle of acetaminophen", SafetyLevel.Emergency)]
    [InlineData("took 800mg of xanax", SafetyLevel.Emergency)]
    [InlineData("took 800mg of ibuprofen for my back", SafetyLevel.None)]
    [InlineData("I took 5 grams of tylenol", SafetyLevel.Emergency)]
    public void Classify_PillQuantity_LevelFollowsThreshold(string text, SafetyLevel expected)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(expected, result.Level);
    }

    [Fact]
    public void Classify_PillEmoji_TreatedAsPills()
    {
        // Act
        var result = Classify("just took 20 \U0001F48A");

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
        Assert.Contains(result.Reasons, r => r.RuleId == "overdose");
    }

    [Theory]
    [InlineData("I felt a bit floaty 30 minutes after my infusion", SafetyLevel.None)]
    [InlineData("I felt a bit floaty 3 hours after my infusion", SafetyLevel.Urgent)]
    [InlineData("a little dizzy an hour after my session", SafetyLevel.None)]
    [InlineData("still dizzy 30 minutes after my session", SafetyLevel.Urgent)]
    [InlineData("I feel dizzy since my infusion yesterday", SafetyLevel.Urgent)]
    public void Classify_ExpectedEffectWithElapsedTime_DroppedOnlyInsideWindow(string text, SafetyLevel expected)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(expected, result.Level);
    }

    [Fact]
    public void Classify_SymptomWithoutTreatmentContext_None()
    {
        // Nausea on its own is not a post-treatment symptom.
        // Act
        var result = Classify("I feel nauseous and dizzy today");

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
    }

    [Theory]
    [InlineData("i wanna kys tonight", SafetyLevel.Emergency)]
    [InlineData("gonna kys", SafetyLevel.Emergency)]
    [InlineData("you should kys", SafetyLevel.None)]
    public void Classify_Kys_OnlyAboutTheWriter(string text, SafetyLevel expected)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(expected, result.Level);
    }

    [Fact]
    public void Classify_GunWithoutDistress_None()
    {
        // Act
        var result = Classify("I have a gun license, does that matter for treatment?");

        // Assert
        Assert.Equal(SafetyLevel.None, result.Level);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\t ")]
    [InlineData("\U0001F600\U0001F600")]
    [InlineData("????!!!!....")]
    public void Classify_EmptyOrSymbolsOnly_None(string text)
    {
        // Act
        var result = Classify(text);

        // Assert
        Assert.Same(SafetyAssessment.None, result);
    }

    [Fact]
    public void Classify_VeryLongMessage_StillFindsIntentAtTheEnd()
    {
        // Arrange
        var text = string.Concat(Enumerable.Repeat("I have some questions about insurance and billing. ", 200)) +
                   "honestly I want to kill myself";

        // Act
        var result = Classify(text);

        // Assert
        Assert.Equal(SafetyLevel.Emergency, result.Level);
    }

    [Fact]
    public void Prefilters_EveryRuleMatchInCorpus_PassesItsFilters()
    {
        // The pre-filters must never reject a message a rule matches (they are derived automatically).
        // Arrange
        var texts = SafetyCorpusTests.LoadCorpus().Select(i => fixture.RuleSet.Normaliser.Normalise(i.Text).Text).ToList();
        var failures = new List<string>();

        // Act
        foreach (var text in texts)
        {
            foreach (var rule in fixture.RuleSet.Rules)
            {
                var matches = rule.Matcher?.IsMatch(text) == true || rule.Quantities.Any(q => q.Pattern.IsMatch(text));
                if (matches && !(fixture.RuleSet.AnyRule.Passes(text) && rule.Literals.Passes(text) && rule.Gate.Passes(text)))
                {
                    failures.Add($"{rule.Id}: {text}");
                }
            }
        }

        // Assert
        Assert.Empty(failures);
        Assert.True(fixture.RuleSet.AnyRule.IsFiltering);
    }

    [Fact]
    public void Prefilters_EveryExceptionMatchInCorpus_PassesItsFilters()
    {
        // Exceptions have literal pre-filters too (derived the same way): they must never skip an exception that
        // matches, or a softened message would be escalated (or an idiom reported).
        // Arrange
        var texts = SafetyCorpusTests.LoadCorpus().Select(i => fixture.RuleSet.Normaliser.Normalise(i.Text).Text).ToList();
        var failures = new List<string>();

        // Act
        foreach (var text in texts)
        {
            foreach (var exception in fixture.RuleSet.Exceptions)
            {
                if (exception.Matcher.IsMatch(text) && !(exception.Literals.Passes(text) && exception.Gate.Passes(text)))
                {
                    failures.Add($"{exception.Id}: {text}");
                }
            }
        }

        // Assert
        Assert.Empty(failures);
        Assert.True(fixture.RuleSet.Exceptions.Count(e => e.Literals.IsFiltering) >= fixture.RuleSet.Exceptions.Count / 2);
    }

    [Fact]
    public void Classify_WithUnusedGates_SameLevelsOnWholeCorpus()
    {
        // Gates are only a speed-up: with every gate disabled the corpus must classify identically.
        // Arrange
        var ungated = new SafetyRuleSet
        {
            Path = fixture.RuleSet.Path,
            Fingerprint = fixture.RuleSet.Fingerprint,
            LoadedAt = fixture.RuleSet.LoadedAt,
            Normaliser = fixture.RuleSet.Normaliser,
            Rules = fixture.RuleSet.Rules.Select(Ungate).ToArray(),
            Exceptions = fixture.RuleSet.Exceptions.Select(Ungate).ToArray(),
            AnyRule = LiteralPrefilter.Always,
        };
        var classifier = new SafetyClassifier(() => ungated, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, fixture.Clock);
        var texts = SafetyCorpusTests.LoadCorpus().Select(i => i.Text).ToList();

        // Act
        var differences = texts.Where(t => classifier.Classify(t).Level != Classify(t).Level).ToList();

        // Assert
        Assert.Empty(differences);
    }

    private static CompiledRule Ungate(CompiledRule r) => new()
    {
        Id = r.Id, Level = r.Level, Line = r.Line, Matcher = r.Matcher, Requires = r.Requires, Quantities = r.Quantities,
        WearsOff = r.WearsOff, YieldsTo = r.YieldsTo, Gate = RegexGate.Always, Literals = LiteralPrefilter.Always,
    };

    private static CompiledException Ungate(CompiledException e) => new()
    {
        Id = e.Id, Kind = e.Kind, Effect = e.Effect, Scope = e.Scope, Matcher = e.Matcher, Line = e.Line,
        AppliesTo = e.AppliesTo, OnlyDowngradedBy = e.OnlyDowngradedBy, Gate = RegexGate.Always, Literals = LiteralPrefilter.Always,
    };
}
