using System.Globalization;
using System.Text.Json;
using MetaRL.Algorithms.Maml;
using MetaRL.Algorithms.Pearl;
using MetaRL.Algorithms.Rl2;
using MetaRL.Algorithms.Runs;
using MetaRL.Algorithms.Sac;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms;

/// <summary>
/// One entry of the algorithm catalogue: its settings and how to build a learner from them. A new algorithm is a folder
/// with its learner and one subclass of this, listed in <see cref="MetaLearners.Catalogue"/>.
/// </summary>
public abstract class MetaAlgorithm
{
    /// <summary>The name on the command line and in checkpoints.</summary>
    public abstract string Name { get; }

    public abstract string Description { get; }

    /// <summary>Every setting of the algorithm with its general default (per-task defaults come from <see cref="Resolve"/>).</summary>
    public abstract IReadOnlyList<SettingDescription> Settings { get; }

    /// <summary>The algorithm's per-task defaults (what <see cref="Resolve"/> applies before the user's settings), or null when it has none.</summary>
    public virtual Common.Presets? Presets => null;

    /// <summary>Every setting key of the algorithm.</summary>
    public IReadOnlyList<string> Keys => Settings.Select(s => s.Key).ToArray();

    /// <summary>
    /// The algorithm's settings for <paramref name="task"/>: its defaults for that family overridden by those of
    /// <paramref name="settings"/> that name algorithm keys; the other entries are returned as the task family's.
    /// </summary>
    public abstract IReadOnlyDictionary<string, string> Resolve(string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings);

    /// <summary>A new learner from fully resolved settings (as <see cref="Resolve"/> or a checkpoint gives them).</summary>
    public abstract IMetaLearner Create(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, ulong seed);

    /// <summary>
    /// A worker's side of this algorithm's distributed rollouts (<see cref="Rollouts.RolloutJob"/>): the policy
    /// <paramref name="policy"/> loaded for <paramref name="tasks"/> under the resolved <paramref name="settings"/>,
    /// playing pieces of trials. Null (the default) for an algorithm whose learner is not an
    /// <see cref="Rollouts.IDistributableLearner"/>.
    /// </summary>
    public virtual Rollouts.IPiecePlayer? PiecePlayer(TaskDistribution tasks, IReadOnlyDictionary<string, string> settings, byte[] policy) => null;

    /// <summary>Whether this algorithm's rollouts can be played by workers (its learners are <see cref="Rollouts.IDistributableLearner"/>).</summary>
    public virtual bool PlaysOnWorkers => false;

    /// <summary>
    /// The meta-test this algorithm's agents are scored with by default: <paramref name="trials"/> held-out tasks (the
    /// algorithm's usual count when null) at <paramref name="seed"/>, with the episodes per trial its agent plays (the
    /// family's own by default; MAML's rounds of trajectories, one per gradient step and one before the first).
    /// </summary>
    public virtual MetaTestOptions EvaluationOptions(IMetaLearner learner, int? trials = null, ulong seed = 1) => new(trials ?? 1000, seed);

    /// <summary>
    /// The comparison agents this algorithm can build from a run's settings, for a fair comparison by construction:
    /// "multi-task" (the same network and heads, trained across the same tasks, but unable to adapt) and "oracle" (the same
    /// network told the task). None by default.
    /// </summary>
    public virtual IReadOnlyList<string> Counterparts => [];

    /// <summary>
    /// The settings of the <paramref name="kind"/> counterpart of a run with <paramref name="settings"/> (algorithm and
    /// task settings, resolved): the same capacity, with only what makes it that kind of agent changed.
    /// </summary>
    /// <exception cref="SettingException">This algorithm has no such counterpart.</exception>
    public virtual IReadOnlyDictionary<string, string> Counterpart(string kind, IReadOnlyDictionary<string, string> settings)
        => throw new SettingException($"{Name} has no '{kind}' counterpart"
            + SettingKeys.Suggestion(kind, Counterparts)
            + (Counterparts.Count == 0 ? "." : $"; it has {string.Join(", ", Counterparts)}."));

    /// <summary>The settings that set a policy's capacity (layer sizes, heads, cell): two runs compared should agree on them.</summary>
    public virtual IReadOnlyList<string> CapacityKeys => [];

    /// <summary>Algorithm settings an evaluation may change (e.g. whether actions are sampled); none by default.</summary>
    public virtual IReadOnlyList<string> EvaluationKeys => [];

    /// <summary>
    /// The learner a checkpoint of this algorithm holds, for evaluation. <paramref name="overrides"/> may change the
    /// <see cref="EvaluationKeys"/> and the task family's settings (e.g. more episodes per trial, to test longer trials
    /// than training saw); the weights and everything else stay as trained.
    /// </summary>
    public IMetaLearner LoadForEvaluation(TensorArchive archive, IReadOnlyDictionary<string, string> overrides, string source = "the checkpoint")
    {
        var d = LearnerCheckpoint.Read(archive, source);
        if (d.Algorithm != Name) throw new CheckpointException($"{source} holds a {d.Algorithm} learner, not a {Name} one.");
        var algorithmSettings = new Dictionary<string, string>(d.Settings.ToDictionary(), StringComparer.Ordinal);
        var taskSettings = new Dictionary<string, string>(d.TaskSettings.ToDictionary(), StringComparer.Ordinal);
        foreach (var (k, v) in overrides) (EvaluationKeys.Contains(k) ? algorithmSettings : taskSettings)[k] = v;
        MetaLearners.RefuseUnknown(TaskRegistry.Get(d.Task), overrides.Keys.Where(k => !EvaluationKeys.Contains(k)), ($"{Name} evaluation", EvaluationKeys.ToArray()));
        var learner = Create(TaskRegistry.Create(d.Task, taskSettings), d.TaskSettings, algorithmSettings, d.Seed);
        learner.LoadState(archive);
        return learner;
    }
}

/// <summary>The algorithm catalogue, and building or loading a learner by name or from a checkpoint alone.</summary>
public static class MetaLearners
{
    /// <summary>Every algorithm, in listing order.</summary>
    public static IReadOnlyList<MetaAlgorithm> Catalogue { get; } = [new Rl2Algorithm(), new MamlAlgorithm(), new PearlAlgorithm(), new SacAlgorithm()];

    /// <summary>The algorithm called <paramref name="name"/>, or an error listing the valid names.</summary>
    public static MetaAlgorithm Get(string name)
        => Catalogue.FirstOrDefault(a => a.Name == name)
           ?? throw new SettingException($"Unknown algorithm '{name}'{SettingKeys.Suggestion(name, Catalogue.Select(a => a.Name))}. Valid algorithms: {string.Join(", ", Catalogue.Select(a => a.Name))}.");

    /// <summary>A new learner of <paramref name="algorithm"/> on <paramref name="task"/>; <paramref name="settings"/> mixes algorithm and task keys.</summary>
    public static IMetaLearner Create(string algorithm, string task, IReadOnlyDictionary<string, string>? settings = null, ulong seed = 1)
    {
        var algo = Get(algorithm);
        var family = TaskRegistry.Get(task);
        var resolved = algo.Resolve(task, settings ?? new Dictionary<string, string>(), out var taskSettings);
        RefuseUnknown(family, taskSettings.Keys, (algo.Name, algo.Keys.ToArray()));
        var tasks = family.Create(taskSettings);
        return algo.Create(tasks, WithChangedDefaults(family, tasks, taskSettings), resolved, seed);
    }

    /// <summary>
    /// <paramref name="given"/> with the value <paramref name="tasks"/> uses for each setting whose default has changed
    /// (<see cref="TaskFamilyInfo.EarlierDefaults"/>), so that the run's checkpoints record it.
    /// </summary>
    private static IReadOnlyDictionary<string, string> WithChangedDefaults(TaskFamilyInfo family, TaskDistribution tasks, IReadOnlyDictionary<string, string> given)
    {
        var missing = family.EarlierDefaults.Keys.Where(k => !given.ContainsKey(k)).ToArray();
        if (missing.Length == 0) return given;
        var all = new Dictionary<string, string>(given.ToDictionary(), StringComparer.Ordinal);
        foreach (var key in missing)
            all[key] = tasks.Settings.FirstOrDefault(s => s.Key == key)?.Default
                ?? throw new InvalidOperationException($"Task family {family.Name} names '{key}' among its changed defaults but has no such setting.");
        return all;
    }

    /// <summary>
    /// Refuses keys that neither <paramref name="family"/> nor <paramref name="other"/> reads, listing both owners' keys
    /// and the nearest valid key. A family that cannot be described here (its simulator missing) is left to refuse them itself.
    /// </summary>
    internal static void RefuseUnknown(TaskFamilyInfo family, IEnumerable<string> keys, (string Owner, IReadOnlyCollection<string> Keys) other)
    {
        var given = keys.ToArray();
        if (given.Length == 0 || TaskRegistry.DescribeSettings(family, out _) is not { } described) return;
        SettingKeys.RefuseUnknown(given, other, ($"task {family.Name}", described.Select(d => d.Key).ToArray()));
    }

    /// <summary>
    /// Rebuilds the learner a checkpoint was written by, in the state it was saved in; the file alone is enough. Given a
    /// run directory, its last checkpoint (<c>checkpoint.mrla</c>).
    /// </summary>
    /// <exception cref="CheckpointException">The file cannot be read or is not a MetaRL checkpoint.</exception>
    /// <exception cref="SettingException">The directory is not a run directory, or holds no checkpoint yet.</exception>
    public static IMetaLearner Load(string checkpointPath)
    {
        ArgumentNullException.ThrowIfNull(checkpointPath);
        var file = Directory.Exists(checkpointPath) ? RunDirectory.CheckpointOf(checkpointPath, preferBest: false) : checkpointPath;
        return Load(TensorArchive.Load(file), file);
    }

    /// <summary>As <see cref="Load(string)"/>, from an archive already read; <paramref name="source"/> names it in errors.</summary>
    public static IMetaLearner Load(TensorArchive archive, string source = "the checkpoint")
    {
        var d = LearnerCheckpoint.Read(archive, source);
        var learner = Create(d, d.Settings);
        learner.LoadState(archive);
        return learner;
    }

    /// <summary>A fresh learner with a checkpoint's description (state not loaded) and <paramref name="settings"/> in place of its own.</summary>
    internal static IMetaLearner Create(LearnerCheckpoint.Description d, IReadOnlyDictionary<string, string> settings)
    {
        var algo = Get(d.Algorithm);
        return algo.Create(TaskRegistry.Create(d.Task, d.TaskSettings), d.TaskSettings, settings, d.Seed);
    }
}

/// <summary>The part of a checkpoint that says what wrote it: enough to rebuild the learner with nothing else.</summary>
public static class LearnerCheckpoint
{
    /// <summary>
    /// The version of the description below. Checkpoints written before checkpoints described themselves lack it and are
    /// refused: nothing had been released, so there are no migrations.
    /// </summary>
    public const int FormatVersion = 2;

    private const string FormatKey = "learner-format";

    /// <summary>What a checkpoint says about the learner that wrote it.</summary>
    public sealed record Description(string Algorithm, string Task, IReadOnlyDictionary<string, string> TaskSettings, IReadOnlyDictionary<string, string> Settings,
        ulong Seed, int Iteration);

    /// <summary>The metadata every learner writes into its checkpoints.</summary>
    public static Dictionary<string, string> Metadata(IMetaLearner learner) => new(StringComparer.Ordinal)
    {
        [FormatKey] = FormatVersion.ToString(CultureInfo.InvariantCulture),
        ["algorithm"] = learner.Algorithm,
        ["task"] = learner.Tasks.Name,
        ["task-settings"] = ToJson(learner.TaskSettings),
        ["settings"] = ToJson(learner.Settings),
        ["seed"] = learner.Seed.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Reads the description of a checkpoint, refusing one of another format version by name.</summary>
    public static Description Read(TensorArchive archive, string source = "the checkpoint")
    {
        if (!archive.Metadata.TryGetValue(FormatKey, out var f))
            throw new CheckpointException($"{source} was written by an earlier MetaRL (checkpoint format 1, which did not record its settings); this version reads format {FormatVersion}. Train the run again.");
        if (f != FormatVersion.ToString(CultureInfo.InvariantCulture))
            throw new CheckpointException($"{source} has checkpoint format {f}; this version of MetaRL reads format {FormatVersion}.");
        string Get(string key) => archive.Metadata.TryGetValue(key, out var v) ? v : throw new CheckpointException($"{source} lacks '{key}'.");
        if (!ulong.TryParse(Get("seed"), NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
            throw new CheckpointException($"{source}: 'seed' is malformed.");
        if (!int.TryParse(Get("iteration"), NumberStyles.None, CultureInfo.InvariantCulture, out int iteration))
            throw new CheckpointException($"{source}: 'iteration' is malformed.");
        string task = Get("task");
        var taskSettings = FromJson(Get("task-settings"), source, "task-settings");
        // A setting whose default changed after this checkpoint was written is read with the default it was trained with.
        if (TaskRegistry.Families.FirstOrDefault(f => f.Name == task) is { } family)
            foreach (var (key, earlier) in family.EarlierDefaults) taskSettings.TryAdd(key, earlier);
        return new Description(Get("algorithm"), task, taskSettings, FromJson(Get("settings"), source, "settings"), seed, iteration);
    }

    /// <summary>Settings as a JSON object of strings, keys in ordinal order.</summary>
    public static string ToJson(IReadOnlyDictionary<string, string> settings)
        => JsonSerializer.Serialize(new SortedDictionary<string, string>(settings.ToDictionary(), StringComparer.Ordinal));

    private static Dictionary<string, string> FromJson(string json, string source, string key)
    {
        try
        {
            return new Dictionary<string, string>(JsonSerializer.Deserialize<Dictionary<string, string>>(json)
                ?? throw new JsonException("null"), StringComparer.Ordinal);
        }
        catch (JsonException e) { throw new CheckpointException($"{source}: '{key}' is not a JSON object of strings ({e.Message})."); }
    }
}
