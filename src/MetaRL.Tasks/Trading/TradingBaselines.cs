using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Trading;

/// <summary>A trading family: the rules agents trade by and the prior a model-based trader assumes.</summary>
public interface ITradingFamily
{
    TradingRules Rules { get; }

    /// <summary>The prior over markets the Bayesian regime filter knows (for real prices: regime-trading's default prior).</summary>
    MarketPrior FilterPrior { get; }
}

/// <summary>
/// The baselines a practitioner would set against a trading agent, on the same observations: flat, buy-and-hold,
/// moving-average crossover momentum, volatility targeting and a Bayesian regime filter, their constants chosen on
/// training markets (never held-out ones) by the mean Sharpe ratio of the trial's last episode; for
/// <c>regime-trading</c> also the oracle that knows the market and sees its regime.
/// </summary>
public static class TradingBaselines
{
    /// <summary>Training trials each tuned constant is scored on.</summary>
    public const int TuningTrials = 200;

    /// <summary>The momentum rules searched: fast and slow moving-average windows (days), and whether a falling trend goes short or flat.</summary>
    public static readonly (int Fast, int Slow)[] MomentumWindows = [(5, 20), (10, 50), (20, 50), (20, 100), (50, 200)];

    /// <summary>Annualised volatility targets searched by volatility targeting.</summary>
    public static readonly double[] VolatilityTargets = [0.05, 0.10, 0.15, 0.20, 0.30];

    /// <summary>Risk aversions λ searched by the filter and the oracle (position ∝ mean / (λ · variance)).</summary>
    public static readonly double[] RiskAversions = [0.5, 1, 2, 5, 10, 20, 50];

    /// <summary>Every baseline for a trading family (<paramref name="tasks"/>), tuned on its training tasks with <paramref name="seed"/>.</summary>
    public static IReadOnlyList<IMetaAgent> For(TaskDistribution tasks, ulong seed)
    {
        var family = tasks as ITradingFamily ?? throw new ArgumentException($"'{tasks.Name}' is not a trading family.", nameof(tasks));
        var rules = family.Rules;
        var model = new RegimeFilterModel(family.FilterPrior);
        var list = new List<IMetaAgent>
        {
            Fixed("flat", rules, 0),
            Fixed("buy-and-hold", rules, 1),
            Tune(tasks, seed, MomentumWindows.SelectMany(w => new[] { Momentum(rules, w.Fast, w.Slow, shortTrend: true), Momentum(rules, w.Fast, w.Slow, shortTrend: false) })),
            Tune(tasks, seed, VolatilityTargets.Select(t => VolatilityTarget(rules, t))),
            Tune(tasks, seed, RiskAversions.Select(l => Filter(rules, model, l))),
        };
        // The family's own oracle (the one the regret is measured against), tuned once per family.
        if (tasks is RegimeTradingTasks { OracleAgent: { } oracle }) list.Add(oracle);
        return list;
    }

    /// <summary>The oracle (knows the market, sees its regime) with the risk aversion that does best on training markets.</summary>
    public static IMetaAgent TunedOracle(RegimeTradingTasks tasks, ulong seed) => Tune(tasks, seed, RiskAversions.Select(l => Oracle(tasks.Rules, l)));

    /// <summary>Of <paramref name="candidates"/>, the one with the highest mean Sharpe ratio in the last episode of <see cref="TuningTrials"/> training trials.</summary>
    public static IMetaAgent Tune(TaskDistribution tasks, ulong seed, IEnumerable<IMetaAgent> candidates)
    {
        var options = new MetaTestOptions(Trials: TuningTrials, Seed: seed ^ 0x7AD1E5UL, Split: TaskSplit.Train, PlayOracle: false);
        var trialTasks = MetaTest.Tasks(tasks, options.Seed, TuningTrials, TaskSplit.Train);
        IMetaAgent? best = null;
        double bestScore = double.NegativeInfinity;
        foreach (var c in candidates)
        {
            double score = MetaTest.Run(c, tasks, trialTasks, options).Metrics!["sharpe"][^1];
            if (score > bestScore) (best, bestScore) = (c, score);
        }
        return best ?? throw new ArgumentException("No candidates to tune.", nameof(candidates));
    }

    /// <summary>Always the same position.</summary>
    public static IMetaAgent Fixed(string name, TradingRules rules, double position) => new TradingAgent(name, "fixed", () => new FixedRule(rules, position));

    /// <summary>Long while the fast moving average of the log price is above the slow one, else short (or flat).</summary>
    public static IMetaAgent Momentum(TradingRules rules, int fast, int slow, bool shortTrend)
        => new TradingAgent($"momentum (MA {fast}/{slow}, {(shortTrend ? "long/short" : "long/flat")})", "rule", () => new MomentumRule(rules, fast, slow, shortTrend));

    /// <summary>Long min(1, target / σ̂), σ̂ the RiskMetrics EWMA (λ 0.94) of the daily volatility, annualised.</summary>
    public static IMetaAgent VolatilityTarget(TradingRules rules, double annualTarget)
        => new TradingAgent($"volatility target ({annualTarget:P0} a year)", "rule", () => new VolatilityTargetRule(rules, annualTarget));

    /// <summary>The Bayesian regime filter trading its predictive mean net of costs (see <see cref="Decide"/>).</summary>
    public static IMetaAgent Filter(TradingRules rules, RegimeFilterModel model, double riskAversion)
        => new TradingAgent($"Bayesian regime filter (λ {riskAversion:G3})", "model", () => new FilterRule(rules, model, riskAversion));

    /// <summary>The same decision as the filter's on the true market with its current regime seen.</summary>
    public static IMetaAgent Oracle(TradingRules rules, double riskAversion)
        => new TradingAgent($"oracle (sees the regime, λ {riskAversion:G3})", "oracle", () => new OracleRule(rules, riskAversion), readsRegime: true);

    /// <summary>
    /// The position that maximises m·p − ½λ·v·p² − (cost / H)·|p − current|: mean–variance utility of tomorrow's return with
    /// the cost of moving spread over the H days the position is expected to be kept (at most a year), over the allowed
    /// positions (<paramref name="levels"/>; null: any in [−1, 1]). Keeps the current position on a tie.
    /// </summary>
    public static double Decide(double mean, double variance, double horizon, double current, double riskAversion, double cost, double[]? levels)
    {
        double amortised = cost / Math.Clamp(horizon, 1, RegimeMarket.DaysPerYear), curvature = riskAversion * variance;
        if (levels is null)
        {
            double free = mean / curvature, band = amortised / curvature;
            double p = free > current + band ? free - band : free < current - band ? free + band : current;
            return Math.Clamp(p, -1, 1);
        }
        double best = current, bestU = double.NegativeInfinity;
        foreach (var p in levels)
        {
            double u = mean * p - 0.5 * curvature * p * p - amortised * Math.Abs(p - current);
            if (u > bestU + 1e-15 || (Math.Abs(u - bestU) <= 1e-15 && p == current)) (best, bestU) = (p, u);
        }
        return best;
    }

    /// <summary>A trading rule on the agent's own observations: the returns seen so far in the trial and the position held.</summary>
    private abstract class Rule(TradingRules rules)
    {
        protected readonly TradingRules Rules = rules;

        /// <summary>The positions the rule may hold (null: any in [−1, 1]), listed once rather than at every decision.</summary>
        protected readonly double[]? Levels = rules.AllowedPositions;

        private bool _fresh = true, _episodeStart;

        /// <summary>Daily log-returns seen so far in the trial, oldest first.</summary>
        protected readonly List<double> History = [];

        public virtual void Reset(ITask task)
        {
            History.Clear();
            (_fresh, _episodeStart) = (true, false);
        }

        public virtual void SeeRegime(int regime) { }

        public float Act(ReadOnlySpan<float> observation)
        {
            int w = Rules.Window;
            double unit = Rules.ReturnUnit(observation);
            // The first observation of a trial shows the window before it; a new episode's first shows the last day again.
            if (_fresh)
            {
                for (int i = 0; i < w; i++) Add(observation[i] / unit);
                _fresh = false;
            }
            else if (!_episodeStart) Add(observation[w - 1] / unit);
            _episodeStart = false;
            return Rules.ActionFor(Target(observation[w]));
        }

        public void EpisodeEnded() => _episodeStart = true;

        protected virtual void Add(double logReturn) => History.Add(logReturn);

        /// <summary>The position wanted now, holding <paramref name="position"/>.</summary>
        protected abstract double Target(double position);
    }

    private sealed class FixedRule(TradingRules rules, double position) : Rule(rules)
    {
        protected override double Target(double current) => position;
    }

    private sealed class MomentumRule(TradingRules rules, int fast, int slow, bool shortTrend) : Rule(rules)
    {
        private readonly List<double> _cumulative = [0]; // running sum of log-returns: the log price

        public override void Reset(ITask task)
        {
            base.Reset(task);
            _cumulative.Clear();
            _cumulative.Add(0);
        }

        protected override void Add(double logReturn)
        {
            base.Add(logReturn);
            _cumulative.Add(_cumulative[^1] + logReturn);
        }

        protected override double Target(double current)
        {
            double fastMa = Average(fast), slowMa = Average(slow);
            return fastMa > slowMa ? 1 : shortTrend ? -1 : 0;
        }

        // The mean log price over the last n days (all there is while fewer have been seen).
        private double Average(int n)
        {
            n = Math.Min(n, _cumulative.Count);
            double s = 0;
            for (int i = _cumulative.Count - n; i < _cumulative.Count; i++) s += _cumulative[i];
            return s / n;
        }
    }

    private sealed class VolatilityTargetRule(TradingRules rules, double annualTarget) : Rule(rules)
    {
        private double _variance = double.NaN;

        public override void Reset(ITask task)
        {
            base.Reset(task);
            _variance = double.NaN;
        }

        protected override void Add(double logReturn)
        {
            base.Add(logReturn);
            if (double.IsNaN(_variance))
            {
                if (History.Count == Rules.Window) _variance = History.Average(r => r * r);
            }
            else _variance = 0.94 * _variance + 0.06 * logReturn * logReturn;
        }

        protected override double Target(double current)
        {
            // The first decision of a trial follows the window's returns, which start the estimate.
            double daily = Math.Sqrt(Math.Max(1e-12, _variance));
            return Math.Min(1, annualTarget / Math.Sqrt(RegimeMarket.DaysPerYear) / daily);
        }
    }

    private sealed class FilterRule(TradingRules rules, RegimeFilterModel model, double riskAversion) : Rule(rules)
    {
        private RegimeFilter _filter = null!;

        public override void Reset(ITask task)
        {
            base.Reset(task);
            _filter = model.Start();
        }

        protected override void Add(double logReturn)
        {
            base.Add(logReturn);
            _filter.Update(logReturn);
        }

        protected override double Target(double current)
        {
            var (m, v, h) = _filter.Predict();
            return Decide(m, v, h, current, riskAversion, Rules.Cost, Levels);
        }
    }

    private sealed class OracleRule(TradingRules rules, double riskAversion) : Rule(rules)
    {
        private RegimeMarket _market = null!;
        private int _regime;
        private double _h = 1;

        public override void Reset(ITask task)
        {
            base.Reset(task);
            (_market, _h) = ((RegimeMarket)task, 1);
        }

        public override void SeeRegime(int regime) => _regime = regime;

        protected override void Add(double logReturn)
        {
            base.Add(logReturn);
            // The regime of this return is the one last seen (the hidden state is shown before each decision).
            if (_market.Clustering)
            {
                double e = (logReturn - _market.Drift[_regime]) / _market.Volatility[_regime];
                _h = _market.NextMultiplier(_h, e * e);
            }
        }

        protected override double Target(double current)
        {
            Span<double> now = stackalloc double[3], next = stackalloc double[3];
            now.Clear();
            now[_regime] = 1;
            RegimeFilter.Predict(_market, now, next);
            var (m, second, h) = RegimeFilter.Moments(_market, next, _h);
            return Decide(m, Math.Max(1e-12, second - m * m), h, current, riskAversion, Rules.Cost, Levels);
        }
    }

    /// <summary>Plays a <see cref="Rule"/> per trial slot; an oracle's session is also shown the regime before each decision.</summary>
    private sealed class TradingAgent(string name, string actingRule, Func<Rule> create, bool readsRegime = false) : IMetaAgent
    {
        public string Name => name;

        public string ActingRule => actingRule;

        public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
        {
            var rules = Enumerable.Range(0, batch).Select(_ => create()).ToArray();
            return readsRegime ? new RegimeSession(rules, tasks.ObservationSpace.Size) : new Session(rules, tasks.ObservationSpace.Size);
        }

        private class Session(Rule[] rules, int obsSize) : IAgentSession
        {
            protected readonly Rule[] Rules = rules;

            public void StartTrial(int slot, ITask task) => Rules[slot].Reset(task);

            private float[] _obs = [], _acts = [];
            private bool[] _active = [];

            public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
            {
                int actSize = actions.Length / Rules.Length;
                if (Rules.Length < 32)
                {
                    for (int i = 0; i < Rules.Length; i++)
                        if (active[i]) actions[i * actSize] = Rules[i].Act(observations.Slice(i * obsSize, obsSize));
                    return;
                }
                // Rules are independent per slot (a filter's day costs microseconds): spread the slots over the cores.
                if (_obs.Length != observations.Length) (_obs, _acts, _active) = (new float[observations.Length], new float[Rules.Length], new bool[Rules.Length]);
                observations.CopyTo(_obs);
                active.CopyTo(_active);
                Parallel.For(0, Rules.Length, i =>
                {
                    if (_active[i]) _acts[i] = Rules[i].Act(_obs.AsSpan(i * obsSize, obsSize));
                });
                for (int i = 0; i < Rules.Length; i++)
                    if (active[i]) actions[i * actSize] = _acts[i];
            }

            public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
            {
                for (int i = 0; i < Rules.Length; i++)
                    if (active[i] && episodeEnded[i]) Rules[i].EpisodeEnded();
            }
        }

        private sealed class RegimeSession(Rule[] rules, int obsSize) : Session(rules, obsSize), IHiddenStateReader
        {
            public void SeeHiddenState(ReadOnlySpan<float> states, ReadOnlySpan<bool> active)
            {
                int size = states.Length / Rules.Length;
                for (int i = 0; i < Rules.Length; i++)
                    if (active[i]) Rules[i].SeeRegime((int)states[i * size]);
            }
        }
    }
}
