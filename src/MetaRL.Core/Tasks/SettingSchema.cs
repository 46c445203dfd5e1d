using System.Globalization;

namespace MetaRL.Core.Tasks;

/// <summary>The kind of value a setting takes.</summary>
public enum SettingType
{
    Integer,
    Number,
    Boolean,
    Choice,
    /// <summary>Comma-separated layer sizes such as <c>64,64</c> (or <c>none</c> where no layers are allowed).</summary>
    Sizes,
    /// <summary>Free-form text the owner parses (e.g. "auto" or a number).</summary>
    Text,
}

/// <summary>What a tool or a page needs to know of one setting: key, type, default, range or choices, meaning.</summary>
public sealed record SettingDescription(string Key, SettingType Type, string Default, double? Min, double? Max, IReadOnlyList<string>? Choices, string Description)
{
    /// <summary>The group listings show the setting under (e.g. "network", "policy update"); empty when its owner declares none.</summary>
    public string Group { get; init; } = "";
}

/// <summary>
/// Every setting of a configuration record <typeparamref name="T"/>, each declared once: its key, how it is read from
/// and written to <c>key=value</c> text, its range or choices and its one-line description. Parsing, validation,
/// recording a run's settings and listing them (<c>metarl list</c>, the docs) all come from these declarations;
/// defaults come from the record's own initial values.
/// </summary>
public sealed class SettingSchema<T>(string owner) where T : class
{
    private sealed record Entry(SettingDescription Shape, Func<T, string> Format, Func<SettingsReader, T, T> Read);

    private readonly List<Entry> _entries = [];

    /// <summary>The name errors start with (e.g. "rl2").</summary>
    public string Owner => owner;

    public IReadOnlyList<string> Keys => _entries.Select(e => e.Shape.Key).ToArray();

    public SettingSchema<T> Int(string key, Func<T, int> get, Func<T, int, T> set, int min, int max, string description)
        => Add(new(key, SettingType.Integer, "", min, max, null, description), c => get(c).ToString(CultureInfo.InvariantCulture),
            (r, c) => set(c, r.Int(key, get(c), min, max)));

    public SettingSchema<T> Double(string key, Func<T, double> get, Func<T, double, T> set, double min, double max, string description)
        => Add(new(key, SettingType.Number, "", min, max, null, description), c => get(c).ToString("R", CultureInfo.InvariantCulture),
            (r, c) => set(c, r.Double(key, get(c), min, max)));

    public SettingSchema<T> Bool(string key, Func<T, bool> get, Func<T, bool, T> set, string description)
        => Add(new(key, SettingType.Boolean, "", null, null, ["true", "false"], description), c => get(c) ? "true" : "false",
            (r, c) => set(c, r.Bool(key, get(c))));

    public SettingSchema<T> Choice(string key, Func<T, string> get, Func<T, string, T> set, string[] choices, string description)
        => Add(new(key, SettingType.Choice, "", null, null, choices, description), get, (r, c) => set(c, r.Choice(key, get(c), choices)));

    /// <summary>
    /// A choice among the members of <typeparamref name="TEnum"/>, written in lower case with a hyphen between words
    /// (<c>Rl2Update.Trpo</c> is <c>trpo</c>, <c>LearningRateSchedule.Linear</c> is <c>linear</c>).
    /// </summary>
    public SettingSchema<T> Enum<TEnum>(string key, Func<T, TEnum> get, Func<T, TEnum, T> set, string description) where TEnum : struct, System.Enum
    {
        var names = System.Enum.GetValues<TEnum>().ToDictionary(v => SettingText(v), v => v, StringComparer.Ordinal);
        string[] choices = [.. names.Keys];
        return Add(new(key, SettingType.Choice, "", null, null, choices, description), c => SettingText(get(c)),
            (r, c) => set(c, names[r.Choice(key, SettingText(get(c)), choices)]));
    }

    /// <summary>An enumeration member as settings write it: lower case, a hyphen between words.</summary>
    public static string SettingText<TEnum>(TEnum value) where TEnum : struct, System.Enum
        => string.Concat(value.ToString().Select((ch, i) => char.IsUpper(ch) && i > 0 ? "-" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString()));

    public SettingSchema<T> Sizes(string key, Func<T, int[]> get, Func<T, int[], T> set, bool allowNone, string description)
        => Add(new(key, SettingType.Sizes, "", 1, 4096, null, description), c => get(c).Length == 0 ? "none" : string.Join(',', get(c)),
            (r, c) => set(c, r.Sizes(key, get(c), allowNone)));

    /// <summary>A setting whose text the owner parses itself (<paramref name="read"/> receives the reader and the current record).</summary>
    public SettingSchema<T> Custom(string key, SettingType type, Func<T, string> format, Func<SettingsReader, T, T> read, string description)
        => Add(new(key, type, "", null, null, null, description), format, read);

    private string _group = "";

    /// <summary>The settings declared after this call are listed under <paramref name="name"/> (a group may be named again later).</summary>
    public SettingSchema<T> Group(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _group = name;
        return this;
    }

    private SettingSchema<T> Add(SettingDescription shape, Func<T, string> format, Func<SettingsReader, T, T> read)
    {
        shape = shape with { Group = _group };
        if (_entries.Any(e => e.Shape.Key == shape.Key)) throw new ArgumentException($"{owner}: setting '{shape.Key}' is declared twice.");
        if (string.IsNullOrWhiteSpace(shape.Description)) throw new ArgumentException($"{owner}: setting '{shape.Key}' needs a description.");
        _entries.Add(new(shape, format, read));
        return this;
    }

    /// <summary>
    /// <paramref name="config"/> with the entries of <paramref name="settings"/> that name this schema's keys applied
    /// (each validated, errors naming the key); the other entries are returned in <paramref name="rest"/>.
    /// </summary>
    public T Apply(T config, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> rest)
    {
        rest = new(StringComparer.Ordinal);
        var mine = new Dictionary<string, string>(StringComparer.Ordinal);
        var keys = Keys;
        foreach (var (k, v) in settings) (keys.Contains(k) ? mine : rest)[k] = v;
        var reader = new SettingsReader(owner, mine);
        foreach (var e in _entries) config = e.Read(reader, config);
        reader.EnsureAllUsed();
        return config;
    }

    /// <summary>
    /// Refuses <paramref name="unknown"/> keys, listing the valid ones: for fully resolved settings (a checkpoint's
    /// description), where nothing is left over for a task family.
    /// </summary>
    public void RefuseUnknown(IEnumerable<string> unknown)
    {
        var keys = unknown.Order(StringComparer.Ordinal).ToArray();
        if (keys.Length > 0) throw new SettingException($"{owner}: {SettingKeys.UnknownMessage(keys, (owner, Keys.ToArray()))}");
    }

    /// <summary>Every setting of <paramref name="config"/> as key=value text, keys in ordinal order (what a run records).</summary>
    public IReadOnlyDictionary<string, string> Format(T config)
    {
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in _entries) d[e.Shape.Key] = e.Format(config);
        return d;
    }

    /// <summary>The declarations, with <paramref name="defaults"/>' values as the defaults, in declaration order.</summary>
    public IReadOnlyList<SettingDescription> Describe(T defaults) => _entries.Select(e => e.Shape with { Default = e.Format(defaults) }).ToArray();
}
