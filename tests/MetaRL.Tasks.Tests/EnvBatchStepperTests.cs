using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Control;

namespace MetaRL.Tasks.Tests;

/// <summary>Batched stepping gives the same results on one thread and on every core, and passes environment errors on unchanged.</summary>
public class EnvBatchStepperTests
{
    private static (float[] Obs, double[] Rewards) Play(StepParallelism mode, bool[]? activeMask = null)
    {
        var d = new CartPolePhysicsDistribution();
        const int n = 9; // uneven split across cores
        int obs = d.ObservationSpace.Size, act = d.ActionSpace.Size;
        var taskRng = new Rng(4);
        var envs = new IEnv[n];
        var rngs = new Rng[n];
        var o = new float[n * obs];
        for (int i = 0; i < n; i++)
        {
            envs[i] = d.CreateEnv();
            envs[i].SetTask(d.SampleTask(taskRng, TaskSplit.Train));
            rngs[i] = new Rng(50 + (ulong)i);
            envs[i].Reset(rngs[i], o.AsSpan(i * obs, obs));
        }
        var stepper = new EnvBatchStepper(envs, rngs, obs, act, mode);
        var active = activeMask ?? Enumerable.Repeat(true, n).ToArray();
        var actions = new float[n * act];
        var actionRng = new Rng(8);
        var rewards = new List<double>();
        for (int t = 0; t < 300; t++)
        {
            for (int j = 0; j < actions.Length; j++) actions[j] = actionRng.NextInt(2);
            stepper.Step(actions, active, o);
            for (int i = 0; i < n; i++)
            {
                if (!active[i]) continue;
                rewards.Add(stepper.Results[i].Reward);
                if (stepper.Results[i].Done) envs[i].Reset(rngs[i], o.AsSpan(i * obs, obs));
            }
        }
        Assert.Equal(mode == StepParallelism.Always && Environment.ProcessorCount > 1, stepper.IsParallel);
        return (o, rewards.ToArray());
    }

    [Fact]
    public void One_thread_and_every_core_step_to_identical_observations_and_rewards()
    {
        var one = Play(StepParallelism.Never);
        var all = Play(StepParallelism.Always);
        Assert.Equal(one.Obs, all.Obs);
        Assert.Equal(one.Rewards, all.Rewards);
        Assert.Equal(one.Rewards, Play(StepParallelism.Auto).Rewards);
    }

    [Fact]
    public void Inactive_environments_are_not_stepped()
    {
        var mask = new[] { true, false, true, true, false, true, true, true, false };
        var (obs, rewards) = Play(StepParallelism.Always, mask);
        Assert.Equal(300 * 6, rewards.Length);
        var (allObs, _) = Play(StepParallelism.Always);
        int size = new CartPolePhysicsDistribution().ObservationSpace.Size;
        // An environment left out keeps its first observation; the others moved on exactly as before.
        Assert.NotEqual(allObs.AsSpan(1 * size, size).ToArray(), obs.AsSpan(1 * size, size).ToArray());
        Assert.Equal(allObs.AsSpan(2 * size, size).ToArray(), obs.AsSpan(2 * size, size).ToArray());
    }

    private sealed class FailingEnv(int failAt, string message) : IEnv
    {
        private int _t;
        public Space ObservationSpace { get; } = new Box(-1, 1, 1);
        public Space ActionSpace { get; } = new Box(-1, 1, 1);
        public void SetTask(ITask task) { }
        public void Reset(Rng rng, Span<float> observation) => observation.Clear();
        public StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
        {
            if (++_t == failAt) throw new InvalidOperationException(message);
            return new StepResult(1, false, false);
        }
    }

    [Theory]
    [InlineData(StepParallelism.Never)]
    [InlineData(StepParallelism.Always)]
    public void An_environment_error_surfaces_as_itself_the_lowest_index_first(StepParallelism mode)
    {
        var envs = new IEnv[] { new FailingEnv(0, "never"), new FailingEnv(3, "env 1 diverged"), new FailingEnv(0, "never"), new FailingEnv(3, "env 3 diverged") };
        var rngs = envs.Select((_, i) => new Rng((ulong)i)).ToArray();
        var stepper = new EnvBatchStepper(envs, rngs, 1, 1, mode);
        var actions = new float[4];
        var obs = new float[4];
        var active = new[] { true, true, true, true };
        stepper.Step(actions, active, obs);
        stepper.Step(actions, active, obs);
        var e = Assert.Throws<InvalidOperationException>(() => stepper.Step(actions, active, obs));
        Assert.Equal("env 1 diverged", e.Message);
    }

    private sealed class SlowEnv : IEnv
    {
        public Space ObservationSpace { get; } = new Box(-1, 1, 1);
        public Space ActionSpace { get; } = new Box(-1, 1, 1);
        public void SetTask(ITask task) { }
        public void Reset(Rng rng, Span<float> observation) => observation.Clear();
        public StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
        {
            var until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 10_000; // 100 µs of "physics"
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until) { }
            return new StepResult(0, false, false);
        }
    }

    private static bool AutoChoice(Func<IEnv> make, int count)
    {
        var envs = Enumerable.Range(0, count).Select(_ => make()).ToArray();
        var rngs = envs.Select((_, i) => new Rng((ulong)i)).ToArray();
        var stepper = new EnvBatchStepper(envs, rngs, 1, 1);
        var actions = new float[count];
        var obs = new float[count];
        var active = Enumerable.Repeat(true, count).ToArray();
        for (int t = 0; t < 12; t++) stepper.Step(actions, active, obs);
        return stepper.IsParallel;
    }

    [Fact]
    public void Auto_splits_rounds_only_when_they_are_costly()
    {
        var bandits = new MetaRL.Tasks.Bandits.BernoulliBanditDistribution(arms: 2);
        var task = bandits.SampleTask(new Rng(1), TaskSplit.Train);
        Assert.False(AutoChoice(() => { var e = bandits.CreateEnv(); e.SetTask(task); return e; }, 16));
        Assert.Equal(Environment.ProcessorCount > 1, AutoChoice(() => new SlowEnv(), 4));
    }

    [Fact]
    public void Mismatched_buffers_are_refused_with_their_sizes()
    {
        var envs = new IEnv[] { new FailingEnv(0, ""), new FailingEnv(0, "") };
        var e = Assert.Throws<ArgumentException>(() => new EnvBatchStepper(envs, [new Rng(1)], 1, 1));
        Assert.Contains("2 environments, 1 streams", e.Message);
        var stepper = new EnvBatchStepper(envs, [new Rng(1), new Rng(2)], 1, 1);
        e = Assert.Throws<ArgumentException>(() => stepper.Step(new float[1], new bool[2], new float[2]));
        Assert.Contains("Need 2 × 1 actions, got 1", e.Message);
    }
}
