using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.MuJoCo.Locomotion;

/// <summary>An ant task: run forward or backward along x (direction ±1), or walk to a goal in the plane.</summary>
public sealed class AntTask : ITask
{
    private AntTask(bool goal, double x, double y) => (IsGoal, X, Y) = (goal, x, y);

    public static AntTask Direction(int sign)
        => sign is 1 or -1 ? new(false, sign, 0) : throw new ArgumentException($"The direction must be +1 or −1, got {sign}.", nameof(sign));

    public static AntTask Goal(double x, double y)
        => double.IsFinite(x) && double.IsFinite(y) ? new(true, x, y) : throw new ArgumentException($"The goal ({x}, {y}) must be finite.");

    public bool IsGoal { get; }

    /// <summary>The direction (±1) of a direction task, or the goal's x.</summary>
    public double X { get; }

    /// <summary>The goal's y (0 for a direction task).</summary>
    public double Y { get; }

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
        => IsGoal ? [KeyValuePair.Create("goal x", X), KeyValuePair.Create("goal y", Y)] : [KeyValuePair.Create("direction", X)];
}

/// <summary>
/// The ant on MuJoCo. Observation: the torso's height and orientation and the joint angles (qpos without x, y: 13)
/// and all velocities (14); contact forces are left out. Action: eight motor commands in [−1, 1] (clipped).
/// Direction task (Finn et al. 2017; Rakelly et al. 2019): reward d·vₓ + 1 − 0.5‖a‖², terminating when the torso
/// leaves heights [0.2, 1] m. Goal task (Rakelly et al. 2019): reward −‖(x, y) − goal‖₁ − 0.1‖a‖², never terminating.
/// Starts from the rest pose with positions perturbed by U[−0.1, 0.1] and velocities by 0.1·N(0, 1).
/// </summary>
public sealed class AntEnv : Env<AntTask>, IDisposable
{
    public const double DirectionControlCost = 0.5, GoalControlCost = 0.1, SurviveReward = 1;
    private readonly MjSimulation _sim;
    private readonly double[] _ctrl = new double[8];
    private readonly double _dt;

    public AntEnv(MjModel model)
    {
        if (model.Nq != 15 || model.Nv != 14 || model.Nu != 8)
            throw new ArgumentException($"AntEnv needs the ant model (nq 15, nv 14, nu 8); got nq {model.Nq}, nv {model.Nv}, nu {model.Nu}.");
        _sim = new MjSimulation(model);
        _dt = model.Timestep * AntModel.FrameSkip;
    }

    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 27);

    public override Space ActionSpace { get; } = new Box(-1, 1, 8);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _sim.Reset();
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 0; i < q.Length; i++) q[i] += rng.Uniform(-0.1, 0.1);
        for (int i = 0; i < v.Length; i++) v[i] += 0.1 * rng.Normal();
        _sim.Forward(); // MuJoCo normalises the perturbed quaternion
        Write(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (action.Length != 8) throw new ArgumentException($"The ant takes 8 motor commands, got {action.Length}.", nameof(action));
        double cost = 0;
        for (int i = 0; i < 8; i++)
        {
            if (!float.IsFinite(action[i])) throw new ArgumentException($"Motor command {i} is {action[i]}; commands must be finite.", nameof(action));
            _ctrl[i] = Math.Clamp(action[i], -1f, 1f);
            cost += _ctrl[i] * _ctrl[i];
        }
        double xBefore = _sim.Qpos[0];
        try
        {
            _sim.Step(_ctrl, AntModel.FrameSkip);
        }
        catch (MuJoCoInstabilityException)
        {
            Write(observation);
            return new StepResult(0, Terminated: true, Truncated: false);
        }
        Write(observation);
        var q = _sim.Qpos;
        if (Task.IsGoal)
            return new StepResult(-Math.Abs(q[0] - Task.X) - Math.Abs(q[1] - Task.Y) - GoalControlCost * cost, Terminated: false, Truncated: false);
        double velocity = (q[0] - xBefore) / _dt;
        bool healthy = q[2] >= 0.2 && q[2] <= 1.0;
        return new StepResult(Task.X * velocity + SurviveReward - DirectionControlCost * cost, Terminated: !healthy, Truncated: false);
    }

    /// <summary>The torso's position in the plane.</summary>
    public (double X, double Y) Position => (_sim.Qpos[0], _sim.Qpos[1]);

    private void Write(Span<float> observation)
    {
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 2; i < 15; i++) observation[i - 2] = (float)q[i];
        for (int i = 0; i < 14; i++) observation[13 + i] = (float)v[i];
    }

    public void Dispose() => _sim.Dispose();
}

/// <summary>Ant task families on one shared, read-only compiled model.</summary>
public abstract class AntDistribution : TaskDistribution
{
    public const int DefaultHorizon = 200, DefaultEpisodes = 2;
    private static readonly Lazy<MjModel> SharedModel = new(() => MjModel.FromXml(AntModel.Xml), LazyThreadSafetyMode.ExecutionAndPublication);

    protected AntDistribution(string name, int horizon, int episodes)
    {
        if (horizon < 1) throw new SettingException($"{name}: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"{name}: 'episodes' must be at least 1, got {episodes}.");
        MuJoCo.EnsureAvailable();
        (Horizon, EpisodesPerTrial) = (horizon, episodes);
    }

    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 27);
    public override Space ActionSpace { get; } = new Box(-1, 1, 8);
    public override IEnv CreateEnv() => new AntEnv(SharedModel.Value);

    protected static (int Horizon, int Episodes) Read(string name, IReadOnlyDictionary<string, string>? values)
        => SettingsReader.HorizonAndEpisodes(name, values, DefaultHorizon, DefaultEpisodes);

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(CultureInfo.InvariantCulture), "control steps per episode (0.05 s each)"),
        new("episodes", EpisodesPerTrial.ToString(CultureInfo.InvariantCulture), "episodes per trial"),
    ];
}

/// <summary><c>ant-dir</c>: run forward or backward along x, each with probability ½.</summary>
public sealed class AntDirDistribution : AntDistribution
{
    public AntDirDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes) : base("ant-dir", horizon, episodes) { }

    public static AntDirDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (h, e) = Read("ant-dir", values);
        return new AntDirDistribution(h, e);
    }

    public override string Name => "ant-dir";
    public override ITask SampleTask(Rng rng, TaskSplit split) => AntTask.Direction(rng.NextDouble() < 0.5 ? 1 : -1);
    public override int TaskFeatureSize => 1;
    public override void WriteTaskFeatures(ITask task, Span<float> features) => features[0] = (float)((AntTask)task).X;
}

/// <summary><c>ant-goal</c>: walk to a goal drawn uniformly from the disk of radius 3 m around the start.</summary>
public sealed class AntGoalDistribution : AntDistribution
{
    public const double Radius = 3;

    public AntGoalDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes) : base("ant-goal", horizon, episodes) { }

    public static AntGoalDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (h, e) = Read("ant-goal", values);
        return new AntGoalDistribution(h, e);
    }

    public override string Name => "ant-goal";

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        // Uniform over the disk's area: the radius goes as the square root of a uniform draw.
        double r = Radius * Math.Sqrt(rng.NextDouble()), angle = 2 * Math.PI * rng.NextDouble();
        return AntTask.Goal(r * Math.Cos(angle), r * Math.Sin(angle));
    }

    public override int TaskFeatureSize => 2;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var t = (AntTask)task;
        features[0] = (float)(t.X / Radius);
        features[1] = (float)(t.Y / Radius);
    }
}
