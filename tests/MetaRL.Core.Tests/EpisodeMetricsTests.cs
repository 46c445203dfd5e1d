using MetaRL.Core.Baselines;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Tests;

/// <summary>
/// The coin family with a practitioner's measure (the share of pulls on arm 1), groups (which arm pays) and a trace (the
/// arm pulled and the reward), so the protocol's metrics, groups and traces can be checked by hand.
/// </summary>
/// <param name="unmeasuredLeft">Episodes of a left-paying coin cannot measure the metric (they write NaN).</param>
/// <param name="period">Pulls the protocol sums the reward over inside an episode (none by default).</param>
public sealed class MeteredCoinTasks(int pulls = 4, int episodes = 3, bool unmeasuredLeft = false, TrialPeriod? period = null) : TaskDistribution
{
    public override TrialPeriod? Period => period;
    public override string Name => "core-test-metered-coin";
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(2);
    public override int Horizon => pulls;
    public override int EpisodesPerTrial => episodes;
    public override ITask SampleTask(Rng rng, TaskSplit split) => new CoinTasks.Coin(rng.NextInt(2));
    public override IEnv CreateEnv() => new Env(unmeasuredLeft);
    public override IReadOnlyList<SettingInfo> Settings => [];
    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics { get; } = [new("rightShare", "right %", "pulls of arm 1, % of the episode", "F0")];
    public override string GroupName => "paying arm";
    public override string? GroupOf(ITask task) => ((CoinTasks.Coin)task).PayingArm == 0 ? "left" : "right";
    public override IReadOnlyList<TraceChannel> TraceChannels { get; } = [new("arm"), new("reward", Events: true)];

    private sealed class Env(bool unmeasuredLeft) : Env<CoinTasks.Coin>
    {
        private int _pulls, _right, _lastArm;
        private double _lastReward;
        public override Space ObservationSpace { get; } = new Box(0, 1, 1);
        public override Space ActionSpace { get; } = new Discrete(2);
        public override void Reset(Rng rng, Span<float> observation) => (_pulls, _right, observation[0]) = (0, 0, 0);
        public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
        {
            _lastArm = (int)action[0];
            (_pulls, _right) = (_pulls + 1, _right + _lastArm);
            _lastReward = _lastArm == Task.PayingArm ? 1 : 0;
            return new StepResult(_lastReward, false, false);
        }
        public override void WriteEpisodeMetrics(Span<double> metrics) => metrics[0] = unmeasuredLeft && Task.PayingArm == 0 ? double.NaN : 100.0 * _right / _pulls;
        public override void WriteTrace(Span<double> values) => (values[0], values[1]) = (_lastArm, _lastReward);
    }
}

public sealed class EpisodeMetricsTests
{
    [Fact]
    public void The_protocol_reports_each_metric_per_episode_and_each_group_apart()
    {
        var tasks = new MeteredCoinTasks();
        var result = MetaTest.Run(new CoinOracle(), tasks, new MetaTestOptions(Trials: 40, Seed: 3, Batch: 7));
        var played = MetaTest.Tasks(tasks, 3, 40).Select(t => ((CoinTasks.Coin)t).PayingArm).ToArray();
        double rightShare = 100.0 * played.Count(a => a == 1) / played.Length;
        // The oracle pulls the paying arm every time: the share of arm 1 is 100% on its tasks and 0% on the others.
        Assert.Equal([rightShare, rightShare, rightShare], result.Metrics!["rightShare"], (a, b) => Math.Abs(a - b) < 1e-9);
        Assert.Equal("paying arm", result.GroupName);
        Assert.Equal(["left", "right"], result.Groups!.Select(g => g.Name));
        var (left, right) = (result.Groups![0], result.Groups[1]);
        Assert.Equal((played.Count(a => a == 0), played.Count(a => a == 1)), (left.Trials, right.Trials));
        Assert.Equal([0.0, 0, 0], left.Metrics!["rightShare"]);
        Assert.Equal([100.0, 100, 100], right.Metrics!["rightShare"]);
        Assert.Equal([4.0, 4, 4], left.EpisodeReturns);
        Assert.Contains("\"rightShare\"", result.ToJson());
        Assert.Contains("\"groups\"", result.ToJson());
    }

    [Fact]
    public void Episodes_that_cannot_measure_a_metric_are_left_out_of_its_mean_and_none_measured_reads_NaN()
    {
        var tasks = new MeteredCoinTasks(unmeasuredLeft: true);
        var result = MetaTest.Run(new CoinOracle(), tasks, new MetaTestOptions(Trials: 40, Seed: 3, Batch: 7));
        // Only right-paying coins measure it, and the oracle pulls arm 1 on all of them.
        Assert.Equal([100.0, 100, 100], result.Metrics!["rightShare"]);
        Assert.True(double.IsNaN(result.Groups![0].Metrics!["rightShare"][0]));
        Assert.Equal([100.0, 100, 100], result.Groups[1].Metrics!["rightShare"]);
        Assert.Contains("\"NaN\"", result.ToJson());
    }

    [Fact]
    public void A_lead_pairs_each_metric_of_the_last_episode_trial_by_trial()
    {
        var tasks = new MeteredCoinTasks(unmeasuredLeft: true);
        var options = new MetaTestOptions(Trials: 40, Seed: 3, Batch: 7);
        var (oracle, random) = (MetaTest.Run(new CoinOracle(), tasks, options), MetaTest.Run(new RandomAgent(), tasks, options));
        var lead = MetaTestResult.Lead(oracle, random).LastEpisodeMetrics!["rightShare"];
        // Over the right-paying coins only (the others measured nothing): 100 % against the random agent's share.
        var measured = Enumerable.Range(0, 40).Where(t => !double.IsNaN(random.TrialEpisodeMetrics[t][2])).ToArray();
        Assert.Equal(measured.Average(t => 100 - random.TrialEpisodeMetrics[t][2]), lead[0], 9);
        Assert.True(lead[1] > 0);
    }

    [Fact]
    public void A_lead_pairs_the_return_and_each_metric_per_episode_over_each_groups_trials_alone()
    {
        var tasks = new MeteredCoinTasks(unmeasuredLeft: true);
        var options = new MetaTestOptions(Trials: 40, Seed: 3, Batch: 7);
        var (oracle, random) = (MetaTest.Run(new CoinOracle(), tasks, options), MetaTest.Run(new RandomAgent(), tasks, options));
        var groups = MetaTestResult.Lead(oracle, random).Groups!;
        Assert.Equal(["left", "right"], groups.Select(g => g.Name));
        var arms = MetaTest.Tasks(tasks, 3, 40).Select(t => ((CoinTasks.Coin)t).PayingArm).ToArray();
        for (int arm = 0; arm < 2; arm++)
        {
            var members = Enumerable.Range(0, 40).Where(t => arms[t] == arm).ToArray();
            var g = groups[arm];
            Assert.Equal(members.Length, g.Trials);
            for (int e = 0; e < 3; e++)
            {
                // The oracle earns every pull (4 an episode); the lead is 4 minus the random agent's return on these trials only.
                Assert.Equal(members.Average(t => 4 - random.TrialEpisodeReturns[t][e]), g.PerEpisode[e], 9);
                Assert.True(g.PerEpisodeCi95[e] > 0);
            }
        }
        // Left-paying coins measured no share: NaN there; right-paying ones pair 100 % with the random agent's share.
        Assert.All(groups[0].Metrics!["rightShare"], v => Assert.True(double.IsNaN(v)));
        var right = Enumerable.Range(0, 40).Where(t => arms[t] == 1).ToArray();
        for (int e = 0; e < 3; e++)
            Assert.Equal(right.Average(t => 100 - random.TrialEpisodeMetrics[t][e]), groups[1].Metrics!["rightShare"][e], 9);
        random.LeadOfEvaluatedAgent = MetaTestResult.Lead(oracle, random);
        using var json = System.Text.Json.JsonDocument.Parse(random.ToJson());
        var written = json.RootElement.GetProperty("leadOfEvaluatedAgent").GetProperty("groups")[1];
        Assert.Equal("right", written.GetProperty("name").GetString());
        Assert.Equal(3, written.GetProperty("metricsCi95").GetProperty("rightShare").GetArrayLength());
        Assert.Null(MetaTestResult.Lead(MetaTest.Run(new CoinOracle(), new CoinTasks(), options), MetaTest.Run(new RandomAgent(), new CoinTasks(), options)).Groups);
    }

    [Fact]
    public void The_gain_over_the_first_episode_pairs_each_later_episode_with_the_same_trials_first()
    {
        var tasks = new MeteredCoinTasks(unmeasuredLeft: true);
        var random = MetaTest.Run(new RandomAgent(), tasks, new MetaTestOptions(Trials: 40, Seed: 3, Batch: 7));
        var gain = random.GainOverFirst!;
        Assert.Equal(["return", "rightShare"], gain.Keys.Order());
        Assert.Equal(0, gain["return"][0]);
        for (int e = 1; e < 3; e++)
        {
            Assert.Equal(random.TrialEpisodeReturns.Average(r => r[e] - r[0]), gain["return"][e], 9);
            // Only the trials that measured the metric (right-paying coins) count.
            var measured = random.TrialEpisodeMetrics.Where(m => !double.IsNaN(m[0])).ToArray();
            Assert.True(measured.Length is > 5 and < 40);
            Assert.Equal(measured.Average(m => m[e] - m[0]), gain["rightShare"][e], 9);
            Assert.True(random.GainOverFirstCi95!["rightShare"][e] > 0);
        }
        // The oracle plays every episode alike: no gain, with no spread.
        var oracle = MetaTest.Run(new CoinOracle(), tasks, new MetaTestOptions(Trials: 40, Seed: 3));
        Assert.Equal([0.0, 0, 0], oracle.GainOverFirst!["return"]);
        Assert.Equal([0.0, 0, 0], oracle.GainOverFirstCi95!["return"]);
        Assert.Contains("\"gainOverFirst\"", oracle.ToJson());
        Assert.Null(MetaTest.Run(new CoinOracle(), new MeteredCoinTasks(episodes: 1), new MetaTestOptions(Trials: 5)).GainOverFirst);
    }

    [Fact]
    public void The_return_is_summed_per_period_of_each_episode_and_paired_per_period()
    {
        // Five pulls in periods of two: two whole periods and a last one of a single pull, in each of three episodes.
        var tasks = new MeteredCoinTasks(pulls: 5, period: new TrialPeriod(2, "pair"));
        var options = new MetaTestOptions(Trials: 40, Seed: 3, Batch: 7);
        var (oracle, random) = (MetaTest.Run(new CoinOracle(), tasks, options), MetaTest.Run(new RandomAgent(), tasks, options));
        Assert.Equal(("pair", 2), (oracle.PeriodName, oracle.PeriodSteps));
        Assert.Equal([2.0, 2, 1, 2, 2, 1, 2, 2, 1], oracle.PeriodReturns!);
        Assert.All(oracle.PeriodCi95!, c => Assert.Equal(0, c));
        // Trial by trial, an episode's periods add up to its return; the random agent earns about half of each period.
        for (int t = 0; t < 40; t++)
            for (int e = 0; e < 3; e++)
                Assert.Equal(random.TrialEpisodeReturns[t][e], random.TrialPeriodReturns[t].Skip(3 * e).Take(3).Sum(), 9);
        Assert.Equal(random.EpisodeReturns[1], random.PeriodReturns![3..6].Sum(), 9);
        Assert.InRange(random.PeriodReturns[0], 0.6, 1.4);
        var lead = MetaTestResult.Lead(oracle, random);
        for (int k = 0; k < 9; k++)
        {
            Assert.Equal(oracle.PeriodReturns![k] - random.PeriodReturns[k], lead.PerPeriod![k], 9);
            Assert.True(lead.PerPeriodCi95![k] > 0);
        }
        random.LeadOfEvaluatedAgent = lead;
        using var json = System.Text.Json.JsonDocument.Parse(random.ToJson());
        Assert.Equal(9, json.RootElement.GetProperty("periodReturns").GetArrayLength());
        Assert.Equal("pair", json.RootElement.GetProperty("periodName").GetString());
        Assert.Equal(9, json.RootElement.GetProperty("leadOfEvaluatedAgent").GetProperty("perPeriod").GetArrayLength());
        Assert.Throws<ArgumentOutOfRangeException>(() => new TrialPeriod(0, "nothing"));
    }

    [Fact]
    public void A_family_without_metrics_or_groups_reports_neither()
    {
        var result = MetaTest.Run(new CoinOracle(), new CoinTasks(), new MetaTestOptions(Trials: 5));
        Assert.Null(result.Metrics);
        Assert.Null(result.Groups);
        Assert.Null(result.PeriodReturns);
        Assert.Null(MetaTestResult.Lead(result, result).PerPeriod);
        Assert.DoesNotContain("\"metrics\"", result.ToJson());
        Assert.Throws<InvalidOperationException>(() => MetaTest.Trace(new CoinOracle(), new CoinTasks(), new CoinTasks.Coin(1), 1));
    }

    [Fact]
    public void A_trace_records_every_step_of_every_episode_as_the_meta_test_plays_that_trial()
    {
        var tasks = new MeteredCoinTasks(pulls: 5, episodes: 2);
        var trace = MetaTest.Trace(new CoinOracle(), tasks, new CoinTasks.Coin(1), seed: 9);
        Assert.Equal(2, trace.Length);
        Assert.All(trace, e => Assert.Equal([1.0, 1, 1, 1, 1, 1, 1, 1, 1, 1], e));
        var random = MetaTest.Trace(new RandomAgent(), tasks, new CoinTasks.Coin(0), seed: 9);
        // Each step's reward is 1 exactly when arm 0 (the paying one) was pulled.
        Assert.All(random, e => Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(e[2 * i] == 0 ? 1.0 : 0.0, e[2 * i + 1])));
    }

    [Fact]
    public void The_paired_lead_is_given_per_episode()
    {
        var tasks = new CoinTasks(pulls: 4, episodes: 3);
        var options = new MetaTestOptions(Trials: 30, Seed: 2);
        var oracle = MetaTest.Run(new CoinOracle(), tasks, options);
        var random = MetaTest.Run(new RandomAgent(), tasks, options);
        var lead = MetaTestResult.Lead(oracle, random);
        for (int e = 0; e < 3; e++)
            Assert.Equal(oracle.EpisodeReturns[e] - random.EpisodeReturns[e], lead.PerEpisode![e], 9);
        Assert.Equal(3, lead.PerEpisodeCi95!.Length);
    }
}
