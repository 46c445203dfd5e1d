using System.Globalization;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Control;

/// <summary>
/// A hidden physical parameter of a control task: its nominal value and the ranges its training and
/// held-out test tasks are drawn from. The test range contains the training range and reaches beyond it,
/// so part of every test set is out of distribution. Log-uniform ranges suit scale parameters (masses,
/// lengths, gravity); uniform ones suit parameters whose nominal value is zero (damping).
/// </summary>
public sealed record PhysicalParameter(string Name, string Unit, double Nominal, double TrainLow, double TrainHigh, double TestLow, double TestHigh, bool LogUniform)
{
    public double Sample(Rng rng, TaskSplit split)
    {
        var (lo, hi) = split == TaskSplit.Train ? (TrainLow, TrainHigh) : (TestLow, TestHigh);
        return LogUniform ? Math.Exp(rng.Uniform(Math.Log(lo), Math.Log(hi))) : rng.Uniform(lo, hi);
    }

    /// <summary>Whether <paramref name="value"/> lies outside the training range.</summary>
    public bool OutOfDistribution(double value) => value < TrainLow || value > TrainHigh;

    /// <summary>A number of order one for task-aware critics: log(value / nominal), or (value − centre) / half-width.</summary>
    public float Feature(double value) => LogUniform
        ? (float)Math.Log(value / Nominal)
        : (float)((value - 0.5 * (TrainLow + TrainHigh)) / Math.Max(1e-12, 0.5 * (TrainHigh - TrainLow)));
}

/// <summary>One draw of a family's physical parameters.</summary>
public sealed class PhysicsTask : ITask
{
    public PhysicsTask(IReadOnlyList<PhysicalParameter> parameters, double[] values)
    {
        if (values.Length != parameters.Count)
            throw new ArgumentException($"A physics task needs {parameters.Count} values ({string.Join(", ", parameters.Select(p => p.Name))}); got {values.Length}.");
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]) || values[i] < 0 || (parameters[i].LogUniform && values[i] == 0))
                throw new ArgumentException($"Physical parameter '{parameters[i].Name}' must be {(parameters[i].LogUniform ? "positive" : "non-negative")} and finite; got {values[i].ToString(CultureInfo.InvariantCulture)}.");
        Parameters = parameters;
        Values = (double[])values.Clone();
    }

    public IReadOnlyList<PhysicalParameter> Parameters { get; }

    public double[] Values { get; }

    /// <summary>The value of the parameter called <paramref name="name"/>.</summary>
    public double this[string name]
    {
        get
        {
            for (int i = 0; i < Parameters.Count; i++)
                if (Parameters[i].Name == name) return Values[i];
            throw new KeyNotFoundException($"No physical parameter '{name}'; this task has {string.Join(", ", Parameters.Select(p => p.Name))}.");
        }
    }

    /// <summary>Whether any parameter lies outside its training range.</summary>
    public bool OutOfDistribution => Parameters.Select((p, i) => p.OutOfDistribution(Values[i])).Any(b => b);

    public IReadOnlyList<KeyValuePair<string, double>> Describe() => Parameters.Select((p, i) => KeyValuePair.Create(p.Name, Values[i])).ToArray();
}

/// <summary>
/// A control task family whose tasks differ in hidden physical parameters. Subclasses give the parameters
/// and the environment; sampling (independent draws per parameter from the split's range), task features
/// and the horizon/episodes settings are shared.
/// </summary>
public abstract class PhysicsTaskDistribution : TaskDistribution
{
    protected PhysicsTaskDistribution(string name, IReadOnlyList<PhysicalParameter> parameters, int horizon, int episodes)
    {
        if (horizon < 1) throw new SettingException($"{name}: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"{name}: 'episodes' must be at least 1, got {episodes}.");
        Parameters = parameters;
        (Horizon, EpisodesPerTrial) = (horizon, episodes);
    }

    public IReadOnlyList<PhysicalParameter> Parameters { get; }

    public override int Horizon { get; }

    public override int EpisodesPerTrial { get; }

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var values = new double[Parameters.Count];
        for (int i = 0; i < values.Length; i++) values[i] = Parameters[i].Sample(rng, split);
        return new PhysicsTask(Parameters, values);
    }

    /// <summary>The nominal task (every parameter at its nominal value).</summary>
    public PhysicsTask NominalTask => new(Parameters, Parameters.Select(p => p.Nominal).ToArray());

    public override int TaskFeatureSize => Parameters.Count;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var t = (PhysicsTask)task;
        for (int i = 0; i < Parameters.Count; i++) features[i] = Parameters[i].Feature(t.Values[i]);
    }

    protected string RangesText() => string.Join("; ", Parameters.Select(p => string.Create(CultureInfo.InvariantCulture,
        $"{p.Name} train [{p.TrainLow:G3}, {p.TrainHigh:G3}] test [{p.TestLow:G3}, {p.TestHigh:G3}] {p.Unit}")));
}
