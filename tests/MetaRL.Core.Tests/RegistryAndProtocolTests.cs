using MetaRL.Core.Baselines;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;

namespace MetaRL.Core.Tests;

public class RegistryAndProtocolTests
{
    [Fact]
    public void A_task_pack_is_found_by_its_assembly_attribute_and_names_are_unique()
    {
        Assert.Contains(TaskRegistry.Families, f => f.Name == "core-test-coin");
        var tasks = TaskRegistry.Create("core-test-coin", new Dictionary<string, string> { ["horizon"] = "6" });
        Assert.Equal(6, tasks.Horizon);
        var twice = Assert.Throws<ArgumentException>(() => TaskRegistry.Register(new("core-test-coin", "again", _ => new CoinTasks(), (_, _) => [])));
        Assert.Contains("already registered", twice.Message);
        var unknown = Assert.Throws<SettingException>(() => TaskRegistry.Get("no-such-family"));
        Assert.Contains("Valid task families:", unknown.Message);
        Assert.Contains("core-test-coin", unknown.Message);
        Assert.Throws<SettingException>(() => TaskRegistry.Create("core-test-coin", new Dictionary<string, string> { ["pulls"] = "6" }));
    }

    [Fact]
    public void The_protocol_scores_an_oracle_at_its_closed_form_and_a_random_agent_reproducibly()
    {
        var tasks = new CoinTasks(pulls: 4, episodes: 3);
        var options = new MetaTestOptions(Trials: 300, Seed: 5, Batch: 64);
        var oracle = MetaTest.Run(new CoinOracle(), tasks, options);
        Assert.Equal([4.0, 4.0, 4.0], oracle.EpisodeReturns);
        Assert.Equal(12.0, oracle.MeanTotalReturn);
        Assert.Equal(0.0, oracle.Regret);

        var random = MetaTest.Run(new RandomAgent(), tasks, options);
        var again = MetaTest.Run(new RandomAgent(), tasks, options);
        Assert.Equal(random.TrialTotals, again.TrialTotals);
        Assert.InRange(random.MeanTotalReturn, 5.0, 7.0);    // half the pulls pay in expectation
        var lead = MetaTestResult.Lead(oracle, random);
        Assert.Equal(12.0 - random.MeanTotalReturn, lead.Mean, 12);
    }
}
