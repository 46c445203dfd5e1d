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

public class MovingHiddenStateTests
{
    [Fact]
    public void An_oracle_reads_the_hidden_state_as_it_moves_and_its_play_is_the_oracle_return()
    {
        var tasks = new SwitchingCoinTasks(pulls: 4, episodes: 3);
        var options = new MetaTestOptions(Trials: 200, Seed: 3, Batch: 64);
        var oracle = MetaTest.Run(new HiddenStateOracle(), tasks, options);
        Assert.Equal(12.0, oracle.MeanTotalReturn); // every pull pays: it follows the switch
        // The task alone (the first paying arm) is not enough once the arm switches mid-trial.
        var firstArm = MetaTest.Run(new FirstArmAgent(), tasks, options);
        Assert.InRange(firstArm.MeanTotalReturn, 3.0, 9.0);
        // No closed form: the family's oracle agent played the same trials to give the regret.
        Assert.Equal("hidden-state oracle", firstArm.OracleAgent);
        Assert.Equal(12.0, firstArm.OracleTotalReturn);
        Assert.Equal(12.0 - firstArm.MeanTotalReturn, firstArm.Regret!.Value, 12);
        var random = MetaTest.Run(new RandomAgent(), tasks, options);
        Assert.InRange(random.MeanTotalReturn, 5.0, 7.0);
        // A family whose hidden parameters stay put has no hidden state to give.
        Assert.Equal(0, new CoinTasks().HiddenStateSize);
        Assert.Null(MetaTest.Run(new RandomAgent(), new CoinTasks(), options).OracleAgent);
    }

    /// <summary>Reads the task at the trial's start (as the closed-form oracles do) but not the hidden state.</summary>
    private sealed class FirstArmAgent : IMetaAgent
    {
        public string Name => "first arm";
        public IAgentSession Begin(int batch, TaskDistribution tasks, MetaRL.Engine.Rng rng) => new Session(batch);
        private sealed class Session(int batch) : IAgentSession
        {
            private readonly int[] _arm = new int[batch];
            public void StartTrial(int slot, ITask task) => _arm[slot] = ((SwitchingCoinTasks.SwitchingCoin)task).FirstArm;
            public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
            {
                for (int i = 0; i < batch; i++) actions[i] = _arm[i];
            }
            public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
        }
    }
}
