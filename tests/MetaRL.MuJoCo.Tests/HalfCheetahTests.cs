using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.MuJoCo.Locomotion;

namespace MetaRL.MuJoCo.Tests;

public class HalfCheetahTests
{
    private static (float[] Obs, double[] Rewards, double X) Play(TaskDistribution d, ITask task, ulong seed, int steps, Func<int, float[]> policy)
    {
        using var env = (HalfCheetahEnv)d.CreateEnv();
        env.SetTask(task);
        var rng = new Rng(seed);
        var obs = new float[17];
        env.Reset(rng, obs);
        var rewards = new double[steps];
        for (int t = 0; t < steps; t++)
        {
            var r = env.Step(policy(t), rng, obs);
            Assert.False(r.Terminated);
            rewards[t] = r.Reward;
        }
        Assert.All(obs, v => Assert.True(float.IsFinite(v)));
        return (obs, rewards, env.ForwardPosition);
    }

    [MuJoCoFact]
    public void The_model_has_the_published_structure()
    {
        using var model = MjModel.FromXml(HalfCheetahModel.Xml);
        Assert.Equal(9, model.Nq);
        Assert.Equal(9, model.Nv);
        Assert.Equal(6, model.Nu);
        double mass = 0;
        foreach (var m in model.BodyMass) mass += m;
        Assert.Equal(14.0, mass, 6);
        Assert.Equal(0.01, model.Timestep, 12);
    }

    [MuJoCoFact]
    public void Resting_it_stays_put_and_the_velocity_reward_is_minus_speed()
    {
        var d = new CheetahVelDistribution();
        var (_, rewards, x) = Play(d, CheetahTask.Velocity(0), 3, 200, _ => new float[6]);
        Assert.InRange(x, -1.0, 1.0);
        Assert.All(rewards, r => Assert.True(r <= 0));
        // At rest the speed decays: the last rewards are near zero.
        Assert.True(rewards[^1] > -0.05, $"last reward {rewards[^1]}");
    }

    [MuJoCoFact]
    public void Forward_and_backward_rewards_differ_only_in_the_sign_of_the_velocity()
    {
        var d = new CheetahDirDistribution();
        float[] Gait(int t) => [MathF.Sin(t * 0.5f), MathF.Cos(t * 0.5f), 0.5f, -MathF.Sin(t * 0.5f), 0.3f, -0.7f];
        var fwd = Play(d, CheetahTask.Direction(1), 7, 100, Gait);
        var back = Play(d, CheetahTask.Direction(-1), 7, 100, Gait);
        Assert.Equal(fwd.Obs, back.Obs); // the task changes the reward, never the physics
        double cost = 0;
        for (int t = 0; t < 100; t++) { foreach (var a in Gait(t)) cost += Math.Clamp(a, -1, 1) * Math.Clamp(a, -1, 1); }
        Assert.Equal(-2 * HalfCheetahEnv.ControlCost * cost, fwd.Rewards.Sum() + back.Rewards.Sum(), 6);
        Assert.NotEqual(0.0, fwd.X, 3);
    }

    [MuJoCoFact]
    public void Tasks_features_and_bad_input()
    {
        var vel = new CheetahVelDistribution();
        var train = TaskDistribution.TaskStream(1, TaskSplit.Train);
        for (int i = 0; i < 200; i++) Assert.InRange(((CheetahTask)vel.SampleTask(train, TaskSplit.Train)).Value, 0, 2);
        var f = new float[1];
        vel.WriteTaskFeatures(CheetahTask.Velocity(1), f);
        Assert.Equal(0.5f, f[0]);
        Assert.Throws<ArgumentException>(() => CheetahTask.Direction(0));
        Assert.Throws<SettingException>(() => CheetahVelDistribution.FromSettings(new Dictionary<string, string> { ["speed"] = "3" }));
        // PEARL's range: v* ~ U[0, 3], reaching above the default's 2.
        var pearl = CheetahVelDistribution.FromSettings(new Dictionary<string, string> { ["max-velocity"] = "3" });
        var draws = Enumerable.Range(0, 300).Select(_ => ((CheetahTask)pearl.SampleTask(train, TaskSplit.Test)).Value).ToArray();
        Assert.All(draws, v => Assert.InRange(v, 0, 3));
        Assert.True(draws.Max() > 2.5);
        Assert.Contains("max-velocity", Assert.Throws<SettingException>(() => CheetahVelDistribution.FromSettings(new Dictionary<string, string> { ["max-velocity"] = "0" })).Message);
        using var env = (HalfCheetahEnv)vel.CreateEnv();
        env.SetTask(CheetahTask.Velocity(1));
        var obs = new float[17];
        env.Reset(new Rng(1), obs);
        Assert.Throws<ArgumentException>(() => env.Step(new float[5], new Rng(1), obs));
        Assert.Throws<ArgumentException>(() => env.Step([0, 0, float.NaN, 0, 0, 0], new Rng(1), obs));
    }

    [MuJoCoFact]
    public void Vectorised_half_cheetahs_share_one_model_and_are_deterministic_for_a_seed()
    {
        var d = new CheetahVelDistribution(horizon: 30);
        float[] Run(ulong seed)
        {
            var v = new MetaRL.Core.Envs.VectorEnv(d, 8, seed);
            var rng = new Rng(11);
            for (int i = 0; i < 8; i++) v.SetTask(i, d.SampleTask(rng, TaskSplit.Train));
            var actions = new float[8 * 6];
            var arng = new Rng(5);
            for (int t = 0; t < 75; t++) // crosses the horizon, so autoreset runs too
            {
                for (int j = 0; j < actions.Length; j++) actions[j] = (float)arng.Uniform(-1, 1);
                v.Step(actions);
            }
            return v.Observations.ToArray();
        }
        var a = Run(3);
        Assert.Equal(a, Run(3));
        Assert.NotEqual(a, Run(4));
    }

    [MuJoCoFact]
    public void Random_flailing_for_a_thousand_steps_stays_within_the_simulation_stack()
    {
        var d = new CheetahVelDistribution();
        var arng = new Rng(9);
        var (obs, rewards, _) = Play(d, CheetahTask.Velocity(1), 2, 1000, _ => Enumerable.Range(0, 6).Select(_ => (float)arng.Uniform(-1, 1)).ToArray());
        Assert.All(rewards, r => Assert.True(double.IsFinite(r)));
    }
}
