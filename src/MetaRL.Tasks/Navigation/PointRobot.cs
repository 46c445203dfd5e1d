using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Navigation;

/// <summary>
/// PEARL's point robot (Rakelly et al. 2019): a point starting at the origin moves by its action, clipped to ±0.1 per
/// coordinate, towards a hidden goal; the episode runs the whole horizon. The reward is minus the distance to the goal
/// after the move, or with a sparse reward 1 − distance within <see cref="PointRobotTasks.GoalRadius"/> of the goal and 0
/// elsewhere. Observation: the position.
/// </summary>
public sealed class PointRobotEnv(bool sparse, double goalRadius) : Env<GoalTask>
{
    public const double MaxStep = 0.1;
    private double _x, _y;
    private bool _reached;

    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 2);

    public override Space ActionSpace { get; } = new Box((float)-MaxStep, (float)MaxStep, 2);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _ = Task;
        _x = _y = 0;
        _reached = false;
        observation[0] = 0;
        observation[1] = 0;
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        if (!float.IsFinite(action[0]) || !float.IsFinite(action[1]))
            throw new ArgumentException($"point-robot: the action ({action[0]}, {action[1]}) is not finite.", nameof(action));
        _x += Math.Clamp(action[0], -MaxStep, MaxStep);
        _y += Math.Clamp(action[1], -MaxStep, MaxStep);
        observation[0] = (float)_x;
        observation[1] = (float)_y;
        double distance = Distance(Task, _x, _y);
        _reached |= distance <= goalRadius;
        return new StepResult(Reward(sparse, goalRadius, distance), Terminated: false, Truncated: false);
    }

    /// <summary>The reward at <paramref name="distance"/> from the goal.</summary>
    public static double Reward(bool sparse, double goalRadius, double distance)
        => !sparse ? -distance : distance <= goalRadius ? 1 - distance : 0;

    public static double Distance(GoalTask goal, double x, double y)
    {
        double dx = x - goal.X, dy = y - goal.Y;
        return Math.Sqrt(dx * dx + dy * dy);
    }

    /// <summary>successRate: 1 when the episode came within the goal radius, else 0.</summary>
    public override void WriteEpisodeMetrics(Span<double> metrics) => metrics[0] = _reached ? 1 : 0;
}

/// <summary>
/// <c>point-robot</c> and <c>sparse-point-robot</c>: PEARL's 2-D navigation families. A fixed pool of goals is drawn once
/// from its own seed (point-robot: uniform in [−1, 1]²; sparse-point-robot: on the upper half of the unit circle); the
/// first <c>train-goals</c> of them are the training tasks and the rest are held out (80 / 20 of 100, as in the paper).
/// Horizon 20; with the sparse reward, the agent sees a reward only within <c>goal-radius</c> (0.2) of the goal, and
/// critics may learn from the dense one (<see cref="TaskDistribution.TrainingReward"/>).
/// </summary>
public sealed class PointRobotTasks : TaskDistribution
{
    public const int DefaultHorizon = 20, DefaultGoals = 100, DefaultTrainGoals = 80;
    public const double DefaultGoalRadius = 0.2;
    private const ulong GoalSeed = 0x9E3779B97F4A7C15;

    private readonly GoalTask[] _goals;

    public PointRobotTasks(bool sparse, int horizon = DefaultHorizon, int? episodes = null, int goals = DefaultGoals, int trainGoals = DefaultTrainGoals,
        double goalRadius = DefaultGoalRadius)
    {
        Name = sparse ? "sparse-point-robot" : "point-robot";
        if (horizon < 1) throw new SettingException($"{Name}: 'horizon' must be at least 1, got {horizon}.");
        if (episodes is < 1) throw new SettingException($"{Name}: 'episodes' must be at least 1, got {episodes}.");
        if (goals < 2) throw new SettingException($"{Name}: 'goals' must be at least 2, got {goals}.");
        if (trainGoals < 1 || trainGoals >= goals)
            throw new SettingException($"{Name}: 'train-goals' must be between 1 and goals − 1 = {goals - 1}, got {trainGoals}.");
        if (!(goalRadius > 0) || !double.IsFinite(goalRadius)) throw new SettingException($"{Name}: 'goal-radius' must be a positive number, got {goalRadius}.");
        (Sparse, Horizon, EpisodesPerTrial, GoalRadius, TrainGoals) = (sparse, horizon, episodes ?? (sparse ? 3 : 2), goalRadius, trainGoals);
        var rng = new Rng(GoalSeed);
        _goals = new GoalTask[goals];
        for (int i = 0; i < goals; i++)
        {
            if (sparse)
            {
                double angle = rng.Uniform(0, Math.PI);
                _goals[i] = new GoalTask(Math.Cos(angle), Math.Sin(angle));
            }
            else _goals[i] = new GoalTask(rng.Uniform(-1, 1), rng.Uniform(-1, 1));
        }
    }

    public static PointRobotTasks FromSettings(bool sparse, IReadOnlyDictionary<string, string>? values)
    {
        var name = sparse ? "sparse-point-robot" : "point-robot";
        var r = new SettingsReader(name, values);
        int horizon = r.Int("horizon", DefaultHorizon, 1, 100_000);
        int episodes = r.Int("episodes", sparse ? 3 : 2, 1, 10_000);
        int goals = r.Int("goals", DefaultGoals, 2, 1_000_000);
        int train = r.Int("train-goals", DefaultTrainGoals, 1, 1_000_000);
        double radius = r.Double("goal-radius", DefaultGoalRadius, 1e-6, 100);
        r.EnsureAllUsed();
        return new PointRobotTasks(sparse, horizon, episodes, goals, train, radius);
    }

    public override string Name { get; }
    public bool Sparse { get; }
    public double GoalRadius { get; }
    public int TrainGoals { get; }
    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 2);
    public override Space ActionSpace { get; } = new Box((float)-PointRobotEnv.MaxStep, (float)PointRobotEnv.MaxStep, 2);

    /// <summary>The goals of <paramref name="split"/>: the first <see cref="TrainGoals"/> of the pool, or the rest.</summary>
    public IReadOnlyList<GoalTask> Goals(TaskSplit split)
        => split == TaskSplit.Train ? _goals[..TrainGoals] : _goals[TrainGoals..];

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var pool = Goals(split);
        return pool[rng.NextInt(pool.Count)];
    }

    public override IEnv CreateEnv() => new PointRobotEnv(Sparse, GoalRadius);

    public override bool HasTrainingReward => Sparse;

    /// <summary>Minus the distance to the goal after the move (the dense reward of <c>point-robot</c>).</summary>
    public override double TrainingReward(ITask task, ReadOnlySpan<float> observation, ReadOnlySpan<float> action, ReadOnlySpan<float> nextObservation, double reward)
        => Sparse ? Potential(task, nextObservation) : reward;

    public override bool HasPotential => true;

    /// <summary>Minus the distance from the observed position to the goal.</summary>
    public override double Potential(ITask task, ReadOnlySpan<float> observation) => -PointRobotEnv.Distance((GoalTask)task, observation[0], observation[1]);

    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics { get; } =
        [new("successRate", "success", "the share of episodes that came within the goal radius of the goal", "F3")];

    /// <summary>The goal, as it is (on the order of one).</summary>
    public override int TaskFeatureSize => 2;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var g = (GoalTask)task;
        features[0] = (float)g.X;
        features[1] = (float)g.Y;
    }

    /// <summary>
    /// Stepping each coordinate straight at the goal at full speed brings the point closest to the goal at every step,
    /// which maximises the dense and the sparse reward alike; its return is computed by playing it.
    /// </summary>
    public override double? OracleEpisodeReturn(ITask task)
    {
        var g = (GoalTask)task;
        double x = 0, y = 0, total = 0;
        for (int t = 0; t < Horizon; t++)
        {
            x += Math.Clamp(g.X - x, -PointRobotEnv.MaxStep, PointRobotEnv.MaxStep);
            y += Math.Clamp(g.Y - y, -PointRobotEnv.MaxStep, PointRobotEnv.MaxStep);
            total += PointRobotEnv.Reward(Sparse, GoalRadius, PointRobotEnv.Distance(g, x, y));
        }
        return total;
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("horizon", Horizon.ToString(CultureInfo.InvariantCulture), "steps per episode"),
        new("episodes", EpisodesPerTrial.ToString(CultureInfo.InvariantCulture), "episodes per trial"),
        new("goals", _goals.Length.ToString(CultureInfo.InvariantCulture), "goals in the fixed pool, drawn once from their own seed"),
        new("train-goals", TrainGoals.ToString(CultureInfo.InvariantCulture), "the first this many goals are the training tasks; the rest are held out"),
        new("goal-radius", GoalRadius.ToString("R", CultureInfo.InvariantCulture), Sparse ? "the reward is 1 − distance within this distance of the goal, else 0; success is reaching it" : "success is coming this close to the goal (the reward stays dense)"),
    ];
}
