using MetaRL.Core.Baselines;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Core.Tests;

public class LearnTests
{
    private sealed class Counting(int iterations) : IMetaLearner
    {
        public string Algorithm => "counting";
        public string Description => "counts";
        public TaskDistribution Tasks { get; } = new CoinTasks();
        public IReadOnlyDictionary<string, string> TaskSettings { get; } = new Dictionary<string, string>();
        public IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>();
        public ulong Seed => 1;
        public int Iteration { get; private set; }
        public int Iterations => iterations;
        public IReadOnlyList<string> MetricNames => ["n"];
        public IterationReport RunIteration() => new(++Iteration, [Iteration], "", false);
        public IMetaAgent Agent() => new RandomAgent();
        public void Save(string path) => throw new NotSupportedException();
        public void LoadState(TensorArchive archive) => throw new NotSupportedException();
        public void LoadWeights(TensorArchive archive, string source) => throw new NotSupportedException();
    }

    [Fact]
    public void Learn_runs_to_the_configured_total_or_the_given_count_with_or_without_progress()
    {
        var learner = new Counting(5);
        learner.Learn();
        Assert.Equal(5, learner.Iteration);
        var seen = new List<int>();
        learner.Learn(iterations: 2, progress: new SynchronousProgress(r => seen.Add(r.Iteration)));
        Assert.Equal([6, 7], seen);
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        learner.Learn(iterations: 3, cancel: stop.Token);
        Assert.Equal(7, learner.Iteration);
        Assert.Throws<ArgumentOutOfRangeException>(() => learner.Learn(iterations: -1));
    }

    private sealed class SynchronousProgress(Action<IterationReport> report) : IProgress<IterationReport>
    {
        public void Report(IterationReport value) => report(value);
    }
}
