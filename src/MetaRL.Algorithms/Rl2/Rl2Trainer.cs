using System.Diagnostics;
using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Optim;

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
}


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
    private readonly Tensor<float>[] _policyParameters;

    /// <summary>The parameters that shape the policy (all but the value head's or critic's); TRPO steps move these.</summary>
    internal IReadOnlyList<Tensor<float>> PolicyParameters => _policyParameters;

    /// <summary>A rollout batch as an iteration collects it (for tests of the update's pieces).</summary>
    internal Batch CollectBatch() => Collect().Data;

    /// <summary>The chunks an update over <paramref name="trials"/> walks through (for tests).</summary>
    internal IEnumerable<Chunk> Chunks(Batch data, int[] trials)
    {
        for (int t0 = 0; t0 < _T; t0 += ChunkLength) yield return MakeChunk(data, trials, t0, Math.Min(ChunkLength, _T - t0));
    }

    internal Tensor<float> ChunkFeatures(Chunk c) => Features(c);

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
            config.SkipInput, config.TaskPrediction > 0 ? TaskFeatures(tasks, "task-prediction") : 0, config.PreviousObservation, config.MemoryBias, config.PairInput, config.GatedHead);

    public Rl2Trainer(TaskDistribution tasks, Rl2Config config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        Seed = seed;
        var init = new Rng(seed);
        Network = CreateNetwork(tasks, config, init);
        _F = Network.CriticTaskFeatures > 0 || Network.PolicyTaskFeatures > 0 || Network.TaskPredictionFeatures > 0 ? tasks.TaskFeatureSize : 0;
        // With TRPO the policy moves by trust-region steps and Adam fits only the value head (and task head).
        var named = Network.NamedParameters().ToArray();
        _policyParameters = named.Where(p => !Rl2Network.IsTrainingOnlyParameter(p.Name)).Select(p => p.Parameter).ToArray();
        Optimizer = new Adam<float>(config.Update == "trpo" ? named.Where(p => Rl2Network.IsTrainingOnlyParameter(p.Name)).Select(p => p.Parameter).ToArray() : Network.Parameters(),
            config.LearningRate, epsilon: 1e-5);
        _rng = new Rng(seed ^ 0x5151_7777UL);
        _taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
        _T = tasks.EpisodesPerTrial * tasks.Horizon;
        _obs = tasks.ObservationSpace.Size;
        _act = tasks.ActionSpace.Size;
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

    // ------------------------------------------------------------------ rollout

    internal sealed class Batch(int T, int B, int I, int S, int act)
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
        var prevObs = Network.ReadsPreviousObservation ? new float[B * _obs] : [];
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
                    Network.PolicyTaskFeatures > 0 ? data.TaskFeatures.AsSpan(i * _F, _F) : default,
                    Network.ReadsPreviousObservation ? prevObs.AsSpan(i * _obs, _obs) : default);
            }
            if (!any) break;
            input.CopyTo(data.Inputs.AsSpan(t * B * I));
            state.Data.CopyTo(data.States.AsSpan(t * B * S));
            var x = Tensor.FromArray((float[])input.Clone(), B, I);
            state = Network.Step(x, state);
            var features = Network.Features(state, x);
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
            if (Network.ReadsPreviousObservation) obs.CopyTo(prevObs, 0);
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
        if (Config.Update == "trpo") return TrpoUpdate(data, trialReturns, episodeMeans, steps, watch, rolloutSeconds);

        int B = Config.TrialsPerIteration;
        var order = Enumerable.Range(0, B).ToArray();
        var parameters = Network.Parameters();
        double pl = 0, vl = 0, ent = 0, kl = 0, clipFrac = 0, taskLoss = 0, gradNorm = 0;
        int updates = 0;
        for (int epoch = 0; epoch < Config.Epochs; epoch++)
        {
            _rng.Shuffle<int>(order);
            for (int m = 0; m < Config.Minibatches; m++)
            {
                int lo = m * B / Config.Minibatches, hi = (m + 1) * B / Config.Minibatches, mb = hi - lo;
                if (mb == 0) continue;
                var trials = order.AsSpan(lo, mb).ToArray();
                double validTotal = 0;
                for (int k = 0; k < trials.Length; k++) for (int t = 0; t < _T; t++) validTotal += data.Mask[t * B + trials[k]];
                if (validTotal == 0) continue;
                var (grads, mbPl, mbVl, mbEnt, mbKl, mbClip, mbTask) = MinibatchGradients(data, trials, validTotal, entropyCoef);
                Optimizer.ZeroGrad();
                for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = grads[i];
                double norm = GradClip.ClipGlobalNorm(parameters, Config.MaxGradNorm);
                if (!double.IsFinite(norm))
                    throw new TrainingDivergedException($"RL² gradient norm became {norm} at iteration {Iteration + 1}; training stopped.");
                Optimizer.Step();
                pl += mbPl; vl += mbVl; ent += mbEnt; kl += mbKl; clipFrac += mbClip; taskLoss += mbTask; gradNorm += norm;
                updates++;
            }
        }
        Iteration++;
        TotalSteps += steps;
        int u = Math.Max(1, updates);
        return new Rl2IterationStats(Iteration, trialReturns.Average(), episodeMeans, pl / u, vl / u, ent / u, kl / u, clipFrac / u, gradNorm / u,
            Optimizer.LearningRate, TotalSteps, watch.Elapsed.TotalSeconds, rolloutSeconds) { TaskLoss = taskLoss / u };
    }

    /// <summary>
    /// The PPO loss's gradient over one minibatch of trials (weighted by its <paramref name="validTotal"/> valid steps)
    /// and its parts' means. The trials are split in <see cref="Shards"/> fixed parts whose graphs are built and
    /// differentiated side by side, one per core, and summed in order: results do not depend on the number of cores.
    /// </summary>
    internal (Tensor<float>?[] Grads, double Policy, double Value, double Entropy, double Kl, double ClipFraction, double TaskLoss) MinibatchGradients(
        Batch data, int[] trials, double validTotal, double entropyCoef)
    {
        var parameters = Network.Parameters();
        int parts = Math.Min(Shards, trials.Length);
        var grads = new Tensor<float>?[parts][];
        var sums = new double[parts, 6];
        var failures = new string?[parts];
        Parallel.For(0, parts, Cores, p =>
        {
            using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
            var mine = trials[(p * trials.Length / parts)..((p + 1) * trials.Length / parts)];
            var g = new Tensor<float>?[parameters.Count];
            foreach (var c in Chunks(data, mine))
            {
                if (c.Valid == 0) continue;
                int N = c.N;
                var (acts, oldLogp, adv, ret, mask, tf) = (c.Actions, c.OldLogProbs, c.Advantages, c.Returns, c.Mask, c.TaskFeatures);
                var flat = Features(c);
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
                Tensor<float>? taskLoss = null;
                if (Network.TaskPredictionFeatures > 0)
                {
                    taskLoss = TaskLossSum(Network.PredictTask(flat), tf, mask) * w;
                    loss = loss + taskLoss * Config.TaskPrediction;
                }
                double lossValue = loss.ToScalar();
                if (!double.IsFinite(lossValue))
                {
                    failures[p] = $"RL² loss became {lossValue} at iteration {Iteration + 1} (policy {policyLoss.ToScalar()}, value {valueLoss.ToScalar()}); training stopped.";
                    return;
                }
                var chunkGrads = Autograd.Grad([loss], parameters, allowUnused: true);
                using (GradMode.NoGrad())
                    for (int i = 0; i < g.Length; i++)
                        if (chunkGrads[i] is { } cg) g[i] = g[i] is null ? cg : g[i]! + cg;
                sums[p, 0] += policyLoss.ToScalar();
                sums[p, 1] += valueLoss.ToScalar();
                sums[p, 2] += entropyMean.ToScalar();
                if (taskLoss is not null) sums[p, 5] += taskLoss.ToScalar();
                var lr = ratio.ToArray();
                var nl = newLogp.ToArray();
                for (int j = 0; j < N; j++)
                {
                    if (mask[j] == 0) continue;
                    double logRatio = nl[j] - oldLogp[j];
                    sums[p, 3] += (Math.Exp(logRatio) - 1 - logRatio) / validTotal;
                    if (Math.Abs(lr[j] - 1) > Config.ClipRange) sums[p, 4] += 1 / validTotal;
                }
            }
            grads[p] = g;
        });
        if (failures.FirstOrDefault(f => f is not null) is { } failure) throw new TrainingDivergedException(failure);
        var total = new Tensor<float>?[parameters.Count];
        using (GradMode.NoGrad())
            for (int p = 0; p < parts; p++)
                for (int i = 0; i < total.Length; i++)
                    if (grads[p][i] is { } gp) total[i] = total[i] is null ? gp.Clone() : total[i]! + gp; // own buffers: clipping scales them in place
        double Sum(int column) { double s = 0; for (int p = 0; p < parts; p++) s += sums[p, column]; return s; }
        return (total, Sum(0), Sum(1), Sum(2), Sum(3), Sum(4), Sum(5));
    }

    /// <summary>
    /// The task head's loss summed over the rows of <paramref name="prediction"/> [n, _F] that <paramref name="mask"/>
    /// marks valid (null: all): half the squared error against <paramref name="targets"/> [n, _F], averaged over the task
    /// features. With another prediction as the targets it is also the KL between the two as Gaussians of unit variance
    /// (per feature, averaged), the prediction's share of TRPO's KL.
    /// </summary>
    private Tensor<float> TaskLossSum(Tensor<float> prediction, float[] targets, float[]? mask)
    {
        int n = prediction.Shape[0];
        var squared = Ops.Square(prediction - Tensor.FromArray(targets, n, _F));
        if (mask is not null)
        {
            var maskF = new float[n * _F];
            for (int j = 0; j < n; j++) maskF.AsSpan(j * _F, _F).Fill(mask[j]);
            squared = squared * Tensor.FromArray(maskF, n, _F);
        }
        return Ops.Sum(squared) * (0.5 / _F);
    }

    /// <summary>
    /// How many fixed parts a batch of trials is split into for gradients and curvature products computed side by side
    /// (two: this machine's cores; more cores still get two, so a seed gives the same run everywhere). Settable for tests.
    /// </summary>
    internal int Shards { get; set; } = 2;

    private int ChunkLength => Config.Bptt > 0 ? Math.Min(Config.Bptt, _T) : _T;

    /// <summary>Steps t0 … t0+len−1 of some trials, laid out [len, trials] for one pass through the recurrent core.</summary>
    internal sealed class Chunk(int len, int mb, int I, int S, int act, int F)
    {
        public readonly int Length = len, Trials = mb, N = len * mb;
        public readonly float[] Inputs = new float[len * mb * I];
        public readonly float[] State0 = new float[mb * S];
        public readonly float[] Actions = new float[len * mb * act];
        public readonly float[] OldLogProbs = new float[len * mb];
        public readonly float[] Advantages = new float[len * mb];
        public readonly float[] Returns = new float[len * mb];
        public readonly float[] Mask = new float[len * mb];
        public readonly float[] TaskFeatures = new float[len * mb * F];
        public double Valid;
    }

    private Chunk MakeChunk(Batch data, int[] trials, int t0, int len)
    {
        int B = Config.TrialsPerIteration, I = Network.InputSize, S = Network.StateSize, mb = trials.Length;
        var c = new Chunk(len, mb, I, S, _act, _F);
        for (int k = 0; k < mb; k++)
        {
            int b = trials[k];
            data.States.AsSpan((t0 * B + b) * S, S).CopyTo(c.State0.AsSpan(k * S, S));
            for (int t = 0; t < len; t++)
            {
                int src = (t0 + t) * B + b, dst = t * mb + k;
                data.Inputs.AsSpan(src * I, I).CopyTo(c.Inputs.AsSpan(dst * I, I));
                data.Actions.AsSpan(src * _act, _act).CopyTo(c.Actions.AsSpan(dst * _act, _act));
                c.OldLogProbs[dst] = data.LogProbs[src];
                c.Advantages[dst] = data.Advantages[src];
                c.Returns[dst] = data.Returns[src];
                c.Mask[dst] = data.Mask[src];
                c.Valid += c.Mask[dst];
                if (_F > 0) data.TaskFeatures.AsSpan(b * _F, _F).CopyTo(c.TaskFeatures.AsSpan(dst * _F, _F));
            }
        }
        return c;
    }

    /// <summary>The features the heads read at a chunk's steps, [N, F], from its stored starting states.</summary>
    private Tensor<float> Features(Chunk c)
    {
        var features = Network.Sequence(Tensor.FromArray(c.Inputs, c.Length, c.Trials, Network.InputSize), Tensor.FromArray(c.State0, c.Trials, Network.StateSize));
        return Ops.Reshape(features, c.N, Network.FeatureSize);
    }

    /// <summary>
    /// The RL² paper's update: one TRPO step on the policy (recurrent core, policy head, log σ) over the whole batch of
    /// trials, Fisher-vector products by double back-propagation through the recurrent core; then the value head alone
    /// is fitted by Adam on the new recurrent features (detached, so value fitting cannot move the policy).
    /// </summary>
    private Rl2IterationStats TrpoUpdate(Batch data, double[] trialReturns, double[] episodeMeans, long steps, Stopwatch watch, double rolloutSeconds)
    {
        var all = Enumerable.Range(0, Config.TrialsPerIteration).ToArray();
        var chunks = Chunks(data, all).Where(c => c.Valid > 0).ToList();
        double validTotal = chunks.Sum(c => c.Valid);
        var theta = _policyParameters;

        // With task prediction the step maximises the surrogate minus the weighted task loss (the task head held fixed:
        // Adam fits it below with the value head), and the trust region covers the prediction as it covers the policy:
        // the prediction counts as a Gaussian output of unit variance, whose KL from the sampling network's joins the
        // mean KL (see TaskLossSum). Directions of the recurrent core that move only the prediction then have curvature,
        // so a natural-gradient step along them stays as bounded as one along the policy.
        bool predict = Network.TaskPredictionFeatures > 0;

        // The sampling network's outputs (policy, and prediction), constants of the KL the line search checks.
        var oldOutputs = new Tensor<float>[chunks.Count];
        var oldPredictions = new float[chunks.Count][];
        Tensor<float>? oldLogStd = Network.LogStd?.Detach().Clone();
        using (GradMode.NoGrad())
            for (int i = 0; i < chunks.Count; i++)
            {
                var sampled = Features(chunks[i]);
                oldOutputs[i] = Network.Policy(sampled).Detach();
                if (predict) oldPredictions[i] = Network.PredictTask(sampled).ToArray();
            }
        (Tensor<float> Surrogate, Tensor<float> Kl, Tensor<float> Entropy, Tensor<float>? TaskLoss) Objective()
        {
            Tensor<float>? sum = null, kl = null, entropy = null, task = null;
            for (int i = 0; i < chunks.Count; i++)
            {
                var c = chunks[i];
                var features = Features(c);
                var policy = Network.Policy(features);
                var (logp, h) = LogProbAndEntropy(policy, c.Actions, c.N);
                var mask = Tensor.FromArray(c.Mask, c.N);
                var s = Ops.Sum(Ops.Exp(logp - Tensor.FromArray(c.OldLogProbs, c.N)) * Tensor.FromArray(c.Advantages, c.N) * mask);
                var k = Ops.Sum(KlFromOld(oldOutputs[i], oldLogStd, policy) * mask);
                var e = Ops.Sum(h * mask);
                sum = sum is null ? s : sum + s;
                kl = kl is null ? k : kl + k;
                entropy = entropy is null ? e : entropy + e;
                if (predict)
                {
                    var prediction = Network.PredictTask(features);
                    var t = TaskLossSum(prediction, c.TaskFeatures, c.Mask);
                    task = task is null ? t : task + t;
                    kl = kl + TaskLossSum(prediction, oldPredictions[i], c.Mask);
                }
            }
            var taskLoss = task is null ? null : task / validTotal;
            var objective = sum! / validTotal;
            if (taskLoss is not null) objective = objective - taskLoss * Config.TaskPrediction;
            return (objective, kl! / validTotal, entropy! / validTotal, taskLoss);
        }

        var (surrogate, _, meanEntropy, startTaskLoss) = Objective();
        double oldSurrogate = surrogate.ToScalar();
        if (!double.IsFinite(oldSurrogate))
            throw new TrainingDivergedException($"RL² TRPO surrogate became {oldSurrogate} at iteration {Iteration + 1}; training stopped.");
        var g = Autograd.Grad([surrogate], theta, allowUnused: true).Select((x, i) => x ?? Tensor.Zeros<float>(theta[i].Shape.ToArray())).ToArray();
        double gradNorm = Math.Sqrt(TrustRegion.Dot(g, g));
        if (!double.IsFinite(gradNorm))
            throw new TrainingDivergedException($"RL² gradient norm became {gradNorm} at iteration {Iteration + 1}; training stopped.");
        var fvp = FisherProducts(data, all, theta);
        (double, double) Values()
        {
            using var _ = GradMode.NoGrad();
            var (s, k, _, _) = Objective();
            return (s.ToScalar(), k.ToScalar());
        }
        var step = TrustRegion.Step(theta, g, fvp, oldSurrogate, Values, Config.MaxKl, Config.CgIterations,
            Config.CgDamping, Config.LineSearchSteps, Config.LineSearchBacktrack);

        // Value fitting on the recurrent features of the updated policy, over shuffled valid steps.
        int H = Network.FeatureSize, rows = (int)validTotal;
        var features = new float[rows * H];
        var targets = new float[rows];
        var taskFeatures = new float[rows * _F];
        int row = 0;
        using (GradMode.NoGrad())
            foreach (var c in chunks)
            {
                var f = Features(c).ToArray();
                for (int j = 0; j < c.N; j++)
                {
                    if (c.Mask[j] == 0) continue;
                    f.AsSpan(j * H, H).CopyTo(features.AsSpan(row * H, H));
                    c.TaskFeatures.AsSpan(j * _F, _F).CopyTo(taskFeatures.AsSpan(row * _F, _F));
                    targets[row++] = c.Returns[j];
                }
            }
        var order = Enumerable.Range(0, rows).ToArray();
        double valueLoss = 0;
        int updates = 0;
        for (int epoch = 0; epoch < Config.Epochs; epoch++)
        {
            _rng.Shuffle<int>(order);
            for (int m = 0; m < Config.Minibatches; m++)
            {
                int lo = (int)((long)m * rows / Config.Minibatches), n = (int)((long)(m + 1) * rows / Config.Minibatches) - lo;
                if (n == 0) continue;
                var xf = new float[n * H];
                var y = new float[n];
                var tf = new float[n * _F];
                for (int j = 0; j < n; j++)
                {
                    int r = order[lo + j];
                    features.AsSpan(r * H, H).CopyTo(xf.AsSpan(j * H, H));
                    taskFeatures.AsSpan(r * _F, _F).CopyTo(tf.AsSpan(j * _F, _F));
                    y[j] = targets[r];
                }
                Optimizer.ZeroGrad();
                var xt = Tensor.FromArray(xf, n, H);
                var value = Network.Value(xt, Network.CriticTaskFeatures > 0 ? Tensor.FromArray(tf, n, _F) : null);
                var loss = Ops.Sum(Ops.Square(value - Tensor.FromArray(y, n))) * (0.5 / n);
                double lossValue = loss.ToScalar();
                if (!double.IsFinite(lossValue))
                    throw new TrainingDivergedException($"RL² value loss became {lossValue} at iteration {Iteration + 1}; training stopped.");
                if (predict)
                {
                    var taskLoss = TaskLossSum(Network.PredictTask(xt), tf, null) * (1.0 / n);
                    double taskValue = taskLoss.ToScalar();
                    if (!double.IsFinite(taskValue))
                        throw new TrainingDivergedException($"RL² task loss became {taskValue} at iteration {Iteration + 1}; training stopped.");
                    loss = loss + taskLoss * Config.TaskPrediction;
                }
                loss.Backward();
                GradClip.ClipGlobalNorm(Optimizer.Parameters, Config.MaxGradNorm);
                Optimizer.Step();
                valueLoss += lossValue;
                updates++;
            }
        }
        Iteration++;
        TotalSteps += steps;
        return new Rl2IterationStats(Iteration, trialReturns.Average(), episodeMeans, -(oldSurrogate + step.Improvement), valueLoss / Math.Max(1, updates),
            meanEntropy.ToScalar(), step.Kl, 0, gradNorm, Optimizer.LearningRate, TotalSteps, watch.Elapsed.TotalSeconds, rolloutSeconds)
        { LineSearchSteps = step.LineSearchSteps, Accepted = step.Accepted, TaskLoss = startTaskLoss?.ToScalar() ?? 0 };
    }

    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    /// <summary>
    /// Products with the Hessian of the mean KL at the current (= sampling) policy, by double back-propagation, over the
    /// trials <see cref="Rl2Config.CgSubsample"/> picks. The trials are split in two halves whose graphs are built and
    /// differentiated side by side; the split is fixed, so results do not depend on the number of cores.
    /// </summary>
    internal Func<Tensor<float>[], Tensor<float>[]> FisherProducts(Batch data, int[] all, IReadOnlyList<Tensor<float>> theta)
    {
        int m = Math.Clamp((int)Math.Ceiling(Config.CgSubsample * all.Length), 1, all.Length);
        var trials = all;
        if (m < all.Length)
        {
            trials = (int[])all.Clone();
            _rng.Shuffle<int>(trials);
            trials = trials.AsSpan(0, m).ToArray();
            Array.Sort(trials);
        }
        int parts = Math.Min(Shards, trials.Length);
        var grads = new Tensor<float>?[parts][];
        var weights = new double[parts];
        Parallel.For(0, parts, Cores, p =>
        {
            using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
            var mine = trials[(p * trials.Length / parts)..((p + 1) * trials.Length / parts)];
            Tensor<float>? kl = null;
            var oldLogStd = Network.LogStd?.Detach().Clone();
            foreach (var c in Chunks(data, mine))
            {
                if (c.Valid == 0) continue;
                weights[p] += c.Valid;
                var features = Features(c);
                var policy = Network.Policy(features);
                var k = Ops.Sum(KlFromOld(policy.Detach(), oldLogStd, policy) * Tensor.FromArray(c.Mask, c.N));
                if (Network.TaskPredictionFeatures > 0)
                {
                    var prediction = Network.PredictTask(features);
                    k = k + TaskLossSum(prediction, prediction.Detach().ToArray(), c.Mask); // as in the objective's KL
                }
                kl = kl is null ? k : kl + k;
            }
            grads[p] = kl is null ? new Tensor<float>?[theta.Count] : Autograd.Grad([kl / weights[p]], theta, createGraph: true, allowUnused: true);
        });
        double total = weights.Sum();
        return v =>
        {
            var products = new Tensor<float>[parts][];
            Parallel.For(0, parts, Cores, p =>
            {
                using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                products[p] = TrustRegion.HessianTimes(grads[p], theta, v);
            });
            using var _ = GradMode.NoGrad();
            var sum = products[0].Select(t => t * (weights[0] / total)).ToArray();
            for (int p = 1; p < parts; p++)
                for (int i = 0; i < sum.Length; i++) sum[i] = sum[i] + products[p][i] * (weights[p] / total);
            return sum;
        };
    }

    /// <summary>Per-step KL(old ‖ new) [N] between the sampling policy's outputs and the current ones.</summary>
    private Tensor<float> KlFromOld(Tensor<float> oldOutput, Tensor<float>? oldLogStd, Tensor<float> policy) =>
        PolicyDistributions.Kl(Network.Discrete, oldOutput, oldLogStd, policy, Network.LogStd);

    private (Tensor<float> LogProb, Tensor<float> Entropy) LogProbAndEntropy(Tensor<float> policy, float[] actions, int n)
    {
        if (!Network.Discrete) return PolicyDistributions.LogProbAndEntropy(false, policy, Network.LogStd, Tensor.FromArray(actions, n, Network.ActionSize), null);
        var indices = new int[n];
        for (int j = 0; j < n; j++) indices[j] = (int)actions[j];
        return PolicyDistributions.LogProbAndEntropy(true, policy, null, null, indices);
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
