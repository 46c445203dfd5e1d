using MetaRL.Algorithms;
using MetaRL.Algorithms.Rollouts;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using Xunit;

namespace MetaRL.Algorithms.Tests;

/// <summary>
/// Rollouts played in pieces, through the bytes a worker receives and returns, give exactly the iteration played in one
/// piece here: the checkpoints after two iterations are equal byte for byte, for any number of pieces.
/// </summary>
public sealed class RolloutPieceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-pieces-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    /// <summary>Every piece through a fresh worker-side player in this process, as a worker plays it (bytes in, bytes out).</summary>
    private sealed class LoopbackWorkers(int pieces) : IRolloutWorkers
    {
        public int Pieces => pieces;
        public int Jobs { get; private set; }

        public IReadOnlyList<byte[]> Play(RolloutJob job, IReadOnlyList<byte[]> list, CancellationToken cancel = default)
        {
            Jobs++;
            // Each piece on a player of its own, in reverse order: nothing may carry over from one piece to another.
            var results = new byte[list.Count][];
            for (int p = list.Count - 1; p >= 0; p--) results[p] = RolloutPlayers.Create(job).Play(list[p]);
            return results;
        }
    }

    public static TheoryData<string, string, string[]> Runs => new()
    {
        // GRU with observation statistics, 7 trials (pieces of unequal size, and of one trial).
        { "rl2", "navigation-2d", ["hidden=8", "trials-per-iteration=7", "minibatches=1", "horizon=6", "episodes=2", "normalize-observations=true", "bptt=5"] },
        // LSTM, discrete actions, TRPO, a task-aware critic and task input.
        { "rl2", "bandit", ["hidden=8", "cell=lstm", "trials-per-iteration=5", "update=trpo", "episodes=6", "task-critic=true", "task-input=true"] },
        // Prioritised task sampling: from the second iteration some trials are drawn for the worst opponent kinds.
        { "rl2", "rps-bots", ["hidden=8", "trials-per-iteration=7", "minibatches=1", "throws=10", "episode-throws=5", "task-priority=0.8"] },
        // Early terminations padded, the previous observation and time inputs.
        { "rl2", "tabular-mdp", ["hidden=8", "trials-per-iteration=6", "minibatches=2", "previous-observation=true", "time-input=true"] },
        { "maml", "navigation-2d", ["hidden=8,8", "meta-batch=5", "trajectories=3", "horizon=6", "validate-every=0"] },
        { "maml", "navigation-2d", ["hidden=8", "meta-batch=4", "trajectories=2", "horizon=5", "curvature-subsample=0.5", "validate-every=0"] },
        { "maml", "bandit", ["hidden=8", "meta-batch=3", "trajectories=4", "outer=ppo", "validate-every=0"] },
    };

    [Theory]
    [MemberData(nameof(Runs))]
    public void Pieces_played_as_workers_play_them_give_the_same_checkpoint(string algorithm, string task, string[] settings)
    {
        var values = TestSettings.Parse(settings);
        values["iterations"] = "2";
        byte[] Train(int? pieces)
        {
            var learner = MetaLearners.Create(algorithm, task, values, seed: 11);
            var workers = pieces is null ? null : new LoopbackWorkers(pieces.Value);
            ((IDistributableLearner)learner).Workers = workers;
            learner.Learn();
            if (workers is not null) Assert.Equal(2, workers.Jobs);
            var path = Path.Combine(_dir, $"{algorithm}-{pieces}.mrla");
            learner.Save(path);
            return File.ReadAllBytes(path);
        }
        var here = Train(null);
        foreach (int pieces in new[] { 1, 2, 3, 7 })
            Assert.True(here.AsSpan().SequenceEqual(Train(pieces)), $"{pieces} pieces: the checkpoint differs from the one trained here");
    }

    [Fact]
    public void A_damaged_result_is_refused_by_name()
    {
        var learner = MetaLearners.Create("rl2", "bandit", new Dictionary<string, string> { ["hidden"] = "4", ["trials-per-iteration"] = "3", ["minibatches"] = "1", ["iterations"] = "1" });
        ((IDistributableLearner)learner).Workers = new Truncating();
        var e = Assert.Throws<InvalidDataException>(() => learner.RunIteration());
        Assert.Contains("RL² rollout result is malformed", e.Message);
    }

    private sealed class Truncating : IRolloutWorkers
    {
        public int Pieces => 1;
        public IReadOnlyList<byte[]> Play(RolloutJob job, IReadOnlyList<byte[]> pieces, CancellationToken cancel = default)
            => pieces.Select(p => RolloutPlayers.Create(job).Play(p)[..^9]).ToArray();
    }

    [Fact]
    public void An_algorithm_without_distributed_rollouts_is_refused_by_name()
    {
        var job = new RolloutJob("sac", "pendulum", new Dictionary<string, string>(), MetaLearners.Get("sac").Resolve("pendulum", new Dictionary<string, string>(), out _), "x", []);
        var e = Assert.Throws<NotSupportedException>(() => RolloutPlayers.Create(job));
        Assert.Contains("sac", e.Message);
    }

    /// <summary>A task drawn from a saved generator state is the task drawn when the state was saved, for every built-in family.</summary>
    [Fact]
    public void Every_family_draws_the_same_task_again_from_a_saved_state()
    {
        int checkedFamilies = 0;
        foreach (var family in TaskRegistry.Families)
        {
            TaskDistribution tasks;
            try
            {
                tasks = family.Create(null);
                tasks.SampleTask(new Rng(1), TaskSplit.Train);
            }
            catch (SettingException) { continue; } // not available here (a simulator not installed, or data the user must give)
            checkedFamilies++;
            var rng = TaskDistribution.TaskStream(5, TaskSplit.Train);
            for (int i = 0; i < 5; i++)
            {
                var seed = new TrialSeed(i, rng.GetState(), []);
                var drawn = tasks.SampleTask(rng, TaskSplit.Train);
                var again = seed.DrawTask(tasks);
                Assert.Equal(drawn.Describe(), again.Describe());
                Assert.Equal(drawn.Label, again.Label);
            }
        }
        Assert.True(checkedFamilies >= 12, $"only {checkedFamilies} families checked");
    }
}
