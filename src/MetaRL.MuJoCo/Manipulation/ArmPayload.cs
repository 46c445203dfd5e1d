using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.MuJoCo.Manipulation;

/// <summary>An arm-payload task: the payload's mass (kg) and a factor on every joint's damping (friction).</summary>
public sealed class PayloadTask : ITask
{
    public PayloadTask(double payloadMass, double dampingScale)
    {
        if (!(payloadMass > 0) || !double.IsFinite(payloadMass)) throw new ArgumentException($"The payload mass must be positive and finite, got {payloadMass}.", nameof(payloadMass));
        if (!(dampingScale > 0) || !double.IsFinite(dampingScale)) throw new ArgumentException($"The damping scale must be positive and finite, got {dampingScale}.", nameof(dampingScale));
        (PayloadMass, DampingScale) = (payloadMass, dampingScale);
    }

    public double PayloadMass { get; }
    public double DampingScale { get; }

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
        => [KeyValuePair.Create("payload mass (kg)", PayloadMass), KeyValuePair.Create("joint damping ×", DampingScale)];
}

/// <summary>
/// The payload arm on MuJoCo: bring the payload to a target in the arm's vertical plane. Each episode draws a target
/// (observed) uniformly from the annulus 0.3–0.75 m around the shoulder; the payload's mass and the joints' damping
/// are the task's hidden parameters, so the torques that hold and move the load must be learnt from experience.
/// Observation: cos and sin of the three joint angles, their velocities, the payload's (x, z) and the target's
/// (x, z) (13). Action: three motor commands in [−1, 1] (clipped). Reward: −‖payload − target‖ − 0.01‖a‖².
/// Starts hanging down, angles perturbed by U[−0.1, 0.1]. Each environment owns a copy of the model.
/// </summary>
public sealed class ArmPayloadEnv : Env<PayloadTask>, IDisposable
{
    public const double ControlCost = 0.01, MinTargetRadius = 0.3, MaxTargetRadius = 0.75;
    private readonly MjModel _nominal, _model;
    private readonly MjSimulation _sim;
    private readonly int _payload;
    private readonly double[] _ctrl = new double[3];
    private double _targetX, _targetZ;
    private PayloadTask? _applied;

    public ArmPayloadEnv(MjModel nominal)
    {
        if (nominal.Nq != 3 || nominal.Nv != 3 || nominal.Nu != 3)
            throw new ArgumentException($"ArmPayloadEnv needs the payload arm (nq 3, nv 3, nu 3); got nq {nominal.Nq}, nv {nominal.Nv}, nu {nominal.Nu}.");
        _nominal = nominal;
        _model = nominal.Copy();
        _payload = _model.IdOf(1, "payload");
        if (_payload < 0) throw new ArgumentException("The arm model has no body named 'payload'.");
        _sim = new MjSimulation(_model);
    }

    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 13);

    public override Space ActionSpace { get; } = new Box(-1, 1, 3);

    /// <summary>The model this environment simulates (its own copy, with the current task's parameters).</summary>
    public MjModel Model => _model;

    public (double X, double Z) Target => (_targetX, _targetZ);

    protected override void OnTaskSet(PayloadTask task)
    {
        if (ReferenceEquals(task, _applied)) return;
        double ratio = task.PayloadMass / _nominal.BodyMass[_payload];
        _model.BodyMass[_payload] = task.PayloadMass;
        for (int k = 0; k < 3; k++) _model.BodyInertia[_payload * 3 + k] = _nominal.BodyInertia[_payload * 3 + k] * ratio;
        for (int i = 0; i < _model.Nv; i++) _model.DofDamping[i] = _nominal.DofDamping[i] * task.DampingScale;
        _sim.RecomputeModelConstants();
        _applied = task;
    }

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _sim.Reset();
        var q = _sim.Qpos;
        for (int i = 0; i < q.Length; i++) q[i] += rng.Uniform(-0.1, 0.1);
        _sim.Forward();
        double r = Math.Sqrt(rng.Uniform(MinTargetRadius * MinTargetRadius, MaxTargetRadius * MaxTargetRadius)), angle = rng.Uniform(-Math.PI, Math.PI);
        (_targetX, _targetZ) = (r * Math.Cos(angle), r * Math.Sin(angle));
        Write(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (action.Length != 3) throw new ArgumentException($"The arm takes 3 motor commands, got {action.Length}.", nameof(action));
        double cost = 0;
        for (int i = 0; i < 3; i++)
        {
            if (!float.IsFinite(action[i])) throw new ArgumentException($"Motor command {i} is {action[i]}; commands must be finite.", nameof(action));
            _ctrl[i] = Math.Clamp(action[i], -1f, 1f);
            cost += _ctrl[i] * _ctrl[i];
        }
        try
        {
            _sim.Step(_ctrl, ArmModel.FrameSkip);
        }
        catch (MuJoCoInstabilityException)
        {
            Write(observation);
            return new StepResult(-2 * ArmModel.Reach, Terminated: true, Truncated: false);
        }
        Write(observation);
        var (x, z) = PayloadPosition;
        return new StepResult(-Math.Sqrt((x - _targetX) * (x - _targetX) + (z - _targetZ) * (z - _targetZ)) - ControlCost * cost, Terminated: false, Truncated: false);
    }

    /// <summary>The payload's centre in the arm's plane.</summary>
    public (double X, double Z) PayloadPosition
    {
        get
        {
            var p = _sim.BodyPositions;
            return (p[_payload * 3], p[_payload * 3 + 2]);
        }
    }

    private void Write(Span<float> observation)
    {
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 0; i < 3; i++)
        {
            observation[2 * i] = (float)Math.Cos(q[i]);
            observation[2 * i + 1] = (float)Math.Sin(q[i]);
            observation[6 + i] = (float)v[i];
        }
        var (x, z) = PayloadPosition;
        observation[9] = (float)x;
        observation[10] = (float)z;
        observation[11] = (float)_targetX;
        observation[12] = (float)_targetZ;
    }

    public void Dispose()
    {
        _sim.Dispose();
        _model.Dispose();
    }
}

/// <summary>
/// <c>arm-payload</c>: payload mass log-uniform in [0.25, 2] kg and joint damping × log-uniform [0.5, 2] for
/// training; held-out tasks draw from [0.1, 4] kg and ×[0.25, 4], so many lie outside what training saw.
/// </summary>
public sealed class ArmPayloadDistribution : TaskDistribution
{
    public const int DefaultHorizon = 100, DefaultEpisodes = 2;
    private static readonly Lazy<MjModel> SharedModel = new(() => MjModel.FromXml(ArmModel.Xml), LazyThreadSafetyMode.ExecutionAndPublication);
    public static readonly (double Lo, double Hi) TrainMass = (0.25, 2), TestMass = (0.1, 4), TrainDamping = (0.5, 2), TestDamping = (0.25, 4);

    public ArmPayloadDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes)
    {
        if (horizon < 1) throw new SettingException($"arm-payload: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"arm-payload: 'episodes' must be at least 1, got {episodes}.");
        MuJoCo.EnsureAvailable();
        (Horizon, EpisodesPerTrial) = (horizon, episodes);
    }

    public static ArmPayloadDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (h, e) = SettingsReader.HorizonAndEpisodes("arm-payload", values, DefaultHorizon, DefaultEpisodes);
        return new ArmPayloadDistribution(h, e);
    }

    public override string Name => "arm-payload";
    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 13);
    public override Space ActionSpace { get; } = new Box(-1, 1, 3);

    private static double LogUniform(Rng rng, (double Lo, double Hi) range) => Math.Exp(rng.Uniform(Math.Log(range.Lo), Math.Log(range.Hi)));

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        bool train = split == TaskSplit.Train;
        double mass = LogUniform(rng, train ? TrainMass : TestMass);
        return new PayloadTask(mass, LogUniform(rng, train ? TrainDamping : TestDamping));
    }

    public override IEnv CreateEnv() => new ArmPayloadEnv(SharedModel.Value);

    /// <summary>log₂ of the payload relative to 1 kg and log₂ of the damping factor, over 2.</summary>
    public override int TaskFeatureSize => 2;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var t = (PayloadTask)task;
        features[0] = (float)(Math.Log2(t.PayloadMass / ArmModel.NominalPayloadMass) / 2);
        features[1] = (float)(Math.Log2(t.DampingScale) / 2);
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(CultureInfo.InvariantCulture), "control steps per episode (25 ms each)"),
        new("episodes", EpisodesPerTrial.ToString(CultureInfo.InvariantCulture), "episodes per trial"),
    ];
}
