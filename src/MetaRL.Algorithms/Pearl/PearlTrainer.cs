using System.Diagnostics;
using System.Globalization;
using MetaRL.Algorithms.Common;
using MetaRL.Algorithms.Sac;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Optim;

namespace MetaRL.Algorithms.Pearl;

/// <summary>What one PEARL iteration did.</summary>
public sealed record PearlIterationStats(int Iteration, long Steps, double PriorReturn, double PosteriorReturn, double CriticLoss, double PolicyLoss,
    double Kl, double Alpha, double Entropy, double Seconds, double CollectSeconds);

/// <summary>
/// PEARL (Rakelly et al. 2019), read top to bottom. A fixed pool of training tasks, each with a replay buffer for the
/// actor-critic and an encoder buffer of recent transitions. Each iteration collects on a few tasks: first with z drawn
/// from the prior (these transitions replace the task's encoder buffer), then with z drawn from the posterior that the
/// encoder infers from that buffer. Then many gradient steps, each on a meta-batch of tasks: the encoder reads a context
/// batch of each task's recent transitions, z is drawn from the posterior by reparameterisation, and soft actor-critic
/// updates with z joined to every input; the critics' loss and the KL of the posterior from the prior train the encoder.
/// With latent 0 there is no encoder and no z: the same actor-critic trained across the tasks cannot adapt.
/// </summary>
public sealed class PearlTrainer
{
    private readonly TaskDistribution _tasks;
    private readonly ActionMap _map;
    private readonly Rng _rng, _updateRng;
    private readonly ITask[] _pool;
    private readonly ReplayBuffer[] _replay, _context;
    private readonly Adam<float>? _encoderOptimizer;
    private readonly SacBatch _batch;
    private readonly float[] _latent, _latentGrad;
    private readonly float[] _contextObs, _contextActions, _contextRewards, _contextNext, _contextRows;
    private readonly int[] _rowTask;
    private readonly Dictionary<int, IEnv?[]> _envs = [];

    public PearlTrainer(TaskDistribution tasks, PearlConfig config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        _map = ActionMap.For(tasks, "pearl");
        if (config.CriticShaping && !tasks.HasPotential)
            throw new SettingException($"pearl: 'critic-shaping' needs a family with a shaping potential; '{tasks.Name}' has none.");
        int o = tasks.ObservationSpace.Size, a = tasks.ActionSpace.Size, l = config.Latent;
        var root = new Rng(seed);
        Sac = new SoftActorCritic(o, a, l, config.Update, root.Split());
        if (l > 0)
        {
            Encoder = new ContextEncoder(TransitionSize(o, a, config), l, config.EncoderHidden, root.Split());
            _encoderOptimizer = new Adam<float>(Encoder.Parameters(), config.LearningRate);
        }
        _rng = root.Split();
        _updateRng = root.Split();
        var taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
        _pool = Enumerable.Range(0, config.TrainTasks).Select(_ => tasks.SampleTask(taskRng, TaskSplit.Train)).ToArray();
        _replay = _pool.Select(_ => new ReplayBuffer(o, a, config.BufferSize)).ToArray();
        _context = _pool.Select(_ => new ReplayBuffer(o, a, config.BufferSize)).ToArray();
        int rows = config.MetaBatch * config.BatchSize, crow = config.MetaBatch * config.ContextBatch;
        _batch = new SacBatch(rows, o, a);
        _latent = new float[rows * l];
        _latentGrad = new float[rows * l];
        _rowTask = Enumerable.Range(0, rows).Select(r => r / config.BatchSize).ToArray();
        (_contextObs, _contextActions, _contextRewards) = (new float[crow * o], new float[crow * a], new float[crow]);
        _contextNext = config.NextObservationInContext ? new float[crow * o] : [];
        _contextRows = new float[crow * (l > 0 ? Encoder!.TransitionSize : 0)];
    }

    /// <summary>Numbers per transition the encoder reads: observation, action, reward and, if set, the next observation.</summary>
    public static int TransitionSize(int observation, int action, PearlConfig config) => observation + action + 1 + (config.NextObservationInContext ? observation : 0);

    public PearlConfig Config { get; }
    public SoftActorCritic Sac { get; }
    public ContextEncoder? Encoder { get; }
    public ActionMap Map => _map;
    public int Iteration { get; private set; }
    public long TotalSteps { get; private set; }

    /// <summary>The training tasks, in pool order.</summary>
    public IReadOnlyList<ITask> TrainingTasks => _pool;

    public PearlIterationStats RunIteration()
    {
        var watch = Stopwatch.StartNew();
        var c = Config;
        double priorReturn = double.NaN, posteriorReturn = double.NaN;
        if (Iteration == 0 && c.InitialSteps > 0)
            for (int start = 0; start < _pool.Length; start += c.TasksPerIteration)
                Collect(Enumerable.Range(start, Math.Min(c.TasksPerIteration, _pool.Length - start)).ToArray(), c.InitialSteps, posterior: false, toContext: true);

        // Collect on a few tasks: with z from the prior, then from the posterior of the task's fresh context.
        var chosen = Choose(_rng, c.TasksPerIteration, _pool.Length);
        foreach (int t in chosen) _context[t].Clear();
        if (c.StepsPrior > 0) priorReturn = Collect(chosen, c.StepsPrior, posterior: false, toContext: true);
        if (c.StepsPosterior > 0) posteriorReturn = Collect(chosen, c.StepsPosterior, posterior: true, toContext: true);
        if (c.StepsExtraPosterior > 0) posteriorReturn = Collect(chosen, c.StepsExtraPosterior, posterior: true, toContext: false);
        double collectSeconds = watch.Elapsed.TotalSeconds;

        // Learn.
        double critic = 0, policy = 0, kl = 0;
        SacUpdateStats last = default;
        var ready = Enumerable.Range(0, _pool.Length).Where(t => _replay[t].Count > 0 && (Encoder is null || _context[t].Count > 0)).ToArray();
        int steps = ready.Length == 0 ? 0 : c.GradientSteps;
        for (int g = 0; g < steps; g++)
        {
            (last, double k) = GradientStep(ready);
            critic += last.CriticLoss;
            policy += last.PolicyLoss;
            kl += k;
        }
        Iteration++;
        return new PearlIterationStats(Iteration, TotalSteps, priorReturn, posteriorReturn, steps > 0 ? critic / steps : double.NaN, steps > 0 ? policy / steps : double.NaN,
            steps > 0 ? kl / steps : double.NaN, Sac.Alpha, steps > 0 ? last.Entropy : double.NaN, watch.Elapsed.TotalSeconds, collectSeconds);
    }

    /// <summary><paramref name="count"/> distinct indices below <paramref name="n"/> (all of them, in order, when count ≥ n), drawn from <paramref name="rng"/>.</summary>
    private static int[] Choose(Rng rng, int count, int n)
    {
        if (count >= n) return Enumerable.Range(0, n).ToArray();
        var all = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < count; i++)
        {
            int j = i + rng.NextInt(n - i);
            (all[i], all[j]) = (all[j], all[i]);
        }
        return all[..count];
    }

    /// <summary>Plays whole episodes (at least <paramref name="steps"/> steps) on each task of <paramref name="taskIndices"/> side by side; returns the mean episode return.</summary>
    private double Collect(int[] taskIndices, int steps, bool posterior, bool toContext)
    {
        int slots = taskIndices.Length, l = Config.Latent;
        int episodes = Math.Max(1, (steps + _tasks.Horizon - 1) / _tasks.Horizon);
        var buffers = taskIndices.Select(t => (IReadOnlyList<ReplayBuffer>)(toContext ? [_replay[t], _context[t]] : [_replay[t]])).ToArray();
        var latentRng = _rng.Split();
        TransitionCollector collector = null!;
        collector = new TransitionCollector(Sac, _tasks, _map, buffers, _rng.Split(), random: false, new float[slots * l])
        {
            EpisodeStarting = (slot, _) => DrawLatent(posterior ? _context[taskIndices[slot]] : null, latentRng, slot),
            TrainingReward = Config.DenseCriticReward,
            ShapingDiscount = Config.CriticShaping ? Config.Gamma : null,
        };
        void DrawLatent(ReplayBuffer? context, Rng rng, int slot)
        {
            if (l == 0) return;
            var z = collector.Latents.AsSpan(slot * l, l);
            if (context is null || context.Count == 0)
            {
                for (int j = 0; j < l; j++) z[j] = (float)rng.Normal();
                return;
            }
            int n = Config.ContextBatch;
            var rows = ContextRows(context, rng, n);
            using var _ = GradMode.NoGrad();
            var (mean, variance) = Encoder!.Posterior(Tensor.FromArray(rows, n, Encoder.TransitionSize), 1, n);
            for (int j = 0; j < l; j++) z[j] = (float)(mean.Data[j] + Math.Sqrt(variance.Data[j]) * rng.Normal());
        }
        var streams = taskIndices.Select(_ => _rng.Split()).ToArray();
        if (!_envs.TryGetValue(slots, out var envs)) _envs[slots] = envs = new IEnv?[slots];
        long before = taskIndices.Sum(t => _replay[t].Added);
        var returns = TrialSampler.Play(collector, _tasks, taskIndices.Select(t => _pool[t]).ToArray(), streams, new TrialPlan(episodes, CheckActions: false), envs);
        TotalSteps += taskIndices.Sum(t => _replay[t].Added) - before;
        return returns.SelectMany(r => r).Average();
    }

    /// <summary><paramref name="n"/> transitions of <paramref name="buffer"/> as the encoder's input rows (a new array).</summary>
    private float[] ContextRows(ReplayBuffer buffer, Rng rng, int n)
    {
        int o = Sac.ObservationSize, a = Sac.ActionSize;
        var obs = new float[n * o];
        var act = new float[n * a];
        var rew = new float[n];
        var next = Config.NextObservationInContext ? new float[n * o] : [];
        buffer.Sample(rng, n, obs, act, rew, [], next, []);
        var rows = new float[n * Encoder!.TransitionSize];
        WriteContextRows(obs, act, rew, next, n, rows);
        return rows;
    }

    private void WriteContextRows(ReadOnlySpan<float> obs, ReadOnlySpan<float> act, ReadOnlySpan<float> rew, ReadOnlySpan<float> next, int n, Span<float> rows)
    {
        int o = Sac.ObservationSize, a = Sac.ActionSize, w = Encoder!.TransitionSize;
        for (int i = 0; i < n; i++)
        {
            var row = rows.Slice(i * w, w);
            obs.Slice(i * o, o).CopyTo(row);
            act.Slice(i * a, a).CopyTo(row[o..]);
            row[o + a] = rew[i];
            if (!next.IsEmpty) next.Slice(i * o, o).CopyTo(row[(o + a + 1)..]);
        }
    }

    /// <summary>One gradient step on a meta-batch of the tasks in <paramref name="ready"/>; returns the update's measures and the KL.</summary>
    private (SacUpdateStats Stats, double Kl) GradientStep(int[] ready)
    {
        var c = Config;
        int o = Sac.ObservationSize, a = Sac.ActionSize, l = c.Latent, b = c.BatchSize, cb = c.ContextBatch;
        var tasks = new int[c.MetaBatch];
        var distinct = Choose(_updateRng, c.MetaBatch, ready.Length);
        for (int t = 0; t < tasks.Length; t++) tasks[t] = ready[distinct[t % distinct.Length]];
        for (int t = 0; t < tasks.Length; t++)
            _replay[tasks[t]].Sample(_updateRng, b, _batch.Observations.AsSpan(t * b * o, b * o), _batch.Actions.AsSpan(t * b * a, b * a), [],
                _batch.Rewards.AsSpan(t * b, b), _batch.Next.AsSpan(t * b * o, b * o), _batch.Terminals.AsSpan(t * b, b));
        if (Encoder is null) return (Sac.Update(_batch, _updateRng), 0);

        for (int t = 0; t < tasks.Length; t++)
            _context[tasks[t]].Sample(_updateRng, cb, _contextObs.AsSpan(t * cb * o, cb * o), _contextActions.AsSpan(t * cb * a, cb * a),
                _contextRewards.AsSpan(t * cb, cb), [], _contextNext.AsSpan(Config.NextObservationInContext ? t * cb * o : 0, Config.NextObservationInContext ? cb * o : 0), []);
        WriteContextRows(_contextObs, _contextActions, _contextRewards, _contextNext, tasks.Length * cb, _contextRows);
        // Contexts of varied sizes (when set): the rows are drawn independently, so the first k of a task's are k random ones.
        int[]? used = null;
        if (c.ContextBatchMin is > 0 and var min && min < cb)
        {
            used = new int[tasks.Length];
            for (int t = 0; t < used.Length; t++) used[t] = min + _updateRng.NextInt(cb - min + 1);
        }
        var (mean, variance) = Encoder.Posterior(Tensor.FromArray(_contextRows, tasks.Length * cb, Encoder.TransitionSize), tasks.Length, cb, used);
        var noise = Tensor.RandN<float>(_updateRng, 1.0, tasks.Length, l);
        var z = mean + Ops.Sqrt(variance) * noise;
        var kl = c.KlWeight * ContextEncoder.KlFromPrior(mean, variance);
        var zRows = Ops.IndexSelect(z, 0, _rowTask);
        zRows.Data.CopyTo(_latent);
        var stats = Sac.Update(_batch, _updateRng, _latent, _latentGrad);
        var parameters = _encoderOptimizer!.Parameters;
        var grads = Autograd.Grad([zRows, kl], parameters, [Tensor.FromArray(_latentGrad, _latent.Length / l, l), null], allowUnused: true);
        for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = grads[i];
        _encoderOptimizer.Step();
        return (stats, kl.ToDouble() / Math.Max(1e-30, c.KlWeight) / tasks.Length);
    }

    /// <summary>Writes the networks, optimisers, every task's buffers, random streams and counters atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata)
    {
        var archive = new TensorArchive();
        foreach (var (k, v) in metadata) archive.Metadata[k] = v;
        archive.Metadata["kind"] = "pearl-checkpoint";
        archive.Metadata["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
        archive.Metadata["total-steps"] = TotalSteps.ToString(CultureInfo.InvariantCulture);
        CheckpointMetadata.WriteRng(archive, "rng", _rng);
        CheckpointMetadata.WriteRng(archive, "update-rng", _updateRng);
        Sac.WriteTo(archive, "sac.");
        if (Encoder is not null)
        {
            Encoder.AddTo(archive, "encoder.");
            CheckpointMetadata.WriteOptimizer(archive, _encoderOptimizer!, "encoder-optim.");
        }
        for (int t = 0; t < _pool.Length; t++)
        {
            _replay[t].WriteTo(archive, $"replay.{t}.");
            _context[t].WriteTo(archive, $"context.{t}.");
        }
        archive.Save(path);
    }

    /// <summary>
    /// A warm start: the actor-critic (networks, targets, temperature) and the context encoder of another PEARL checkpoint
    /// of the same shapes; the replay buffers, optimisers, iteration and random streams stay this trainer's.
    /// </summary>
    public void LoadWeights(TensorArchive archive, string source)
    {
        CheckpointMetadata.RequireKind(archive, "pearl-checkpoint", "a PEARL", source);
        var restore = Sac.ReadFrom(archive, "sac.", source, weightsOnly: true);
        var copyEncoder = ReadEncoder(archive, source);
        restore();
        copyEncoder?.Invoke();
    }

    // Checks that the checkpoint's context encoder fits this trainer's (on a probe) and returns the copy into it, to apply
    // once everything else has been checked; null without an encoder (latent 0).
    private Action? ReadEncoder(TensorArchive archive, string source)
    {
        if (Encoder is null) return null;
        var probe = new ContextEncoder(Encoder.TransitionSize, Encoder.Latent, Config.EncoderHidden, new Rng(1));
        try { probe.LoadFrom(archive, "encoder."); }
        catch (Exception e) when (e is not CheckpointException) { throw new CheckpointException($"{source}: the context encoder does not fit ({e.Message}).", e); }
        return () => Encoder.CopyParametersFrom(probe);
    }

    /// <summary>Restores a checkpoint written by <see cref="Save"/>; nothing changes if it does not fit.</summary>
    public void Load(TensorArchive archive, string source = "the checkpoint")
    {
        CheckpointMetadata.RequireKind(archive, "pearl-checkpoint", "a PEARL", source);
        int iteration = CheckpointMetadata.ReadInt(archive, "iteration");
        long steps = CheckpointMetadata.ReadLong(archive, "total-steps");
        var rng = CheckpointMetadata.ReadRngState(archive, "rng");
        var updateRng = CheckpointMetadata.ReadRngState(archive, "update-rng");
        var restore = new List<Action> { Sac.ReadFrom(archive, "sac.", source) };
        if (ReadEncoder(archive, source) is { } copyEncoder)
        {
            var state = CheckpointMetadata.ReadOptimizerState(archive, _encoderOptimizer!, "encoder-optim.");
            restore.Add(() => { copyEncoder(); _encoderOptimizer!.LoadState(state); });
        }
        for (int t = 0; t < _pool.Length; t++)
        {
            restore.Add(_replay[t].ReadFrom(archive, $"replay.{t}.", source));
            restore.Add(_context[t].ReadFrom(archive, $"context.{t}.", source));
        }
        foreach (var r in restore) r();
        _rng.SetState(rng);
        _updateRng.SetState(updateRng);
        Iteration = iteration;
        TotalSteps = steps;
    }
}
