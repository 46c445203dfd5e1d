using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Core.Evaluation;

namespace MetaRL.Tasks.Bandits;

/// <summary>
/// Base of the classic bandit strategies: keeps successes and failures per arm for every trial slot and
/// asks the strategy for one arm per pull. Ties between equally good arms are broken at random.
/// </summary>
public abstract class BanditAgent : IMetaAgent
{
    public abstract string Name { get; }

    /// <summary>Chooses an arm from this trial's counts. <paramref name="t"/> pulls made so far, <paramref name="remaining"/> still to make.</summary>
    protected abstract int Choose(ReadOnlySpan<int> successes, ReadOnlySpan<int> failures, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task);

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        if (tasks is not BanditDistribution bandit)
            throw new ArgumentException($"{Name} plays bandit families only, not '{tasks.Name}'.");
        return new Session(this, bandit, batch, rng);
    }

    /// <summary>Index of a maximal entry, uniformly among ties (within 1e-12).</summary>
    protected static int ArgMaxRandomTies(ReadOnlySpan<double> values, Rng rng)
    {
        double best = double.NegativeInfinity;
        foreach (var v in values) best = Math.Max(best, v);
        int count = 0, pick = 0;
        for (int i = 0; i < values.Length; i++)
            if (values[i] >= best - 1e-12 && rng.NextInt(++count) == 0) pick = i;
        return pick;
    }

    private sealed class Session(BanditAgent agent, BanditDistribution tasks, int batch, Rng rng) : IAgentSession
    {
        private readonly int _k = tasks.Arms;
        private readonly int[] _s = new int[batch * tasks.Arms], _f = new int[batch * tasks.Arms], _t = new int[batch];
        private readonly ITask[] _tasks = new ITask[batch];

        public void StartTrial(int slot, ITask task)
        {
            _s.AsSpan(slot * _k, _k).Clear();
            _f.AsSpan(slot * _k, _k).Clear();
            _t[slot] = 0;
            _tasks[slot] = task;
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < active.Length; i++)
                if (active[i])
                    actions[i] = agent.Choose(_s.AsSpan(i * _k, _k), _f.AsSpan(i * _k, _k), _t[i], tasks.EpisodesPerTrial - _t[i], tasks, rng, _tasks[i]);
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int i = 0; i < active.Length; i++)
            {
                if (!active[i]) continue;
                int a = (int)actions[i];
                if (rewards[i] > 0.5f) _s[i * _k + a]++;
                else _f[i * _k + a]++;
                _t[i]++;
            }
        }
    }
}

/// <summary>Pulls arms uniformly at random.</summary>
public sealed class RandomBandit : BanditAgent
{
    public override string Name => "random";

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
        => rng.NextInt(s.Length);
}

/// <summary>ε-greedy on the posterior mean: explores uniformly with probability ε.</summary>
public sealed class EpsilonGreedyBandit(double epsilon) : BanditAgent
{
    public double Epsilon { get; } = epsilon is >= 0 and <= 1 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "ε must be in [0, 1].");

    public override string Name => Epsilon == 0 ? "greedy" : $"ε-greedy (ε={Epsilon:0.###})";

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
    {
        if (Epsilon > 0 && rng.NextDouble() < Epsilon) return rng.NextInt(s.Length);
        Span<double> m = stackalloc double[s.Length];
        tasks.Prior.PosteriorMeans(s, f, m);
        return ArgMaxRandomTies(m, rng);
    }
}

/// <summary>UCB1 (Auer et al. 2002): empirical mean + c·√(2 ln t / nᵢ), every arm once first.</summary>
public sealed class Ucb1Bandit(double c) : BanditAgent
{
    public double C { get; } = c >= 0 ? c : throw new ArgumentOutOfRangeException(nameof(c), c, "The exploration constant must be non-negative.");

    public override string Name => $"UCB1 (c={C:0.###})";

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
    {
        Span<double> u = stackalloc double[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            int n = s[i] + f[i];
            u[i] = n == 0 ? double.PositiveInfinity : (double)s[i] / n + C * Math.Sqrt(2 * Math.Log(t) / n);
        }
        return ArgMaxRandomTies(u, rng);
    }
}

/// <summary>Thompson sampling: pulls the arm that is best under one posterior draw.</summary>
public sealed class ThompsonBandit : BanditAgent
{
    public override string Name => "Thompson sampling";

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
    {
        Span<double> p = stackalloc double[s.Length];
        tasks.Prior.Sample(s, f, rng, p);
        return ArgMaxRandomTies(p, rng);
    }
}

/// <summary>Knows the arm probabilities and always pulls the best arm: the ceiling of every agent on every task.</summary>
public sealed class OracleBandit : BanditAgent
{
    public override string Name => "oracle";

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
        => ArgMaxRandomTies(((BanditTask)task).Probabilities, rng);
}
