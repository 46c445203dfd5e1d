using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Mdp;

namespace MetaRL.Tasks.Tests;

/// <summary>The tabular MDP environment draws what its task says, alone and in a vector of environments.</summary>
public class TabularMdpEnvTests
{
    /// <summary>The plain scan the branch-free count replaces: stop at the first entry above u, or at the last state.</summary>
    private static int Scan(ReadOnlySpan<float> cdf, float u)
    {
        int next = 0;
        while (next < cdf.Length - 1 && u >= cdf[next]) next++;
        return next;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(10)]
    [InlineData(17)]
    public void Next_state_is_the_first_cumulative_probability_above_u(int states)
    {
        var rng = new Rng(3);
        var cdf = new float[states];
        for (int row = 0; row < 500; row++)
        {
            // Rows with zero-probability states (repeated cumulative values) as well as ordinary ones.
            var p = new double[states];
            for (int s = 0; s < states; s++) p[s] = rng.NextDouble() < 0.3 ? 0 : rng.NextDouble();
            p[rng.NextInt(states)] += 1e-3;
            double sum = p.Sum(), acc = 0;
            for (int s = 0; s < states; s++) cdf[s] = (float)(acc += p[s] / sum);
            cdf[states - 1] = 1f;
            var us = new List<float> { 0f, 1f, (float)rng.NextDouble() };
            foreach (float c in cdf) us.AddRange([c, MathF.BitDecrement(c), MathF.BitIncrement(c)]);
            foreach (float u in us.Where(u => u is >= 0f and <= 1f))
                Assert.Equal(Scan(cdf, u), TabularMdpEnv.NextState(cdf, u));
        }
    }

    [Theory]
    [InlineData(10, 5)]  // the family's default: one 64-byte block per (s, a)
    [InlineData(17, 3)]  // a block of two lines
    public void Steps_draw_rewards_and_next_states_from_the_task(int states, int actions)
    {
        var d = new TabularMdpDistribution(states, actions);
        var task = (TabularMdpTask)d.SampleTask(new Rng(11), TaskSplit.Test);
        var env = d.CreateEnv();
        env.SetTask(task);
        var rng = new Rng(12);
        var obs = new float[states];
        const int n = 60_000;
        for (int a = 0; a < actions; a++)
        {
            var counts = new int[states];
            double rewardSum = 0;
            for (int k = 0; k < n; k++)
            {
                env.Reset(rng, obs);
                rewardSum += env.Step([a], rng, obs).Reward;
                int next = Array.IndexOf(obs, 1f);
                Assert.Equal(1f, obs.Sum());
                counts[next]++;
            }
            // Mean reward: noise N(0, 1), so its standard error is 1/√n; frequencies: binomial.
            Assert.InRange(rewardSum / n - task.MeanReward[a], -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
            for (int s = 0; s < states; s++)
            {
                double p = task.Transitions[a * states + s];
                double se = Math.Sqrt(p * (1 - p) / n) + 1e-6;
                Assert.InRange((double)counts[s] / n - p, -5 * se - 1e-4, 5 * se + 1e-4);
            }
        }
    }

    [Theory]
    [InlineData(StepParallelism.Auto)]
    [InlineData(StepParallelism.Never)]
    [InlineData(StepParallelism.Always)]
    public void A_vector_of_environments_steps_as_the_environments_do_one_by_one(StepParallelism mode)
    {
        var d = new TabularMdpDistribution(horizon: 7);
        const int count = 37; // more than the prefetch distance, and not a multiple of it
        const ulong seed = 21;
        var vector = new VectorEnv(d, count, seed, mode);
        var envs = new IEnv[count];
        var rngs = new Rng[count];
        var root = new Rng(seed); // VectorEnv splits one stream per environment from its seed, in order
        var taskRng = new Rng(5);
        var obs = new float[count * d.States];
        for (int i = 0; i < count; i++)
        {
            rngs[i] = root.Split();
            envs[i] = d.CreateEnv();
            var task = d.SampleTask(taskRng, TaskSplit.Train);
            envs[i].SetTask(task);
            vector.SetTask(i, task);
            envs[i].Reset(rngs[i], obs.AsSpan(i * d.States, d.States));
        }
        Assert.Equal(obs, vector.Observations);
        var actionRng = new Rng(6);
        var actions = new float[count];
        for (int t = 0; t < 50; t++)
        {
            for (int i = 0; i < count; i++) actions[i] = actionRng.NextInt(d.Actions);
            vector.Step(actions);
            for (int i = 0; i < count; i++)
            {
                var o = obs.AsSpan(i * d.States, d.States);
                var r = envs[i].Step(actions.AsSpan(i, 1), rngs[i], o);
                Assert.Equal((float)r.Reward, vector.Rewards[i]);
                bool ended = (t + 1) % d.Horizon == 0;
                Assert.Equal(ended, vector.Truncated[i]);
                if (ended)
                {
                    Assert.Equal(o.ToArray(), vector.FinalObservations.AsSpan(i * d.States, d.States).ToArray());
                    envs[i].Reset(rngs[i], o);
                }
            }
            Assert.Equal(obs, vector.Observations);
        }
    }

    [Fact]
    public void Prefetch_changes_nothing_and_ignores_actions_that_step_refuses()
    {
        var d = new TabularMdpDistribution();
        var task = d.SampleTask(new Rng(1), TaskSplit.Train);
        var hinted = (TabularMdpEnv)d.CreateEnv();
        hinted.Prefetch([0]); // no task yet
        var plain = d.CreateEnv();
        hinted.SetTask(task);
        plain.SetTask(task);
        Rng r1 = new(2), r2 = new(2);
        float[] o1 = new float[d.States], o2 = new float[d.States];
        hinted.Reset(r1, o1);
        plain.Reset(r2, o2);
        var actionRng = new Rng(3);
        for (int t = 0; t < 200; t++)
        {
            int a = actionRng.NextInt(d.Actions);
            hinted.Prefetch([d.Actions]);
            hinted.Prefetch([-1]);
            hinted.Prefetch([]);
            hinted.Prefetch([a]);
            Assert.Equal(plain.Step([a], r2, o2), hinted.Step([a], r1, o1));
            Assert.Equal(o2, o1);
        }
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => hinted.Step([d.Actions], r1, o1));
        Assert.Contains($"there are {d.Actions}", e.Message);
    }
}
