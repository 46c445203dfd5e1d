using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Navigation;

/// <summary>A goal position in the plane.</summary>
public sealed class GoalTask(double x, double y) : ITask
{
    public double X { get; } = x;
    public double Y { get; } = y;

    public IReadOnlyList<KeyValuePair<string, double>> Describe() => [KeyValuePair.Create("goal x", X), KeyValuePair.Create("goal y", Y)];
}

/// <summary>
/// A point agent starting at the origin; the action is a velocity clipped to ±<see cref="Navigation2DDistribution.MaxSpeed"/>
/// per coordinate; the reward is minus the distance to the goal after the move; the episode terminates
/// within 0.01 of the goal (both coordinates) or is truncated at the horizon (Finn et al. 2017).
/// </summary>
public sealed class Navigation2DEnv(double maxSpeed) : Env<GoalTask>
{
    private double _x, _y;

    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 2);

    public override Space ActionSpace { get; } = new Box((float)-maxSpeed, (float)maxSpeed, 2);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _x = _y = 0;
        observation[0] = 0;
        observation[1] = 0;
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (!float.IsFinite(action[0]) || !float.IsFinite(action[1]))
            throw new ArgumentException($"navigation-2d: the action ({action[0]}, {action[1]}) is not finite.", nameof(action));
        _x += Math.Clamp(action[0], -maxSpeed, maxSpeed);
        _y += Math.Clamp(action[1], -maxSpeed, maxSpeed);
        observation[0] = (float)_x;
        observation[1] = (float)_y;
        double dx = _x - Task.X, dy = _y - Task.Y;
        bool reached = Math.Abs(dx) < 0.01 && Math.Abs(dy) < 0.01;
        return new StepResult(-Math.Sqrt(dx * dx + dy * dy), Terminated: reached, Truncated: false);
    }
}

/// <summary><c>navigation-2d</c>: goals ~ U[−0.5, 0.5]², horizon 100.</summary>
public sealed class Navigation2DDistribution : TaskDistribution
{
    public const int DefaultHorizon = 100, DefaultEpisodes = 2;
    public const double MaxSpeed = 0.1, GoalRange = 0.5;

    public Navigation2DDistribution(int horizon = DefaultHorizon, int episodes = DefaultEpisodes)
    {
        if (horizon < 1) throw new SettingException($"navigation-2d: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"navigation-2d: 'episodes' must be at least 1, got {episodes}.");
        (Horizon, EpisodesPerTrial) = (horizon, episodes);
    }

    public static Navigation2DDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var (horizon, episodes) = SettingsReader.HorizonAndEpisodes("navigation-2d", values, DefaultHorizon, DefaultEpisodes);
        return new Navigation2DDistribution(horizon, episodes);
    }

    public override string Name => "navigation-2d";
    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 2);
    public override Space ActionSpace { get; } = new Box((float)-MaxSpeed, (float)MaxSpeed, 2);

    public override ITask SampleTask(Rng rng, TaskSplit split) => new GoalTask(rng.Uniform(-GoalRange, GoalRange), rng.Uniform(-GoalRange, GoalRange));

    public override IEnv CreateEnv() => new Navigation2DEnv(MaxSpeed);

    /// <summary>The goal, scaled to [−1, 1]².</summary>
    public override int TaskFeatureSize => 2;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var g = (GoalTask)task;
        features[0] = (float)(g.X / GoalRange);
        features[1] = (float)(g.Y / GoalRange);
    }

    /// <summary>
    /// Moving each coordinate straight at the goal at full speed minimises both coordinate gaps, hence the
    /// distance, at every step simultaneously, so it is optimal; its return is computed by playing it.
    /// </summary>
    public override double? OracleEpisodeReturn(ITask task)
    {
        var g = (GoalTask)task;
        var env = new Navigation2DEnv(MaxSpeed);
        env.SetTask(g);
        Span<float> obs = stackalloc float[2];
        Span<float> a = stackalloc float[2];
        var rng = new Rng(1);
        env.Reset(rng, obs);
        double total = 0;
        for (int t = 0; t < Horizon; t++)
        {
            a[0] = (float)Math.Clamp(g.X - obs[0], -MaxSpeed, MaxSpeed);
            a[1] = (float)Math.Clamp(g.Y - obs[1], -MaxSpeed, MaxSpeed);
            var r = env.Step(a, rng, obs);
            total += r.Reward;
            if (r.Done) break;
        }
        return total;
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(), "steps per episode"),
        new("episodes", EpisodesPerTrial.ToString(), "episodes per trial n"),
    ];
}
