using MetaRL.Algorithms.Rl2;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Tests;

/// <summary>The allocation-free acting path one-slot RL² sessions use, against the tensor path it replaces.</summary>
[Collection("Rl2ActingKernel")] // flips the kernel switch
public sealed class Rl2ActingKernelTests
{
    public static TheoryData<string, string[]> Networks => new()
    {
        { "bandit", ["hidden=12"] },
        { "bandit", ["hidden=12", "cell=lstm"] },
        { "bandit", ["hidden=12", "memory=false"] },
        { "bandit", ["hidden=12", "layer-norm=true", "cell=lstm"] },
        { "navigation-2d", ["hidden=12", "head=8,6"] },
        { "navigation-2d", ["hidden=12", "skip-input=true", "gated-head=true", "previous-observation=true"] },
        { "navigation-2d", ["hidden=12", "skip-input=true", "gated-head=true", "head=7", "layer-norm=true", "time-input=true"] },
        { "dependent-bandit", ["hidden=10", "skip-input=true", "gated-head=true", "pair-input=true", "head=5"] },
    };

    private static (Rl2Network Net, TaskDistribution Tasks) Build(string task, string[] settings)
    {
        var s = TestSettings.Parse(settings);
        var config = new Rl2Config().With(s, out var taskSettings);
        var tasks = TaskRegistry.Create(task, taskSettings);
        var net = Rl2Trainer.CreateNetwork(tasks, config, new Rng(5));
        // Layer norm starts at gain 1, bias 0: move it so that the test also covers them.
        foreach (var (name, p) in net.NamedParameters())
            if (name.StartsWith("norm.", StringComparison.Ordinal))
                for (int i = 0; i < p.Size; i++) p.Data[i] = 0.5f + 0.1f * i;
        return (net, tasks);
    }

    /// <summary>Plays three trials step by step; returns every action taken.</summary>
    private static List<float> Play(Rl2Network net, TaskDistribution tasks, bool kernel, bool deterministic)
    {
        bool saved = Rl2Agent.UseKernel;
        Rl2Agent.UseKernel = kernel;
        try
        {
            var player = new AgentPlayer(new Rl2Agent(net, deterministic), tasks, seed: 9);
            var actions = new List<float>();
            var env = tasks.CreateEnv();
            var obs = new float[tasks.ObservationSpace.Size];
            var rng = new Rng(3);
            foreach (var task in MetaTest.Tasks(tasks, 2, 3))
            {
                env.SetTask(task);
                player.Reset();
                for (int e = 0; e < tasks.EpisodesPerTrial; e++)
                {
                    env.Reset(rng, obs);
                    bool done = false;
                    while (!done)
                    {
                        var a = player.Act(obs).ToArray();
                        actions.AddRange(a);
                        var r = env.Step(a, rng, obs);
                        done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
                    }
                }
            }
            return actions;
        }
        finally { Rl2Agent.UseKernel = saved; }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void The_kernel_acts_as_the_tensor_path_does_to_the_bit(string task, string[] settings)
    {
        var (net, tasks) = Build(task, settings);
        foreach (bool deterministic in new[] { true, false })
        {
            var reference = Play(net, tasks, kernel: false, deterministic);
            var fast = Play(net, tasks, kernel: true, deterministic);
            Assert.True(reference.Count > 20);
            Assert.Equal(reference, fast);
        }
    }

    [Theory]
    [InlineData("bandit", new[] { "hidden=16" })]
    [InlineData("navigation-2d", new[] { "hidden=16", "cell=lstm", "skip-input=true", "gated-head=true", "head=8", "layer-norm=true" })]
    public void A_step_through_the_agent_player_allocates_nothing(string task, string[] settings)
    {
        var (net, tasks) = Build(task, settings);
        var player = new AgentPlayer(new Rl2Agent(net, deterministic: false), tasks, seed: 4);
        var env = tasks.CreateEnv();
        var obs = new float[tasks.ObservationSpace.Size];
        var action = new float[tasks.ActionSpace.Size];
        var rng = new Rng(1);
        env.SetTask(tasks.SampleTask(rng, TaskSplit.Test));
        player.Reset();
        env.Reset(rng, obs);
        long allocated = 0;
        for (int step = 0; step < 300; step++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            player.Act(obs).CopyTo(action);
            long between = GC.GetAllocatedBytesForCurrentThread();
            var r = env.Step(action, rng, obs);
            long afterStep = GC.GetAllocatedBytesForCurrentThread();
            bool done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
            long after = GC.GetAllocatedBytesForCurrentThread();
            if (step >= 20) allocated += (between - before) + (after - afterStep); // the player's calls only, after warming up
            if (done) env.Reset(rng, obs);
        }
        Assert.Equal(0, allocated);
    }
}
