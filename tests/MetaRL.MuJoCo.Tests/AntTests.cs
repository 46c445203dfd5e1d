using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.MuJoCo.Locomotion;

namespace MetaRL.MuJoCo.Tests;

public class AntTests
{
    [MuJoCoFact]
    public void The_model_has_the_published_structure()
    {
        using var model = MjModel.FromXml(AntModel.Xml);
        Assert.Equal((15, 14, 8), (model.Nq, model.Nv, model.Nu));
        Assert.Equal(0.01, model.Timestep, 12);
        Assert.Equal(14, model.NBody); // world, torso, 4 × (hip, thigh, shin)
        // Density-5 torso sphere of radius 0.25 m.
        Assert.Equal(5 * 4.0 / 3.0 * Math.PI * Math.Pow(0.25, 3), model.BodyMass[1], 9);
    }

    [MuJoCoFact]
    public void At_rest_it_stands_and_direction_rewards_differ_only_in_the_velocity_sign()
    {
        var d = new AntDirDistribution();
        using var fwd = (AntEnv)d.CreateEnv();
        using var back = (AntEnv)d.CreateEnv();
        fwd.SetTask(AntTask.Direction(1));
        back.SetTask(AntTask.Direction(-1));
        var obsF = new float[27];
        var obsB = new float[27];
        fwd.Reset(new Rng(5), obsF);
        back.Reset(new Rng(5), obsB);
        var still = new float[8];
        var rng = new Rng(1);
        for (int t = 0; t < 40; t++)
        {
            var action = Enumerable.Range(0, 8).Select(_ => (float)rng.Uniform(-1, 1)).ToArray();
            var a = fwd.Step(action, rng, obsF);
            var b = back.Step(action, rng, obsB);
            Assert.Equal(obsF, obsB);
            double cost = action.Sum(x => (double)x * x) * AntEnv.DirectionControlCost;
            // r = d·v + 1 − cost, so the two rewards average to 1 − cost.
            Assert.Equal(1 - cost, 0.5 * (a.Reward + b.Reward), 9);
            Assert.Equal(a.Terminated, b.Terminated);
            if (a.Terminated) break;
        }
        fwd.Reset(new Rng(6), obsF);
        for (int t = 0; t < 50; t++) Assert.False(fwd.Step(still, rng, obsF).Terminated);
        Assert.InRange(obsF[0], 0.2f, 1.0f); // torso height
        Assert.All(obsF, v => Assert.True(float.IsFinite(v)));
    }

    [MuJoCoFact]
    public void Goal_reward_is_the_l1_distance_and_goals_fill_the_disk()
    {
        var d = new AntGoalDistribution();
        var rng = new Rng(2);
        var goals = Enumerable.Range(0, 4000).Select(_ => (AntTask)d.SampleTask(rng, TaskSplit.Train)).ToArray();
        Assert.All(goals, g => Assert.True(g.IsGoal && Math.Sqrt(g.X * g.X + g.Y * g.Y) <= 3));
        // Uniform over the area: a quarter of the goals lie within radius 1.5.
        double inner = goals.Count(g => g.X * g.X + g.Y * g.Y <= 2.25) / (double)goals.Length;
        Assert.InRange(inner, 0.22, 0.28);
        using var env = (AntEnv)d.CreateEnv();
        env.SetTask(AntTask.Goal(2, -1));
        var obs = new float[27];
        env.Reset(new Rng(3), obs);
        var r = env.Step(new float[8], rng, obs);
        var (x, y) = env.Position;
        Assert.Equal(-Math.Abs(x - 2) - Math.Abs(y + 1), r.Reward, 9);
        Assert.False(r.Terminated);
        var features = new float[2];
        d.WriteTaskFeatures(AntTask.Goal(3, -1.5), features);
        Assert.Equal([1f, -0.5f], features);
        Assert.Throws<ArgumentException>(() => AntTask.Goal(double.NaN, 0));
        Assert.Throws<ArgumentException>(() => AntTask.Direction(0));
        Assert.Throws<ArgumentException>(() => env.Step(new float[7], rng, obs));
        Assert.Throws<SettingException>(() => AntGoalDistribution.FromSettings(new Dictionary<string, string> { ["radius"] = "2" }));
    }
}
