using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.MuJoCo.Locomotion;

/// <summary>
/// The physical parameters a task scales: every body mass and principal inertia, every joint damping and every
/// geom friction coefficient of a model whose nominal value is not zero (scaling a zero changes nothing).
/// </summary>
public sealed class PhysicsParameterSet
{
    private enum Kind { Mass, Inertia, Damping, Friction }

    private readonly (Kind Kind, int Index)[] _entries;

    public PhysicsParameterSet(MjModel model)
    {
        var entries = new List<(Kind, int)>();
        var names = new List<string>();
        void Add(Kind kind, ReadOnlySpan<double> values, Func<int, string> name)
        {
            for (int i = 0; i < values.Length; i++)
                if (values[i] != 0) { entries.Add((kind, i)); names.Add(name(i)); }
        }
        string[] axis = ["x", "y", "z"], friction = ["sliding", "torsional", "rolling"];
        Add(Kind.Mass, model.BodyMass, i => $"mass of body {i}");
        Add(Kind.Inertia, model.BodyInertia, i => $"inertia {axis[i % 3]} of body {i / 3}");
        Add(Kind.Damping, model.DofDamping, i => $"damping of dof {i}");
        Add(Kind.Friction, model.GeomFriction, i => $"{friction[i % 3]} friction of geom {i / 3}");
        _entries = entries.ToArray();
        Names = names;
    }

    public int Count => _entries.Length;

    public IReadOnlyList<string> Names { get; }

    /// <summary>Writes nominal × factor into <paramref name="target"/> (a copy of <paramref name="nominal"/>) for every parameter.</summary>
    public void Apply(MjModel nominal, MjModel target, PhysicsScalesTask task)
    {
        if (task.Exponents.Length != Count) throw new ArgumentException($"The task scales {task.Exponents.Length} parameters; this model has {Count}.", nameof(task));
        for (int e = 0; e < _entries.Length; e++)
        {
            var (kind, i) = _entries[e];
            double f = task.Factor(e);
            switch (kind)
            {
                case Kind.Mass: target.BodyMass[i] = nominal.BodyMass[i] * f; break;
                case Kind.Inertia: target.BodyInertia[i] = nominal.BodyInertia[i] * f; break;
                case Kind.Damping: target.DofDamping[i] = nominal.DofDamping[i] * f; break;
                default: target.GeomFriction[i] = nominal.GeomFriction[i] * f; break;
            }
        }
    }
}

/// <summary>
/// <c>hopper-params</c> and <c>walker-params</c> (the hidden-physics benchmarks of Rakelly et al. 2019): each body
/// mass, principal inertia, joint damping and geom friction is scaled by 1.5^u with u ~ U[−3, 3] drawn per parameter.
/// Training and held-out tasks come from separate random streams.
/// </summary>
public sealed class PlanarWalkerParamsDistribution : TaskDistribution
{
    public const int DefaultHorizon = 200, DefaultEpisodes = 2;
    public const double DefaultScaleBase = 1.5, DefaultLogScaleLimit = 3;
    private readonly PlanarWalkerSpec _spec;
    private readonly PhysicsParameterSet _parameters;

    public PlanarWalkerParamsDistribution(PlanarWalkerSpec spec, int horizon = DefaultHorizon, int episodes = DefaultEpisodes, double logScaleLimit = DefaultLogScaleLimit)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string name = spec.Name == "walker2d" ? "walker-params" : spec.Name + "-params";
        if (horizon < 1) throw new SettingException($"{name}: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"{name}: 'episodes' must be at least 1, got {episodes}.");
        if (!(logScaleLimit >= 0 && logScaleLimit <= 10)) throw new SettingException($"{name}: 'log-scale-limit' must be in [0, 10], got {logScaleLimit}.");
        MuJoCo.EnsureAvailable();
        (_spec, Name, Horizon, EpisodesPerTrial, LogScaleLimit) = (spec, name, horizon, episodes, logScaleLimit);
        _parameters = new PhysicsParameterSet(spec.Model);
        var model = spec.Model;
        ObservationSpace = new Box(float.NegativeInfinity, float.PositiveInfinity, model.Nq - 1 + model.Nv);
        ActionSpace = new Box(-1, 1, model.Nu);
    }

    public static PlanarWalkerParamsDistribution FromSettings(PlanarWalkerSpec spec, IReadOnlyDictionary<string, string>? values)
    {
        string name = spec.Name == "walker2d" ? "walker-params" : spec.Name + "-params";
        var rest = new Dictionary<string, string>(values ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        var r = new SettingsReader(name, rest.Where(kv => kv.Key == "log-scale-limit").ToDictionary());
        double limit = r.Double("log-scale-limit", DefaultLogScaleLimit, 0, 10);
        rest.Remove("log-scale-limit");
        var (h, e) = SettingsReader.HorizonAndEpisodes(name, rest, DefaultHorizon, DefaultEpisodes);
        return new PlanarWalkerParamsDistribution(spec, h, e, limit);
    }

    public override string Name { get; }
    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public double LogScaleLimit { get; }
    public override Space ObservationSpace { get; }
    public override Space ActionSpace { get; }

    /// <summary>The scaled parameters, in the order of a task's exponents.</summary>
    public PhysicsParameterSet Parameters => _parameters;

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var u = new double[_parameters.Count];
        for (int i = 0; i < u.Length; i++) u[i] = rng.Uniform(-LogScaleLimit, LogScaleLimit);
        return new PhysicsScalesTask(DefaultScaleBase, u, _parameters.Names);
    }

    public override IEnv CreateEnv() => new PlanarWalkerEnv(_spec, _parameters);

    /// <summary>Each exponent divided by the limit, in [−1, 1].</summary>
    public override int TaskFeatureSize => _parameters.Count;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var u = ((PhysicsScalesTask)task).Exponents;
        for (int i = 0; i < u.Length; i++) features[i] = LogScaleLimit > 0 ? (float)(u[i] / LogScaleLimit) : 0;
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(CultureInfo.InvariantCulture), $"control steps per episode ({_spec.Model.Timestep * _spec.FrameSkip * 1000:G3} ms each)"),
        new("episodes", EpisodesPerTrial.ToString(CultureInfo.InvariantCulture), "episodes per trial"),
        new("log-scale-limit", LogScaleLimit.ToString(CultureInfo.InvariantCulture), "each parameter is scaled by 1.5^u, u ~ U[−limit, limit]"),
    ];
}
