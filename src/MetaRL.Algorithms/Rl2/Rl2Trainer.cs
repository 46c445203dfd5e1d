using System.Diagnostics;
using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Optim;
using MetaRL.Algorithms.Rollouts;

namespace MetaRL.Algorithms.Rl2;

/// <summary>What one training iteration did.</summary>
public sealed record Rl2IterationStats(
    int Iteration, double MeanTrialReturn, double[] EpisodeReturns, double PolicyLoss, double ValueLoss, double Entropy,
    double ApproxKl, double ClipFraction, double GradNorm, double LearningRate, long Steps, double Seconds, double RolloutSeconds)
{
    /// <summary>TRPO: line-search steps tried, and whether one was accepted (a rejected step leaves the policy unchanged).</summary>
    public int LineSearchSteps { get; init; }
    public bool Accepted { get; init; } = true;
    /// <summary>
    /// With task prediction: the auxiliary loss (half the mean squared error per task feature), the mean over PPO's updates
    /// or, with TRPO, at the sampling policy (whose reported policy loss is then the negated objective, which includes it,
    /// and whose KL includes the prediction's share).
    /// </summary>
    public double TaskLoss { get; init; }
    /// <summary>With teachers: the mean KL(teacher ‖ policy) over the steps teachers read, over PPO's updates; NaN without.</summary>
    public double TeacherKl { get; init; } = double.NaN;
}


/// <summary>
/// RL² (Duan et al. 2016): each iteration collects one trial on each of <see cref="Rl2Config.TrialsPerIteration"/>
/// freshly drawn training tasks (<see cref="Rl2Rollout"/>: recurrent state carried across the episodes of a trial, GAE
/// over the whole trial) and updates the network on them with PPO (<see cref="Rl2PpoUpdate"/>) or TRPO
/// (<see cref="Rl2TrpoUpdate"/>), both over the same pieces (<see cref="Rl2Objective"/>). The trainer owns the network,
/// the optimiser, the random streams and the counters, and saves and restores them all.
/// </summary>
public sealed class Rl2Trainer
{
    private readonly TaskDistribution _tasks;
    private readonly Rng _rng, _taskRng;
    private readonly Tensor<float>[] _policyParameters;
    private readonly Rl2Objective _objective;
    private readonly Rl2Rollout _rollout;
    private readonly Rl2PpoUpdate? _ppo;
    private readonly Rl2TrpoUpdate? _trpo;

    /// <summary>The parameters that shape the policy (all but the value head's or critic's); TRPO steps move these.</summary>
    internal IReadOnlyList<Tensor<float>> PolicyParameters => _policyParameters;

    /// <summary>A rollout batch as an iteration collects it (for tests of the update's pieces).</summary>
    internal Rl2Batch CollectBatch()
    {
        PrepareTraining();
        return _rollout.Collect().Data;
    }

    /// <summary>The chunks an update over <paramref name="trials"/> walks through (for tests).</summary>
    internal IEnumerable<Rl2Chunk> Chunks(Rl2Batch data, int[] trials) => _objective.Chunks(data, trials);

    internal Tensor<float> ChunkFeatures(Rl2Chunk c) => _objective.Features(c);

    /// <summary>With teachers: them, read (for tests); else null.</summary>
    internal Rl2Teachers? Teachers
    {
        get
        {
            PrepareTraining();
            return _rollout.Teachers;
        }
    }

    /// <summary>With task-priority: the groups' scores and their ranking (<see cref="Rl2Config.TaskPriority"/>); else null.</summary>
    internal GroupPriority? Priority => _rollout.Priority;

    /// <summary>How many fixed parts gradients and curvature products are split into (settable for tests).</summary>
    internal int Shards { get => _objective.Shards; set => _objective.Shards = value; }

    /// <summary>PPO's gradient over one minibatch (for tests).</summary>
    internal (Tensor<float>?[] Grads, double Policy, double Value, double Entropy, double Kl, double ClipFraction, double TaskLoss, (double KlSum, double Steps) Teacher) MinibatchGradients(
        Rl2Batch data, int[] trials, double validTotal, double entropyCoef, double? teacherCoef = null)
        => (_ppo ?? new Rl2PpoUpdate(_objective, Optimizer, _rng)).MinibatchGradients(data, trials, validTotal, entropyCoef, teacherCoef ?? Config.TeacherCoef, Iteration + 1);

    /// <summary>TRPO's Fisher-vector products (for tests).</summary>
    internal Func<Tensor<float>[], Tensor<float>[]> FisherProducts(Rl2Batch data, int[] all, IReadOnlyList<Tensor<float>> theta)
        => (_trpo ?? new Rl2TrpoUpdate(_objective, Optimizer, _policyParameters, _rng)).FisherProducts(data, all, theta);

    private static int CriticFeatures(TaskDistribution tasks, Rl2Config config) => config.TaskCritic ? TaskFeatures(tasks, "task-critic") : 0;

    private static int TaskFeatures(TaskDistribution tasks, string key)
    {
        if (tasks.TaskFeatureSize <= 0)
            throw new SettingException($"rl2: '{key}' needs task features, and task family '{tasks.Name}' offers none; set {key}=false.");
        return tasks.TaskFeatureSize;
    }

    /// <summary>The network a configuration describes for a task family (weights from <paramref name="rng"/>).</summary>
    public static Rl2Network CreateNetwork(TaskDistribution tasks, Rl2Config config, Rng rng)
        => new(tasks.ObservationSpace, tasks.ActionSpace, config.Hidden, config.Cell, config.LayerNorm, rng, config.TimeInput,
            CriticFeatures(tasks, config), config.Memory, config.TaskInput ? TaskFeatures(tasks, "task-input") : 0, config.NormalizeObservations, config.Head,
            config.SkipInput, config.TaskPrediction > 0 ? TaskFeatures(tasks, "task-prediction") : 0, config.PreviousObservation, config.MemoryBias, config.PairInput, config.GatedHead, config.InitialLogStd);

    /// <summary>Task features a batch records per trial: the family's, when the network uses them anywhere; 0 otherwise.</summary>
    internal static int RecordedTaskFeatures(TaskDistribution tasks, Rl2Network network)
        => network.CriticTaskFeatures > 0 || network.PolicyTaskFeatures > 0 || network.TaskPredictionFeatures > 0 ? tasks.TaskFeatureSize : 0;

    /// <summary>
    /// Where the rollouts are played (null: here) and the job that tells workers what to play; the iteration is the same
    /// either way.
    /// </summary>
    internal IRolloutWorkers? Workers { get; set; }
    internal Func<RolloutJob>? Job { get; set; }

    /// <summary>The network and its observation statistics as bytes, for workers (<see cref="PiecePlayer"/> reads them).</summary>
    internal byte[] PolicyBytes()
    {
        var archive = new TensorArchive();
        Network.AddTo(archive, "net.");
        Network.ObservationNormalizer?.AddTo(archive, ObservationStatisticsPrefix);
        return archive.ToBytes();
    }

    /// <summary>A worker's side of a job: the network <see cref="PolicyBytes"/> wrote, playing pieces of trials.</summary>
    internal static IPiecePlayer PiecePlayer(TaskDistribution tasks, Rl2Config config, byte[] policy)
    {
        var net = LoadNetwork(TensorArchive.Parse(policy, "the RL² policy sent to this worker"), tasks, config);
        // The streams are never drawn from: every trial's seeds arrive with it.
        var rollout = new Rl2Rollout(tasks, net, config, new Rng(1), new Rng(2), RecordedTaskFeatures(tasks, net));
        return new Rl2Pieces(rollout);
    }

    private sealed class Rl2Pieces(Rl2Rollout rollout) : IPiecePlayer
    {
        public byte[] Play(byte[] piece) => rollout.Play(TrialSeed.ReadPiece(piece)).ToBytes(rollout.Steps, rollout.ChunkLength);
    }

    public Rl2Trainer(TaskDistribution tasks, Rl2Config config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        Seed = seed;
        var init = new Rng(seed);
        Network = CreateNetwork(tasks, config, init);
        // With TRPO the policy moves by trust-region steps and Adam fits only the value head (and task head).
        var named = Network.NamedParameters().ToArray();
        _policyParameters = named.Where(p => !Rl2Network.IsTrainingOnlyParameter(p.Name)).Select(p => p.Parameter).ToArray();
        Optimizer = new Adam<float>(config.Update == Rl2Update.Trpo ? named.Where(p => Rl2Network.IsTrainingOnlyParameter(p.Name)).Select(p => p.Parameter).ToArray() : Network.Parameters(),
            config.LearningRate, epsilon: 1e-5);
        _rng = new Rng(seed ^ 0x5151_7777UL);
        _taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
        int taskFeatures = RecordedTaskFeatures(tasks, Network);
        _objective = new Rl2Objective(Network, config, tasks.EpisodesPerTrial * tasks.Horizon, tasks.ActionSpace.Size, taskFeatures);
        _rollout = new Rl2Rollout(tasks, Network, config, _rng, _taskRng, taskFeatures)
        {
            Priority = config.TaskPriority > 0 ? new GroupPriority(tasks, config.TaskPriority, "rl2") : null,
        };
        if (config.Update == Rl2Update.Trpo) _trpo = new Rl2TrpoUpdate(_objective, Optimizer, _policyParameters, _rng);
        else _ppo = new Rl2PpoUpdate(_objective, Optimizer, _rng);
    }

    public Rl2Config Config { get; }
    public ulong Seed { get; }

    /// <summary>The task family it trains on.</summary>
    public TaskDistribution Tasks => _tasks;
    public Rl2Network Network { get; }
    public Adam<float> Optimizer { get; }
    public int Iteration { get; private set; }
    public long TotalSteps { get; private set; }

    public Rl2Agent Agent(bool? deterministic = null) => new(Network, deterministic ?? Config.Deterministic);

    // The teachers a loaded checkpoint recorded (their groups and files' SHA-256), checked when the teachers are read.
    private string? _recordedTeachers;

    /// <summary>
    /// Reads what only training needs, the teachers (<see cref="Rl2Config.Teachers"/>), and checks them against the
    /// checkpoint loaded, if any; once. A trained policy therefore loads, evaluates and plays without its teachers' files
    /// (and on tasks their groups do not cover). <see cref="RunIteration"/> calls it first; a run directory calls it
    /// before it writes anything.
    /// </summary>
    /// <exception cref="SettingException">A teacher that cannot teach this run (see <see cref="Rl2Teachers"/>).</exception>
    /// <exception cref="CheckpointException">A teacher's file cannot be read, or differs from the one the loaded checkpoint trained with.</exception>
    public void PrepareTraining()
    {
        if (Config.Teachers.Count == 0 || _rollout.Teachers is not null) return;
        var teachers = new Rl2Teachers(_tasks, Network, Config);
        CheckTeachers(_recordedTeachers, teachers);
        _rollout.Teachers = teachers;
    }

    // Resuming with other teachers than the run learnt from would not continue that run.
    private static void CheckTeachers(string? recorded, Rl2Teachers teachers)
    {
        if (recorded is not null && recorded != teachers.Fingerprint)
            throw new CheckpointException($"The teachers have changed since the checkpoint was written (recorded {recorded}; now {teachers.Fingerprint}): "
                + "a resumed run would not continue the one trained. Put the teachers' files back, or start a new run from it (--from RUN --weights).");
    }

    /// <summary>
    /// One iteration, read top to bottom: the learning rate and the entropy and teacher weights for this point of
    /// training, a rollout of fresh training trials, then the PPO or TRPO update on it. Throws <see cref="TrainingDivergedException"/> on NaN or infinity.
    /// </summary>
    public Rl2IterationStats RunIteration()
    {
        PrepareTraining();
        var watch = Stopwatch.StartNew();
        double progress = (double)Iteration / Config.Iterations;
        Optimizer.LearningRate = Config.LrSchedule == LearningRateSchedule.Linear ? Config.LearningRate * Math.Max(0, 1 - progress) : Config.LearningRate;
        double entropyCoef = Config.EntropyCoef + (Config.EntropyCoefFinal - Config.EntropyCoef) * Math.Min(1, progress);
        double teacherCoef = Config.TeacherCoef + (Config.TeacherCoefFinal - Config.TeacherCoef) * Math.Min(1, progress);

        var rollout = _rollout.Collect(Workers, Job);
        double rolloutSeconds = watch.Elapsed.TotalSeconds;

        var u = _trpo is not null ? _trpo.Update(rollout.Data, Iteration + 1) : _ppo!.Update(rollout.Data, entropyCoef, teacherCoef, Iteration + 1);

        Iteration++;
        TotalSteps += rollout.Steps;
        return new Rl2IterationStats(Iteration, rollout.TrialReturns.Average(), rollout.EpisodeMeans, u.PolicyLoss, u.ValueLoss, u.Entropy, u.Kl, u.ClipFraction,
            u.GradNorm, Optimizer.LearningRate, TotalSteps, watch.Elapsed.TotalSeconds, rolloutSeconds)
        { LineSearchSteps = u.LineSearchSteps, Accepted = u.Accepted, TaskLoss = u.TaskLoss, TeacherKl = u.TeacherKl };
    }

    // ------------------------------------------------------------------ checkpoints

    private const string ObservationStatisticsPrefix = "obs-norm.";
    private const string GroupPriorityKey = "group-priority";
    private const string TeachersKey = "teachers";

    /// <summary>Writes everything needed to resume bit-identically (network, optimiser, counters, random streams), atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata, Action<TensorArchive>? addMore = null)
    {
        var archive = new TensorArchive();
        foreach (var (k, v) in metadata) archive.Metadata[k] = v;
        archive.Metadata["kind"] = "rl2-checkpoint";
        archive.Metadata["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
        archive.Metadata["total-steps"] = TotalSteps.ToString(CultureInfo.InvariantCulture);
        archive.Metadata["seed"] = Seed.ToString(CultureInfo.InvariantCulture);
        CheckpointMetadata.WriteRng(archive, "rng", _rng);
        CheckpointMetadata.WriteRng(archive, "task-rng", _taskRng);
        var (count, mean, m2) = _rollout.ReturnStatistics;
        archive.Metadata["return-stats"] = string.Join(',', new[] { count, mean, m2 }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        if (_rollout.Priority is { } priority) archive.Metadata[GroupPriorityKey] = priority.Format();
        // A learner loaded and saved again without training keeps the record it was loaded with; one that has neither read
        // its teachers nor been loaded has learnt nothing from them yet, and records none.
        if (Config.Teachers.Count > 0 && (_rollout.Teachers?.Fingerprint ?? _recordedTeachers) is { } fingerprint)
            archive.Metadata[TeachersKey] = fingerprint;
        Network.AddTo(archive, "net.");
        Network.ObservationNormalizer?.AddTo(archive, ObservationStatisticsPrefix);
        CheckpointMetadata.WriteOptimizer(archive, Optimizer);
        addMore?.Invoke(archive);
        archive.Save(path);
    }

    /// <summary>Restores a checkpoint written by <see cref="Save"/> into this trainer (same configuration); nothing changes if it does not fit.</summary>
    public void Load(TensorArchive archive)
    {
        CheckpointMetadata.RequireKind(archive, "rl2-checkpoint", "an RL²");
        var rng = CheckpointMetadata.ReadRngState(archive, "rng");
        var taskRng = CheckpointMetadata.ReadRngState(archive, "task-rng");
        int iteration = CheckpointMetadata.ReadInt(archive, "iteration");
        long steps = archive.Metadata.TryGetValue("total-steps", out var ts) && long.TryParse(ts, NumberStyles.None, CultureInfo.InvariantCulture, out long tv)
            ? tv : throw new CheckpointException("The checkpoint's 'total-steps' is missing or malformed.");
        var stats = ReadReturnStatistics(archive, "The checkpoint");
        var scores = _rollout.Priority is null ? null
            : GroupPriority.Parse(archive.Metadata.TryGetValue(GroupPriorityKey, out var gp) ? gp
                : throw new CheckpointException($"The checkpoint lacks '{GroupPriorityKey}' (its run did not train with task-priority, this one does)."), "The checkpoint");
        string? teachers = null;
        if (Config.Teachers.Count > 0)
        {
            teachers = archive.Metadata.TryGetValue(TeachersKey, out var fingerprint) ? fingerprint
                : iteration == 0 ? null
                : throw new CheckpointException($"The checkpoint lacks '{TeachersKey}' (its run did not train with teachers, this one does).");
            if (_rollout.Teachers is { } read) CheckTeachers(teachers, read);
        }
        var applyNetwork = ReadNetwork(archive);
        var optimState = CheckpointMetadata.ReadOptimizerState(archive, Optimizer);
        applyNetwork();
        Optimizer.LoadState(optimState);
        _rng.SetState(rng);
        _taskRng.SetState(taskRng);
        Iteration = iteration;
        TotalSteps = steps;
        _rollout.ReturnStatistics = (stats[0], stats[1], stats[2]);
        if (scores is not null) _rollout.Priority!.Restore(scores);
        _recordedTeachers = teachers;
    }

    // Checks that the checkpoint's network and observation statistics fit this trainer's (LoadFrom checks every name and
    // shape first, on a probe) and returns the copy into them, to apply once everything else has been checked.
    private Action ReadNetwork(TensorArchive archive)
    {
        var probe = CreateNetwork(_tasks, Config, new Rng(1));
        try { probe.LoadFrom(archive, "net."); }
        catch (CheckpointException e) when (probe.PolicyTaskFeatures > 0 || probe.CriticTaskFeatures > 0)
        {
            // A network that reads task features stops fitting when its family offers another number of them: say so.
            throw new CheckpointException($"{e.Message.TrimEnd('.')}. This run reads {_tasks.TaskFeatureSize} task features of '{_tasks.Name}' "
                + $"({(probe.PolicyTaskFeatures > 0 ? "task-input" : "task-critic")}); a checkpoint written when the family offered another number of them "
                + "cannot be read: train it again.", e);
        }
        probe.ObservationNormalizer?.LoadFrom(archive, ObservationStatisticsPrefix);
        return () =>
        {
            Network.LoadFrom(archive, "net.");
            Network.ObservationNormalizer?.LoadFrom(archive, ObservationStatisticsPrefix);
        };
    }

    // The running statistics of returns a checkpoint carries: count, mean and the sum of squared deviations.
    private static double[] ReadReturnStatistics(TensorArchive archive, string source)
    {
        var stats = (archive.Metadata.TryGetValue("return-stats", out var rs) ? rs : throw new CheckpointException($"{source} lacks 'return-stats'."))
            .Split(',').Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x) ? x
                : throw new CheckpointException($"{source}'s 'return-stats' is malformed.")).ToArray();
        return stats.Length == 3 ? stats : throw new CheckpointException($"{source}'s 'return-stats' is malformed.");
    }

    /// <summary>
    /// Starts from the network of another RL² checkpoint of the same shapes (a warm start): its weights, its observation
    /// statistics and its running return statistics; the optimiser, iteration and random streams stay this trainer's.
    /// With <see cref="Rl2Config.WarmStartPolicyScale"/> below 1 the policy's output layer is then scaled down.
    /// </summary>
    /// <exception cref="SettingException">A policy scale other than 1 on a family with continuous actions.</exception>
    public void LoadWeights(TensorArchive archive, string source)
    {
        CheckpointMetadata.RequireKind(archive, "rl2-checkpoint", "an RL²", source);
        var stats = ReadReturnStatistics(archive, source);
        Action copyNetwork;
        try { copyNetwork = ReadNetwork(archive); }
        catch (Exception e) { throw new CheckpointException($"{source}: its network does not fit this run's ({e.Message.TrimEnd('.')}).", e); }
        if (Config.WarmStartPolicyScale != 1 && !Network.Discrete)
            throw new SettingException("rl2: 'warm-start-policy-scale' sets the temperature of a policy over discrete actions; "
                + $"'{_tasks.Name}' has continuous actions, whose policy it would pull toward zero instead (leave it at 1).");
        copyNetwork();
        Network.ScalePolicyOutput(Config.WarmStartPolicyScale);
        _rollout.ReturnStatistics = (stats[0], stats[1], stats[2]);
    }

    /// <summary>Loads only the network from a checkpoint (for evaluation).</summary>
    public static Rl2Network LoadNetwork(TensorArchive archive, TaskDistribution tasks, Rl2Config config)
    {
        var net = CreateNetwork(tasks, config, new Rng(1));
        net.LoadFrom(archive, "net.");
        net.ObservationNormalizer?.LoadFrom(archive, ObservationStatisticsPrefix);
        return net;
    }
}
