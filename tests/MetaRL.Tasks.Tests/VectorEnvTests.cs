using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Tests;

/// <summary>A vector of environments steps its batch, autoresets included, without allocating (the "no per-step allocation").</summary>
public class VectorEnvTests
{
    [Theory]
    [InlineData("tabular-mdp", StepParallelism.Never)]
    [InlineData("tabular-mdp", StepParallelism.Auto)]
    [InlineData("bandit", StepParallelism.Auto)]
    [InlineData("navigation-2d", StepParallelism.Auto)]
    [InlineData("regime-trading", StepParallelism.Never)]
    public void A_vector_of_environments_steps_and_resets_without_allocating(string family, StepParallelism mode)
    {
        var d = TaskRegistry.Create(family, new Dictionary<string, string>());
        const int count = 64;
        var vector = new VectorEnv(d, count, 3, mode);
        var rng = new Rng(4);
        for (int i = 0; i < count; i++) vector.SetTask(i, d.SampleTask(rng, TaskSplit.Train));
        var actions = new float[count * d.ActionSpace.Size];
        for (int j = 0; j < actions.Length; j++) actions[j] = d.ActionSpace is Discrete a ? rng.NextInt(a.N) : (float)rng.Uniform(-0.1, 0.1);
        for (int t = 0; t < 300; t++) vector.Step(actions); // past Auto's probe rounds and the first autoresets
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int t = 0; t < 1000; t++) vector.Step(actions); // several horizons: autoreset runs many times
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}

public class BuiltInTaskPackTests
{
    /// <summary>Found through the assembly's [TaskPack] attribute, before any type of MetaRL.Tasks is touched here.</summary>
    [Fact]
    public void The_built_in_families_register_themselves()
    {
        var names = TaskRegistry.Families.Select(f => f.Name).ToArray();
        Assert.Equal(["bandit", "dependent-bandit", "tabular-mdp", "navigation-2d", "point-robot", "sparse-point-robot", "pendulum", "cartpole-physics", "pendulum-physics", "rps-bots", "arena", "glucose-insulin", "regime-trading", "price-history"], names);
    }
}
