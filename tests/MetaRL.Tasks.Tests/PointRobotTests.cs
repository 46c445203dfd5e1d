using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Control;
using MetaRL.Tasks.Navigation;

namespace MetaRL.Tasks.Tests;

public sealed class PointRobotTests
{
    [Fact]
    public void Sparse_goals_lie_on_the_half_circle_and_training_and_held_out_goals_are_apart()
    {
        var tasks = PointRobotTasks.FromSettings(true, null);
        var train = tasks.Goals(TaskSplit.Train);
        var test = tasks.Goals(TaskSplit.Test);
        Assert.Equal((80, 20), (train.Count, test.Count));
        Assert.All(train.Concat(test), g => { Assert.Equal(1, Math.Sqrt(g.X * g.X + g.Y * g.Y), 9); Assert.True(g.Y >= 0); });
        Assert.Empty(train.Intersect(test));
        var rng = new Rng(3);
        for (int i = 0; i < 50; i++) Assert.Contains((GoalTask)tasks.SampleTask(rng, TaskSplit.Test), test);
        // The pool is the same for every instance (its own seed), so a checkpoint's tasks are found again.
        Assert.Equal(train.Select(g => g.X), PointRobotTasks.FromSettings(true, null).Goals(TaskSplit.Train).Select(g => g.X));
        var dense = PointRobotTasks.FromSettings(false, null).Goals(TaskSplit.Train);
        Assert.All(dense, g => { Assert.InRange(g.X, -1, 1); Assert.InRange(g.Y, -1, 1); });
    }

    [Fact]
    public void The_sparse_reward_pays_only_near_the_goal_while_critics_may_read_the_distance()
    {
        var tasks = PointRobotTasks.FromSettings(true, null);
        var goal = new GoalTask(0.3, 0);
        var env = tasks.CreateEnv();
        env.SetTask(goal);
        var obs = new float[2];
        var rng = new Rng(1);
        env.Reset(rng, obs);
        var r1 = env.Step([0.5f, 0], rng, obs); // clipped to 0.1: 0.2 from the goal, on the radius
        Assert.Equal(0.1f, obs[0]);
        Assert.Equal(1 - 0.2, r1.Reward, 6);
        env.Reset(rng, obs);
        var r2 = env.Step([-0.1f, 0], rng, obs);
        Assert.Equal(0, r2.Reward);
        Assert.True(tasks.HasTrainingReward);
        Assert.Equal(-0.4, tasks.TrainingReward(goal, [0, 0], [-0.1f, 0], obs, r2.Reward), 6);
        var metric = new double[1];
        env.WriteEpisodeMetrics(metric);
        Assert.Equal(0, metric[0]);
        env.Step([0.1f, 0], rng, obs);
        env.Step([0.1f, 0], rng, obs);
        env.Step([0.1f, 0], rng, obs);
        env.WriteEpisodeMetrics(metric);
        Assert.Equal(1, metric[0]);
        Assert.Throws<ArgumentException>(() => env.Step([float.NaN, 0], rng, obs));
        Assert.False(PointRobotTasks.FromSettings(false, null).HasTrainingReward);
    }

    [Fact]
    public void The_oracle_return_is_what_stepping_straight_at_the_goal_earns()
    {
        foreach (bool sparse in new[] { false, true })
        {
            var tasks = PointRobotTasks.FromSettings(sparse, null);
            var goal = tasks.Goals(TaskSplit.Test)[0];
            var env = tasks.CreateEnv();
            env.SetTask(goal);
            var obs = new float[2];
            var rng = new Rng(1);
            env.Reset(rng, obs);
            double total = 0;
            double x = 0, y = 0;
            for (int t = 0; t < tasks.Horizon; t++)
            {
                float ax = (float)Math.Clamp(goal.X - x, -0.1, 0.1), ay = (float)Math.Clamp(goal.Y - y, -0.1, 0.1);
                x += ax;
                y += ay;
                total += env.Step([ax, ay], rng, obs).Reward;
            }
            Assert.Equal(tasks.OracleEpisodeReturn(goal)!.Value, total, 4);
        }
    }

    [Fact]
    public void Bad_settings_are_refused_by_name()
    {
        Assert.Contains("train-goals", Assert.Throws<SettingException>(() => PointRobotTasks.FromSettings(true, new Dictionary<string, string> { ["goals"] = "10", ["train-goals"] = "10" })).Message);
        Assert.Contains("goal-radius", Assert.Throws<SettingException>(() => PointRobotTasks.FromSettings(true, new Dictionary<string, string> { ["goal-radius"] = "-1" })).Message);
        Assert.Contains("goal", Assert.Throws<SettingException>(() => PointRobotTasks.FromSettings(false, new Dictionary<string, string> { ["gaol"] = "1" })).Message);
        var pendulum = PendulumDistribution.FromSettings(null);
        Assert.Same(pendulum.SampleTask(new Rng(1), TaskSplit.Train), pendulum.SampleTask(new Rng(2), TaskSplit.Test));
        Assert.Equal((200, 1), (pendulum.Horizon, pendulum.EpisodesPerTrial));
    }
}
