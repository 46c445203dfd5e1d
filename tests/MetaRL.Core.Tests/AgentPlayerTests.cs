using MetaRL.Core.Baselines;
using MetaRL.Core.Evaluation;

namespace MetaRL.Core.Tests;

public class AgentPlayerTests
{
    /// <summary>Win-stay, lose-shift: pulls the arm that paid last, else the other one; forgets it at a new task.</summary>
    private sealed class WinStay : IStrategy
    {
        private int _arm, _lastArm;
        public void Reset() => _arm = 0;
        public void Act(ReadOnlySpan<float> observation, Span<float> action) => action[0] = _lastArm = _arm;
        public void Observe(float reward, bool episodeEnded) => _arm = reward > 0 ? _lastArm : 1 - _lastArm;
    }

    private static readonly StrategyAgent Agent = new("win-stay", (_, _) => new WinStay());

    [Fact]
    public void Played_step_by_step_an_agent_scores_what_the_protocol_scores_on_the_same_tasks()
    {
        var tasks = new CoinTasks(pulls: 4, episodes: 3);
        const ulong seed = 3;
        var protocol = MetaTest.Run(Agent, tasks, new MetaTestOptions(Trials: 50, Seed: seed, Batch: 16));
        var player = new AgentPlayer(Agent, tasks);
        var env = tasks.CreateEnv();
        var obs = new float[1];
        var heldOut = MetaTest.Tasks(tasks, seed, 50);
        for (int t = 0; t < heldOut.Length; t++)
        {
            env.SetTask(heldOut[t]);
            var rng = MetaTest.EnvironmentStream(seed, t);
            player.Reset();
            double total = 0;
            for (int e = 0; e < tasks.EpisodesPerTrial; e++)
            {
                env.Reset(rng, obs);
                bool over;
                do
                {
                    var r = env.Step(player.Act(obs), rng, obs);
                    total += r.Reward;
                    over = player.Observe((float)r.Reward, r.Terminated, r.Truncated);
                }
                while (!over);
            }
            Assert.Equal(protocol.TrialTotals[t], total);
        }
        // Win-stay finds the paying arm within two pulls and keeps it across episodes: 11 or 12 of 12.
        Assert.All(protocol.TrialTotals, total => Assert.InRange(total, 11, 12));
    }

    [Fact]
    public void Misuse_is_refused_with_a_message_that_says_what_to_do()
    {
        var tasks = new CoinTasks();
        var player = new AgentPlayer(Agent, tasks);
        Assert.Contains("Reset", Assert.Throws<InvalidOperationException>(() => player.Act([0f])).Message);
        player.Reset();
        Assert.Contains("must follow an Act", Assert.Throws<InvalidOperationException>(() => player.Observe(1, false, false)).Message);
        Assert.Contains("observations have 1", Assert.Throws<ArgumentException>(() => player.Act([0f, 0f])).Message);
        player.Act([0f]);
        Assert.Contains("twice", Assert.Throws<InvalidOperationException>(() => player.Act([0f])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => player.Observe(float.NaN, false, false));
        Assert.False(player.Observe(1, false, false));
        Assert.Equal(1, player.Step);
        for (int s = 1; s < tasks.Horizon - 1; s++) { player.Act([0f]); Assert.False(player.Observe(0, false, false)); }
        player.Act([0f]);
        Assert.True(player.Observe(0, false, false)); // the horizon ends the episode even if the caller does not say so
        Assert.Equal(0, player.Step);
    }
}
