namespace MetaRL.Core.Tasks;

/// <summary>Refusing setting keys nobody reads, with the valid keys of each owner and the nearest one as a suggestion.</summary>
public static class SettingKeys
{
    /// <summary>
    /// The key of <paramref name="candidates"/> closest to <paramref name="key"/> by edit distance (insertions, deletions,
    /// substitutions and swaps of neighbours), if it is close enough to be a slip: at most a third of the key's length,
    /// and at least one edit allowed. Null when none is.
    /// </summary>
    public static string? Nearest(string key, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(candidates);
        int allowed = Math.Max(1, key.Length / 3);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var c in candidates.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            int d = Distance(key, c);
            if (d < bestDistance) (best, bestDistance) = (c, d);
        }
        return bestDistance <= allowed ? best : null;
    }

    /// <summary>" (did you mean 'x'?)" for the candidate <see cref="Nearest"/> finds, or "" when none is close: for error messages.</summary>
    public static string Suggestion(string word, IEnumerable<string> candidates) => Nearest(word, candidates) is { } near ? $" (did you mean '{near}'?)" : "";

    /// <summary>
    /// Throws a <see cref="SettingException"/> when <paramref name="given"/> holds a key that none of <paramref name="owners"/>
    /// reads: the message names each such key with the nearest valid one, and when a key is no slip of a valid one, lists
    /// every owner's keys (e.g. the algorithm's and the task family's) so that a key given to the wrong owner is seen as such.
    /// </summary>
    public static void RefuseUnknown(IEnumerable<string> given, params (string Owner, IReadOnlyCollection<string> Keys)[] owners)
    {
        ArgumentNullException.ThrowIfNull(given);
        var valid = owners.SelectMany(o => o.Keys).ToHashSet(StringComparer.Ordinal);
        var unknown = given.Where(k => !valid.Contains(k)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (unknown.Length == 0) return;
        throw new SettingException(UnknownMessage(unknown, owners));
    }

    /// <summary>
    /// "unknown setting 'x' (did you mean 'y'?)." when every one of <paramref name="unknown"/> is a slip of a valid key;
    /// otherwise "unknown setting 'x'; valid keys are A: …; B: …" (a key far from every valid one may belong elsewhere,
    /// so the lists say what each owner reads).
    /// </summary>
    public static string UnknownMessage(IReadOnlyList<string> unknown, params (string Owner, IReadOnlyCollection<string> Keys)[] owners)
    {
        var all = owners.SelectMany(o => o.Keys).ToArray();
        var suggestions = unknown.Select(k => Suggestion(k, all)).ToArray();
        var named = unknown.Select((k, i) => $"'{k}'{suggestions[i]}");
        string head = $"unknown setting{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", named)}";
        if (suggestions.All(s => s.Length > 0)) return head + ".";
        var lists = owners.Where(o => o.Keys.Count > 0)
            .Select(o => $"{o.Owner}: {string.Join(", ", o.Keys.Order(StringComparer.Ordinal))}");
        string valid = owners.All(o => o.Keys.Count == 0) ? "there are no settings" : "valid keys are " + string.Join("; ", lists);
        return $"{head}; {valid}.";
    }

    private static int Distance(string a, string b)
    {
        // Optimal string alignment distance: Levenshtein plus transpositions of neighbours ("itreations").
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
