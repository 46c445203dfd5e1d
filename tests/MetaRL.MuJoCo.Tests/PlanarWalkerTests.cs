using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.MuJoCo.Locomotion;

namespace MetaRL.MuJoCo.Tests;

public class PlanarWalkerTests
{
    private static (double Return, int Steps, double X, float[] Obs) Play(PlanarWalkerParamsDistribution d, ITask task, ulong seed, int steps, Func<int, Rng, float[]> policy)
    {
        using var env = (PlanarWalkerEnv)d.CreateEnv();
        env.SetTask(task);
        var rng = new Rng(seed);
        var obs = new float[d.ObservationSpace.Size];
        env.Reset(rng, obs);
        double total = 0;
        int t = 0;
        while (t < steps)
        {
            var r = env.Step(policy(t, rng), rng, obs);
            total += r.Reward;
            t++;
            if (r.Terminated) break;
        }
        return (total, t, env.ForwardPosition, obs);
    }

    private static PhysicsScalesTask Nominal(PlanarWalkerParamsDistribution d)
        => new(1.5, new double[d.Parameters.Count], d.Parameters.Names);

    [MuJoCoFact]
    public void The_models_have_the_published_structure()
    {
        var hopper = PlanarWalkerSpec.Hopper.Model;
        Assert.Equal((6, 6, 3), (hopper.Nq, hopper.Nv, hopper.Nu));
        Assert.Equal(0.002, hopper.Timestep, 12);
        var walker = PlanarWalkerSpec.Walker2d.Model;
        Assert.Equal((9, 9, 6), (walker.Nq, walker.Nv, walker.Nu));
        // Density 1000 capsules: torso r 0.05 × 0.4 m, thigh r 0.05 × 0.45 m, leg r 0.04 × 0.5 m, feet r 0.06 × 0.39 / 0.2 m.
        static double Capsule(double r, double length) => 1000 * Math.PI * r * r * (length + 4.0 / 3.0 * r);
        double[] hopperMasses = [0, Capsule(0.05, 0.4), Capsule(0.05, 0.45), Capsule(0.04, 0.5), Capsule(0.06, 0.39)];
        for (int i = 0; i < hopperMasses.Length; i++) Assert.Equal(hopperMasses[i], hopper.BodyMass[i], 6);
        Assert.Equal(Capsule(0.06, 0.2), walker.BodyMass[4], 6);
        Assert.Equal(walker.BodyMass[2], walker.BodyMass[5], 12); // the legs are identical
    }

    [MuJoCoFact]
    public void Standing_still_is_healthy_and_random_flailing_falls()
    {
        foreach (var spec in new[] { PlanarWalkerSpec.Hopper, PlanarWalkerSpec.Walker2d })
        {
            var d = new PlanarWalkerParamsDistribution(spec);
            var task = Nominal(d);
            var still = Play(d, task, 1, 20, (_, _) => new float[d.ActionSpace.Size]);
            Assert.Equal(20, still.Steps);
            Assert.InRange(still.Return, 19, 21); // about +1 per step, hardly moving
            Assert.Equal(d.ObservationSpace.Size, still.Obs.Length);
            Assert.InRange(still.Obs[0], 1.1f, 1.3f); // torso height
            int falls = 0;
            for (ulong s = 0; s < 5; s++)
            {
                var flail = Play(d, task, s, 1000, (_, rng) => Enumerable.Range(0, d.ActionSpace.Size).Select(_ => (float)rng.Uniform(-1, 1)).ToArray());
                if (flail.Steps < 1000) falls++;
            }
            Assert.True(falls >= 4, $"{spec.Name}: only {falls} of 5 random runs fell");
        }
    }

    [MuJoCoFact]
    public void A_task_scales_its_environments_model_and_nothing_else()
    {
        var d = new PlanarWalkerParamsDistribution(PlanarWalkerSpec.Hopper);
        Assert.Equal(4 + 12 + 3 + 15, d.Parameters.Count); // 4 bodies × (mass + 3 inertias), 3 damped joints, 5 geoms × 3 friction coefficients
        Assert.Equal(d.Parameters.Count, d.TaskFeatureSize);
        var nominal = PlanarWalkerSpec.Hopper.Model;
        double torso = nominal.BodyMass[1], floorFriction = nominal.GeomFriction[0];
        var task = (PhysicsScalesTask)d.SampleTask(new Rng(3), TaskSplit.Train);
        using var env = (PlanarWalkerEnv)d.CreateEnv();
        env.SetTask(task);
        int massIndex = d.Parameters.Names.ToList().IndexOf("mass of body 1");
        int frictionIndex = d.Parameters.Names.ToList().IndexOf("sliding friction of geom 0");
        Assert.Equal(torso * Math.Pow(1.5, task.Exponents[massIndex]), env.Model.BodyMass[1], 9);
        Assert.Equal(floorFriction * Math.Pow(1.5, task.Exponents[frictionIndex]), env.Model.GeomFriction[0], 9);
        Assert.Equal(torso, nominal.BodyMass[1]);
        Assert.Equal(0, env.Model.DofDamping[0]); // the free root's zero damping is not a parameter
        var features = new float[d.TaskFeatureSize];
        d.WriteTaskFeatures(task, features);
        Assert.All(features, f => Assert.InRange(f, -1f, 1f));
        Assert.Equal(task.Exponents[massIndex] / 3, features[massIndex], 5);

        // The same task and seed replay exactly; another task's physics differ; going back restores the first.
        var other = d.SampleTask(new Rng(4), TaskSplit.Train);
        Func<int, Rng, float[]> sine = (t, _) => [(float)Math.Sin(0.1 * t), (float)Math.Cos(0.13 * t), 0.5f];
        var a = Play(d, task, 7, 60, sine);
        var b = Play(d, task, 7, 60, sine);
        var c = Play(d, other, 7, 60, sine);
        Assert.Equal(a.Obs, b.Obs);
        Assert.NotEqual(a.Obs, c.Obs);
        env.SetTask(other);
        env.SetTask(task);
        Assert.Equal(torso * Math.Pow(1.5, task.Exponents[massIndex]), env.Model.BodyMass[1], 9);
    }

    [MuJoCoFact]
    public void Settings_and_bad_tasks_are_checked()
    {
        var d = PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Walker2d, new Dictionary<string, string> { ["log-scale-limit"] = "1", ["horizon"] = "50" });
        Assert.Equal("walker-params", d.Name);
        Assert.Equal(50, d.Horizon);
        var u = ((PhysicsScalesTask)d.SampleTask(new Rng(1), TaskSplit.Test)).Exponents.ToArray();
        Assert.All(u, x => Assert.InRange(x, -1, 1));
        var bad = Assert.Throws<SettingException>(() => PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Hopper, new Dictionary<string, string> { ["log-scale-limit"] = "-2" }));
        Assert.Contains("log-scale-limit", bad.Message);
        Assert.Throws<SettingException>(() => PlanarWalkerParamsDistribution.FromSettings(PlanarWalkerSpec.Hopper, new Dictionary<string, string> { ["gravity"] = "2" }));
        Assert.Throws<ArgumentException>(() => new PhysicsScalesTask(1.5, [double.NaN], ["x"]));
        using var env = d.CreateEnv() as PlanarWalkerEnv;
        var hopperTask = new PlanarWalkerParamsDistribution(PlanarWalkerSpec.Hopper).SampleTask(new Rng(1), TaskSplit.Train);
        Assert.Throws<ArgumentException>(() => env!.SetTask(hopperTask));
    }

    [MuJoCoFact]
    public void Hidden_physics_tasks_step_identically_on_one_thread_and_on_every_core()
    {
        var d = new PlanarWalkerParamsDistribution(PlanarWalkerSpec.Hopper);
        float[] Run(MetaRL.Core.Envs.StepParallelism mode)
        {
            const int n = 6;
            int obs = d.ObservationSpace.Size, act = d.ActionSpace.Size;
            var taskRng = new Rng(2);
            var envs = new MetaRL.Core.Envs.IEnv[n];
            var rngs = new Rng[n];
            var o = new float[n * obs];
            for (int i = 0; i < n; i++)
            {
                envs[i] = d.CreateEnv();
                envs[i].SetTask(d.SampleTask(taskRng, TaskSplit.Train)); // each on its own model copy
                rngs[i] = new Rng(30 + (ulong)i);
                envs[i].Reset(rngs[i], o.AsSpan(i * obs, obs));
            }
            var stepper = new MetaRL.Core.Envs.EnvBatchStepper(envs, rngs, obs, act, mode);
            var active = Enumerable.Repeat(true, n).ToArray();
            var actions = new float[n * act];
            var arng = new Rng(6);
            for (int t = 0; t < 150; t++)
            {
                for (int j = 0; j < actions.Length; j++) actions[j] = (float)arng.Uniform(-1, 1);
                stepper.Step(actions, active, o);
                for (int i = 0; i < n; i++)
                    if (stepper.Results[i].Done) envs[i].Reset(rngs[i], o.AsSpan(i * obs, obs));
            }
            foreach (var e in envs) ((IDisposable)e).Dispose();
            return o;
        }
        Assert.Equal(Run(MetaRL.Core.Envs.StepParallelism.Never), Run(MetaRL.Core.Envs.StepParallelism.Always));
    }
}
