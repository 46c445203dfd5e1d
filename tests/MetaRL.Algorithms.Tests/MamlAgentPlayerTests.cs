using MetaRL.Algorithms.Maml;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Tests;

/// <summary>MAML's agent in an application's loop: the tensor-free step against the tensor path, and what a step allocates.</summary>
[Collection("MamlAgentKernel")] // flips the kernel switch
public sealed class MamlAgentPlayerTests
{
    public static TheoryData<string> Families => ["navigation-2d", "tabular-mdp"];

    /// <summary>Plays two tasks of five episodes (rounds of two) step by step; returns every action and each step's allocation.</summary>
    private static (List<float> Actions, List<(bool FirstOfEpisode, long Bytes)> Allocations) Play(TaskDistribution tasks, bool kernel)
    {
        bool saved = MamlAgent.UseKernel;
        MamlAgent.UseKernel = kernel;
        try
        {
            var policy = new MlpPolicy<float>(tasks.ObservationSpace, tasks.ActionSpace, [16, 16], new Rng(2));
            var player = new AgentPlayer(new MamlAgent(policy, new MamlAdaptation(0.3, Trajectories: 2, Gamma: 0.95, LaterStepScale: 0.5), "maml"), tasks, seed: 6);
            var env = tasks.CreateEnv();
            var obs = new float[tasks.ObservationSpace.Size];
            var action = new float[tasks.ActionSpace.Size];
            var rng = new Rng(3);
            var actions = new List<float>();
            var allocations = new List<(bool, long)>();
            foreach (var task in MetaTest.Tasks(tasks, 4, 2))
            {
                env.SetTask(task);
                player.Reset();
                for (int e = 0; e < 5; e++)
                {
                    env.Reset(rng, obs);
                    bool done = false, first = true;
                    while (!done)
                    {
                        long before = GC.GetAllocatedBytesForCurrentThread();
                        player.Act(obs).CopyTo(action);
                        long between = GC.GetAllocatedBytesForCurrentThread();
                        actions.AddRange(action);
                        var r = env.Step(action, rng, obs);
                        long afterStep = GC.GetAllocatedBytesForCurrentThread();
                        done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
                        allocations.Add((first, (between - before) + (GC.GetAllocatedBytesForCurrentThread() - afterStep)));
                        first = false;
                    }
                }
            }
            return (actions, allocations);
        }
        finally { MamlAgent.UseKernel = saved; }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Stepping_without_tensors_samples_the_same_actions_and_allocates_nothing_between_gradient_steps(string family)
    {
        var tasks = TaskRegistry.Create(family, family == "navigation-2d" ? new Dictionary<string, string> { ["horizon"] = "12" } : null);
        var reference = Play(tasks, kernel: false);
        var fast = Play(tasks, kernel: true);
        Assert.Equal(reference.Actions, fast.Actions);
        // Only the first step of an episode may allocate: that is where the gradient step between rounds (and a new
        // round's record) happens; the tensor path allocates on every step.
        Assert.All(fast.Allocations.Skip(3).Where(a => !a.FirstOfEpisode), a => Assert.Equal(0, a.Bytes));
        Assert.Contains(reference.Allocations.Skip(3), a => !a.FirstOfEpisode && a.Bytes > 0);
    }
}
