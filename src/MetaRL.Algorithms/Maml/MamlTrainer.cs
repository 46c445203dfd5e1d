using System.Diagnostics;
using System.Globalization;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Nn;
using MetaRL.Algorithms.Common;
using MetaRL.Algorithms.Rollouts;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// MAML (Finn et al. 2017) for reinforcement learning: per task, one or more vanilla policy-gradient steps
/// with the linear feature baseline, kept in the graph; the outer update is TRPO on the post-adaptation
/// trajectories, with conjugate gradient on Hessian-vector products of the mean KL taken through the
/// inner step, and a backtracking line search that leaves the policy unchanged when no step passes.
/// </summary>
public sealed class MamlTrainer
{
    private readonly TaskDistribution _tasks;
    private readonly Rng _rng, _taskRng;

    public MamlTrainer(TaskDistribution tasks, MamlConfig config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        Seed = seed;
        Policy = CreatePolicy(tasks, config, new Rng(seed));
        _envs = new MetaRL.Core.Envs.IEnv[]?[config.MetaBatch];
        if (config.Outer == MamlOuter.Ppo)
        {
            _optimizer = new MetaRL.Engine.Optim.Adam<float>(Policy.Parameters(), config.OuterLearningRate, epsilon: 1e-5);
            _ppo = new MamlPpoStep(_optimizer);
        }
        else _trpo = new MamlTrpoStep();
        _rng = new Rng(seed ^ 0x3A3A_5C5CUL);
        _taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
    }

    private static MlpPolicy<float> CreatePolicy(TaskDistribution tasks, MamlConfig config, Rng rng)
        => new(tasks.ObservationSpace, tasks.ActionSpace, config.Hidden, rng, normalizeActions: config.NormalizeActions);

    public MamlConfig Config { get; }

    /// <summary>
    /// The best validation score so far or, with <see cref="MamlConfig.ValidateEvery"/> 0, the highest mean post-adaptation
    /// return over <see cref="MamlConfig.BestWindow"/> consecutive iterations (−∞ before the first).
    /// </summary>
    public double BestScore => _best.Score;

    private readonly BestPolicy _best = new();

    /// <summary>The iteration of the best policy (0 before the first).</summary>
    public int BestIteration => _best.Iteration;

    private readonly Queue<double> _recentPost = new();
    private ITask[]? _validationTasks;

    /// <summary>The fixed validation tasks: <see cref="MamlConfig.ValidationTasks"/> draws from the training distribution on their own stream.</summary>
    public IReadOnlyList<ITask> ValidationTaskList => _validationTasks ??= MetaTest.ValidationTasks(_tasks, Seed, Config.ValidationTasks);

    /// <summary>
    /// The current policy's validation score, on the validation tasks with the same random streams every time (so two
    /// policies' scores differ only by the policies): the mean return after 1 … <see cref="MamlEvaluation.DefaultSteps"/>
    /// steps of the meta-test (later steps at <see cref="MamlConfig.EvalLearningRateDecay"/>, or Finn et al.'s 0.5 when that
    /// is chosen at evaluation); for a multi-task policy (no inner steps), its return as it is.
    /// </summary>
    public double Validate()
    {
        if (Config.InnerSteps == 0)
            return MamlEvaluation.StepReturns(MamlEvaluation.RunValidation(Policy, _tasks, ValidationTaskList, Adaptation(1), 0, Seed))[0];
        var curve = MamlEvaluation.RunValidation(Policy, _tasks, ValidationTaskList, Adaptation(Config.EvalLearningRateDecay ?? 0.5), MamlEvaluation.DefaultSteps, Seed);
        return MamlEvaluation.StepReturns(curve).Skip(1).Average();
    }

    /// <summary>How this run's policy adapts at meta-test: its inner learning rate, trajectories per step and discount, later steps scaled by <paramref name="laterStepScale"/>.</summary>
    public MamlAdaptation Adaptation(double laterStepScale) => new(Config.InnerLearningRate, Config.Trajectories, Config.Gamma, laterStepScale);

    /// <summary>
    /// The scale of the meta-test's later steps for <paramref name="policy"/> (this run's by default): the configured
    /// <see cref="MamlConfig.EvalLearningRateDecay"/>, or with "auto" the one of <see cref="MamlEvaluation.LaterStepScales"/>
    /// that does best on the validation tasks (never the held-out ones).
    /// </summary>
    public double LaterStepScale(MlpPolicy<float>? policy = null)
        => Config.EvalLearningRateDecay ?? MamlEvaluation.ChooseLaterStepScale(policy ?? Policy, _tasks, ValidationTaskList, Adaptation(1), MamlEvaluation.DefaultSteps, Seed).Scale;

    private MamlIterationStats Track(MamlIterationStats stats)
    {
        if (Config.ValidateEvery > 0)
        {
            if (!BestPolicy.Due(stats.Iteration, Config.ValidateEvery, Config.Iterations)) return stats;
            var watch = Stopwatch.StartNew();
            double score = Validate();
            stats = stats with { ValidationReturn = score, ValidationSeconds = watch.Elapsed.TotalSeconds };
            return _best.Offer(score, stats.Iteration) ? stats with { NewBest = true } : stats;
        }
        _recentPost.Enqueue(stats.PostAdaptationReturn);
        while (_recentPost.Count > Config.BestWindow) _recentPost.Dequeue();
        if (_recentPost.Count < Config.BestWindow) return stats;
        double mean = _recentPost.Average();
        return _best.Offer(mean, stats.Iteration) ? stats with { NewBest = true } : stats;
    }
    public ulong Seed { get; }

    /// <summary>The task family it trains on.</summary>
    public TaskDistribution Tasks => _tasks;
    public MlpPolicy<float> Policy { get; }
    public int Iteration { get; private set; }

    private readonly MetaRL.Engine.Optim.Adam<float>? _optimizer;

    // Environments per task slot of the meta-batch, reused every iteration (a simulator is costly to create).
    private readonly MetaRL.Core.Envs.IEnv[]?[] _envs;

    // The outer update: TRPO (keeping its workspaces across iterations) or PPO (with the optimiser).
    private readonly MamlTrpoStep? _trpo;
    private readonly MamlPpoStep? _ppo;

    // One worker per core: more would only contend for the cores the tasks already fill.
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    /// <summary>
    /// One meta-iteration, read top to bottom: sample a meta-batch of training tasks, and for each the trajectories before
    /// and after its inner step; then the outer update (TRPO or PPO) of θ through the inner step; then validation.
    /// </summary>
    public MamlIterationStats RunIteration()
    {
        var watch = Stopwatch.StartNew();
        var theta = Policy.Parameters();
        var data = Sample(theta);
        double samplingSeconds = watch.Elapsed.TotalSeconds;

        var objective = new MamlMetaObjective(Policy, Config, data);
        double improvement, kl, stepSeconds;
        int lineSearchSteps = 0;
        bool accepted = true;
        if (_ppo is not null) (improvement, kl, stepSeconds) = _ppo.Take(objective, theta, watch, samplingSeconds, Iteration + 1);
        else
        {
            var (step, seconds) = _trpo!.Take(objective, theta, watch, samplingSeconds);
            (improvement, kl, stepSeconds, lineSearchSteps, accepted) = (step.Improvement, step.Kl, seconds, step.LineSearchSteps, step.Accepted);
        }
        Iteration++;
        return Track(new MamlIterationStats(Iteration, data.Average(d => d.Train.MeanReturn), data.Average(d => d.Valid.MeanReturn), improvement, kl,
            lineSearchSteps, accepted, watch.Elapsed.TotalSeconds, samplingSeconds, stepSeconds, watch.Elapsed.TotalSeconds - samplingSeconds - stepSeconds));
    }

    /// <summary>
    /// The meta-batch: <see cref="MamlConfig.MetaBatch"/> training tasks, sampled side by side, each with trajectories of
    /// θ, the inner step on them, trajectories of the adapted weights and the sampling policy's outputs on those.
    /// </summary>
    private MamlTaskData[] Sample(IReadOnlyList<Tensor<float>> theta)
    {
        // Each task's one stream: its batches, the inner step's data and the curvature rows.
        var seeds = TrialSeed.Draw(Config.MetaBatch, _tasks, _taskRng, _rng, streams: 1);
        if (Workers is null) return SampleTasks(Policy, theta, _tasks, Config, seeds, _envs);
        int obs = _tasks.ObservationSpace.Size, act = _tasks.ActionSpace.Size;
        return Workers.PlayPieces(Job!(), seeds).SelectMany(played =>
        {
            var r0 = new Rollouts.BlobReader(played.Result, "MAML rollout result");
            int n = played.Trials.GetOffsetAndLength(seeds.Length).Length;
            if (r0.Count(n) != n) throw new InvalidDataException($"The MAML rollout result is for another piece: {n} tasks expected.");
            var tasks = new MamlTaskData[n];
            for (int i = 0; i < n; i++) tasks[i] = MamlTaskData.Read(r0.Bytes(), Config.Trajectories, _tasks.Horizon, obs, act);
            r0.End();
            return tasks;
        }).ToArray();
    }

    /// <summary>
    /// For each task <paramref name="seeds"/> name, side by side: trajectories of θ, the inner step on them, trajectories
    /// of the adapted weights and the sampling policy's outputs on those, all on the task's own stream.
    /// </summary>
    private static MamlTaskData[] SampleTasks(MlpPolicy<float> policy, IReadOnlyList<Tensor<float>> theta, TaskDistribution family, MamlConfig config,
        IReadOnlyList<TrialSeed> seeds, MetaRL.Core.Envs.IEnv[]?[] envCache)
    {
        var data = new MamlTaskData[seeds.Count];
        Parallel.For(0, seeds.Count, Cores, i =>
        {
            var task = seeds[i].DrawTask(family);
            var rng = TrialSeed.Generator(seeds[i].Streams[0]);
            var envs = envCache[i] ??= new MetaRL.Core.Envs.IEnv[config.Trajectories];
            var train = TrajectoryBatch.Sample(policy, theta, family, task, config.Trajectories, rng, config.Gamma, envs);
            var adapted = MamlMath.Adapt(policy, theta, train, config.InnerLearningRate, config.InnerSteps, createGraph: false);
            var valid = TrajectoryBatch.Sample(policy, adapted, family, task, config.Trajectories, rng, config.Gamma, envs);
            using var _ = GradMode.NoGrad();
            // The sampling policy's outputs and log-probabilities on its own steps: one forward pass (the autodiff pass's
            // numbers, MlpPolicyForward) serves both.
            var oldOut = Tensor.FromArray(new MlpPolicyForward<float>(policy, valid.Steps).Output(adapted, valid.Observations).ToArray(), valid.Steps, policy.ActionSize);
            var oldStd = policy.Discrete ? null : Functional.Call(policy, adapted, () => policy.LogStd).Detach();
            var oldLogp = PolicyDistributions.LogProb(policy.Discrete, oldOut, oldStd,
                TrajectoryBatch.ToTensor<float>(valid.Actions, valid.Steps, valid.ActionSize), policy.Discrete ? valid.ActionIndices() : null);
            // The curvature's rows come last on the task's stream, so the exact default (and PPO, which has no curvature)
            // draws nothing more.
            var result = new MamlTaskData(train, valid, oldOut.Detach(), oldStd, oldLogp.Detach());
            data[i] = config.Outer == MamlOuter.Trpo ? result.WithCurvatureRows(config.CurvatureSubsample, rng) : result;
        });
        return data;
    }

    /// <summary>
    /// Where the meta-batch is sampled (null: here) and the job that tells workers what to sample; the iteration is the
    /// same either way.
    /// </summary>
    internal IRolloutWorkers? Workers { get; set; }
    internal Func<RolloutJob>? Job { get; set; }

    /// <summary>θ as bytes, for workers (<see cref="PiecePlayer"/> reads them).</summary>
    internal byte[] PolicyBytes()
    {
        var archive = new TensorArchive();
        Policy.AddTo(archive, "policy.");
        return archive.ToBytes();
    }

    /// <summary>A worker's side of a job: θ as <see cref="PolicyBytes"/> wrote it, sampling pieces of meta-batches.</summary>
    internal static IPiecePlayer PiecePlayer(TaskDistribution tasks, MamlConfig config, byte[] policy)
    {
        var net = CreatePolicy(tasks, config, new Rng(1));
        net.LoadFrom(TensorArchive.Parse(policy, "the MAML policy sent to this worker"), "policy.");
        return new MamlPieces(net, tasks, config);
    }

    // A worker's environments, kept from piece to piece and iteration to iteration as the trainer keeps its own (a
    // simulator is costly to create; an environment plays whatever task it is given), per family and settings.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<MetaRL.Core.Envs.IEnv[]>> WorkerEnvs = new();

    private sealed class MamlPieces(MlpPolicy<float> policy, TaskDistribution tasks, MamlConfig config) : IPiecePlayer
    {
        public byte[] Play(byte[] piece)
        {
            var seeds = TrialSeed.ReadPiece(piece);
            var pool = WorkerEnvs.GetOrAdd($"{config.Trajectories}\n{tasks.Name}\n{tasks.SettingsText("\n")}", _ => []);
            var envs = new MetaRL.Core.Envs.IEnv[]?[seeds.Length];
            for (int i = 0; i < envs.Length; i++) envs[i] = pool.TryTake(out var kept) ? kept : null;
            MamlTaskData[] data;
            try { data = SampleTasks(policy, policy.Parameters(), tasks, config, seeds, envs); }
            finally
            {
                foreach (var e in envs) if (e is not null) pool.Add(e);
            }
            var w = new Rollouts.BlobWriter();
            w.Int(data.Length);
            foreach (var d in data) w.Bytes(d.ToBytes());
            return w.ToArray();
        }
    }

    /// <summary>Writes the policy, the iteration, the random streams and (MAML-PPO) the optimiser state atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata)
    {
        var archive = new TensorArchive();
        foreach (var (k, v) in metadata) archive.Metadata[k] = v;
        archive.Metadata["kind"] = "maml-checkpoint";
        archive.Metadata["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
        CheckpointMetadata.WriteRng(archive, "rng", _rng);
        CheckpointMetadata.WriteRng(archive, "task-rng", _taskRng);
        _best.WriteTo(archive);
        CheckpointMetadata.WriteDoubles(archive, "recent-post-returns", _recentPost);
        Policy.AddTo(archive, "policy.");
        if (_optimizer is not null) CheckpointMetadata.WriteOptimizer(archive, _optimizer);
        archive.Save(path);
    }

    /// <summary>A warm start: the policy of another MAML checkpoint of the same shape; the optimiser, iteration and random streams stay this trainer's.</summary>
    public void LoadWeights(TensorArchive archive, string source)
    {
        CheckpointMetadata.RequireKind(archive, "maml-checkpoint", "a MAML", source);
        var probe = CreatePolicy(_tasks, Config, new Rng(1));
        try { probe.LoadFrom(archive, "policy."); }
        catch (Exception e) { throw new CheckpointException($"{source}: its policy does not fit this run's ({e.Message.TrimEnd('.')}).", e); }
        Policy.LoadFrom(archive, "policy.");
    }

    /// <summary>Restores a checkpoint written by <see cref="Save"/>; nothing changes if it does not fit.</summary>
    public void Load(TensorArchive archive)
    {
        CheckpointMetadata.RequireKind(archive, "maml-checkpoint", "a MAML");
        var rng = CheckpointMetadata.ReadRngState(archive, "rng");
        var taskRng = CheckpointMetadata.ReadRngState(archive, "task-rng");
        int iteration = CheckpointMetadata.ReadInt(archive, "iteration");
        var optimState = _optimizer is null ? null : CheckpointMetadata.ReadOptimizerState(archive, _optimizer);
        // Checkpoints from before best-policy tracking start it afresh.
        var best = BestPolicy.Read(archive);
        var recent = CheckpointMetadata.ReadDoubles(archive, "recent-post-returns", []);
        var probe = CreatePolicy(_tasks, Config, new Rng(1));
        probe.LoadFrom(archive, "policy.");
        Policy.LoadFrom(archive, "policy.");
        if (optimState is not null) _optimizer!.LoadState(optimState);
        _rng.SetState(rng);
        _taskRng.SetState(taskRng);
        Iteration = iteration;
        _best.Apply(best);
        _recentPost.Clear();
        foreach (var r in recent.TakeLast(Config.BestWindow)) _recentPost.Enqueue(r);
    }
}
