namespace MetaRL.Algorithms.Tests;

/// <summary>The tests' settings as "key=value" strings, read into the dictionary the catalogue takes.</summary>
internal static class TestSettings
{
    /// <summary>Each "key=value" (the value may itself hold '=') as one entry.</summary>
    public static Dictionary<string, string> Parse(params IEnumerable<string> pairs)
        => pairs.Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
}
