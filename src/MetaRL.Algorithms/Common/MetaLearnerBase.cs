using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Common;

/// <summary>What every catalogue learner records alike: its identity, settings, metric names and checkpoint description.</summary>
public abstract class MetaLearnerBase(string algorithm, TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings,
    IReadOnlyDictionary<string, string> settings, ulong seed, IReadOnlyList<string> metricNames) : IMetaLearner
{
    public string Algorithm => algorithm;
    public TaskDistribution Tasks => tasks;
    public IReadOnlyDictionary<string, string> TaskSettings { get; } = new SortedDictionary<string, string>(taskSettings.ToDictionary(), StringComparer.Ordinal);
    public IReadOnlyDictionary<string, string> Settings => settings;
    public ulong Seed => seed;
    public IReadOnlyList<string> MetricNames => metricNames;

    public abstract string Description { get; }
    public abstract int Iteration { get; }
    public abstract int Iterations { get; }
    public abstract IterationReport RunIteration();
    public abstract IMetaAgent Agent();
    public virtual void PrepareTraining() { }
    public abstract void LoadState(TensorArchive archive);

    public abstract void LoadWeights(TensorArchive archive, string source);

    /// <summary>Writes the checkpoint, the learner's description among its metadata.</summary>
    public void Save(string path) => SaveCheckpoint(path, LearnerCheckpoint.Metadata(this));

    /// <summary>Writes the algorithm's own checkpoint with <paramref name="metadata"/> in it, atomically.</summary>
    protected abstract void SaveCheckpoint(string path, IReadOnlyDictionary<string, string> metadata);

    /// <summary>The family and its settings, for <see cref="Description"/>.</summary>
    protected string Family => $"{Tasks.Name} ({Tasks.SettingsText()})";
}
