using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Core.Learning;

/// <summary>What one meta-training iteration measured.</summary>
/// <param name="Iteration">The iteration just completed (1, 2, …).</param>
/// <param name="Metrics">One value per <see cref="IMetaLearner.MetricNames"/> entry; NaN where a metric was not measured this iteration.</param>
/// <param name="NewBest">The policy is the best one so far by the learner's own rule (kept as the run's best checkpoint).</param>
/// <param name="Summary">
/// The iteration in a few fields for a progress line, separated by two spaces and most important first (training return,
/// best policy, rate), so that a narrow terminal can drop fields from the end.
/// </param>
public sealed record IterationReport(int Iteration, double[] Metrics, string Summary, bool NewBest)
{
    /// <summary>Something the user should know now (e.g. the policy stopped exploring early); null when all is well.</summary>
    public string? Warning { get; init; }
}

/// <summary>
/// A meta-learner being trained on a task family: RL², MAML or any other algorithm of the catalogue. It runs one
/// iteration at a time, gives the policy it has so far as an agent the meta-test protocol can evaluate, and saves a
/// checkpoint that holds everything needed to rebuild it (algorithm, resolved settings, task family and its settings,
/// seed, weights, optimiser state and random streams), so that resuming from it continues bit-identically.
/// </summary>
public interface IMetaLearner
{
    /// <summary>The algorithm's name in the catalogue (e.g. "rl2").</summary>
    string Algorithm { get; }

    /// <summary>One line saying what is trained on what (for headers).</summary>
    string Description { get; }

    TaskDistribution Tasks { get; }

    /// <summary>The task family's settings as given when the learner was created.</summary>
    IReadOnlyDictionary<string, string> TaskSettings { get; }

    /// <summary>Every algorithm setting, resolved (defaults included), as key=value strings.</summary>
    IReadOnlyDictionary<string, string> Settings { get; }

    ulong Seed { get; }

    /// <summary>Iterations completed.</summary>
    int Iteration { get; }

    /// <summary>Iterations the run is configured for.</summary>
    int Iterations { get; }

    /// <summary>Names of the figures each <see cref="IterationReport"/> carries, in order (the columns of metrics.csv).</summary>
    IReadOnlyList<string> MetricNames { get; }

    /// <summary>Collects experience on training tasks and updates the policy once.</summary>
    IterationReport RunIteration();

    /// <summary>The current policy as an agent for <see cref="MetaTest"/>.</summary>
    IMetaAgent Agent();

    /// <summary>
    /// Reads and checks what only training needs (e.g. RL²'s teachers), so that a learner loaded to evaluate or play
    /// needs none of it. <see cref="RunIteration"/> does so itself; a training loop that must refuse bad input before it
    /// writes anything calls this first.
    /// </summary>
    void PrepareTraining() { }

    /// <summary>Writes a self-describing checkpoint atomically (a temporary file moved into place).</summary>
    void Save(string path);

    /// <summary>Restores the training state of a checkpoint this learner's algorithm wrote with the same settings; nothing changes if it does not fit.</summary>
    void LoadState(TensorArchive archive);

    /// <summary>
    /// Starts from the networks of a checkpoint of the same algorithm whose networks have this learner's shapes (a warm
    /// start): the weights and what they are read with (e.g. observation statistics), not the optimiser, the iteration or
    /// the random streams. Nothing changes if they do not fit.
    /// </summary>
    /// <exception cref="CheckpointException">The checkpoint's networks are missing or do not fit.</exception>
    void LoadWeights(TensorArchive archive, string source);
}

/// <summary>Training loops over any <see cref="IMetaLearner"/>.</summary>
public static class MetaLearnerExtensions
{
    /// <summary>
    /// Runs iterations until <see cref="IMetaLearner.Iterations"/> (or <paramref name="iterations"/> more, when given)
    /// or until <paramref name="cancel"/> is signalled between iterations; reports each one.
    /// </summary>
    public static void Learn(this IMetaLearner learner, int? iterations = null, IProgress<IterationReport>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(learner);
        if (iterations is < 0) throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "The number of iterations cannot be negative.");
        int end = iterations is { } n ? learner.Iteration + n : learner.Iterations;
        while (learner.Iteration < end && !cancel.IsCancellationRequested)
        {
            var report = learner.RunIteration();
            progress?.Report(report);
        }
    }
}
