using MetaRL.Core.Baselines;
using MetaRL.Core.Tasks;
using MetaRL.Core.Evaluation;
using MetaRL.Tasks.Bandits;
using MetaRL.Tasks.Mdp;
using Xunit.Abstractions;

namespace MetaRL.Tasks.Tests;

public class BaselineTests(ITestOutputHelper output)
{
    [Fact]
    public void Bayes_optimal_value_of_five_arms_ten_pulls_is_6_66()
    {
        var planner = new BayesOptimalBandit(new BernoulliBanditDistribution(5, 10));
        output.WriteLine($"V = {planner.ExpectedTotalReward:F6}");
        Assert.InRange(planner.ExpectedTotalReward, 6.655, 6.665);
    }

    [Fact]
    public void Bayes_optimal_with_one_pull_is_the_prior_mean()
    {
        Assert.Equal(0.5, new BayesOptimalBandit(new BernoulliBanditDistribution(3, 1)).ExpectedTotalReward, 12);
        // Two arms, two pulls: pull one arm; keep it after a success (2/3), switch after a failure (1/2).
        Assert.Equal(0.5 + 0.5 * 2.0 / 3 + 0.5 * 0.5, new BayesOptimalBandit(new BernoulliBanditDistribution(2, 2)).ExpectedTotalReward, 12);
    }

    [Fact]
    public void Gittins_index_with_one_pull_left_is_the_posterior_mean_and_grows_with_the_horizon()
    {
        var g = new GittinsBandit(new BernoulliBanditDistribution(2, 20));
        Assert.Equal(0.5, g.Index(0, 0, 1), 3);
        Assert.Equal(3.0 / 5, g.Index(2, 1, 1), 3);
        Assert.True(g.Index(0, 0, 10) > g.Index(0, 0, 2));
        Assert.True(g.Index(0, 0, 2) > 0.5);
    }

    [Fact]
    public void Bayes_optimal_beats_every_other_baseline_in_expectation()
    {
        var d = new BernoulliBanditDistribution(3, 8);
        var opt = new MetaTestOptions(4000, 3);
        double bayes = MetaTest.Run(new BayesOptimalBandit(d), d, opt).MeanTotalReturn;
        foreach (var a in new BanditAgent[] { new RandomBandit(), new ThompsonBandit(), new Ucb1Bandit(0.2), new EpsilonGreedyBandit(0.1) })
            Assert.True(MetaTest.Run(a, d, opt).MeanTotalReturn < bayes, a.Name);
    }

    [Theory]
    [InlineData("random", 5.0, 0.3)]
    [InlineData("Thompson sampling", 5.7, 0.3)]
    [InlineData("greedy", 6.6, 0.3)]
    public void Bandit_baselines_match_the_RL2_paper_at_ten_pulls(string name, double paper, double tolerance)
    {
        var d = new BernoulliBanditDistribution(5, 10);
        IMetaAgent agent = name switch
        {
            "random" => new RandomBandit(),
            "Thompson sampling" => new ThompsonBandit(),
            _ => new EpsilonGreedyBandit(0),
        };
        var r = MetaTest.Run(agent, d, new MetaTestOptions(5000, 11));
        output.WriteLine($"{name}: {r.MeanTotalReturn:F3} ± {r.Ci95:F3}");
        Assert.InRange(r.MeanTotalReturn, paper - tolerance, paper + tolerance);
    }

    [Fact]
    public void Dependent_bandit_bayes_optimal_is_near_the_oracle_on_easy()
    {
        var d = new DependentBanditDistribution("easy", 20);
        var bayes = new BayesOptimalBandit(d);
        // Easy: one pull reveals a lot; the optimum loses at most a couple of pulls' worth of reward.
        Assert.InRange(bayes.ExpectedTotalReward, 20 * 0.9 - 1.5, 20 * 0.9);
        var r = MetaTest.Run(bayes, d, new MetaTestOptions(3000, 5));
        Assert.InRange(r.MeanTotalReturn, bayes.ExpectedTotalReward - 0.3, bayes.ExpectedTotalReward + 0.3);
    }

    [Fact]
    public void Tabular_mdp_random_psrl_and_oracle_are_ordered_and_match_the_paper()
    {
        var d = new TabularMdpDistribution();
        var opt = new MetaTestOptions(1000, 2);
        var random = MetaTest.Run(new RandomAgent(), d, opt);
        var psrl = MetaTest.Run(new PsrlAgent(), d, opt);
        var paperPsrl = MetaTest.Run(new PsrlAgent(rewardPriorMean: 0), d, opt);
        var greedy = MetaTest.Run(new PsrlAgent(posteriorMean: true), d, opt);
        var oracle = MetaTest.Run(new TabularOracle(), d, opt);
        output.WriteLine($"random {random.MeanTotalReturn:F2}, PSRL {psrl.MeanTotalReturn:F2}, PSRL prior mean 0 {paperPsrl.MeanTotalReturn:F2}, greedy {greedy.MeanTotalReturn:F2}, oracle {oracle.MeanTotalReturn:F2} (exact {oracle.OracleTotalReturn:F2})");
        Assert.InRange(random.MeanTotalReturn, 100.1 - 3, 100.1 + 3);
        // PSRL with the exact prior N(1, 1) measures 133.7 ± 0.5 over 10 000 trials; the RL² paper's 138.1 came
        // from TabulaRL's default prior N(0, 1), which we measure at 137.9 ± 0.5. The paper's band is ±3.
        Assert.InRange(psrl.MeanTotalReturn, 129, 138);
        Assert.InRange(paperPsrl.MeanTotalReturn, 138.1 - 3, 138.1 + 3);
        Assert.Equal("PSRL (reward prior mean 0)", paperPsrl.Agent);
        Assert.True(random.MeanTotalReturn < psrl.MeanTotalReturn && psrl.MeanTotalReturn < greedy.MeanTotalReturn
                    && greedy.MeanTotalReturn < oracle.MeanTotalReturn);
        Assert.InRange(oracle.MeanTotalReturn, oracle.OracleTotalReturn!.Value - 3, oracle.OracleTotalReturn!.Value + 3);
        // PSRL improves from episode to episode.
        Assert.True(psrl.EpisodeReturns[^1] > psrl.EpisodeReturns[0] + 2);
    }
}
