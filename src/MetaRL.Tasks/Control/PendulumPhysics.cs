using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Control;

/// <summary>
/// Pendulum swing-up with the task's mass, length, gravity and hinge damping: a rod of mass m and length l,
/// θ̈ = 3g/(2l)·sin θ + 3/(m l²)·(u − b θ̇), semi-implicit Euler steps of 0.05 s, angular speed clipped to
/// ±8 rad/s, torque u clipped to ±2 N·m. θ = 0 is upright. Reward −(θ² + 0.1 θ̇² + 0.001 u²) with θ
/// wrapped to [−π, π). Starts at θ ~ U[−π, π], θ̇ ~ U[−1, 1]. Observation: cos θ, sin θ, θ̇.
/// </summary>
public sealed class PendulumPhysicsEnv : Env<PhysicsTask>
{
    public const double MaxTorque = 2, MaxSpeed = 8, Dt = 0.05;
    private double _theta, _thetaDot;
    private double _m, _l, _g, _b;

    public override Space ObservationSpace { get; } = new Box([-1, -1, (float)-MaxSpeed], [1, 1, (float)MaxSpeed]);

    public override Space ActionSpace { get; } = new Box((float)-MaxTorque, (float)MaxTorque, 1);

    protected override void OnTaskSet(PhysicsTask task)
        => (_m, _l, _g, _b) = (task["mass"], task["length"], task["gravity"], task["damping"]);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _theta = rng.Uniform(-Math.PI, Math.PI);
        _thetaDot = rng.Uniform(-1, 1);
        Write(observation);
    }

    /// <summary>θ wrapped to [−π, π).</summary>
    public static double Wrap(double theta) => ((theta + Math.PI) % (2 * Math.PI) + 2 * Math.PI) % (2 * Math.PI) - Math.PI;

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (!float.IsFinite(action[0])) throw new ArgumentException($"pendulum-physics: the torque {action[0]} is not finite.", nameof(action));
        double u = Math.Clamp(action[0], -MaxTorque, MaxTorque);
        double angle = Wrap(_theta);
        double cost = angle * angle + 0.1 * _thetaDot * _thetaDot + 0.001 * u * u;
        double acc = 3 * _g / (2 * _l) * Math.Sin(_theta) + 3.0 / (_m * _l * _l) * (u - _b * _thetaDot);
        _thetaDot = Math.Clamp(_thetaDot + acc * Dt, -MaxSpeed, MaxSpeed);
        _theta += _thetaDot * Dt;
        Write(observation);
        return new StepResult(-cost, Terminated: false, Truncated: false);
    }

    private void Write(Span<float> observation)
    {
        observation[0] = (float)Math.Cos(_theta);
        observation[1] = (float)Math.Sin(_theta);
        observation[2] = (float)_thetaDot;
    }
}

/// <summary>
/// <c>pendulum-physics</c>: pendulum swing-up whose mass, length, gravity and damping are hidden per task.
/// Training draws mass, length and gravity log-uniformly within ×[0.5, 2] of nominal (held-out tests ×[0.25, 4])
/// and damping uniformly in [0, 0.5] (tests [0, 1]).
/// </summary>
public sealed class PendulumPhysicsDistribution : PhysicsTaskDistribution
{
    public const int DefaultHorizon = 200, DefaultEpisodes = 2;

    public static readonly PhysicalParameter[] Physics =
    [
        new("mass", "kg", 1.0, 0.5, 2.0, 0.25, 4.0, LogUniform: true),
        new("length", "m", 1.0, 0.5, 2.0, 0.25, 4.0, LogUniform: true),
        new("gravity", "m/s²", 10.0, 5.0, 20.0, 2.5, 40.0, LogUniform: true),
        new("damping", "N·m·s", 0.0, 0.0, 0.5, 0.0, 1.0, LogUniform: false),
    ];

    public PendulumPhysicsDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes) : base("pendulum-physics", Physics, horizon, episodes) { }

    public static PendulumPhysicsDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (horizon, episodes) = SettingsReader.HorizonAndEpisodes("pendulum-physics", values, DefaultHorizon, DefaultEpisodes);
        return new PendulumPhysicsDistribution(horizon, episodes);
    }

    public override string Name => "pendulum-physics";
    public override Space ObservationSpace { get; } = new PendulumPhysicsEnv().ObservationSpace;
    public override Space ActionSpace { get; } = new PendulumPhysicsEnv().ActionSpace;
    public override IEnv CreateEnv() => new PendulumPhysicsEnv();

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(), "steps per episode"),
        new("episodes", EpisodesPerTrial.ToString(), "episodes per trial; hidden physics: " + RangesText()),
    ];
}

/// <summary>
/// <c>pendulum</c>: the classic swing-up with fixed physics (g = 10, m = l = 1, no damping, torque ≤ 2, 200 steps), the
/// dynamics and reward of <see cref="PendulumPhysicsEnv"/>. One task, so nothing to infer: a test of a plain
/// reinforcement learner (soft actor-critic reaches about −150 to −200 per episode here).
/// </summary>
public sealed class PendulumDistribution : TaskDistribution
{
    public const int DefaultHorizon = 200, DefaultEpisodes = 1;

    private readonly PhysicsTask _task;

    public PendulumDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes)
    {
        if (horizon < 1) throw new SettingException($"pendulum: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"pendulum: 'episodes' must be at least 1, got {episodes}.");
        (Horizon, EpisodesPerTrial) = (horizon, episodes);
        _task = new PendulumPhysicsDistribution().NominalTask;
    }

    public static PendulumDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (horizon, episodes) = SettingsReader.HorizonAndEpisodes("pendulum", values, DefaultHorizon, DefaultEpisodes);
        return new PendulumDistribution(horizon, episodes);
    }

    public override string Name => "pendulum";
    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new PendulumPhysicsEnv().ObservationSpace;
    public override Space ActionSpace { get; } = new PendulumPhysicsEnv().ActionSpace;
    public override IEnv CreateEnv() => new PendulumPhysicsEnv();

    /// <summary>The one task (training and test alike); the generator is not drawn from.</summary>
    public override ITask SampleTask(Rng rng, TaskSplit split) => _task;

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(), "steps per episode"),
        new("episodes", EpisodesPerTrial.ToString(), "episodes per trial (the physics never changes: g = 10, m = l = 1)"),
    ];
}
