using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Bandits;

/// <summary>
/// The exact finite-horizon Bayes-optimal policy, by dynamic programming over posterior counts. Its expected
/// total reward (<see cref="ExpectedTotalReward"/>) is the ceiling no agent can beat in expectation over the
/// prior. Independent arms: the state is the multiset of per-arm (successes, failures), which arm symmetry
/// keeps small for a few arms × a few dozen pulls. Dependent arms (p₂ = 1 − p₁): the state is two counts.
/// </summary>
public sealed class BayesOptimalBandit : BanditAgent
{
    /// <summary>The largest number of distinct posterior states the planner will store.</summary>
    public const int MaxStates = 30_000_000;

    private readonly BanditDistribution _tasks;
    private readonly Dictionary<ulong, double> _memo = [];
    private readonly double[,]? _dependentValue;
    private readonly double[,]? _dependentMean;
    private readonly int _base;

    public BayesOptimalBandit(BanditDistribution tasks)
    {
        _tasks = tasks;
        int n = tasks.EpisodesPerTrial;
        if (tasks.Prior is BanditPrior.Dependent dep)
        {
            _dependentValue = new double[n + 2, n + 2];
            _dependentMean = new double[n + 2, n + 2];
            for (int t = n; t >= 0; t--)
                for (int x = 0; x <= t; x++)
                {
                    int y = t - x;
                    double q = _dependentMean[x, y] = dep.MeanP1(x, y);
                    if (t == n) continue;
                    var (q1, q2) = DependentQ(x, y, q);
                    _dependentValue[x, y] = Math.Max(q1, q2);
                }
        }
        else
        {
            _base = (n + 1) * (n + 1);
            if (!IsTractable(tasks.Arms, n))
                throw new InvalidOperationException($"The Bayes-optimal planner is intractable for {tasks.Arms} arms × {n} pulls; it is exact for small problems (e.g. 5 arms × 10 pulls).");
        }
        ExpectedTotalReward = _dependentValue is not null ? _dependentValue[0, 0] : Value(new int[tasks.Arms], new int[tasks.Arms], n);
    }

    /// <summary>True when the independent-arm planner fits: a packed state key and a bounded number of states.</summary>
    public static bool IsTractable(int arms, int pulls)
    {
        double bitsPerArm = Math.Log2((pulls + 1.0) * (pulls + 1.0));
        if (arms * bitsPerArm > 63) return false;
        // States reachable: multisets of k arm states with total pulls ≤ n; bounded by C(n + 2k, 2k) / k!.
        double log = LogChoose(pulls + 2 * arms, 2 * arms) - LogFactorial(arms);
        return log < Math.Log(MaxStates);
    }

    private static double LogFactorial(int n)
    {
        double s = 0;
        for (int i = 2; i <= n; i++) s += Math.Log(i);
        return s;
    }

    private static double LogChoose(int n, int k) => LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k);

    public override string Name => "Bayes-optimal";

    /// <summary>The expected total reward of a trial under the prior.</summary>
    public double ExpectedTotalReward { get; }

    private (double Q1, double Q2) DependentQ(int x, int y, double q)
    {
        var v = _dependentValue!;
        // Arm 1 succeeds with q (evidence x+1); arm 2 succeeds with 1 − q (evidence y+1).
        double q1 = q * (1 + v[x + 1, y]) + (1 - q) * v[x, y + 1];
        double q2 = (1 - q) * (1 + v[x, y + 1]) + q * v[x + 1, y];
        return (q1, q2);
    }

    private ulong Key(int[] s, int[] f)
    {
        Span<int> codes = stackalloc int[s.Length];
        int n1 = _tasks.EpisodesPerTrial + 1;
        for (int i = 0; i < s.Length; i++) codes[i] = s[i] * n1 + f[i];
        codes.Sort();
        ulong key = 0;
        foreach (int c in codes) key = key * (ulong)_base + (ulong)c;
        return key;
    }

    private double Value(int[] s, int[] f, int remaining)
    {
        if (remaining == 0) return 0;
        ulong key = Key(s, f);
        if (_memo.TryGetValue(key, out double v)) return v;
        double best = double.NegativeInfinity;
        for (int a = 0; a < s.Length; a++) best = Math.Max(best, Q(s, f, a, remaining));
        if (_memo.Count >= MaxStates) throw new InvalidOperationException($"The Bayes-optimal planner exceeded {MaxStates} states.");
        _memo[key] = best;
        return best;
    }

    private double Q(int[] s, int[] f, int a, int remaining)
    {
        double p = (s[a] + 1.0) / (s[a] + f[a] + 2.0);
        s[a]++;
        double win = Value(s, f, remaining - 1);
        s[a]--;
        f[a]++;
        double lose = Value(s, f, remaining - 1);
        f[a]--;
        return p * (1 + win) + (1 - p) * lose;
    }

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
    {
        Span<double> q = stackalloc double[s.Length];
        if (_dependentValue is not null)
        {
            int x = s[0] + f[1], y = f[0] + s[1];
            (q[0], q[1]) = DependentQ(x, y, _dependentMean![x, y]);
        }
        else
        {
            int[] sa = s.ToArray(), fa = f.ToArray();
            for (int a = 0; a < q.Length; a++) q[a] = Q(sa, fa, a, remaining);
        }
        return ArgMaxRandomTies(q, rng);
    }
}

/// <summary>
/// The finite-horizon Gittins index policy for independent Beta(1, 1) arms: each arm's index is the
/// per-pull retirement reward λ at which, with <c>m</c> pulls left, playing the arm optimally (with the
/// option to retire) and retiring at once are worth the same. With one pull left it is the posterior
/// mean. Computed for all (successes, failures, pulls left) by one dynamic programme per λ on a grid,
/// with the crossing located by linear interpolation.
/// </summary>
public sealed class GittinsBandit : BanditAgent
{
    private readonly float[] _index;
    private readonly int _n;

    public GittinsBandit(BanditDistribution tasks, int grid = 0)
    {
        if (tasks.Prior != BanditPrior.IndependentUniform)
            throw new ArgumentException($"The Gittins index assumes independent arms; '{tasks.Name}' has dependent arms.");
        _n = tasks.EpisodesPerTrial;
        if (_n > 400) throw new InvalidOperationException($"The Gittins table for {_n} pulls is too large (at most 400).");
        int n = _n, n1 = n + 1;
        if (grid <= 0) grid = n <= 30 ? 4000 : 1000;
        _index = new float[n1 * n1 * n1];
        var value = new double[n1 * n1 * n1];
        var prevDiff = new double[n1 * n1 * n1];
        var found = new bool[n1 * n1 * n1];
        int Idx(int a, int b, int m) => (m * n1 + a) * n1 + b;
        for (int g = 0; g <= grid; g++)
        {
            double lambda = (double)g / grid;
            for (int m = 1; m <= n; m++)
                for (int a = 0; a + m <= n; a++)
                    for (int b = 0; a + b + m <= n; b++)
                    {
                        double p = (a + 1.0) / (a + b + 2.0);
                        double win = m > 1 ? value[Idx(a + 1, b, m - 1)] : 0;
                        double lose = m > 1 ? value[Idx(a, b + 1, m - 1)] : 0;
                        double cont = p * (1 + win) + (1 - p) * lose;
                        double retire = lambda * m;
                        int i = Idx(a, b, m);
                        value[i] = Math.Max(cont, retire);
                        double diff = cont - retire;
                        if (!found[i] && diff <= 0)
                        {
                            // Crossing between the previous grid point and this one.
                            double lo = (double)(g - 1) / grid;
                            _index[i] = (float)(g == 0 ? 0 : lo + (lambda - lo) * prevDiff[i] / (prevDiff[i] - diff));
                            found[i] = true;
                        }
                        prevDiff[i] = diff;
                    }
        }
        for (int i = 0; i < _index.Length; i++) if (!found[i]) _index[i] = 1;
    }

    public override string Name => "Gittins index";

    /// <summary>The index of an arm with <paramref name="successes"/>, <paramref name="failures"/> and <paramref name="remaining"/> pulls left.</summary>
    public double Index(int successes, int failures, int remaining)
        => _index[(remaining * (_n + 1) + successes) * (_n + 1) + failures];

    protected override int Choose(ReadOnlySpan<int> s, ReadOnlySpan<int> f, int t, int remaining, BanditDistribution tasks, Rng rng, ITask task)
    {
        Span<double> g = stackalloc double[s.Length];
        for (int i = 0; i < s.Length; i++) g[i] = Index(s[i], f[i], remaining);
        return ArgMaxRandomTies(g, rng);
    }
}
