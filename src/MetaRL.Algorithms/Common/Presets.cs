using System.Globalization;
using System.Reflection;
using System.Text.Json;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Common;

/// <summary>
/// Per-task defaults of an algorithm, kept as data (an embedded <c>Presets/NAME.json</c>, in the manner of
/// rl-baselines3-zoo's hyperparameter files): each preset names the tasks it serves, an optional condition on the task
/// settings (a range, <c>"when": { "episodes": { "min": 50 } }</c>, or a value, <c>"when": { "loadouts": { "is": "true" } }</c>),
/// the algorithm settings it sets, and the measurement that chose them. The first preset that fits is used; the user's
/// settings override it. A preset may also train in <c>stages</c> (a curriculum): runs of their own before the run, each
/// with its own settings (task or algorithm, <c>iterations</c> among them), the next starting from the weights of the one
/// before, the run itself from the last (see <see cref="Runs.StagedRun"/>).
/// </summary>
public sealed class Presets
{
    /// <summary>One preset: the tasks, the condition, the settings and where its measurement is written up.</summary>
    public sealed record Preset(IReadOnlyList<string> Tasks, IReadOnlyDictionary<string, Condition> When,
        IReadOnlyDictionary<string, string> Settings, string Measured)
    {
        /// <summary>The runs trained before this one, in order (empty for most presets); the run starts from the weights of <see cref="From"/>.</summary>
        public IReadOnlyList<Stage> Stages { get; init; } = [];

        /// <summary>The stage whose weights the run starts from (<c>"run": { "from": NAME }</c>); null: the last.</summary>
        public string? From { get; init; }

        /// <summary>The number (from 1) of the stage the run starts from; 0 without stages.</summary>
        public int RunFrom => Stages.Count == 0 ? 0 : From is null ? Stages.Count : Stages.ToList().FindIndex(s => s.Name == From) + 1;

        /// <summary>
        /// Settings the run takes only as the last stage of a staged run (<c>"run": { "settings": … }</c>), over
        /// <see cref="Settings"/> and under the user's: those that name stages (<see cref="Stage.Reference"/>), such as
        /// teachers trained by the stages. <c>--no-stages</c> trains the run without them.
        /// </summary>
        public IReadOnlyDictionary<string, string> RunSettings { get; init; } = new Dictionary<string, string>();
    }

    /// <summary>
    /// A run trained before the preset's own: a <see cref="Name"/> (one word, for its directory and the progress line),
    /// what it is <see cref="About"/>, the <see cref="Settings"/> (task or algorithm keys, <c>iterations</c> among them)
    /// that it sets over the run's, whether what starts from it takes its best policy by validation
    /// (<c>"handOver": "best"</c>: <c>best.mrla</c>, its last checkpoint when it kept none) rather than its last checkpoint
    /// (<c>"last"</c>, the default).
    /// </summary>
    public sealed record Stage(string Name, string About, IReadOnlyDictionary<string, string> Settings, bool HandsOverBest = false, string? From = null)
    {
        /// <summary>What <see cref="From"/> says for a stage trained from scratch.</summary>
        public const string Scratch = "none";

        /// <summary>
        /// A setting's value may name an earlier stage's directory as <c>{stage:NAME}</c> (a run directory stands for its
        /// best policy where a checkpoint is read, e.g. <c>teachers=kite={stage:marksmen}</c>); the staged run's plan
        /// writes the directory's full path in its place.
        /// </summary>
        public static readonly System.Text.RegularExpressions.Regex Reference = new(@"\{stage:([^}]*)\}");

        /// <summary>The stages <paramref name="settings"/> name with <see cref="Reference"/>.</summary>
        public static IEnumerable<string> Named(IEnumerable<KeyValuePair<string, string>> settings)
            => settings.SelectMany(kv => Reference.Matches(kv.Value).Select(m => m.Groups[1].Value));

        /// <summary>The stage as a person reads it: <c>marksmen (style=kite, iterations=3000): a marksmen-only oracle</c>.</summary>
        public string Describe() => $"{Name} ({string.Join(", ", Settings.Select(kv => $"{kv.Key}={kv.Value}"))}): {About}"
            + (From is null ? "" : From == Scratch ? "; from scratch" : $"; from stage {From}")
            + (HandsOverBest ? "; what starts from it takes its best policy by validation" : "");

        /// <summary>How a preset and a staged run's plan write <see cref="HandsOverBest"/>: <c>"best"</c> or <c>"last"</c>.</summary>
        public static string HandOverName(bool best) => best ? "best" : "last";

        /// <summary>Reads what <see cref="HandOverName"/> writes (absent: <c>"last"</c>); <paramref name="stage"/> names the stage in the error.</summary>
        /// <exception cref="FormatException">Any other value.</exception>
        public static bool ReadHandOver(string? value, string stage) => value switch
        {
            null or "last" => false,
            "best" => true,
            _ => throw new FormatException($"{stage}: handOver is 'last' or 'best', not '{value}'"),
        };
    }

    /// <summary>A condition on one task setting: a number within [<see cref="Min"/>, <see cref="Max"/>] (either may be open), or exactly <see cref="Is"/>.</summary>
    public sealed record Condition(double? Min = null, double? Max = null, string? Is = null)
    {
        /// <summary>The condition on <paramref name="key"/> as a person writes it: <c>loadouts=true</c>, <c>episodes ≥ 50</c>, <c>1 ≤ x ≤ 3</c>.</summary>
        public string Describe(string key) => (Is, Min, Max) switch
        {
            ({ } value, _, _) => $"{key}={value}",
            (null, { } lo, { } hi) => $"{Number(lo)} ≤ {key} ≤ {Number(hi)}",
            (null, { } lo, null) => $"{key} ≥ {Number(lo)}",
            _ => $"{key} ≤ {Number(Max ?? 0)}",
        };

        private static string Number(double v) => v.ToString(CultureInfo.InvariantCulture);
    }

    private Presets(string algorithm, IReadOnlyList<Preset> entries) => (Algorithm, Entries) = (algorithm, entries);

    public string Algorithm { get; }

    public IReadOnlyList<Preset> Entries { get; }

    /// <summary>The presets that apply only under a task setting (a <c>when</c>), which a listing by task name alone never meets.</summary>
    public IEnumerable<Preset> Conditional => Entries.Where(p => p.When.Count > 0);

    /// <summary>The preset for <paramref name="task"/> under <paramref name="taskSettings"/> (the user's settings), or null when the general defaults apply.</summary>
    /// <param name="familyDefaults">The family's own defaults, asked for only when a condition names a key the user did not give.</param>
    public Preset? For(string task, IReadOnlyDictionary<string, string>? taskSettings, Func<string, string?> familyDefaults)
        => Entries.FirstOrDefault(p => p.Tasks.Contains(task) && p.When.All(w => Holds(w.Key, w.Value, taskSettings, familyDefaults)));

    /// <summary>The preset for <paramref name="task"/> under <paramref name="settings"/> (the user's), the family's defaults filling the keys a condition names; null when none fits.</summary>
    public Preset? For(string task, IReadOnlyDictionary<string, string>? settings) => For(task, settings, key => FamilyDefault(task, key));

    private static bool Holds(string key, Condition condition, IReadOnlyDictionary<string, string>? given, Func<string, string?> defaults)
    {
        string? text = given is not null && given.TryGetValue(key, out var g) ? g : defaults(key);
        if (text is null) return false;
        if (condition.Is is { } value) return string.Equals(text.Trim(), value, StringComparison.OrdinalIgnoreCase);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return false;
        return (condition.Min is not { } min || v >= min) && (condition.Max is not { } max || v <= max);
    }

    /// <summary>
    /// <paramref name="general"/> with the preset for <paramref name="task"/> applied, if one fits the user's
    /// <paramref name="settings"/> (task settings among them, e.g. <c>episodes</c>); the user's settings override it later.
    /// </summary>
    public T Defaults<T>(SettingSchema<T> schema, T general, string task, IReadOnlyDictionary<string, string>? settings) where T : class
    {
        var preset = For(task, settings, key => FamilyDefault(task, key));
        if (preset is null) return general;
        var config = schema.Apply(general, preset.Settings, out var rest);
        if (rest.Count > 0)
            throw new InvalidOperationException($"{Algorithm}: the preset for {task} sets {string.Join(", ", rest.Keys)}, which {Algorithm} does not have.");
        return config;
    }

    private static string? FamilyDefault(string task, string key)
        => TaskRegistry.Families.FirstOrDefault(f => f.Name == task) is { } family
           && TaskRegistry.DescribeSettings(family, out _) is { } described
            ? described.FirstOrDefault(d => d.Key == key)?.Default : null;

    /// <summary>Reads the presets embedded in <paramref name="assembly"/> as <paramref name="resource"/>; a malformed file is a build error, reported by name.</summary>
    public static Presets Load(Assembly assembly, string resource, string algorithm)
    {
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{algorithm}: the presets resource '{resource}' is missing from {assembly.GetName().Name}.");
        return Parse(stream, algorithm, resource);
    }

    /// <summary>Parses a presets file (for tests and for <see cref="Load"/>).</summary>
    public static Presets Parse(Stream json, string algorithm, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.GetProperty("algorithm").GetString() != algorithm)
                throw new InvalidDataException($"it is for algorithm '{root.GetProperty("algorithm").GetString()}'");
            var entries = new List<Preset>();
            foreach (var p in root.GetProperty("presets").EnumerateArray())
            {
                var tasks = p.GetProperty("tasks").EnumerateArray().Select(t => t.GetString() ?? throw new InvalidDataException("a task name is null")).ToArray();
                var when = new Dictionary<string, Condition>(StringComparer.Ordinal);
                if (p.TryGetProperty("when", out var w))
                    foreach (var c in w.EnumerateObject())
                    {
                        var condition = new Condition(c.Value.TryGetProperty("min", out var lo) ? lo.GetDouble() : null, c.Value.TryGetProperty("max", out var hi) ? hi.GetDouble() : null,
                            c.Value.TryGetProperty("is", out var exactly) ? exactly.GetString() ?? throw new InvalidDataException($"condition '{c.Name}' is null") : null);
                        if (condition is { Min: null, Max: null, Is: null } || (condition.Is is not null && (condition.Min ?? condition.Max) is not null))
                            throw new InvalidDataException($"condition '{c.Name}' needs min and/or max, or is");
                        when[c.Name] = condition;
                    }
                var settings = p.GetProperty("settings").EnumerateObject()
                    .ToDictionary(s => s.Name, s => s.Value.GetString() ?? throw new InvalidDataException($"setting '{s.Name}' is not a string"), StringComparer.Ordinal);
                string measured = p.GetProperty("measured").GetString() ?? "";
                if (tasks.Length == 0 || measured.Length == 0) throw new InvalidDataException("a preset needs tasks and the measurement that chose it");
                var stages = new List<Stage>();
                // Whether a stage so named has been read (a stage may name only those before it; the run, any).
                bool NoStage(string n) => stages.All(s => s.Name != n);
                if (p.TryGetProperty("stages", out var st))
                    foreach (var stage in st.EnumerateArray())
                    {
                        string name = stage.GetProperty("name").GetString() ?? "";
                        if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z][a-z0-9-]*$"))
                            throw new InvalidDataException($"stage name '{name}' must be a lower-case word (it names a directory)");
                        var set = stage.GetProperty("settings").EnumerateObject()
                            .ToDictionary(s => s.Name, s => s.Value.GetString() ?? throw new InvalidDataException($"stage '{name}': setting '{s.Name}' is not a string"), StringComparer.Ordinal);
                        if (!set.ContainsKey("iterations")) throw new InvalidDataException($"stage '{name}' must say how many iterations it trains");
                        bool best = stage.TryGetProperty("handOver", out var hand) && Stage.ReadHandOver(hand.GetString() ?? "null", $"stage '{name}'");
                        string? from = stage.TryGetProperty("from", out var f) ? f.GetString() ?? throw new InvalidDataException($"stage '{name}': 'from' is null") : null;
                        if (from is not null && from != Stage.Scratch && NoStage(from))
                            throw new InvalidDataException($"stage '{name}' starts from '{from}', which is no stage before it (name one, or {Stage.Scratch})");
                        if (Stage.Named(set).FirstOrDefault(NoStage) is { } later)
                            throw new InvalidDataException($"stage '{name}' names stage '{later}', which is no stage before it");
                        stages.Add(new Stage(name, stage.GetProperty("about").GetString() ?? "", set, best, from));
                    }
                if (stages.Select(s => s.Name).Distinct().Count() != stages.Count) throw new InvalidDataException("two stages of a preset share a name");
                if (Stage.Named(settings).Any()) throw new InvalidDataException("a preset's settings name stages; name them in \"run\": { \"settings\" }, which only a staged run takes");
                string? runFrom = null;
                var runSettings = new Dictionary<string, string>(StringComparer.Ordinal);
                if (p.TryGetProperty("run", out var run))
                {
                    if (stages.Count == 0) throw new InvalidDataException("\"run\" is for a preset with stages");
                    runFrom = run.TryGetProperty("from", out var rf) ? rf.GetString() ?? throw new InvalidDataException("run: 'from' is null") : null;
                    if (runFrom is not null && NoStage(runFrom)) throw new InvalidDataException($"the run starts from '{runFrom}', which is no stage");
                    if (run.TryGetProperty("settings", out var rs))
                        runSettings = rs.EnumerateObject().ToDictionary(s => s.Name, s => s.Value.GetString() ?? throw new InvalidDataException($"run: setting '{s.Name}' is not a string"), StringComparer.Ordinal);
                    if (Stage.Named(runSettings).FirstOrDefault(NoStage) is { } unknown)
                        throw new InvalidDataException($"the run names stage '{unknown}', which is no stage");
                }
                entries.Add(new Preset(tasks, when, settings, measured) { Stages = stages, From = runFrom, RunSettings = runSettings });
            }
            return new Presets(algorithm, entries);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or InvalidDataException or FormatException)
        {
            throw new InvalidDataException($"{algorithm}: the presets file '{source}' is malformed: {e.Message}", e);
        }
    }
}
