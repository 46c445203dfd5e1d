using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Control;

/// <summary>
/// Cart-pole balancing (Barto, Sutton and Anderson 1983) with the task's cart mass, pole mass, pole
/// half-length, gravity and viscous damping of cart and pole. Actions: 0 pushes left, 1 pushes right with
/// 10 N; explicit Euler steps of 0.02 s; reward 1 per step; the episode terminates when the cart leaves
/// ±2.4 m or the pole tilts beyond 12°. Observation: cart position, cart velocity, pole angle, pole angular velocity.
/// </summary>
public sealed class CartPolePhysicsEnv : Env<PhysicsTask>
{
    public const double Force = 10, Dt = 0.02, XLimit = 2.4, AngleLimit = 12 * Math.PI / 180;
    private double _x, _xDot, _theta, _thetaDot;
    private double _mc, _mp, _l, _g, _bc, _bp;

    public override Space ObservationSpace { get; } = new Box(
        [(float)(-2 * XLimit), float.NegativeInfinity, (float)(-2 * AngleLimit), float.NegativeInfinity],
        [(float)(2 * XLimit), float.PositiveInfinity, (float)(2 * AngleLimit), float.PositiveInfinity]);

    public override Space ActionSpace { get; } = new Discrete(2);

    protected override void OnTaskSet(PhysicsTask task)
        => (_mc, _mp, _l, _g, _bc, _bp) = (task["cart-mass"], task["pole-mass"], task["pole-length"], task["gravity"], task["cart-damping"], task["pole-damping"]);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _x = rng.Uniform(-0.05, 0.05);
        _xDot = rng.Uniform(-0.05, 0.05);
        _theta = rng.Uniform(-0.05, 0.05);
        _thetaDot = rng.Uniform(-0.05, 0.05);
        Write(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        int a = (int)action[0];
        if (a is not (0 or 1) || action[0] != a) throw new ArgumentOutOfRangeException(nameof(action), action[0], "cartpole-physics: the action must be 0 (push left) or 1 (push right).");
        double force = a == 1 ? Force : -Force;
        double total = _mc + _mp, poleMassLength = _mp * _l;
        double sin = Math.Sin(_theta), cos = Math.Cos(_theta);
        // Equations of motion of the cart-pole with viscous damping on the cart (b_c ẋ) and at the hinge (b_p θ̇).
        double temp = (force - _bc * _xDot + poleMassLength * _thetaDot * _thetaDot * sin) / total;
        double thetaAcc = (_g * sin - cos * temp - _bp * _thetaDot / poleMassLength) / (_l * (4.0 / 3.0 - _mp * cos * cos / total));
        double xAcc = temp - poleMassLength * thetaAcc * cos / total;
        _x += Dt * _xDot;
        _xDot += Dt * xAcc;
        _theta += Dt * _thetaDot;
        _thetaDot += Dt * thetaAcc;
        Write(observation);
        bool fell = Math.Abs(_x) > XLimit || Math.Abs(_theta) > AngleLimit;
        return new StepResult(1.0, Terminated: fell, Truncated: false);
    }

    private void Write(Span<float> observation)
    {
        observation[0] = (float)_x;
        observation[1] = (float)_xDot;
        observation[2] = (float)_theta;
        observation[3] = (float)_thetaDot;
    }
}

/// <summary>
/// <c>cartpole-physics</c>: cart-pole balancing whose masses, pole length, gravity and damping are hidden per task.
/// Training draws masses, length and gravity log-uniformly within ×[0.5, 2] of nominal; held-out tests within
/// ×[0.25, 4]; damping uniformly up to twice the training maximum.
/// </summary>
public sealed class CartPolePhysicsDistribution : PhysicsTaskDistribution
{
    public const int DefaultHorizon = 200, DefaultEpisodes = 2;

    public static readonly PhysicalParameter[] Physics =
    [
        new("cart-mass", "kg", 1.0, 0.5, 2.0, 0.25, 4.0, LogUniform: true),
        new("pole-mass", "kg", 0.1, 0.05, 0.2, 0.025, 0.4, LogUniform: true),
        new("pole-length", "m (half-length)", 0.5, 0.25, 1.0, 0.125, 2.0, LogUniform: true),
        new("gravity", "m/s²", 9.8, 4.9, 19.6, 2.45, 39.2, LogUniform: true),
        new("cart-damping", "N·s/m", 0.0, 0.0, 1.0, 0.0, 2.0, LogUniform: false),
        new("pole-damping", "N·m·s", 0.0, 0.0, 0.01, 0.0, 0.02, LogUniform: false),
    ];

    public CartPolePhysicsDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes) : base("cartpole-physics", Physics, horizon, episodes) { }

    public static CartPolePhysicsDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (horizon, episodes) = SettingsReader.HorizonAndEpisodes("cartpole-physics", values, DefaultHorizon, DefaultEpisodes);
        return new CartPolePhysicsDistribution(horizon, episodes);
    }

    public override string Name => "cartpole-physics";
    public override Space ObservationSpace { get; } = new CartPolePhysicsEnv().ObservationSpace;
    public override Space ActionSpace { get; } = new Discrete(2);
    public override IEnv CreateEnv() => new CartPolePhysicsEnv();

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(), "steps per episode (reward 1 per step balanced)"),
        new("episodes", EpisodesPerTrial.ToString(), "episodes per trial; hidden physics: " + RangesText()),
    ];
}
