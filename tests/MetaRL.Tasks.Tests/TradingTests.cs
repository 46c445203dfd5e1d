using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Tasks.Trading;

namespace MetaRL.Tasks.Tests;

/// <summary>The trading families: the market model and its prior, the rules of trading and their measures, real price files, the baselines.</summary>
public sealed class TradingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("metarl-trading-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static RegimeMarket TwoRegimes(double stayBull = 0.99, double stayBear = 0.95)
        => new([0.0005, -0.001], [0.008, 0.02], [stayBull, 1 - stayBull, 1 - stayBear, stayBear], double.PositiveInfinity, 0, 0, false);

    [Fact]
    public void A_switching_spread_scales_each_markets_switching_by_one_factor_and_leaves_the_plain_prior_as_it_was()
    {
        // The monthly probability of leaving the bull regime, recovered from the daily matrix.
        static double LeaveBull(RegimeMarket m) => 1 - Math.Pow(1 - (1 - m.P(0, 0)), MarketPrior.DaysPerMonth);
        var plain = Enumerable.Range(0, 3000).Select(i => new MarketPrior().Draw(new Rng((ulong)i), wide: false)).ToArray();
        var same = Enumerable.Range(0, 3000).Select(i => new MarketPrior(SwitchingSpread: 1).Draw(new Rng((ulong)i), wide: false)).ToArray();
        Assert.Equal(plain.Select(m => m.Switching), same.Select(m => m.Switching));
        var spread = Enumerable.Range(0, 3000).Select(i => new MarketPrior(SwitchingSpread: 2).Draw(new Rng((ulong)i), wide: false)).ToArray();
        // Two-regime markets: leave bull is U[0.02, 0.08] a month (× 1.1 for the crisis share with three), then × [1/2, 2].
        var two = spread.Where(m => m.Regimes == 2).Select(LeaveBull).ToArray();
        Assert.All(plain.Where(m => m.Regimes == 2).Select(LeaveBull), p => Assert.InRange(p, 0.02 - 1e-9, 0.08 + 1e-9));
        Assert.All(two, p => Assert.InRange(p, 0.01 - 1e-9, 0.16 + 1e-9));
        Assert.InRange(two.Count(p => p < 0.02), 100, 600);
        Assert.InRange(two.Count(p => p > 0.08), 100, 600);
        // The wide prior is the same with or without the spread: three times the rates.
        Assert.Equal(new MarketPrior().Draw(new Rng(9), wide: true).Switching, new MarketPrior(SwitchingSpread: 2).Draw(new Rng(9), wide: true).Switching);
        Assert.Equal(2, RegimeTradingTasks.FromSettings(new Dictionary<string, string> { ["switching-spread"] = "2" }).Prior.SwitchingSpread);
        foreach (var bad in new[] { "0.5", "11", "wide" })
            Assert.Throws<SettingException>(() => RegimeTradingTasks.FromSettings(new Dictionary<string, string> { ["switching-spread"] = bad }));
    }

    [Fact]
    public void Prior_wider_draws_the_training_markets_and_the_filters_from_the_held_out_wider_prior()
    {
        var wider = RegimeTradingTasks.FromSettings(new Dictionary<string, string> { ["prior"] = "wider" });
        var heldOutWider = RegimeTradingTasks.FromSettings(new Dictionary<string, string> { ["held-out"] = "wider" });
        Assert.True(wider.Prior.Wider);
        Assert.False(heldOutWider.Prior.Wider);
        Assert.Contains(wider.Settings, s => s.Key == "prior" && s.Default == "wider");
        for (ulong i = 0; i < 200; i++)
        {
            // Training markets from the wide prior, and the same markets as the held-out ones of held-out=wider.
            var train = (RegimeMarket)wider.SampleTask(new Rng(i), TaskSplit.Train);
            Assert.True(train.Wide);
            Assert.False(((RegimeMarket)heldOutWider.SampleTask(new Rng(i), TaskSplit.Train)).Wide);
            var test = (RegimeMarket)heldOutWider.SampleTask(new Rng(i), TaskSplit.Test);
            Assert.Equal(test.Switching, train.Switching);
            Assert.Equal(test.Volatility, train.Volatility);
        }
        // The filter knows the prior the agent was trained on.
        Assert.All(new RegimeFilterModel(wider.FilterPrior, count: 50).Markets, m => Assert.True(m.Wide));
        Assert.All(new RegimeFilterModel(heldOutWider.FilterPrior, count: 50).Markets, m => Assert.False(m.Wide));
        var error = Assert.Throws<SettingException>(() => RegimeTradingTasks.FromSettings(new Dictionary<string, string> { ["prior"] = "wide" }));
        Assert.Contains("prior", error.Message);
        // The spread has nothing to spread in the wider prior, which switches three times as fast throughout.
        error = Assert.Throws<SettingException>(() => RegimeTradingTasks.FromSettings(new Dictionary<string, string> { ["prior"] = "wider", ["switching-spread"] = "2" }));
        Assert.Contains("switching-spread", error.Message);
    }

    [Fact]
    public void The_prior_is_Hardys_two_regime_fit_rescaled_to_days_and_its_markets_are_valid()
    {
        var rng = new Rng(5);
        var prior = new MarketPrior();
        var markets = Enumerable.Range(0, 4000).Select(_ => prior.Draw(rng, wide: false)).ToArray();
        foreach (var m in markets)
        {
            for (int i = 0; i < m.Regimes; i++)
            {
                double row = Enumerable.Range(0, m.Regimes).Sum(j => m.P(i, j));
                Assert.Equal(1, row, 12);
                Assert.All(Enumerable.Range(0, m.Regimes), j => Assert.InRange(m.P(i, j), 0, 1));
                Assert.True(m.Volatility[i] > 0);
            }
            Assert.True(m.Volatility[1] > m.Volatility[0], "the bear regime is the more volatile");
        }
        Assert.InRange(markets.Count(m => m.Regimes == 3), 1800, 2200);
        // Sharpe ratio of each regime is the level-free part of the prior: Hardy's 0.012/0.035 and −0.016/0.078 a month.
        var two = markets.Where(m => m.Regimes == 2).ToArray();
        double bullSharpe = two.Average(m => m.Drift[0] / m.Volatility[0]) * Math.Sqrt(21), bearSharpe = two.Average(m => m.Drift[1] / m.Volatility[1]) * Math.Sqrt(21);
        Assert.InRange(bullSharpe, 0.30, 0.40);
        Assert.InRange(bearSharpe, -0.24, -0.17);
        // Leaving bull 0.02–0.08 a month (mean 0.05), in days: 1 − (1 − p)^(1/21).
        Assert.InRange(two.Average(m => m.P(0, 1)), 0.9 * 0.05 / 21, 1.1 * 0.05 / 21);
        // The wide prior switches faster and is more volatile.
        var wide = Enumerable.Range(0, 2000).Select(_ => prior.Draw(rng, wide: true)).ToArray();
        Assert.True(wide.Average(m => m.P(0, 1)) > 2.5 * markets.Average(m => m.P(0, 1)));
        Assert.True(wide.Average(m => m.Volatility[0]) > 1.5 * markets.Average(m => m.Volatility[0]));
        Assert.All(wide, m => Assert.True(m.Wide));
    }

    [Fact]
    public void A_market_spends_its_stationary_share_of_days_in_each_regime_with_each_regimes_drift_and_volatility()
    {
        var m = TwoRegimes(0.99, 0.96);
        var pi = m.Stationary();
        Assert.Equal(0.04 / 0.05, pi[0], 12);
        var rng = new Rng(3);
        var process = RegimeMarket.Process.Start(m, rng);
        var returns = new List<double>[] { [], [] };
        for (int t = 0; t < 400_000; t++)
        {
            double r = process.Next(m, rng);
            returns[process.Regime].Add(r);
        }
        Assert.InRange(returns[0].Count / 400_000.0, 0.78, 0.82);
        for (int k = 0; k < 2; k++)
        {
            double mean = returns[k].Average(), sd = Math.Sqrt(returns[k].Average(r => (r - mean) * (r - mean)));
            Assert.InRange(mean, m.Drift[k] - 4 * m.Volatility[k] / Math.Sqrt(returns[k].Count), m.Drift[k] + 4 * m.Volatility[k] / Math.Sqrt(returns[k].Count));
            Assert.InRange(sd, 0.98 * m.Volatility[k], 1.02 * m.Volatility[k]);
        }
    }

    [Fact]
    public void Student_t_shocks_keep_the_regimes_volatility_with_fatter_tails_and_clustering_keeps_it_on_average()
    {
        var rng = new Rng(8);
        foreach (var (dof, arch, garch) in new[] { (4.0, 0.0, 0.0), (double.PositiveInfinity, 0.08, 0.88) })
        {
            var m = new RegimeMarket([0], [0.01], [1], dof, arch, garch, false);
            var p = RegimeMarket.Process.Start(m, rng);
            var r = Enumerable.Range(0, 400_000).Select(_ => p.Next(m, rng)).ToArray();
            double sd = Math.Sqrt(r.Average(x => x * x)), kurtosis = r.Average(x => Math.Pow(x / sd, 4));
            Assert.InRange(sd, 0.0095, 0.0105);
            Assert.True(kurtosis > 3.3, $"kurtosis {kurtosis:F2} (ν {dof}, α {arch}): tails no fatter than normal (3)");
        }
    }

    // A price file of the given closes on consecutive weekdays from 2020-01-01.
    private string PriceFile(string name, params double[] closes)
    {
        var path = Path.Combine(_dir, name);
        var day = new DateOnly(2020, 1, 1);
        using var w = new StreamWriter(path);
        w.WriteLine("date,close");
        foreach (var c in closes)
        {
            while (day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday) day = day.AddDays(1);
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{day:yyyy-MM-dd},{c}"));
            day = day.AddDays(1);
        }
        return path;
    }

    // An env trading the file of these closes (weekday dates) from its third close on, the first two returns its window.
    private IEnv EnvOn(string name, double[] closes, TradingRules rules)
    {
        var series = PriceSeries.Load(PriceFile(name, closes))[0];
        IEnv env = new PriceHistoryEnv(rules, [series.LogReturns()]);
        env.SetTask(new PriceWindow(0, 2, series.Asset, series.Dates[3]));
        return env;
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(TradingRules.DefaultRiskPenalty)]
    public void The_reward_is_the_position_times_the_next_return_net_of_costs_less_the_risk_penalty_and_the_metrics_follow_from_the_days(double kappa)
    {
        // Window 2, then four traded days: +10 %, −10 %, +10 %, 0 %.
        var closes = new[] { 100, 100, 100, 110, 99, 108.9, 108.9 };
        var rules = new TradingRules(Window: 2, Cost: 0.01, Levels: 3, Days: 4, Episodes: 1, RiskPenalty: kappa, NormalizeReturns: false, VolatilityFeatures: false);
        var env = EnvOn($"a{kappa}.csv", closes, rules);
        var obs = new float[rules.Window + 3];
        var rng = new Rng(1);
        env.Reset(rng, obs);
        Assert.Equal([0f, 0f, 0f, 0f, 0f], obs);
        // Long (action 2), long, short (0), flat (1).
        double[] expected = [1 * 0.10 - 0.01, 1 * -0.10, -1 * 0.10 - 0.02, 0 - 0.01];
        int[] actions = [2, 2, 0, 1];
        double equity = 1, peak = 1, drawdown = 0;
        for (int t = 0; t < 4; t++)
        {
            var step = env.Step(actions[t], rng, obs);
            // The penalty is on the reward only: the metrics below are of the P&L.
            Assert.Equal(100 * (expected[t] - kappa * expected[t] * expected[t]), step.Reward, 9);
            Assert.Equal(t == 3, step.Truncated);
            Assert.Equal((float)(Math.Log(closes[t + 3] / closes[t + 2]) * TradingRules.ReturnScale), obs[1], 4);
            Assert.Equal(actions[t] - 1, obs[2]);
            equity *= 1 + expected[t];
            peak = Math.Max(peak, equity);
            drawdown = Math.Max(drawdown, (peak - equity) / peak);
        }
        var metrics = new double[4];
        env.WriteEpisodeMetrics(metrics);
        double mean = expected.Average(), sd = Math.Sqrt(expected.Sum(x => (x - mean) * (x - mean)) / 3);
        Assert.Equal(Math.Sqrt(252) * mean / sd, metrics[0], 9);
        Assert.Equal(drawdown, metrics[1], 12);
        Assert.Equal(1 + 0 + 2 + 1, metrics[2], 12);
        Assert.Equal(100 * mean, metrics[3], 12);
    }

    [Fact]
    public void The_unrealised_pnl_is_the_positions_gain_since_it_was_taken_and_a_new_episode_starts_flat_on_the_same_market()
    {
        var closes = new[] { 100.0, 100, 100, 110, 121, 121, 121 };
        var env = EnvOn("b.csv", closes, new TradingRules(Window: 2, Cost: 0, Levels: 3, Days: 2, Episodes: 2, NormalizeReturns: false, VolatilityFeatures: false));
        var obs = new float[5];
        var rng = new Rng(1);
        env.Reset(rng, obs);
        env.Step(2, rng, obs);
        env.Step(2, rng, obs);
        Assert.Equal((float)(0.21 * TradingRules.PnlScale), obs[3], 4);
        Assert.Equal(1f, obs[4]);
        var last = obs[..2];
        env.Reset(rng, obs);
        Assert.Equal(last, obs[..2]);
        Assert.Equal([0f, 0f, 0f], obs[2..]);
    }

    /// <summary>An env whose log-returns are a fixed list times a level: the same market, calmer or wilder.</summary>
    private sealed class Scaled(TradingRules rules, double[] returns, double level) : TradingEnv<RegimeMarket>(rules, regimes: false)
    {
        private int _day;

        protected override void StartMarket(Rng rng, Span<double> history)
        {
            for (int i = 0; i < history.Length; i++) history[i] = level * returns[i];
            _day = history.Length;
        }

        protected override double NextReturn(Rng rng) => level * returns[_day++];
    }

    [Fact]
    public void Normalized_returns_read_the_same_on_a_calm_and_a_wild_market_of_the_same_shape()
    {
        var rules = new TradingRules(Window: 3, Cost: 0, Levels: 3, Days: 4, Episodes: 2, NormalizeReturns: true, VolatilityFeatures: false);
        double[] returns = [0.01, -0.02, 0.005, 0.015, -0.01, 0.02, 0.0, -0.005, 0.01, 0.01, 0.02];
        float[][] Play(double level)
        {
            IEnv env = new Scaled(rules, returns, level);
            env.SetTask(TwoRegimes());
            var rng = new Rng(1);
            var seen = new List<float[]>();
            var obs = new float[rules.Window + 4];
            for (int episode = 0; episode < 2; episode++)
            {
                env.Reset(rng, obs);
                seen.Add((float[])obs.Clone());
                for (int t = 0; t < 4; t++)
                {
                    env.Step(t % 2 == 0 ? 2 : 0, rng, obs);
                    seen.Add((float[])obs.Clone());
                }
            }
            return [.. seen];
        }
        var calm = Play(0.5);
        var wild = Play(2);
        Assert.Equal(rules.Window + 4, rules.ObservationSpace.Size);
        for (int t = 0; t < calm.Length; t++)
        {
            // Returns (in units of the volatility so far), position and time alike; the P&L nearly (it compounds simple
            // returns, which do not scale exactly with the log-returns); the volatility itself differs by ln 4.
            int w = rules.Window;
            for (int i = 0; i < w + 3; i++)
                Assert.True(Math.Abs(calm[t][i] - wild[t][i]) < (i == w + 1 ? 0.05 : 1e-4) * (1 + Math.Abs(calm[t][i])), $"observation {t}, element {i}: {calm[t][i]} vs {wild[t][i]}");
            Assert.Equal(Math.Log(4), wild[t][^1] - calm[t][^1], 4);
        }
        // The first observation: the window over the root mean square of the window.
        double rms = Math.Sqrt(returns[..3].Sum(r => r * r) / 3);
        Assert.Equal((float)(0.01 / rms), calm[0][0], 4);
        Assert.Equal((float)Math.Log(0.5 * rms / TradingRules.ReferenceVolatility), calm[0][^1], 4);
        // Each observation is read back into the env's log-returns through the unit it shows.
        Assert.Equal(0.5 * -0.02, calm[0][1] / rules.ReturnUnit(calm[0]), 6);
    }

    [Fact]
    public void Volatility_features_are_the_log_root_mean_square_of_the_latest_days_in_the_units_returns_are_shown_in()
    {
        double[] returns = [0.01, -0.02, 0.005, 0.015, -0.01, 0.02, 0.0, -0.005, 0.01, 0.01, 0.02, -0.03, 0.0, 0.004, 0.01, -0.01];
        foreach (bool normalize in new[] { false, true })
        {
            var rules = new TradingRules(Window: 8, Cost: 0, Levels: 3, Days: 6, Episodes: 1, NormalizeReturns: normalize, VolatilityFeatures: true);
            int w = rules.Window, first = w + (normalize ? 4 : 3);
            Assert.Equal(first + 3, rules.ObservationSpace.Size);
            IEnv env = new Scaled(rules, returns, 1), plain = new Scaled(rules with { VolatilityFeatures = false }, returns, 1);
            env.SetTask(TwoRegimes());
            plain.SetTask(TwoRegimes());
            var rng = new Rng(1);
            var obs = new float[rules.ObservationSpace.Size];
            var plainObs = new float[first];
            env.Reset(rng, obs);
            plain.Reset(rng, plainObs);
            for (int day = 0; ; day++)
            {
                // The window ends at return w + day − 1; spans of 5, 8 (10 capped at the window) and 8 days.
                double unit = rules.ReturnUnit(obs);
                int[] spans = [5, 8, 8];
                for (int k = 0; k < 3; k++)
                {
                    var last = returns[(w + day - spans[k])..(w + day)];
                    double rms = Math.Sqrt(last.Sum(r => r * r) / spans[k]);
                    Assert.Equal((float)Math.Log(rms * unit), obs[first + k], 4);
                }
                // Everything before the features is what the rules without them show.
                Assert.Equal(plainObs, obs[..first]);
                if (day == 6) break;
                env.Step(day % 3, rng, obs);
                plain.Step(day % 3, rng, plainObs);
            }
        }
        // A price that does not move reads as the floor, not as minus infinity.
        var flat = new TradingRules(Window: 5, Cost: 0, Levels: 3, Days: 2, Episodes: 1, NormalizeReturns: false, VolatilityFeatures: true);
        IEnv still = new Scaled(flat, new double[10], 1);
        still.SetTask(TwoRegimes());
        var o = new float[flat.ObservationSpace.Size];
        still.Reset(new Rng(1), o);
        Assert.Equal((float)Math.Log(TradingRules.VolatilityFloor), o[^1], 5);
        // The setting is read and listed by name, and a value other than true or false is refused.
        var tasks = (RegimeTradingTasks)TaskRegistry.Create("regime-trading", new Dictionary<string, string> { ["normalize-returns"] = "false", ["volatility-features"] = "true" });
        Assert.Equal(20 + 3 + 3, tasks.ObservationSpace.Size);
        // Both are the family's defaults: returns in the market's own units, then the realised volatilities.
        Assert.Equal(20 + 4 + 3, TaskRegistry.Create("regime-trading").ObservationSpace.Size);
        Assert.Equal(20 + 3, TaskRegistry.Create("regime-trading", new Dictionary<string, string> { ["normalize-returns"] = "false", ["volatility-features"] = "false" }).ObservationSpace.Size);
        var e = Assert.ThrowsAny<SettingException>(() => TaskRegistry.Create("regime-trading", new Dictionary<string, string> { ["volatility-features"] = "maybe" }));
        Assert.Contains("volatility-features", e.Message);
    }

    [Fact]
    public void The_rule_based_baselines_trade_alike_on_normalized_and_fixed_observations()
    {
        foreach (var held in new[] { "prior", "wider" })
        {
            double[] Returns(string normalize)
            {
                var tasks = (RegimeTradingTasks)TaskRegistry.Create("regime-trading", new Dictionary<string, string> { ["episodes"] = "2", ["held-out"] = held, ["normalize-returns"] = normalize });
                var options = new MetaTestOptions(Trials: 40, Seed: 4, PlayOracle: false);
                var model = new RegimeFilterModel(tasks.FilterPrior, count: 100);
                IMetaAgent[] agents = [TradingBaselines.Fixed("buy-and-hold", tasks.Rules, 1), TradingBaselines.Filter(tasks.Rules, model, 5), TradingBaselines.Oracle(tasks.Rules, 5)];
                return [.. agents.Select(a => MetaTest.Run(a, tasks, options).MeanTotalReturn)];
            }
            var fixedUnits = Returns("false");
            var normalized = Returns("true");
            for (int i = 0; i < fixedUnits.Length; i++) Assert.Equal(fixedUnits[i], normalized[i], 6);
        }
    }

    /// <summary>An env whose regime and returns are scripted, to check the reaction measure.</summary>
    private sealed class Scripted(TradingRules rules, int[] regimes) : TradingEnv<RegimeMarket>(rules, regimes: true)
    {
        private int _day = -1;

        protected override int Regime => _day < 0 ? regimes[0] : regimes[_day];

        // Regime 0 wants long, 1 wants short.
        protected override double Exposure(int regime) => regime == 0 ? 1 : -1;

        protected override void StartMarket(Rng rng, Span<double> history) => history.Clear();

        protected override double NextReturn(Rng rng) => regimes[++_day] == 0 ? 0.001 : -0.001;
    }

    [Fact]
    public void The_reaction_to_a_switch_counts_the_days_until_the_position_moves_toward_the_new_regime()
    {
        var rules = new TradingRules(Window: 2, Cost: 0, Levels: 3, Days: 12, Episodes: 1, NormalizeReturns: false, VolatilityFeatures: false);
        // Bear from day 2 (answered 3 days later), bull from day 7 (never answered: the cap).
        int[] regimes = [0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
        int[] actions = [2, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0];
        IEnv env = new Scripted(rules, regimes);
        env.SetTask(TwoRegimes());
        var obs = new float[5];
        var rng = new Rng(1);
        env.Reset(rng, obs);
        foreach (var a in actions) env.Step(a, rng, obs);
        var metrics = new double[5];
        env.WriteEpisodeMetrics(metrics);
        // The bear return of step 2 is first seen by decision 3 (lag 0); decision 4 turns flat (lag 1). The bull switch of
        // step 7 is never answered (the cap). The median of 1 and the cap:
        Assert.Equal((1 + TradingRules.ReactionCap) / 2.0, metrics[4]);

        IEnv quiet = new Scripted(rules, Enumerable.Repeat(0, 13).ToArray());
        quiet.SetTask(TwoRegimes());
        quiet.Reset(rng, obs);
        foreach (var a in actions) quiet.Step(a, rng, obs);
        quiet.WriteEpisodeMetrics(metrics);
        Assert.True(double.IsNaN(metrics[4]), "no switch: not measured");
    }

    [Theory]
    [InlineData("date,close\n2020-01-02,1\n2020-01-02,2\n", "line 3: date 2020-01-02 repeats line 2")]
    [InlineData("date,close\n2020-01-03,1\n2020-01-02,2\n", "line 3: date 2020-01-02 comes after 2020-01-03")]
    [InlineData("date,close\n2020-01-02,1\n2020-01-03,0\n", "line 3: price 0 of 'p' is not positive")]
    [InlineData("date,close\n2020-01-02,1\n2020-01-03,-4\n", "line 3: price -4 of 'p' is not positive")]
    [InlineData("date,close\n2020-01-02,1\n2020-02-03,2\n", "line 3: a gap of 32 days after 2020-01-02")]
    [InlineData("date,A,B\n2020-01-02,1,2\n2020-01-03,1,\n", "line 3: no price for 'B'")]
    [InlineData("date,close\n2020-01-02,1\n2020-01-03,abc\n", "line 3: price 'abc' of 'p' is not a number")]
    [InlineData("date,close\n02/01/2020,1\n", "line 2: '02/01/2020' is not a date")]
    [InlineData("day,close\n2020-01-02,1\n", "line 1: the header must be")]
    [InlineData("date,close\n2020-01-02,1\n2020-01-03,1,3\n", "line 3: 3 values for 2 columns")]
    [InlineData("date,close\n2020-01-02,1\n", "1 row(s) of prices")]
    public void A_bad_price_file_is_refused_with_its_name_line_and_reason(string text, string expected)
    {
        var path = Path.Combine(_dir, "p.csv");
        File.WriteAllText(path, text);
        var e = Assert.Throws<SettingException>(() => PriceSeries.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Price_files_are_read_one_asset_per_file_or_a_column_per_asset_and_too_short_histories_are_refused()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir, "prices")).FullName;
        var rng = new Rng(2);
        double p = 100;
        var closes = Enumerable.Range(0, 800).Select(_ => p *= Math.Exp(rng.Normal(0.0003, 0.01))).ToArray();
        File.Copy(PriceFile("alpha.csv", closes), Path.Combine(dir, "alpha.csv"));
        var wide = File.ReadAllLines(Path.Combine(dir, "alpha.csv")).Select((l, i) => i == 0 ? "date,B,C" : $"{l},{l.Split(',')[1]}");
        File.WriteAllLines(Path.Combine(dir, "multi.csv"), wide);
        var series = PriceSeries.Load(dir);
        Assert.Equal(["alpha", "B", "C"], series.Select(s => s.Asset));
        Assert.All(series, s => Assert.Equal(800, s.Closes.Length));

        var tasks = (PriceHistoryTasks)TaskRegistry.Create("price-history", new Dictionary<string, string> { ["prices"] = dir, ["days"] = "100", ["episodes"] = "2" });
        Assert.Equal("asset", tasks.GroupName);
        var e = Assert.Throws<SettingException>(() => TaskRegistry.Create("price-history", new Dictionary<string, string> { ["prices"] = dir, ["days"] = "250" }));
        Assert.Contains("'alpha' has 799 returns", e.Message);
        var none = TaskRegistry.Create("price-history", new Dictionary<string, string>());
        Assert.Contains("setting 'prices' is required", Assert.Throws<SettingException>(() => none.SampleTask(new Rng(1), TaskSplit.Train)).Message);
        Assert.Contains("no file or directory", Assert.Throws<SettingException>(() => TaskRegistry.Create("price-history", new Dictionary<string, string> { ["prices"] = Path.Combine(_dir, "nope") })).Message);
    }

    [Fact]
    public void Training_trials_trade_only_before_the_cut_and_held_out_trials_only_after_it()
    {
        var rng = new Rng(4);
        double p = 100;
        var closes = Enumerable.Range(0, 1500).Select(_ => p *= Math.Exp(rng.Normal(0, 0.01))).ToArray();
        var path = PriceFile("c.csv", closes);
        foreach (var settings in new[] { new Dictionary<string, string>(), new() { ["test-from"] = "2024-06-03" }, new() { ["train-fraction"] = "0.5" } })
        {
            settings["prices"] = path;
            settings["days"] = "100";
            var tasks = (PriceHistoryTasks)TaskRegistry.Create("price-history", settings);
            int cut = tasks.Cut[0], need = 2 * 100;
            if (settings.TryGetValue("test-from", out var from)) Assert.True(tasks.Series[0].Dates[cut + 1] >= DateOnly.Parse(from, CultureInfo.InvariantCulture) && tasks.Series[0].Dates[cut] < DateOnly.Parse(from, CultureInfo.InvariantCulture));
            for (int i = 0; i < 300; i++)
            {
                var train = (PriceWindow)tasks.SampleTask(rng, TaskSplit.Train);
                Assert.InRange(train.Start, 20, cut - need);
                var test = (PriceWindow)tasks.SampleTask(rng, TaskSplit.Test);
                Assert.InRange(test.Start, cut, closes.Length - 1 - need);
            }
        }
    }

    [Theory]
    [InlineData("positions", "4.5", "'positions' must be 'continuous' or a number")]
    [InlineData("positions", "1", "'positions' must be 'continuous' or a number")]
    [InlineData("regimes", "4", "'regimes' must be one of both, 2, 3")]
    [InlineData("cost", "-0.1", "'cost' must be in [0, 0.1]")]
    [InlineData("held-out", "later", "'held-out' must be one of prior, wider")]
    [InlineData("tails", "cauchy", "'tails' must be one of normal, student")]
    public void Bad_trading_settings_are_refused_by_name(string key, string value, string expected)
    {
        var e = Assert.Throws<SettingException>(() => TaskRegistry.Create("regime-trading", new Dictionary<string, string> { [key] = value }));
        Assert.Contains("regime-trading", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void With_continuous_positions_the_filter_trades_any_position_in_range()
    {
        var tasks = (RegimeTradingTasks)TaskRegistry.Create("regime-trading", new Dictionary<string, string> { ["positions"] = "continuous", ["days"] = "60", ["episodes"] = "1" });
        Assert.Null(tasks.Rules.AllowedPositions);
        var traces = MetaTest.Trace(TradingBaselines.Filter(tasks.Rules, new RegimeFilterModel(tasks.FilterPrior, count: 100), 20), tasks, tasks.SampleTask(new Rng(2), TaskSplit.Test), seed: 4);
        var positions = Enumerable.Range(0, 60).Select(t => traces[0][t * tasks.TraceChannels.Count + 2]).ToArray();
        Assert.All(positions, p => Assert.InRange(p, -1, 1));
        Assert.Contains(positions, p => p != Math.Round(p * 2) / 2);
    }

    [Fact]
    public void The_decision_moves_only_when_the_gain_over_the_expected_stay_pays_the_cost()
    {
        double[] levels = [-1, -0.5, 0, 0.5, 1];
        // Mean 0.001, variance 1e-4, λ 5: the free optimum is 2, clipped to 1.
        Assert.Equal(1, TradingBaselines.Decide(0.001, 1e-4, 100, 0, 5, 0.001, levels));
        Assert.Equal(-1, TradingBaselines.Decide(-0.001, 1e-4, 100, 0, 5, 0.001, levels));
        // A small edge held for one day does not pay a 1 % cost; held for a year it does.
        Assert.Equal(0, TradingBaselines.Decide(0.0002, 1e-4, 1, 0, 1, 0.01, levels));
        Assert.Equal(1, TradingBaselines.Decide(0.0002, 1e-4, 1000, 0, 1, 0.01, levels));
        // Continuous: the no-trade band around the current position.
        // Free optimum m / (λv) = 0.5 within the band ± (0.001 / 10) / (λv) = ± 1 of 0.3: hold.
        Assert.Equal(0.3, TradingBaselines.Decide(0.00005, 1e-4, 10, 0.3, 1, 0.001, null), 12);
        // Free optimum 1.5, more than the band above −1: move to its edge, 1.5 − 1.
        Assert.Equal(0.5, TradingBaselines.Decide(0.00015, 1e-4, 10, -1, 1, 0.001, null), 12);
    }

    [Fact]
    public void The_regime_filter_finds_the_regime_of_a_market_it_can_represent()
    {
        var model = new RegimeFilterModel(new MarketPrior(Regimes: 2), count: 300);
        var market = model.Markets[7];
        var filter = model.Start();
        var rng = new Rng(6);
        var process = RegimeMarket.Process.Start(market, rng);
        int right = 0, days = 3000;
        for (int t = 0; t < days; t++)
        {
            filter.Update(process.Next(market, rng));
            var (mean, _, _) = filter.Predict();
            // Tomorrow's expected return has the sign of the regime's (bull up, bear down) on most days.
            if (t >= 250 && Math.Sign(mean) == Math.Sign(market.Drift[process.Regime])) right++;
        }
        Assert.True(right > 0.85 * (days - 250), $"{right} of {days - 250} days");
        Assert.True(filter.EffectiveMarkets() < 20, $"{filter.EffectiveMarkets():F1} markets still weighed after {days} days");
    }

    [Fact]
    public void On_held_out_markets_the_oracle_beats_the_filter_and_the_filter_beats_buying_and_holding()
    {
        var tasks = (RegimeTradingTasks)TaskRegistry.Create("regime-trading", new Dictionary<string, string> { ["episodes"] = "2" });
        var options = new MetaTestOptions(Trials: 200, Seed: 3, PlayOracle: false);
        double Sharpe(IMetaAgent a) => MetaTest.Run(a, tasks, options).Metrics!["sharpe"][^1];
        var model = new RegimeFilterModel(tasks.FilterPrior, count: 400);
        double hold = Sharpe(TradingBaselines.Fixed("buy-and-hold", tasks.Rules, 1));
        double filter = Sharpe(TradingBaselines.Filter(tasks.Rules, model, 5));
        double oracle = Sharpe(TradingBaselines.Oracle(tasks.Rules, 5));
        Assert.True(filter > hold + 0.1, $"filter {filter:F2}, buy-and-hold {hold:F2}");
        Assert.True(oracle > filter, $"oracle {oracle:F2}, filter {filter:F2}");
        Assert.Equal(0, Sharpe(TradingBaselines.Fixed("flat", tasks.Rules, 0)));
    }
}
