namespace BotService.Safety;

/// <summary>How urgently a message needs a human. Ordered: a higher value always wins.</summary>
public enum SafetyLevel
{
    /// <summary>No risk found; answer normally.</summary>
    None = 0,

    /// <summary>Worrying but not immediately life-threatening: tell the person to contact the clinic or seek care.</summary>
    Urgent = 1,

    /// <summary>Possible danger to life: reply with crisis resources only and alert staff.</summary>
    Emergency = 2,
}
