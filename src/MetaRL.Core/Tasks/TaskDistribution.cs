using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Engine;

namespace MetaRL.Core.Tasks;

/// <summary>Which task set a task is drawn from.</summary>
public enum TaskSplit
{
    /// <summary>Tasks used for meta-training.</summary>
    Train,

    /// <summary>Held-out tasks used only for meta-testing.</summary>
    Test,
}

/// <summary>One task: the hidden parameters an agent must infer from its own experience.</summary>
public interface ITask
{
    /// <summary>The hidden parameters by name, for reports (never shown to the agent).</summary>
    IReadOnlyList<KeyValuePair<string, double>> Describe();

    /// <summary>The task's own name when it has one (a virtual patient's, "adult#008"), for reports; null by default.</summary>
    string? Label => null;
}

/// <summary>A measure of one episode that a family reports besides the return (see <see cref="TaskDistribution.EpisodeMetrics"/>).</summary>
/// <param name="Key">The name in the eval JSON's <c>metrics</c> object, camelCase ("timeInRange").</param>
/// <param name="Label">The column header in tables ("TIR %").</param>
/// <param name="Description">What it measures, with its unit.</param>
/// <param name="Format">The .NET numeric format for tables ("F1").</param>
public sealed record EpisodeMetric(string Key, string Label, string Description, string Format = "F2");

/// <summary>A quantity a trace records after every step (see <see cref="TaskDistribution.TraceChannels"/>).</summary>
/// <param name="Name">What it is, with its unit ("glucose (mg/dL)").</param>
/// <param name="Band">A target range to shade in plots (70–180 mg/dL), or null.</param>
/// <param name="Events">true for amounts given at moments (meals), drawn as markers rather than a line.</param>
/// <param name="Shading">true for a state that holds over stretches of time (a market's regime, 0, 1, 2, …), drawn as shading behind
/// every other channel's panel where it is above zero (darker as it grows) rather than as a panel of its own.</param>
/// <param name="FromZero">Without a band, the panel's axis starts at zero (an amount: a quiet stretch reads as none); false fits it to the values (a price).</param>
public sealed record TraceChannel(string Name, (double Low, double High)? Band = null, bool Events = false, bool Shading = false, bool FromZero = true);

/// <summary>A stretch of steps inside an episode that reports sum the reward over (see <see cref="TaskDistribution.Period"/>).</summary>
/// <param name="Steps">Steps in a period (at least 1).</param>
/// <param name="Name">What a period is called in reports ("month").</param>
public sealed record TrialPeriod(int Steps, string Name)
{
    /// <summary>Steps in a period.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than one.</exception>
    public int Steps { get; } = Steps >= 1 ? Steps : throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "A period is at least one step.");

    /// <summary>Periods in an episode of at most <paramref name="horizon"/> steps (the last may be shorter).</summary>
    public int PerEpisode(int horizon) => (horizon + Steps - 1) / Steps;
}

/// <summary>A setting of a task family: a key, its default and what it means.</summary>
public sealed record SettingInfo(string Key, string Default, string Description);

/// <summary>
/// A family of related tasks. Subclasses say how to draw a task's hidden parameters and how to build an
/// environment that plays it; the framework does everything else (vectorisation, trials, evaluation).
/// Train and test tasks come from disjoint random streams, and a family may also draw test tasks from a
/// different range (<see cref="TaskSplit.Test"/>) to probe out-of-distribution adaptation.
/// </summary>
public abstract class TaskDistribution
{
    /// <summary>The family's name on the command line (e.g. "bandit").</summary>
    public abstract string Name { get; }

    public abstract Space ObservationSpace { get; }

    public abstract Space ActionSpace { get; }

    /// <summary>The most steps an episode lasts before it is truncated.</summary>
    public abstract int Horizon { get; }

    /// <summary>Episodes in one trial (the agent keeps its memory across them).</summary>
    public abstract int EpisodesPerTrial { get; }

    /// <summary>What reports call one episode of this family: "episode", or e.g. "pull" for bandits, whose episodes are one pull each.</summary>
    public virtual string EpisodeName => "episode";

    /// <summary>Draws a task.</summary>
    public abstract ITask SampleTask(Rng rng, TaskSplit split);

    /// <summary>Creates an environment; it plays whatever task it is given with <see cref="IEnv.SetTask"/>.</summary>
    public abstract IEnv CreateEnv();

    /// <summary>
    /// The expected return of one episode under the best policy that knows the task, when it can be
    /// computed exactly; null otherwise. Used for oracle curves and regret.
    /// </summary>
    public virtual double? OracleEpisodeReturn(ITask task) => null;

    /// <summary>
    /// Numbers each environment writes through <see cref="IEnv.WriteHiddenState"/> at every step: the hidden state of a
    /// family whose hidden parameters move during a trial. 0 (the default) when they stay as the task set them.
    /// </summary>
    public virtual int HiddenStateSize => 0;

    /// <summary>
    /// An agent that knows the task (and reads the hidden state as it moves) and plays as well as anything can, when no
    /// closed form of <see cref="OracleEpisodeReturn"/> exists: the meta-test plays it on the same trials and reports its
    /// total as the oracle's. Null by default.
    /// </summary>
    public virtual Evaluation.IMetaAgent? OracleAgent => null;

    /// <summary>
    /// Length of the vector <see cref="WriteTaskFeatures"/> writes; 0 when the family offers none. These are for
    /// training aids allowed to see the task (a task-aware critic); agents never see them when they act.
    /// </summary>
    public virtual int TaskFeatureSize => 0;

    /// <summary>Writes a task's hidden parameters as <see cref="TaskFeatureSize"/> numbers of order one.</summary>
    public virtual void WriteTaskFeatures(ITask task, Span<float> features)
        => throw new NotSupportedException($"Task family '{Name}' offers no task features.");

    /// <summary>
    /// Whether the family offers a denser reward than the one it scores (<see cref="TrainingReward"/>): a sparse-reward
    /// family's distance to its goal, for critics to learn from while the agent, its context and every score see the
    /// sparse reward alone (PEARL's sparse point robot). False by default.
    /// </summary>
    public virtual bool HasTrainingReward => false;

    /// <summary>
    /// The reward a critic may learn from for one transition of <paramref name="task"/> whose scored reward was
    /// <paramref name="reward"/>; <paramref name="reward"/> itself by default. Like task features, for training aids only.
    /// </summary>
    public virtual double TrainingReward(ITask task, ReadOnlySpan<float> observation, ReadOnlySpan<float> action, ReadOnlySpan<float> nextObservation, double reward)
        => reward;

    /// <summary>Whether the family offers a shaping potential over observations (<see cref="Potential"/>). False by default.</summary>
    public virtual bool HasPotential => false;

    /// <summary>
    /// A shaping potential Φ of an observation of <paramref name="task"/> (Ng, Harada and Russell 1999): critics may learn
    /// from r + γΦ(s′) − Φ(s) instead of r, which moves every state's value by −Φ(s) and so leaves the best action in it
    /// unchanged, also when the agent does not know the task. 0 by default. Like task features, for training aids only.
    /// </summary>
    public virtual double Potential(ITask task, ReadOnlySpan<float> observation) => 0;

    /// <summary>
    /// The measures a practitioner of the family's field reads besides the return (time in range for a dosing protocol,
    /// Sharpe ratio for a trading rule), in the order each environment writes them through
    /// <see cref="IEnv.WriteEpisodeMetrics"/> when an episode ends. The meta-test reports each per episode of the trial.
    /// An episode that cannot measure one (a reaction to a regime switch, in an episode without a switch) writes NaN and
    /// is left out of that metric's mean.
    /// Empty by default.
    /// </summary>
    public virtual IReadOnlyList<EpisodeMetric> EpisodeMetrics => [];

    /// <summary>
    /// What <see cref="GroupOf"/> calls a group of tasks ("cohort"), or null when the family's tasks form no groups
    /// (the default); the meta-test then also reports each group's trials apart.
    /// </summary>
    public virtual string? GroupName => null;

    /// <summary>The group <paramref name="task"/> belongs to (a patient's cohort), or null; see <see cref="GroupName"/>.</summary>
    public virtual string? GroupOf(ITask task) => null;

    /// <summary>
    /// Quantities each environment writes after every step through <see cref="IEnv.WriteTrace"/> (a patient's glucose,
    /// the insulin given, a market's price), for plots of one episode as it was played. Empty by default.
    /// </summary>
    public virtual IReadOnlyList<TraceChannel> TraceChannels => [];

    /// <summary>
    /// A stretch of steps inside an episode (21 trading days: a month) over which the meta-test also sums each agent's
    /// reward, for adaptation that happens within an episode rather than across them: the return per period of the
    /// trial and the paired lead per period (<see cref="Evaluation.MetaTestResult.PeriodReturns"/>). An episode's last
    /// period holds what is left of it. Null (the default): no periods.
    /// </summary>
    public virtual TrialPeriod? Period => null;

    /// <summary>The time one step takes, in a unit plots name ("hour", 0.05 for a 3-minute sample); one "step" by default.</summary>
    public virtual (string Unit, double PerStep) StepTime => ("step", 1);

    /// <summary>The family's settings and their current values.</summary>
    public abstract IReadOnlyList<SettingInfo> Settings { get; }

    /// <summary>The settings' current values as <c>key=value</c>, joined by <paramref name="separator"/>: how titles and comparisons name a family's tasks.</summary>
    public string SettingsText(string separator = ", ") => Text(Settings, separator);

    /// <summary>
    /// The keys of settings that change only what a learner meets in training (a share of training rounds played
    /// differently, what it is told of them), never the held-out tasks, how they are played or what they measure. Two
    /// runs that differ only in these play the same held-out trials alike, so an evaluation compares them. None by default.
    /// </summary>
    public virtual IReadOnlyList<string> TrainingOnlySettings => [];

    /// <summary>The settings that decide the held-out tasks and how they are played: <see cref="Settings"/> without <see cref="TrainingOnlySettings"/>.</summary>
    public IEnumerable<SettingInfo> HeldOutSettings => Settings.Where(s => !TrainingOnlySettings.Contains(s.Key));

    /// <summary><see cref="HeldOutSettings"/> as <see cref="SettingsText"/> writes settings.</summary>
    public string HeldOutSettingsText(string separator = ", ") => Text(HeldOutSettings, separator);

    private static string Text(IEnumerable<SettingInfo> settings, string separator) => string.Join(separator, settings.Select(s => $"{s.Key}={s.Default}"));

    /// <summary>A fresh generator for <paramref name="split"/> derived from <paramref name="seed"/>; train and test streams never overlap.</summary>
    public static Rng TaskStream(ulong seed, TaskSplit split)
        => new(seed * 0x9E3779B97F4A7C15UL + (split == TaskSplit.Train ? 0x1234_5678UL : 0xDEAD_BEEF_CAFEUL));
}

/// <summary>Reads "key=value" settings with errors that name the key and list the valid ones.</summary>
public sealed class SettingsReader
{
    private readonly Dictionary<string, string> _values;
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly string _owner;

    // While Record runs on this thread: the shape of every setting a reader is asked for.
    [ThreadStatic] private static List<SettingDescription>? _recording;

    /// <summary>
    /// Runs <paramref name="body"/> (e.g. building a task family from no settings) and returns the shape of every setting
    /// read through a <see cref="SettingsReader"/> meanwhile: key, type, default, range or choices; descriptions empty.
    /// </summary>
    public static IReadOnlyList<SettingDescription> Record(Action body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var outer = _recording;
        var list = new List<SettingDescription>();
        _recording = list;
        try { body(); }
        finally { _recording = outer; }
        return list;
    }

    private void Note(string key, SettingType type, string fallback, double? min = null, double? max = null, IReadOnlyList<string>? choices = null)
    {
        if (_recording is { } r && !r.Any(d => d.Key == key)) r.Add(new SettingDescription(key, type, fallback, min, max, choices, ""));
    }

    /// <summary>Who the settings belong to (a family's name), as errors name it.</summary>
    public string Owner => _owner;

    public SettingsReader(string owner, IReadOnlyDictionary<string, string>? values)
    {
        _owner = owner;
        _values = values is null ? new(StringComparer.Ordinal) : new(values, StringComparer.Ordinal);
    }

    /// <summary>
    /// The settings of a family whose only settings are <c>horizon</c> (1 … 100 000) and <c>episodes</c> per trial
    /// (1 … 10 000); any other key is refused by name.
    /// </summary>
    public static (int Horizon, int Episodes) HorizonAndEpisodes(string owner, IReadOnlyDictionary<string, string>? values, int defaultHorizon, int defaultEpisodes)
    {
        var r = new SettingsReader(owner, values);
        var result = (r.Int("horizon", defaultHorizon, 1, 100_000), r.Int("episodes", defaultEpisodes, 1, 10_000));
        r.EnsureAllUsed();
        return result;
    }

    public int Int(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        _used.Add(key);
        Note(key, SettingType.Integer, fallback.ToString(CultureInfo.InvariantCulture), min, max);
        if (!_values.TryGetValue(key, out var s)) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            throw new SettingException(System.Numerics.BigInteger.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                ? $"{_owner}: setting '{key}' must be in [{min}, {max}], got {s}."
                : $"{_owner}: setting '{key}' must be an integer, got '{s}'.");
        if (v < min || v > max)
            throw new SettingException($"{_owner}: setting '{key}' must be in [{min}, {max}], got {v}.");
        return v;
    }

    public double Double(string key, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        _used.Add(key);
        Note(key, SettingType.Number, fallback.ToString("R", CultureInfo.InvariantCulture), double.IsFinite(min) ? min : null, double.IsFinite(max) ? max : null);
        if (!_values.TryGetValue(key, out var s)) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new SettingException($"{_owner}: setting '{key}' must be a finite number, got '{s}'.");
        if (v < min || v > max)
            throw new SettingException($"{_owner}: setting '{key}' must be in [{min}, {max}], got {v}.");
        return v;
    }

    public string Choice(string key, string fallback, params string[] allowed)
    {
        _used.Add(key);
        Note(key, allowed is ["true", "false"] ? SettingType.Boolean : SettingType.Choice, fallback, choices: allowed);
        if (!_values.TryGetValue(key, out var s)) return fallback;
        if (!allowed.Contains(s, StringComparer.Ordinal))
            throw new SettingException($"{_owner}: setting '{key}' must be one of {string.Join(", ", allowed)}; got '{s}'.");
        return s;
    }

    /// <summary>A free-form value (parsed by the caller).</summary>
    public string Text(string key, string fallback)
    {
        _used.Add(key);
        Note(key, SettingType.Text, fallback);
        return _values.TryGetValue(key, out var s) ? s : fallback;
    }

    public bool Bool(string key, bool fallback) => Choice(key, fallback ? "true" : "false", "true", "false") == "true";

    /// <summary>
    /// Comma-separated layer sizes such as <c>64,64</c>, each in [1, 4096]; with <paramref name="allowNone"/> the
    /// value <c>none</c> (or an empty value) gives no layers.
    /// </summary>
    public int[] Sizes(string key, int[] fallback, bool allowNone = false)
    {
        _used.Add(key);
        Note(key, SettingType.Sizes, fallback.Length == 0 ? "none" : string.Join(',', fallback), 1, 4096);
        if (!_values.TryGetValue(key, out var s)) return fallback;
        if (allowNone && (s.Length == 0 || s == "none")) return [];
        var parts = s.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] < 1 || sizes[i] > 4096)
                throw new SettingException($"{_owner}: setting '{key}' must be comma-separated layer sizes in [1, 4096] such as 64,64{(allowNone ? ", or none" : "")}; got '{s}'.");
        return sizes;
    }

    /// <summary>Throws if any given key was never read, listing the valid keys and the nearest one to each unknown key.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        if (unknown.Length > 0)
            throw new SettingException($"{_owner}: {SettingKeys.UnknownMessage(unknown, (_owner, _used))}");
    }
}

/// <summary>A configuration value that is missing, malformed or out of range.</summary>
public sealed class SettingException(string message) : ArgumentException(message);
