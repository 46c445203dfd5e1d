using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.MuJoCo.Manipulation;

namespace MetaRL.MuJoCo.Tests;

public class ArmPayloadTests
{
    /// <summary>The shoulder angle after pushing the shoulder motor fully for <paramref name="steps"/> control steps.</summary>
    private static double ShoulderAfterPush(PayloadTask task, int steps)
    {
        using var env = (ArmPayloadEnv)new ArmPayloadDistribution().CreateEnv();
        env.SetTask(task);
        var obs = new float[13];
        var rng = new Rng(1);
        env.Reset(rng, obs);
        for (int t = 0; t < steps; t++) env.Step([1f, 0f, 0f], rng, obs);
        return Math.Atan2(obs[1], obs[0]);
    }

    [MuJoCoFact]
    public void The_arm_hangs_from_the_shoulder_and_its_payload_is_a_task_parameter()
    {
        var d = new ArmPayloadDistribution();
        using var env = (ArmPayloadEnv)d.CreateEnv();
        Assert.Equal(ArmModel.NominalPayloadMass, env.Model.BodyMass[env.Model.IdOf(1, "payload")], 12);
        env.SetTask(new PayloadTask(2.5, 3));
        var obs = new float[13];
        var rng = new Rng(4);
        env.Reset(rng, obs);
        Assert.Equal(2.5, env.Model.BodyMass[env.Model.IdOf(1, "payload")], 12);
        Assert.Equal(1.5, env.Model.DofDamping[0], 12); // 0.5 × 3
        // Left alone it hangs near straight down, the payload 0.8 m below the shoulder.
        for (int t = 0; t < 200; t++) env.Step(new float[3], rng, obs);
        var (x, z) = env.PayloadPosition;
        Assert.InRange(z, -ArmModel.Reach, -0.75);
        Assert.InRange(Math.Abs(x), 0, 0.15);
        Assert.Equal((float)x, obs[9]);
        var (tx, tz) = env.Target;
        double r = Math.Sqrt(tx * tx + tz * tz);
        Assert.InRange(r, ArmPayloadEnv.MinTargetRadius, ArmPayloadEnv.MaxTargetRadius);
        var step = env.Step([0.5f, 0f, 0f], rng, obs);
        (x, z) = env.PayloadPosition;
        Assert.Equal(-Math.Sqrt((x - tx) * (x - tx) + (z - tz) * (z - tz)) - 0.01 * 0.25, step.Reward, 9);
    }

    [MuJoCoFact]
    public void A_heavier_payload_or_stiffer_joints_slow_the_same_push()
    {
        double light = ShoulderAfterPush(new PayloadTask(0.25, 1), 8);
        double heavy = ShoulderAfterPush(new PayloadTask(2, 1), 8);
        double sticky = ShoulderAfterPush(new PayloadTask(0.25, 4), 8);
        Assert.True(light > heavy + 0.2, $"light {light:F3} rad, heavy {heavy:F3} rad");
        Assert.True(light > sticky + 0.05, $"light {light:F3} rad, high damping {sticky:F3} rad");
    }

    [MuJoCoFact]
    public void Held_out_tasks_reach_beyond_the_training_ranges()
    {
        var d = new ArmPayloadDistribution();
        var rng = new Rng(9);
        var train = Enumerable.Range(0, 2000).Select(_ => (PayloadTask)d.SampleTask(rng, TaskSplit.Train)).ToArray();
        var test = Enumerable.Range(0, 2000).Select(_ => (PayloadTask)d.SampleTask(rng, TaskSplit.Test)).ToArray();
        Assert.All(train, t => Assert.InRange(t.PayloadMass, 0.25, 2));
        Assert.All(train, t => Assert.InRange(t.DampingScale, 0.5, 2));
        Assert.Contains(test, t => t.PayloadMass > 2 || t.PayloadMass < 0.25);
        Assert.All(test, t => Assert.InRange(t.PayloadMass, 0.1, 4));
        var features = new float[2];
        d.WriteTaskFeatures(new PayloadTask(4, 0.25), features);
        Assert.Equal([1f, -1f], features);
        Assert.Throws<ArgumentException>(() => new PayloadTask(0, 1));
        Assert.Throws<ArgumentException>(() => new PayloadTask(1, double.PositiveInfinity));
        Assert.Throws<SettingException>(() => ArmPayloadDistribution.FromSettings(new Dictionary<string, string> { ["horizon"] = "0" }));
    }
}
