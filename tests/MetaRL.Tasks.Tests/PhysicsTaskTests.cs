using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Control;

namespace MetaRL.Tasks.Tests;

/// <summary>The hidden-physics control families: their dynamics behave as physics says, and their task splits are as declared.</summary>
public class PhysicsTaskTests
{
    private static PhysicsTask With(PhysicsTaskDistribution d, params (string Name, double Value)[] changes)
    {
        var values = d.Parameters.Select(p => p.Nominal).ToArray();
        foreach (var (name, value) in changes) values[d.Parameters.ToList().FindIndex(p => p.Name == name)] = value;
        return new PhysicsTask(d.Parameters, values);
    }

    /// <summary>Steps a cart-pole with alternating pushes (zero mean force) until it falls; returns the steps survived.</summary>
    private static int StepsUntilFall(PhysicsTask task, ulong seed)
    {
        var env = new CartPolePhysicsEnv();
        env.SetTask(task);
        var rng = new Rng(seed);
        var obs = new float[4];
        env.Reset(rng, obs);
        for (int t = 0; t < 10_000; t++)
        {
            var r = env.Step([t % 2], rng, obs);
            Assert.Equal(1.0, r.Reward);
            if (r.Terminated) return t + 1;
        }
        return 10_000;
    }

    [Fact]
    public void Cartpole_longer_poles_and_hinge_damping_fall_more_slowly_and_stronger_gravity_faster()
    {
        var d = new CartPolePhysicsDistribution();
        int nominal = StepsUntilFall(d.NominalTask, 3);
        int longPole = StepsUntilFall(With(d, ("pole-length", 2.0)), 3);
        int shortPole = StepsUntilFall(With(d, ("pole-length", 0.125)), 3);
        int strongGravity = StepsUntilFall(With(d, ("gravity", 39.2)), 3);
        int damped = StepsUntilFall(With(d, ("pole-damping", 0.05)), 3);
        Assert.True(shortPole < nominal && nominal < longPole, $"short {shortPole}, nominal {nominal}, long {longPole}");
        Assert.True(strongGravity < nominal, $"gravity ×4 {strongGravity} vs nominal {nominal}");
        Assert.True(damped > nominal, $"damped {damped} vs nominal {nominal}");
    }

    [Fact]
    public void Cartpole_refuses_bad_actions_and_playing_without_a_task()
    {
        var d = new CartPolePhysicsDistribution();
        var env = new CartPolePhysicsEnv();
        Assert.Throws<InvalidOperationException>(() => env.Reset(new Rng(1), new float[4]));
        env.SetTask(d.SampleTask(new Rng(5), TaskSplit.Train));
        var obs = new float[4];
        env.Reset(new Rng(9), obs);
        Assert.All(obs, v => Assert.InRange(v, -0.05f, 0.05f));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => env.Step([2], new Rng(1), obs));
        Assert.Contains("push", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => env.Step([0.5f], new Rng(1), obs));
    }

    [Fact]
    public void Pendulum_conserves_energy_without_damping_and_loses_it_with_damping()
    {
        var d = new PendulumPhysicsDistribution();
        double Energy(float[] o, PhysicsTask t) => 0.5 * o[2] * o[2] + 3 * t["gravity"] / (2 * t["length"]) * o[0];
        foreach (var (task, damped) in new[] { (d.NominalTask, false), (With(d, ("damping", 1.0)), true) })
        {
            var env = new PendulumPhysicsEnv();
            env.SetTask(task);
            var rng = new Rng(2);
            var obs = new float[3];
            env.Reset(rng, obs);
            double e0 = Energy(obs, task), lo = e0, hi = e0;
            for (int t = 0; t < 200; t++)
            {
                var r = env.Step([0f], rng, obs);
                Assert.True(r.Reward <= 0);
                double e = Energy(obs, task);
                lo = Math.Min(lo, e);
                hi = Math.Max(hi, e);
            }
            double scale = 3 * task["gravity"] / (2 * task["length"]);
            if (!damped) Assert.True(hi - lo < 0.15 * scale, $"energy wandered over [{lo:F3}, {hi:F3}] (scale {scale:F1})");
            // Damped, it comes to rest hanging down, where E = −3g/(2l).
            else Assert.True(Energy(obs, task) < -0.97 * scale && hi - e0 < 1e-3 * scale, $"damped energy {Energy(obs, task):F3} from {e0:F3} (max {hi:F3})");
        }
    }

    [Fact]
    public void Pendulum_torque_moves_light_short_rods_more_than_heavy_long_ones()
    {
        var d = new PendulumPhysicsDistribution();
        double SpeedAfterPush(PhysicsTask task)
        {
            var env = new PendulumPhysicsEnv();
            env.SetTask(task);
            var rng = new Rng(4);
            var obs = new float[3];
            env.Reset(rng, obs);
            double w0 = obs[2];
            var free = new PendulumPhysicsEnv();
            free.SetTask(task);
            var obsFree = new float[3];
            free.Reset(new Rng(4), obsFree);
            env.Step([2f], rng, obs);
            free.Step([0f], new Rng(4), obsFree);
            return obs[2] - obsFree[2]; // the torque's own contribution to the speed
        }
        double light = SpeedAfterPush(With(d, ("mass", 0.5), ("length", 0.5)));
        double nominal = SpeedAfterPush(d.NominalTask);
        double heavy = SpeedAfterPush(With(d, ("mass", 4.0), ("length", 2.0)));
        // Δθ̇ = 3u/(m l²)·dt: 0.5·0.25 → 2.4, nominal → 0.3, 4·4 → 0.01875.
        Assert.Equal(2.4, light, 3);
        Assert.Equal(0.3, nominal, 4);
        Assert.Equal(0.01875, heavy, 5);
        var env2 = new PendulumPhysicsEnv();
        env2.SetTask(d.NominalTask);
        env2.Reset(new Rng(1), new float[3]);
        Assert.Throws<ArgumentException>(() => env2.Step([float.NaN], new Rng(1), new float[3]));
    }

    [Theory]
    [InlineData("cartpole-physics")]
    [InlineData("pendulum-physics")]
    public void Training_tasks_stay_in_range_and_held_out_tasks_reach_beyond_it(string family)
    {
        var d = (PhysicsTaskDistribution)TaskRegistry.Create(family);
        var train = TaskDistribution.TaskStream(1, TaskSplit.Train);
        var test = TaskDistribution.TaskStream(1, TaskSplit.Test);
        int outside = 0;
        for (int i = 0; i < 500; i++)
        {
            var t = (PhysicsTask)d.SampleTask(train, TaskSplit.Train);
            Assert.False(t.OutOfDistribution, string.Join(", ", t.Describe()));
            var h = (PhysicsTask)d.SampleTask(test, TaskSplit.Test);
            for (int k = 0; k < d.Parameters.Count; k++)
                Assert.InRange(h.Values[k], d.Parameters[k].TestLow, d.Parameters[k].TestHigh);
            if (h.OutOfDistribution) outside++;
        }
        Assert.InRange(outside, 250, 500); // most held-out tasks have some parameter outside training
        Assert.Equal(d.Parameters.Count, d.TaskFeatureSize);
        var features = new float[d.TaskFeatureSize];
        d.WriteTaskFeatures(d.NominalTask, features);
        Assert.All(features.Where((_, k) => d.Parameters[k].LogUniform), f => Assert.Equal(0f, f, 6));

        var bad = Assert.Throws<SettingException>(() => TaskRegistry.Create(family, new Dictionary<string, string> { ["horizon"] = "0" }));
        Assert.Contains("'horizon'", bad.Message);
        var unknown = Assert.Throws<SettingException>(() => TaskRegistry.Create(family, new Dictionary<string, string> { ["gravity"] = "3" }));
        Assert.Contains("'gravity'", unknown.Message);
        Assert.Throws<ArgumentException>(() => new PhysicsTask(d.Parameters, d.Parameters.Select(_ => -1.0).ToArray()));
    }
}
