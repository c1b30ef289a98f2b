using Lucene.Net.Analysis.Util;

namespace BotService.Knowledge.Analysis;

/// <summary>
/// Lucene's English stop words plus the words people wrap questions in ("what", "how", "can you tell me").
/// Words that carry meaning in this domain ("long", "soon", "safe", "cost") are deliberately not here.
/// </summary>
internal static class StopWords
{
    private static readonly string[] Words =
    [
        // Lucene's English set
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
        "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
        // question wrappers and pronouns
        "what", "whats", "which", "who", "whom", "whose", "how", "why", "when", "where",
        "do", "does", "did", "doing", "done", "can", "could", "would", "should", "shall", "may", "might", "must",
        "i", "im", "me", "my", "mine", "myself", "you", "your", "yours", "we", "our", "ours", "us", "he", "she", "him",
        "her", "his", "its", "them", "am", "been", "being", "were", "has", "have", "had", "having", "get", "got",
        "tell", "explain", "describe", "know", "want", "wondering", "wonder", "please", "thanks", "thank", "hi", "hello",
        "about", "any", "some", "there", "here", "just", "also", "so", "too", "very", "really", "much", "many", "more",
        "from", "than", "up", "out", "over", "again", "all", "each", "other", "own", "same", "only", "s", "t",
        "i'm", "i've", "i'd", "i'll", "you're", "you've", "you'd", "it's", "what's", "that's", "there's", "how's", "let's",
        "we're", "they're", "he's", "she's", "isn't", "aren't", "don't", "doesn't", "didn't", "can't", "won't", "wouldn't",
        // conversational wrappers: "I'm curious about", "can you define", "what does it mean"
        "curious", "define", "definition", "meaning", "mean", "means", "question", "questions", "ask", "asking", "info",
        "information", "details", "detail", "learn", "interested", "read", "heard", "hear", "wanted", "okay", "ok",
        "one", "single", "during", "around", "yet", "still", "lot", "lots", "instead", "besides", "else", "ever", "even",
        "actually", "maybe", "place", "places", "most", "put", "try", "tried", "trying", "nothing", "regular", "normal",
        "usual", "good", "great", "best", "et", "al", "guys", "folks", "yall", "currently", "now", "today", "able",
        "let", "like", "kind", "sort", "among", "amongst", "anyone", "someone", "something", "anything", "thing", "things",
        "those", "whether", "usually", "typically", "generally", "somebody", "anybody", "everyone", "everybody", "stuff",
        "honestly", "literally", "basically", "totally", "seriously", "pretty",
        // the same words as typed on a phone: letters for words ("u", "w/" for with), contractions without their
        // apostrophe, and chat fillers ("ppl" is a synonym of "people" instead: it carries meaning)
        "u", "ur", "r", "y", "n", "w", "pls", "plz", "thx", "abt", "lol", "idk", "tbh", "omg", "btw",
        "dont", "doesnt", "didnt", "isnt", "arent", "cant", "wont", "wouldnt", "couldnt", "shouldnt", "ive", "youre",
        "thats", "theres", "hows", "hes", "shes", "theyre",
    ];

    public static CharArraySet Set { get; } = new CharArraySet(ClinicAnalyzer.Version, Words, ignoreCase: true).AsReadOnly();

    public static bool Contains(string word) => Set.Contains(word);
}
