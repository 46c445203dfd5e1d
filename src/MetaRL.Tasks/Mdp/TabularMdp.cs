using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Core.Evaluation;

namespace MetaRL.Tasks.Mdp;

/// <summary>A random finite MDP: mean rewards μ[s, a] and transition probabilities P[s, a, s'].</summary>
public sealed class TabularMdpTask(int states, int actions, double[] meanReward, double[] transitions) : ITask
{
    public int States { get; } = states;
    public int Actions { get; } = actions;

    /// <summary>μ, indexed [s · A + a].</summary>
    public double[] MeanReward { get; } = meanReward;

    /// <summary>P, indexed [(s · A + a) · S + s'].</summary>
    public double[] Transitions { get; } = transitions;

    public IReadOnlyList<KeyValuePair<string, double>> Describe() =>
    [
        KeyValuePair.Create("mean μ", MeanReward.Average()),
        KeyValuePair.Create("max μ", MeanReward.Max()),
    ];
}

/// <summary>Plays a <see cref="TabularMdpTask"/>; the observation is the one-hot current state.</summary>
public sealed class TabularMdpEnv(int states, int actions, double rewardNoise) : Env<TabularMdpTask>, IPrefetchingEnv
{
    /// <summary>Floats per (s, a) block: μ as a double in the first two, then the cumulative transition row, padded to 64-byte lines.</summary>
    private readonly int _stride = (2 + states + 15) / 16 * 16;
    private int _state;
    // One block per (s, a), so a step touches one cache line (up to 14 states): μ[s, a] and the cumulative
    // row P[s, a, ·] in single precision (its last entry forced to 1). A vector of environments keeps one
    // table per task and reads a random block of each on every step, mostly from beyond the core's own
    // cache: the fewer lines, the faster. The array is pinned, so its blocks can be aligned to lines.
    private float[] _table = [];
    private int _origin;

    protected override void OnTaskSet(TabularMdpTask task)
    {
        if (task.States != states || task.Actions != actions)
            throw new ArgumentException($"This environment plays MDPs with {states} states and {actions} actions, not {task.States} and {task.Actions}.");
        if (_table.Length == 0)
        {
            _table = GC.AllocateArray<float>(states * actions * _stride + 16, pinned: true);
            _origin = LineOffset(_table);
        }
        for (int sa = 0; sa < states * actions; sa++)
        {
            var block = _table.AsSpan(_origin + sa * _stride, _stride);
            MemoryMarshal.Write(MemoryMarshal.AsBytes(block), task.MeanReward[sa]);
            var cdf = block.Slice(2, states);
            double acc = 0;
            for (int s = 0; s < states; s++) cdf[s] = (float)(acc += task.Transitions[sa * states + s]);
            cdf[states - 1] = 1f;
        }
    }

    /// <summary>Hints the block of μ and P that a step with <paramref name="action"/> will read (x86; elsewhere it does nothing).</summary>
    public unsafe void Prefetch(ReadOnlySpan<float> action)
    {
        if (!Sse.IsSupported || _table.Length == 0 || action.Length != 1) return;
        int a = (int)action[0];
        if ((uint)a >= (uint)actions) return;
        Sse.Prefetch0(Unsafe.AsPointer(ref _table[BlockStart(a)]));
    }

    /// <summary>Where the block of (current state, <paramref name="a"/>) starts in the table.</summary>
    private int BlockStart(int a) => _origin + (_state * actions + a) * _stride;

    /// <summary>How many floats into a pinned array its first 64-byte line starts.</summary>
    private static unsafe int LineOffset(float[] pinned)
    {
        nuint address = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)((64 - address % 64) % 64 / sizeof(float));
    }

    public override Space ObservationSpace { get; } = new Box(0, 1, states);

    public override Space ActionSpace { get; } = new Discrete(actions);

    public override void Reset(Rng rng, Span<float> observation)
    {
        _state = 0;
        observation.Clear();
        observation[0] = 1;
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        int a = (int)action[0];
        if ((uint)a >= (uint)actions) throw new ArgumentOutOfRangeException(nameof(action), a, $"Action {a} does not exist; there are {actions}.");
        if (_table.Length == 0) _ = Task; // throws the "no task set" error
        var block = _table.AsSpan(BlockStart(a), _stride);
        double reward = MemoryMarshal.Read<double>(MemoryMarshal.AsBytes(block)) + rewardNoise * rng.Normal();
        float u = (float)rng.NextDouble();
        int next = NextState(block.Slice(2, states), u);
        observation[_state] = 0;
        _state = next;
        observation[_state] = 1;
        return new StepResult(reward, Terminated: false, Truncated: false);
    }

    /// <summary>
    /// The index of the first cumulative probability above <paramref name="u"/> (the last state if none is),
    /// counted without branches: the row is non-decreasing, so that index is the number of entries ≤ u. (A scan
    /// that stops at the first entry above u mispredicts its exit on almost every step.) The row ends at 1, and
    /// u, a double below 1 rounded to single precision, can be 1 too: hence the clamp.
    /// </summary>
    internal static int NextState(ReadOnlySpan<float> cdf, float u)
    {
        int count = 0, s = 0;
        ref float start = ref MemoryMarshal.GetReference(cdf);
        if (Vector256.IsHardwareAccelerated)
        {
            var threshold = Vector256.Create(u);
            for (; s + Vector256<float>.Count <= cdf.Length; s += Vector256<float>.Count)
                count += BitOperations.PopCount(Vector256.LessThanOrEqual(Vector256.LoadUnsafe(ref start, (nuint)s), threshold).ExtractMostSignificantBits());
        }
        for (; s < cdf.Length; s++) count += cdf[s] <= u ? 1 : 0;
        return Math.Min(count, cdf.Length - 1);
    }
}

/// <summary>
/// <c>tabular-mdp</c> (Duan et al. 2016): S states, A actions, episodes of fixed length from state 0,
/// rewards ~ N(μ, 1) with μ ~ N(1, 1) per (s, a), transitions ~ Dirichlet(1, …, 1).
/// </summary>
public sealed class TabularMdpDistribution : TaskDistribution
{
    public const int DefaultStates = 10, DefaultActions = 5, DefaultHorizon = 10, DefaultEpisodes = 10;

    public TabularMdpDistribution(int states = DefaultStates, int actions = DefaultActions, int horizon = DefaultHorizon, int episodes = DefaultEpisodes)
    {
        if (states < 1) throw new SettingException($"tabular-mdp: 'states' must be at least 1, got {states}.");
        if (actions < 1) throw new SettingException($"tabular-mdp: 'actions' must be at least 1, got {actions}.");
        if (horizon < 1) throw new SettingException($"tabular-mdp: 'horizon' must be at least 1, got {horizon}.");
        if (episodes < 1) throw new SettingException($"tabular-mdp: 'episodes' must be at least 1, got {episodes}.");
        (States, Actions, Horizon, EpisodesPerTrial) = (states, actions, horizon, episodes);
        ObservationSpace = new Box(0, 1, states);
        ActionSpace = new Discrete(actions);
    }

    public static TabularMdpDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("tabular-mdp", values);
        var d = new TabularMdpDistribution(r.Int("states", DefaultStates, 1, 1000), r.Int("actions", DefaultActions, 1, 100),
            r.Int("horizon", DefaultHorizon, 1, 100_000), r.Int("episodes", DefaultEpisodes, 1, 100_000));
        r.EnsureAllUsed();
        return d;
    }

    public int States { get; }
    public int Actions { get; }
    public override int Horizon { get; }
    public override int EpisodesPerTrial { get; }
    public override string Name => "tabular-mdp";
    public override Space ObservationSpace { get; }
    public override Space ActionSpace { get; }

    /// <summary>Prior of μ: N(<see cref="RewardPriorMean"/>, <see cref="RewardPriorStd"/>²); observation noise <see cref="RewardNoise"/>.</summary>
    public double RewardPriorMean => 1.0;
    public double RewardPriorStd => 1.0;
    public double RewardNoise => 1.0;

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var mu = new double[States * Actions];
        for (int i = 0; i < mu.Length; i++) mu[i] = rng.Normal(RewardPriorMean, RewardPriorStd);
        var p = new double[States * Actions * States];
        for (int sa = 0; sa < States * Actions; sa++) rng.Dirichlet(1.0, p.AsSpan(sa * States, States));
        return new TabularMdpTask(States, Actions, mu, p);
    }

    public override IEnv CreateEnv() => new TabularMdpEnv(States, Actions, RewardNoise);

    public override double? OracleEpisodeReturn(ITask task)
    {
        var t = (TabularMdpTask)task;
        return Planning.FiniteHorizon(t.States, t.Actions, Horizon, t.MeanReward, t.Transitions, out _)[0];
    }

    /// <summary>
    /// μ − prior mean (S·A) and, per state, the oracle's optimal episode return from that state divided by the
    /// horizon, minus the prior mean (S): the transitions enter through what they are worth.
    /// </summary>
    public override int TaskFeatureSize => States * (Actions + 1);

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var t = (TabularMdpTask)task;
        int sa = States * Actions;
        for (int i = 0; i < sa; i++) features[i] = (float)(t.MeanReward[i] - RewardPriorMean);
        var v = Planning.FiniteHorizon(t.States, t.Actions, Horizon, t.MeanReward, t.Transitions, out _);
        for (int s = 0; s < States; s++) features[sa + s] = (float)(v[s] / Horizon - RewardPriorMean);
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("states", States.ToString(), "number of states S"),
        new("actions", Actions.ToString(), "number of actions A"),
        new("horizon", Horizon.ToString(), "steps per episode"),
        new("episodes", EpisodesPerTrial.ToString(), "episodes per trial n"),
    ];
}

/// <summary>Finite-horizon dynamic programming on a known tabular MDP.</summary>
public static class Planning
{
    /// <summary>
    /// Returns V₀(s), the optimal expected return of an episode of <paramref name="horizon"/> steps from each
    /// state, and the greedy policy <paramref name="policy"/>[step · S + s].
    /// </summary>
    public static double[] FiniteHorizon(int states, int actions, int horizon, ReadOnlySpan<double> reward, ReadOnlySpan<double> transitions, out int[] policy)
    {
        policy = new int[horizon * states];
        var v = new double[states];
        var next = new double[states];
        for (int step = horizon - 1; step >= 0; step--)
        {
            for (int s = 0; s < states; s++)
            {
                double best = double.NegativeInfinity;
                int bestA = 0;
                for (int a = 0; a < actions; a++)
                {
                    int sa = s * actions + a;
                    double q = reward[sa];
                    var row = transitions.Slice(sa * states, states);
                    for (int s2 = 0; s2 < states; s2++) q += row[s2] * v[s2];
                    if (q > best) (best, bestA) = (q, a);
                }
                next[s] = best;
                policy[step * states + s] = bestA;
            }
            (v, next) = (next, v);
        }
        return v;
    }
}

/// <summary>Acts optimally in every episode with the true MDP: the ceiling on the tabular family.</summary>
public sealed class TabularOracle : IMetaAgent
{
    public string Name => "oracle";

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
        => new Session(tasks as TabularMdpDistribution ?? throw new ArgumentException($"The tabular oracle plays tabular-mdp only, not '{tasks.Name}'."), batch);

    private sealed class Session(TabularMdpDistribution d, int batch) : IAgentSession
    {
        private readonly int[][] _policy = new int[batch][];
        private readonly int[] _step = new int[batch];

        public void StartTrial(int slot, ITask task)
        {
            var t = (TabularMdpTask)task;
            Planning.FiniteHorizon(t.States, t.Actions, d.Horizon, t.MeanReward, t.Transitions, out _policy[slot]);
            _step[slot] = 0;
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < active.Length; i++)
                if (active[i]) actions[i] = _policy[i][_step[i] * d.States + StateOf(observations.Slice(i * d.States, d.States))];
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int i = 0; i < active.Length; i++)
                if (active[i]) _step[i] = episodeEnded[i] ? 0 : _step[i] + 1;
        }
    }

    internal static int StateOf(ReadOnlySpan<float> oneHot) => oneHot.IndexOf(1f);
}

/// <summary>
/// Posterior sampling for reinforcement learning (Osband et al. 2013): at the start of each episode, draw
/// an MDP from the posterior (Normal–Normal for μ, Dirichlet counts for P), plan for it, and follow that
/// plan for the whole episode. By default the reward prior is the family's own, N(1, 1).
/// <paramref name="rewardPriorMean"/> replaces its mean: the RL² paper's PSRL row (138.1) was computed with
/// Osband's TabulaRL agent at its default prior N(0, 1) (its authors' baseline script constructs
/// <c>PSRL(nState, nAction, epLen)</c> without priors), which explores less than the exact prior in ten episodes.
/// </summary>
public sealed class PsrlAgent(bool posteriorMean = false, double? rewardPriorMean = null) : IMetaAgent
{
    public string Name => (posteriorMean ? "greedy (posterior mean)" : "PSRL")
        + (rewardPriorMean is { } m ? FormattableString.Invariant($" (reward prior mean {m:0.###})") : "");

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        var d = tasks as TabularMdpDistribution ?? throw new ArgumentException($"{Name} plays tabular-mdp only, not '{tasks.Name}'.");
        double mean = rewardPriorMean ?? d.RewardPriorMean;
        if (!double.IsFinite(mean)) throw new ArgumentException($"{Name}: the reward prior mean must be finite, got {mean}.");
        return new Session(d, batch, rng, posteriorMean, mean);
    }

    private sealed class Session(TabularMdpDistribution d, int batch, Rng rng, bool posteriorMean, double priorMean) : IAgentSession
    {
        private readonly int _sa = d.States * d.Actions;
        private readonly double[] _rewardSum = new double[batch * d.States * d.Actions];
        private readonly int[] _visits = new int[batch * d.States * d.Actions];
        private readonly int[] _transitionCounts = new int[batch * d.States * d.Actions * d.States];
        private readonly int[][] _policy = new int[batch][];
        private readonly int[] _step = new int[batch], _lastState = new int[batch];
        private readonly double[] _mu = new double[d.States * d.Actions];
        private readonly double[] _p = new double[d.States * d.Actions * d.States];

        public void StartTrial(int slot, ITask task)
        {
            _rewardSum.AsSpan(slot * _sa, _sa).Clear();
            _visits.AsSpan(slot * _sa, _sa).Clear();
            _transitionCounts.AsSpan(slot * _sa * d.States, _sa * d.States).Clear();
            _step[slot] = 0;
            Replan(slot);
        }

        private void Replan(int slot)
        {
            double priorPrecision = 1 / (d.RewardPriorStd * d.RewardPriorStd), noisePrecision = 1 / (d.RewardNoise * d.RewardNoise);
            for (int sa = 0; sa < _sa; sa++)
            {
                int n = _visits[slot * _sa + sa];
                double precision = priorPrecision + n * noisePrecision;
                double mean = (priorPrecision * priorMean + noisePrecision * _rewardSum[slot * _sa + sa]) / precision;
                _mu[sa] = posteriorMean ? mean : mean + rng.Normal() / Math.Sqrt(precision);
                var row = _p.AsSpan(sa * d.States, d.States);
                double sum = 0;
                for (int s2 = 0; s2 < d.States; s2++)
                {
                    double alpha = 1.0 + _transitionCounts[(slot * _sa + sa) * d.States + s2];
                    sum += row[s2] = posteriorMean ? alpha : rng.Gamma(alpha);
                }
                for (int s2 = 0; s2 < d.States; s2++) row[s2] /= sum;
            }
            Planning.FiniteHorizon(d.States, d.Actions, d.Horizon, _mu, _p, out _policy[slot]);
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < active.Length; i++)
            {
                if (!active[i]) continue;
                int s = TabularOracle.StateOf(observations.Slice(i * d.States, d.States));
                _lastState[i] = s;
                actions[i] = _policy[i][_step[i] * d.States + s];
            }
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int i = 0; i < active.Length; i++)
            {
                if (!active[i]) continue;
                int sa = _lastState[i] * d.Actions + (int)actions[i];
                _visits[i * _sa + sa]++;
                _rewardSum[i * _sa + sa] += rewards[i];
                int next = TabularOracle.StateOf(nextObservations.Slice(i * d.States, d.States));
                _transitionCounts[(i * _sa + sa) * d.States + next]++;
                _step[i]++;
                if (episodeEnded[i])
                {
                    _step[i] = 0;
                    Replan(i);
                }
            }
        }
    }
}
