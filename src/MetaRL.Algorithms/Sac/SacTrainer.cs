using System.Diagnostics;
using System.Globalization;
using MetaRL.Algorithms.Common;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Sac;

/// <summary>What one SAC iteration did.</summary>
public sealed record SacIterationStats(int Iteration, long Steps, double MeanReturn, double CriticLoss, double PolicyLoss, double Alpha, double Entropy,
    double MeanQ, int Updates, double Seconds);

/// <summary>
/// Plain soft actor-critic, read top to bottom: each iteration plays episodes on tasks drawn from the training
/// distribution (uniform random actions until <see cref="SacConfig.LearningStarts"/> steps have been played), adds every
/// transition to one replay buffer, then takes <see cref="SacConfig.GradientSteps"/> updates per step played. On a family
/// of many tasks this is the non-adaptive multi-task policy: nothing tells it which task it is in.
/// </summary>
public sealed class SacTrainer
{
    private readonly TaskDistribution _tasks;
    private readonly ActionMap _map;
    private readonly Rng _rng, _taskRng, _updateRng;
    private readonly ReplayBuffer _buffer;
    private readonly SacBatch _batch;
    private readonly IEnv?[] _envs;

    public SacTrainer(TaskDistribution tasks, SacConfig config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        _map = ActionMap.For(tasks, "sac");
        var root = new Rng(seed);
        Sac = new SoftActorCritic(tasks.ObservationSpace.Size, tasks.ActionSpace.Size, 0, config.Update, root.Split());
        _rng = root.Split();
        _updateRng = root.Split();
        _taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
        _buffer = new ReplayBuffer(tasks.ObservationSpace.Size, tasks.ActionSpace.Size, config.BufferSize);
        _batch = new SacBatch(config.BatchSize, tasks.ObservationSpace.Size, tasks.ActionSpace.Size);
        _envs = new IEnv?[config.Envs];
    }

    public SacConfig Config { get; }
    public SoftActorCritic Sac { get; }
    public ActionMap Map => _map;
    public int Iteration { get; private set; }
    public long TotalSteps { get; private set; }

    public SacIterationStats RunIteration()
    {
        var watch = Stopwatch.StartNew();
        // Play: each environment a task of its own for its share of the episodes.
        int slots = Config.Envs;
        var tasks = Enumerable.Range(0, slots).Select(_ => _tasks.SampleTask(_taskRng, TaskSplit.Train)).ToArray();
        var streams = Enumerable.Range(0, slots).Select(_ => _rng.Split()).ToArray();
        bool random = TotalSteps < Config.LearningStarts;
        var collector = new TransitionCollector(Sac, _tasks, _map, Enumerable.Repeat<IReadOnlyList<ReplayBuffer>>([_buffer], slots).ToArray(), _rng.Split(), random);
        long before = _buffer.Added;
        var returns = TrialSampler.Play(collector, _tasks, tasks, streams, new TrialPlan(Config.EpisodesPerIteration / slots, CheckActions: false), _envs);
        long played = _buffer.Added - before;
        TotalSteps += played;

        // Learn.
        int updates = TotalSteps < Config.LearningStarts ? 0 : (int)Math.Round(Config.GradientSteps * played);
        SacUpdateStats last = default;
        double critic = 0, policy = 0;
        for (int u = 0; u < updates; u++)
        {
            _buffer.Sample(_updateRng, _batch.Rows, _batch.Observations, _batch.Actions, [], _batch.Rewards, _batch.Next, _batch.Terminals);
            last = Sac.Update(_batch, _updateRng);
            critic += last.CriticLoss;
            policy += last.PolicyLoss;
        }
        Iteration++;
        double meanReturn = returns.SelectMany(r => r).Average();
        return new SacIterationStats(Iteration, TotalSteps, meanReturn, updates > 0 ? critic / updates : double.NaN, updates > 0 ? policy / updates : double.NaN,
            Sac.Alpha, updates > 0 ? last.Entropy : double.NaN, updates > 0 ? last.MeanQ : double.NaN, updates, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Writes the networks, optimisers, replay buffer, random streams and counters atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata)
    {
        var archive = new TensorArchive();
        foreach (var (k, v) in metadata) archive.Metadata[k] = v;
        archive.Metadata["kind"] = "sac-checkpoint";
        archive.Metadata["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
        archive.Metadata["total-steps"] = TotalSteps.ToString(CultureInfo.InvariantCulture);
        CheckpointMetadata.WriteRng(archive, "rng", _rng);
        CheckpointMetadata.WriteRng(archive, "task-rng", _taskRng);
        CheckpointMetadata.WriteRng(archive, "update-rng", _updateRng);
        Sac.WriteTo(archive, "sac.");
        _buffer.WriteTo(archive, "buffer.");
        archive.Save(path);
    }

    /// <summary>A warm start: the networks, targets and temperature of another SAC checkpoint of the same shapes; nothing else.</summary>
    public void LoadWeights(TensorArchive archive, string source)
    {
        CheckpointMetadata.RequireKind(archive, "sac-checkpoint", "a SAC", source);
        Sac.ReadFrom(archive, "sac.", source, weightsOnly: true)();
    }

    /// <summary>Restores a checkpoint written by <see cref="Save"/>; nothing changes if it does not fit.</summary>
    public void Load(TensorArchive archive, string source = "the checkpoint")
    {
        CheckpointMetadata.RequireKind(archive, "sac-checkpoint", "a SAC", source);
        int iteration = CheckpointMetadata.ReadInt(archive, "iteration");
        long steps = CheckpointMetadata.ReadLong(archive, "total-steps");
        var rng = CheckpointMetadata.ReadRngState(archive, "rng");
        var taskRng = CheckpointMetadata.ReadRngState(archive, "task-rng");
        var updateRng = CheckpointMetadata.ReadRngState(archive, "update-rng");
        var restoreSac = Sac.ReadFrom(archive, "sac.", source);
        var restoreBuffer = _buffer.ReadFrom(archive, "buffer.", source);
        restoreSac();
        restoreBuffer();
        _rng.SetState(rng);
        _taskRng.SetState(taskRng);
        _updateRng.SetState(updateRng);
        Iteration = iteration;
        TotalSteps = steps;
    }
}
