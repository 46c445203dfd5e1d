using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.MuJoCo.Locomotion;

/// <summary>A half-cheetah task: run at a target velocity (m/s), or in a direction (+1 forward, −1 backward).</summary>
public sealed class CheetahTask : ITask
{
    private CheetahTask(bool direction, double value) => (IsDirection, Value) = (direction, value);

    public static CheetahTask Velocity(double target)
        => double.IsFinite(target) ? new(false, target) : throw new ArgumentException($"The target velocity must be finite, got {target}.", nameof(target));

    public static CheetahTask Direction(int sign)
        => sign is 1 or -1 ? new(true, sign) : throw new ArgumentException($"The direction must be +1 or −1, got {sign}.", nameof(sign));

    public bool IsDirection { get; }

    /// <summary>The target velocity, or the direction (±1).</summary>
    public double Value { get; }

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
        => [KeyValuePair.Create(IsDirection ? "direction" : "target velocity", Value)];
}

/// <summary>
/// The half-cheetah on MuJoCo. Observation: joint positions without the forward position (8) and all joint
/// velocities (9). Action: six motor commands in [−1, 1] (clipped), each held for <see cref="HalfCheetahModel.FrameSkip"/>
/// physics steps. Reward: −|v − v*| − 0.05‖a‖² for a velocity task, ±v − 0.05‖a‖² for a direction task, with v the
/// forward velocity of the torso over the step. Starts from the rest pose with positions perturbed by U[−0.1, 0.1]
/// and velocities by 0.1·N(0, 1). An unstable simulation ends the episode.
/// </summary>
public sealed class HalfCheetahEnv : Env<CheetahTask>, IDisposable
{
    public const double ControlCost = 0.05;
    private readonly MjSimulation _sim;
    private readonly double[] _ctrl = new double[6];
    private readonly double _dt;

    public HalfCheetahEnv(MjModel model)
    {
        if (model.Nq != 9 || model.Nv != 9 || model.Nu != 6)
            throw new ArgumentException($"HalfCheetahEnv needs the half-cheetah model (nq 9, nv 9, nu 6); got nq {model.Nq}, nv {model.Nv}, nu {model.Nu}.");
        _sim = new MjSimulation(model);
        _dt = model.Timestep * HalfCheetahModel.FrameSkip;
    }

    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 17);

    public override Space ActionSpace { get; } = new Box(-1, 1, 6);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _sim.Reset();
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 0; i < q.Length; i++) q[i] += rng.Uniform(-0.1, 0.1);
        for (int i = 0; i < v.Length; i++) v[i] += 0.1 * rng.Normal();
        _sim.Forward();
        Write(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (action.Length != 6) throw new ArgumentException($"The half-cheetah takes 6 motor commands, got {action.Length}.", nameof(action));
        double cost = 0;
        for (int i = 0; i < 6; i++)
        {
            if (!float.IsFinite(action[i])) throw new ArgumentException($"Motor command {i} is {action[i]}; commands must be finite.", nameof(action));
            _ctrl[i] = Math.Clamp(action[i], -1f, 1f);
            cost += _ctrl[i] * _ctrl[i];
        }
        double xBefore = _sim.Qpos[0];
        try
        {
            _sim.Step(_ctrl, HalfCheetahModel.FrameSkip);
        }
        catch (MuJoCoInstabilityException)
        {
            Write(observation);
            return new StepResult(0, Terminated: true, Truncated: false);
        }
        double velocity = (_sim.Qpos[0] - xBefore) / _dt;
        Write(observation);
        double reward = (Task.IsDirection ? Task.Value * velocity : -Math.Abs(velocity - Task.Value)) - ControlCost * cost;
        return new StepResult(reward, Terminated: false, Truncated: false);
    }

    /// <summary>The torso's forward position (m).</summary>
    public double ForwardPosition => _sim.Qpos[0];

    private void Write(Span<float> observation)
    {
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 1; i < 9; i++) observation[i - 1] = (float)q[i];
        for (int i = 0; i < 9; i++) observation[8 + i] = (float)v[i];
    }

    public void Dispose() => _sim.Dispose();
}

/// <summary>Half-cheetah task families on one shared, read-only compiled model.</summary>
public abstract class HalfCheetahDistribution : TaskDistribution
{
    public const int DefaultHorizon = 200, DefaultEpisodes = 2;
    private static readonly Lazy<MjModel> SharedModel = new(() => MjModel.FromXml(HalfCheetahModel.Xml), LazyThreadSafetyMode.ExecutionAndPublication);

    protected HalfCheetahDistribution(string name, int horizon, int episodes)
    {
        if (horizon < 1) throw new SettingException($"{name}: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"{name}: 'episodes' must be at least 1, got {episodes}.");
        MuJoCo.EnsureAvailable();
        (Horizon, EpisodesPerTrial) = (horizon, episodes);
    }

    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 17);
    public override Space ActionSpace { get; } = new Box(-1, 1, 6);
    public override IEnv CreateEnv() => new HalfCheetahEnv(SharedModel.Value);
    public override int TaskFeatureSize => 1;

    protected static (int Horizon, int Episodes) Read(string name, IReadOnlyDictionary<string, string>? values)
        => SettingsReader.HorizonAndEpisodes(name, values, DefaultHorizon, DefaultEpisodes);

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(CultureInfo.InvariantCulture), "control steps per episode (0.05 s each)"),
        new("episodes", EpisodesPerTrial.ToString(CultureInfo.InvariantCulture), "episodes per trial"),
    ];
}

/// <summary>
/// <c>cheetah-vel</c>: run at a target velocity v* ~ U[0, max-velocity] m/s: 2 as in Finn et al. 2017 (the default), 3 as
/// in PEARL (Rakelly et al. 2019).
/// </summary>
public sealed class CheetahVelDistribution : HalfCheetahDistribution
{
    public const double DefaultMaxVelocity = 2.0;

    public CheetahVelDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes, double maxVelocity = DefaultMaxVelocity) : base("cheetah-vel", horizon, episodes)
    {
        if (!(maxVelocity > 0) || maxVelocity > 100) throw new SettingException($"cheetah-vel: 'max-velocity' must be in (0, 100] m/s, got {maxVelocity}.");
        MaxVelocity = maxVelocity;
    }

    public static CheetahVelDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("cheetah-vel", values);
        int h = r.Int("horizon", DefaultHorizon, 1, 100_000), e = r.Int("episodes", DefaultEpisodes, 1, 10_000);
        double v = r.Double("max-velocity", DefaultMaxVelocity, 1e-6, 100);
        r.EnsureAllUsed();
        return new CheetahVelDistribution(h, e, v);
    }

    /// <summary>The largest target velocity, m/s.</summary>
    public double MaxVelocity { get; }

    public override string Name => "cheetah-vel";
    public override ITask SampleTask(Rng rng, TaskSplit split) => CheetahTask.Velocity(rng.Uniform(0, MaxVelocity));
    public override void WriteTaskFeatures(ITask task, Span<float> features) => features[0] = (float)(((CheetahTask)task).Value / MaxVelocity);

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        .. base.Settings,
        new("max-velocity", MaxVelocity.ToString("R", CultureInfo.InvariantCulture), "target velocities are drawn from U[0, this] m/s (PEARL uses 3)"),
    ];
}

/// <summary><c>cheetah-dir</c>: run forward or backward, each with probability ½ (Finn et al. 2017).</summary>
public sealed class CheetahDirDistribution : HalfCheetahDistribution
{
    public CheetahDirDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes) : base("cheetah-dir", horizon, episodes) { }

    public static CheetahDirDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (h, e) = Read("cheetah-dir", values);
        return new CheetahDirDistribution(h, e);
    }

    public override string Name => "cheetah-dir";
    public override ITask SampleTask(Rng rng, TaskSplit split) => CheetahTask.Direction(rng.NextDouble() < 0.5 ? 1 : -1);
    public override void WriteTaskFeatures(ITask task, Span<float> features) => features[0] = (float)((CheetahTask)task).Value;
}
