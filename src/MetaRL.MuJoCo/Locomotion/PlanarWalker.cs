using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.MuJoCo.Locomotion;

/// <summary>
/// A planar walking robot of the standard benchmarks: its model, control rate and when it counts as fallen.
/// The root has three degrees of freedom (x slide, z slide, y hinge), so qpos[1] is the torso height and
/// qpos[2] its pitch.
/// </summary>
public sealed record PlanarWalkerSpec(string Name, string Xml, int FrameSkip, double MinHeight, double MaxHeight, double MaxPitch, bool BoundState)
{
    /// <summary>The hopper: healthy while higher than 0.7 m, pitched less than 0.2 rad and every state entry but x, z under 100.</summary>
    public static readonly PlanarWalkerSpec Hopper = new("hopper", HopperModel.Xml, HopperModel.FrameSkip, 0.7, double.PositiveInfinity, 0.2, BoundState: true);

    /// <summary>The walker: healthy while its torso is between 0.8 and 2 m high and pitched less than 1 rad.</summary>
    public static readonly PlanarWalkerSpec Walker2d = new("walker2d", Walker2dModel.Xml, Walker2dModel.FrameSkip, 0.8, 2.0, 1.0, BoundState: false);

    private readonly Lazy<MjModel> _model = new(() => MjModel.FromXml(Xml), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The compiled model, shared and never written (environments that change physics work on copies).</summary>
    public MjModel Model => _model.Value;
}

/// <summary>Physical parameters of a walker scaled per task: each factor is base^exponent.</summary>
public sealed class PhysicsScalesTask : ITask
{
    private readonly double[] _exponents;
    private readonly IReadOnlyList<string> _names;

    public PhysicsScalesTask(double scaleBase, double[] exponents, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(exponents);
        ArgumentNullException.ThrowIfNull(names);
        if (!(scaleBase > 0) || !double.IsFinite(scaleBase)) throw new ArgumentException($"The scale base must be positive and finite, got {scaleBase}.", nameof(scaleBase));
        if (exponents.Length != names.Count) throw new ArgumentException($"{exponents.Length} exponents for {names.Count} parameters.", nameof(exponents));
        for (int i = 0; i < exponents.Length; i++)
            if (!double.IsFinite(exponents[i])) throw new ArgumentException($"The exponent of {names[i]} is {exponents[i]}; it must be finite.", nameof(exponents));
        (ScaleBase, _exponents, _names) = (scaleBase, (double[])exponents.Clone(), names);
    }

    public double ScaleBase { get; }

    /// <summary>u per parameter: the parameter is its nominal value × <see cref="ScaleBase"/>^u.</summary>
    public ReadOnlySpan<double> Exponents => _exponents;

    public double Factor(int i) => Math.Pow(ScaleBase, _exponents[i]);

    public IReadOnlyList<KeyValuePair<string, double>> Describe() => _names.Select((n, i) => KeyValuePair.Create(n + " ×", Factor(i))).ToArray();
}

/// <summary>
/// A planar walker (hopper or walker2d) whose masses, inertias, joint damping and geom friction are the task's
/// hidden parameters. Observation: qpos without x, then qvel clipped to ±10. Action: one command in [−1, 1] per
/// motor (clipped), held for the model's frame skip. Reward: forward velocity + 1 for staying healthy − 0.001‖a‖².
/// The episode terminates when the robot falls (see <see cref="PlanarWalkerSpec"/>) or the simulation becomes
/// unstable. Starts from the nominal pose with positions and velocities perturbed by U[−0.005, 0.005].
/// Each environment owns a copy of the model, rewritten when the task changes.
/// </summary>
public sealed class PlanarWalkerEnv : Env<PhysicsScalesTask>, IDisposable
{
    public const double HealthyReward = 1, ControlCost = 1e-3, VelocityClip = 10;
    private readonly PlanarWalkerSpec _spec;
    private readonly PhysicsParameterSet _parameters;
    private readonly MjModel _model;
    private readonly MjSimulation _sim;
    private readonly double[] _ctrl;
    private readonly double _dt;
    private PhysicsScalesTask? _applied;

    public PlanarWalkerEnv(PlanarWalkerSpec spec, PhysicsParameterSet parameters)
    {
        _spec = spec;
        _parameters = parameters;
        _model = spec.Model.Copy();
        _sim = new MjSimulation(_model);
        _ctrl = new double[_model.Nu];
        _dt = _model.Timestep * spec.FrameSkip;
        ObservationSpace = new Box(float.NegativeInfinity, float.PositiveInfinity, _model.Nq - 1 + _model.Nv);
        ActionSpace = new Box(-1, 1, _model.Nu);
    }

    public override Space ObservationSpace { get; }
    public override Space ActionSpace { get; }

    /// <summary>The model this environment simulates (its own copy, with the current task's parameters).</summary>
    public MjModel Model => _model;

    protected override void OnTaskSet(PhysicsScalesTask task)
    {
        if (ReferenceEquals(task, _applied)) return;
        _parameters.Apply(_spec.Model, _model, task);
        _sim.RecomputeModelConstants();
        _applied = task;
    }

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _sim.Reset();
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 0; i < q.Length; i++) q[i] += rng.Uniform(-0.005, 0.005);
        for (int i = 0; i < v.Length; i++) v[i] += rng.Uniform(-0.005, 0.005);
        _sim.Forward();
        Write(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (action.Length != _ctrl.Length) throw new ArgumentException($"The {_spec.Name} takes {_ctrl.Length} motor commands, got {action.Length}.", nameof(action));
        double cost = 0;
        for (int i = 0; i < _ctrl.Length; i++)
        {
            if (!float.IsFinite(action[i])) throw new ArgumentException($"Motor command {i} is {action[i]}; commands must be finite.", nameof(action));
            _ctrl[i] = Math.Clamp(action[i], -1f, 1f);
            cost += _ctrl[i] * _ctrl[i];
        }
        double xBefore = _sim.Qpos[0];
        try
        {
            _sim.Step(_ctrl, _spec.FrameSkip);
        }
        catch (MuJoCoInstabilityException)
        {
            Write(observation);
            return new StepResult(0, Terminated: true, Truncated: false);
        }
        double velocity = (_sim.Qpos[0] - xBefore) / _dt;
        Write(observation);
        return new StepResult(velocity + HealthyReward - ControlCost * cost, Terminated: !Healthy(), Truncated: false);
    }

    /// <summary>The torso's forward position (m).</summary>
    public double ForwardPosition => _sim.Qpos[0];

    private bool Healthy()
    {
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        double height = q[1], pitch = q[2];
        if (!(height > _spec.MinHeight && height < _spec.MaxHeight && Math.Abs(pitch) < _spec.MaxPitch)) return false;
        if (_spec.BoundState)
        {
            for (int i = 2; i < q.Length; i++) if (!(Math.Abs(q[i]) < 100)) return false;
            for (int i = 0; i < v.Length; i++) if (!(Math.Abs(v[i]) < 100)) return false;
        }
        return true;
    }

    private void Write(Span<float> observation)
    {
        var q = _sim.Qpos;
        var v = _sim.Qvel;
        for (int i = 1; i < q.Length; i++) observation[i - 1] = (float)q[i];
        for (int i = 0; i < v.Length; i++) observation[q.Length - 1 + i] = (float)Math.Clamp(v[i], -VelocityClip, VelocityClip);
    }

    public void Dispose()
    {
        _sim.Dispose();
        _model.Dispose();
    }
}
