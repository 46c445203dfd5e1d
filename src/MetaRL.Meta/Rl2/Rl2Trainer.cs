using System.Diagnostics;
using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Optim;

namespace MetaRL.Meta.Rl2;

/// <summary>What one training iteration did.</summary>
public sealed record Rl2IterationStats(
    int Iteration, double MeanTrialReturn, double[] EpisodeReturns, double PolicyLoss, double ValueLoss, double Entropy,
    double ApproxKl, double ClipFraction, double GradNorm, double LearningRate, long Steps, double Seconds, double RolloutSeconds);


/// <summary>
/// RL² (Duan et al. 2016) trained with PPO (Schulman et al. 2017): each iteration plays one trial on each of
/// <see cref="Rl2Config.TrialsPerIteration"/> freshly drawn training tasks, the recurrent state carried across
/// the episodes of a trial; advantages by GAE over the whole trial (episode ends inside a trial are not
/// terminal: later episodes' rewards belong to the same objective); then several epochs of clipped-surrogate
/// updates on minibatches of whole trials, with back-propagation through time over whole trials or chunks.
/// </summary>
public sealed class Rl2Trainer
{
    private readonly TaskDistribution _tasks;
    private readonly Rng _rng, _taskRng;
    private readonly int _T, _obs, _act, _F;

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
            CriticFeatures(tasks, config), config.Memory, config.TaskInput ? TaskFeatures(tasks, "task-input") : 0, config.NormalizeObservations, config.Head);

    public Rl2Trainer(TaskDistribution tasks, Rl2Config config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        Seed = seed;
        var init = new Rng(seed);
        Network = CreateNetwork(tasks, config, init);
        _F = Network.CriticTaskFeatures > 0 || Network.PolicyTaskFeatures > 0 ? tasks.TaskFeatureSize : 0;
        Optimizer = new Adam<float>(Network.Parameters(), config.LearningRate, epsilon: 1e-5);
        _rng = new Rng(seed ^ 0x5151_7777UL);
        _taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
        _T = tasks.EpisodesPerTrial * tasks.Horizon;
        _obs = tasks.ObservationSpace.Size;
        _act = tasks.ActionSpace.Size;
    }

    public Rl2Config Config { get; }
    public ulong Seed { get; }
    public Rl2Network Network { get; }
    public Adam<float> Optimizer { get; }
    public int Iteration { get; private set; }
    public long TotalSteps { get; private set; }

    public Rl2Agent Agent(bool? deterministic = null) => new(Network, deterministic ?? Config.Deterministic);

    // ------------------------------------------------------------------ rollout

    private sealed class Batch(int T, int B, int I, int S, int act)
    {
        public readonly float[] Inputs = new float[T * B * I];
        public readonly float[] States = new float[T * B * S]; // recurrent state before each step
        public readonly float[] Actions = new float[T * B * act];
        public readonly float[] LogProbs = new float[T * B];
        public readonly float[] Values = new float[T * B];
        public readonly float[] Rewards = new float[T * B];
        public readonly float[] Mask = new float[T * B];
        public readonly int[] Skipped = new int[T * B];         // steps an early termination forfeits (see PadTerminated)
        public readonly float[] Advantages = new float[T * B];
        public readonly float[] Returns = new float[T * B];
        public float[] TaskFeatures = [];                      // [B, F] for a task-aware critic or a task-knowing oracle
    }

    private (Batch Data, double[] TrialReturns, double[] EpisodeMeans, long Steps) Collect()
    {
        int B = Config.TrialsPerIteration, I = Network.InputSize, S = Network.StateSize, n = _tasks.EpisodesPerTrial;
        var data = new Batch(_T, B, I, S, _act);
        var envs = new IEnv[B];
        var envRngs = new Rng[B];
        var obs = new float[B * _obs];
        var prevAction = new float[B * _act];
        var prevReward = new float[B];
        var prevDone = new bool[B];
        var active = new bool[B];
        var episode = new int[B];
        var steps = new int[B];
        var trialReturn = new double[B];
        var episodeSums = new double[n];
        data.TaskFeatures = new float[B * _F];
        for (int i = 0; i < B; i++)
        {
            envs[i] = _tasks.CreateEnv();
            var task = _tasks.SampleTask(_taskRng, TaskSplit.Train);
            envs[i].SetTask(task);
            if (_F > 0) _tasks.WriteTaskFeatures(task, data.TaskFeatures.AsSpan(i * _F, _F));
            envRngs[i] = _rng.Split();
            envs[i].Reset(envRngs[i], obs.AsSpan(i * _obs, _obs));
            active[i] = true;
        }
        var state = Network.InitialState(B);
        var taskFeatures = Network.CriticTaskFeatures > 0 ? Tensor.FromArray(data.TaskFeatures, B, _F) : null;
        var input = new float[B * I];
        var stepActions = new float[B * _act];
        var stepper = new EnvBatchStepper(envs, envRngs, _obs, _act);
        var seen = Network.ObservationNormalizer is null ? null : new List<float>(_T * B * _obs);
        long total = 0;
        using var noGrad = GradMode.NoGrad();
        for (int t = 0; t < _T; t++)
        {
            bool any = false;
            for (int i = 0; i < B; i++)
            {
                any |= active[i];
                if (active[i] && seen is not null) seen.AddRange(obs.AsSpan(i * _obs, _obs));
                Rl2Inputs.Write(Network, input.AsSpan(i * I, I), obs.AsSpan(i * _obs, _obs), prevAction.AsSpan(i * _act, _act), prevReward[i], prevDone[i], t > 0,
                    new Rl2Inputs.TrialClock(episode[i], steps[i], n, _tasks.Horizon),
                    Network.PolicyTaskFeatures > 0 ? data.TaskFeatures.AsSpan(i * _F, _F) : default);
            }
            if (!any) break;
            input.CopyTo(data.Inputs.AsSpan(t * B * I));
            state.Data.CopyTo(data.States.AsSpan(t * B * S));
            state = Network.Step(Tensor.FromArray((float[])input.Clone(), B, I), state);
            var features = Network.Features(state);
            var policy = Network.Policy(features);
            var value = Network.Value(features, taskFeatures);
            var logStd = Network.LogStd?.ToArray() ?? [];
            for (int i = 0; i < B; i++)
            {
                if (!active[i]) continue;
                int k = t * B + i;
                data.Mask[k] = 1;
                data.Values[k] = value.Data[i];
                var action = stepActions.AsSpan(i * _act, _act);
                data.LogProbs[k] = Rl2Inputs.Act(Network, policy.Data.Slice(i * Network.ActionSize, Network.ActionSize), logStd, _rng, false, action);
                action.CopyTo(data.Actions.AsSpan(k * _act, _act));
            }
            // Environments step on every core when their steps are costly; each uses only its own stream.
            stepper.Step(stepActions, active, obs);
            for (int i = 0; i < B; i++)
            {
                if (!active[i]) continue;
                int k = t * B + i;
                var r = stepper.Results[i];
                total++;
                steps[i]++;
                data.Rewards[k] = (float)(r.Reward * Config.RewardScale);
                trialReturn[i] += r.Reward;
                episodeSums[episode[i]] += r.Reward;
                stepActions.AsSpan(i * _act, _act).CopyTo(prevAction.AsSpan(i * _act, _act));
                prevReward[i] = (float)r.Reward;
                bool ended = r.Done || steps[i] >= _tasks.Horizon;
                prevDone[i] = ended;
                if (!ended) continue;
                if (Config.PadTerminated && r.Terminated && episode[i] + 1 < n) data.Skipped[k] = _tasks.Horizon - steps[i];
                steps[i] = 0;
                if (++episode[i] == n) active[i] = false;
                else envs[i].Reset(envRngs[i], obs.AsSpan(i * _obs, _obs));
            }
        }
        // The statistics move only between rollouts: this iteration's inputs were all scaled alike.
        if (seen is not null) Network.ObservationNormalizer!.Update(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seen));
        if (Config.NormalizeRewards) NormalizeRewards(data, B);
        ComputeAdvantages(data, B);
        return (data, trialReturn, episodeSums.Select(s => s / B).ToArray(), total);
    }

    // Running statistics of the discounted return, for reward normalisation (saved in checkpoints).
    private double _retCount, _retMean, _retM2;

    /// <summary>
    /// The discount from step k to the next step of its trial: γ, or γ^(1+m) after an episode that terminated m steps
    /// before its horizon when <see cref="Rl2Config.PadTerminated"/> is set.
    /// </summary>
    private double Discount(Batch d, int k) => d.Skipped[k] == 0 ? Config.Gamma : Math.Pow(Config.Gamma, 1 + d.Skipped[k]);

    private void NormalizeRewards(Batch d, int B)
    {
        double n = 0, mean = 0, m2 = 0;
        for (int i = 0; i < B; i++)
        {
            double ret = 0;
            for (int t = 0; t < _T; t++)
            {
                int k = t * B + i;
                if (d.Mask[k] == 0) break;
                ret = (t > 0 ? Discount(d, k - B) : 1) * ret + d.Rewards[k];
                n++;
                double delta = ret - mean;
                mean += delta / n;
                m2 += delta * (ret - mean);
            }
        }
        if (n > 0)
        {
            // Chan et al.'s parallel merge of (count, mean, M2).
            double total = _retCount + n, delta = mean - _retMean;
            _retM2 += m2 + delta * delta * _retCount * n / total;
            _retMean += delta * n / total;
            _retCount = total;
        }
        double std = _retCount > 1 ? Math.Sqrt(_retM2 / _retCount) : 1;
        float inv = (float)(1 / (std + 1e-8));
        for (int k = 0; k < d.Rewards.Length; k++) d.Rewards[k] *= inv;
    }

    private void ComputeAdvantages(Batch d, int B)
    {
        float lambda = (float)Config.GaeLambda;
        for (int i = 0; i < B; i++)
        {
            float next = 0, adv = 0;
            for (int t = _T - 1; t >= 0; t--)
            {
                int k = t * B + i;
                if (d.Mask[k] == 0) { next = 0; adv = 0; continue; }
                float gamma = (float)Discount(d, k);
                float delta = d.Rewards[k] + gamma * next - d.Values[k];
                adv = delta + gamma * lambda * adv;
                d.Advantages[k] = adv;
                d.Returns[k] = adv + d.Values[k];
                next = d.Values[k];
            }
        }
        // Normalise advantages over the valid steps of the batch.
        double sum = 0, sq = 0, count = 0;
        for (int k = 0; k < d.Mask.Length; k++)
            if (d.Mask[k] > 0) { sum += d.Advantages[k]; sq += (double)d.Advantages[k] * d.Advantages[k]; count++; }
        double mean = sum / Math.Max(1, count), std = Math.Sqrt(Math.Max(0, sq / Math.Max(1, count) - mean * mean)) + 1e-8;
        for (int k = 0; k < d.Mask.Length; k++) d.Advantages[k] = d.Mask[k] > 0 ? (float)((d.Advantages[k] - mean) / std) : 0;
    }

    // ------------------------------------------------------------------ update

    /// <summary>Collects a batch of trials and updates the network; throws <see cref="TrainingDivergedException"/> on NaN or infinity.</summary>
    public Rl2IterationStats RunIteration()
    {
        var watch = Stopwatch.StartNew();
        double progress = (double)Iteration / Config.Iterations;
        Optimizer.LearningRate = Config.LrSchedule == "linear" ? Config.LearningRate * Math.Max(0, 1 - progress) : Config.LearningRate;
        double entropyCoef = Config.EntropyCoef + (Config.EntropyCoefFinal - Config.EntropyCoef) * Math.Min(1, progress);
        var (data, trialReturns, episodeMeans, steps) = Collect();
        double rolloutSeconds = watch.Elapsed.TotalSeconds;

        int B = Config.TrialsPerIteration, I = Network.InputSize, S = Network.StateSize;
        int L = Config.Bptt > 0 ? Math.Min(Config.Bptt, _T) : _T;
        var order = Enumerable.Range(0, B).ToArray();
        double pl = 0, vl = 0, ent = 0, kl = 0, clipFrac = 0, gradNorm = 0;
        int updates = 0;
        for (int epoch = 0; epoch < Config.Epochs; epoch++)
        {
            _rng.Shuffle<int>(order);
            for (int m = 0; m < Config.Minibatches; m++)
            {
                int lo = m * B / Config.Minibatches, hi = (m + 1) * B / Config.Minibatches, mb = hi - lo;
                if (mb == 0) continue;
                var trials = order.AsSpan(lo, mb).ToArray();
                Optimizer.ZeroGrad();
                double mbPl = 0, mbVl = 0, mbEnt = 0, mbKl = 0, mbClip = 0, validTotal = 0;
                for (int k = 0; k < trials.Length; k++) for (int t = 0; t < _T; t++) validTotal += data.Mask[t * B + trials[k]];
                if (validTotal == 0) continue;
                for (int t0 = 0; t0 < _T; t0 += L)
                {
                    int len = Math.Min(L, _T - t0);
                    var x = new float[len * mb * I];
                    var s0 = new float[mb * S];
                    int N = len * mb;
                    var acts = new float[N * _act];
                    var oldLogp = new float[N];
                    var adv = new float[N];
                    var ret = new float[N];
                    var mask = new float[N];
                    var tf = new float[N * _F];
                    double valid = 0;
                    for (int k = 0; k < mb; k++)
                    {
                        int b = trials[k];
                        data.States.AsSpan((t0 * B + b) * S, S).CopyTo(s0.AsSpan(k * S, S));
                        for (int t = 0; t < len; t++)
                        {
                            int src = (t0 + t) * B + b, dst = t * mb + k;
                            data.Inputs.AsSpan(src * I, I).CopyTo(x.AsSpan(dst * I, I));
                            data.Actions.AsSpan(src * _act, _act).CopyTo(acts.AsSpan(dst * _act, _act));
                            oldLogp[dst] = data.LogProbs[src];
                            adv[dst] = data.Advantages[src];
                            ret[dst] = data.Returns[src];
                            mask[dst] = data.Mask[src];
                            valid += mask[dst];
                            if (_F > 0) data.TaskFeatures.AsSpan(b * _F, _F).CopyTo(tf.AsSpan(dst * _F, _F));
                        }
                    }
                    if (valid == 0) continue;
                    var features = Network.Sequence(Tensor.FromArray(x, len, mb, I), Tensor.FromArray(s0, mb, S));
                    var flat = Ops.Reshape(features, N, Network.Hidden);
                    var policy = Network.Policy(flat);
                    var value = Network.Value(flat, Network.CriticTaskFeatures > 0 ? Tensor.FromArray(tf, N, _F) : null);
                    var (newLogp, entropy) = LogProbAndEntropy(policy, acts, N);
                    var maskT = Tensor.FromArray(mask, N);
                    var advT = Tensor.FromArray(adv, N);
                    var ratio = Ops.Exp(newLogp - Tensor.FromArray(oldLogp, N));
                    var surrogate = Ops.Minimum(ratio * advT, Ops.Clamp(ratio, 1 - Config.ClipRange, 1 + Config.ClipRange) * advT);
                    double w = 1.0 / validTotal;
                    var policyLoss = -Ops.Sum(surrogate * maskT) * w;
                    var valueLoss = Ops.Sum(Ops.Square(value - Tensor.FromArray(ret, N)) * maskT) * (0.5 * w);
                    var entropyMean = Ops.Sum(entropy * maskT) * w;
                    var loss = policyLoss + valueLoss * Config.ValueCoef - entropyMean * entropyCoef;
                    double lossValue = loss.ToScalar();
                    if (!double.IsFinite(lossValue))
                        throw new TrainingDivergedException($"RL² loss became {lossValue} at iteration {Iteration + 1} (policy {policyLoss.ToScalar()}, value {valueLoss.ToScalar()}); training stopped.");
                    loss.Backward();
                    mbPl += policyLoss.ToScalar();
                    mbVl += valueLoss.ToScalar();
                    mbEnt += entropyMean.ToScalar();
                    var lr = ratio.ToArray();
                    var nl = newLogp.ToArray();
                    for (int j = 0; j < N; j++)
                    {
                        if (mask[j] == 0) continue;
                        double logRatio = nl[j] - oldLogp[j];
                        mbKl += (Math.Exp(logRatio) - 1 - logRatio) / validTotal;
                        if (Math.Abs(lr[j] - 1) > Config.ClipRange) mbClip += 1 / validTotal;
                    }
                }
                double norm = GradClip.ClipGlobalNorm(Network.Parameters(), Config.MaxGradNorm);
                if (!double.IsFinite(norm))
                    throw new TrainingDivergedException($"RL² gradient norm became {norm} at iteration {Iteration + 1}; training stopped.");
                Optimizer.Step();
                pl += mbPl; vl += mbVl; ent += mbEnt; kl += mbKl; clipFrac += mbClip; gradNorm += norm;
                updates++;
            }
        }
        Iteration++;
        TotalSteps += steps;
        int u = Math.Max(1, updates);
        return new Rl2IterationStats(Iteration, trialReturns.Average(), episodeMeans, pl / u, vl / u, ent / u, kl / u, clipFrac / u, gradNorm / u,
            Optimizer.LearningRate, TotalSteps, watch.Elapsed.TotalSeconds, rolloutSeconds);
    }

    private (Tensor<float> LogProb, Tensor<float> Entropy) LogProbAndEntropy(Tensor<float> policy, float[] actions, int n)
    {
        if (Network.Discrete)
        {
            var logp = Ops.LogSoftmax(policy, 1);
            var idx = new int[n];
            for (int j = 0; j < n; j++) idx[j] = (int)actions[j];
            var chosen = Ops.Gather(logp, 1, idx);
            var entropy = -Ops.Sum(Ops.Exp(logp) * logp, 1);
            return (chosen, entropy);
        }
        var logStd = Network.LogStd!;
        int a = Network.ActionSize;
        var z = (Tensor.FromArray(actions, n, a) - policy) * Ops.Exp(-logStd);
        var lp = Ops.Sum(Ops.Square(z) * -0.5 - logStd, 1) - 0.5 * a * Math.Log(2 * Math.PI);
        var h = Ops.Sum(logStd + 0.5 * (1 + Math.Log(2 * Math.PI))) + Tensor.Zeros<float>(n);
        return (lp, h);
    }

    // ------------------------------------------------------------------ checkpoints

    private const string ObservationStatisticsPrefix = "obs-norm.";

    /// <summary>Writes everything needed to resume bit-identically (network, optimiser, counters, random streams), atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata)
    {
        var archive = new TensorArchive();
        foreach (var (k, v) in metadata) archive.Metadata[k] = v;
        archive.Metadata["kind"] = "rl2-checkpoint";
        archive.Metadata["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
        archive.Metadata["total-steps"] = TotalSteps.ToString(CultureInfo.InvariantCulture);
        archive.Metadata["seed"] = Seed.ToString(CultureInfo.InvariantCulture);
        CheckpointMetadata.WriteRng(archive, "rng", _rng);
        CheckpointMetadata.WriteRng(archive, "task-rng", _taskRng);
        archive.Metadata["return-stats"] = string.Join(',', new[] { _retCount, _retMean, _retM2 }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        Network.AddTo(archive, "net.");
        Network.ObservationNormalizer?.AddTo(archive, ObservationStatisticsPrefix);
        CheckpointMetadata.WriteOptimizer(archive, Optimizer);
        archive.Save(path);
    }

    /// <summary>Restores a checkpoint written by <see cref="Save"/> into this trainer (same configuration); nothing changes if it does not fit.</summary>
    public void Load(TensorArchive archive)
    {
        if (!archive.Metadata.TryGetValue("kind", out var kind) || kind != "rl2-checkpoint")
            throw new CheckpointException($"The checkpoint is not an RL² training checkpoint (kind '{kind ?? "missing"}').");
        var rng = CheckpointMetadata.ReadRngState(archive, "rng");
        var taskRng = CheckpointMetadata.ReadRngState(archive, "task-rng");
        int iteration = CheckpointMetadata.ReadInt(archive, "iteration");
        long steps = archive.Metadata.TryGetValue("total-steps", out var ts) && long.TryParse(ts, NumberStyles.None, CultureInfo.InvariantCulture, out long tv)
            ? tv : throw new CheckpointException("The checkpoint's 'total-steps' is missing or malformed.");
        var stats = (archive.Metadata.TryGetValue("return-stats", out var rs) ? rs : throw new CheckpointException("The checkpoint lacks 'return-stats'."))
            .Split(',').Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x) ? x
                : throw new CheckpointException("The checkpoint's 'return-stats' is malformed.")).ToArray();
        if (stats.Length != 3) throw new CheckpointException("The checkpoint's 'return-stats' is malformed.");
        var optimState = CheckpointMetadata.ReadOptimizerState(archive, Optimizer);
        // Validate the network before touching anything (LoadFrom checks every name and shape first).
        var probe = CreateNetwork(_tasks, Config, new Rng(1));
        probe.LoadFrom(archive, "net.");
        probe.ObservationNormalizer?.LoadFrom(archive, ObservationStatisticsPrefix);
        Network.LoadFrom(archive, "net.");
        Network.ObservationNormalizer?.LoadFrom(archive, ObservationStatisticsPrefix);
        Optimizer.LoadState(optimState);
        _rng.SetState(rng);
        _taskRng.SetState(taskRng);
        Iteration = iteration;
        TotalSteps = steps;
        (_retCount, _retMean, _retM2) = (stats[0], stats[1], stats[2]);
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
