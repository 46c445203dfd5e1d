using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Optim;

namespace MetaRL.Algorithms.Rl2;

/// <summary>
/// RL²'s TRPO update (the RL² paper's): one natural-gradient step on the policy under a KL limit, Fisher-vector products by
/// double back-propagation through the recurrent core, then the value head (and task head) fitted by Adam on the updated
/// features. <paramref name="policyParameters"/> are the weights the step moves; <paramref name="optimizer"/> holds the rest.
/// </summary>
internal sealed class Rl2TrpoUpdate(Rl2Objective o, Adam<float> optimizer, IReadOnlyList<Tensor<float>> policyParameters, Rng rng)
{
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    /// <summary>
    /// The RL² paper's update: one TRPO step on the policy (recurrent core, policy head, log σ) over the whole batch of
    /// trials, Fisher-vector products by double back-propagation through the recurrent core; then the value head alone
    /// is fitted by Adam on the new recurrent features (detached, so value fitting cannot move the policy).
    /// </summary>
    public Rl2UpdateStats Update(Rl2Batch data, int iteration)
    {
        var all = Enumerable.Range(0, o.Config.TrialsPerIteration).ToArray();
        var chunks = o.Chunks(data, all).Where(c => c.Valid > 0).ToList();
        double validTotal = chunks.Sum(c => c.Valid);
        var theta = policyParameters;

        // With task prediction the step maximises the surrogate minus the weighted task loss (the task head held fixed:
        // Adam fits it below with the value head), and the trust region covers the prediction as it covers the policy:
        // the prediction counts as a Gaussian output of unit variance, whose KL from the sampling network's joins the
        // mean KL (see TaskLossSum). Directions of the recurrent core that move only the prediction then have curvature,
        // so a natural-gradient step along them stays as bounded as one along the policy.
        bool predict = o.Network.TaskPredictionFeatures > 0;

        // The sampling network's outputs (policy, and prediction), constants of the KL the line search checks.
        var oldOutputs = new Tensor<float>[chunks.Count];
        var oldPredictions = new float[chunks.Count][];
        Tensor<float>? oldLogStd = o.Network.LogStd?.Detach().Clone();
        using (GradMode.NoGrad())
            for (int i = 0; i < chunks.Count; i++)
            {
                var sampled = o.Features(chunks[i]);
                oldOutputs[i] = o.Network.Policy(sampled).Detach();
                if (predict) oldPredictions[i] = o.Network.PredictTask(sampled).ToArray();
            }
        (Tensor<float> Surrogate, Tensor<float> Kl, Tensor<float> Entropy, Tensor<float>? TaskLoss) Objective()
        {
            Tensor<float>? sum = null, kl = null, entropy = null, task = null;
            for (int i = 0; i < chunks.Count; i++)
            {
                var c = chunks[i];
                var features = o.Features(c);
                var policy = o.Network.Policy(features);
                var (logp, h) = o.LogProbAndEntropy(policy, c.Actions, c.N);
                var mask = Tensor.FromArray(c.Mask, c.N);
                var s = Ops.Sum(RatioBounds.Ratio(logp - Tensor.FromArray(c.OldLogProbs, c.N)) * Tensor.FromArray(c.Advantages, c.N) * mask);
                var k = Ops.Sum(o.KlFromOld(oldOutputs[i], oldLogStd, policy) * mask);
                var e = Ops.Sum(h * mask);
                sum = sum is null ? s : sum + s;
                kl = kl is null ? k : kl + k;
                entropy = entropy is null ? e : entropy + e;
                if (predict)
                {
                    var prediction = o.Network.PredictTask(features);
                    var t = o.TaskLossSum(prediction, c.TaskFeatures, c.Mask);
                    task = task is null ? t : task + t;
                    kl = kl + o.TaskLossSum(prediction, oldPredictions[i], c.Mask);
                }
            }
            var taskLoss = task is null ? null : task / validTotal;
            var objective = sum! / validTotal;
            if (taskLoss is not null) objective = objective - taskLoss * o.Config.TaskPrediction;
            return (objective, kl! / validTotal, entropy! / validTotal, taskLoss);
        }

        var (surrogate, _, meanEntropy, startTaskLoss) = Objective();
        double oldSurrogate = surrogate.ToScalar();
        if (!double.IsFinite(oldSurrogate))
            throw new TrainingDivergedException($"RL² TRPO surrogate became {oldSurrogate}");
        var g = Autograd.Grad([surrogate], theta, allowUnused: true).Select((x, i) => x ?? Tensor.Zeros<float>(theta[i].Shape.ToArray())).ToArray();
        double gradNorm = Math.Sqrt(TrustRegion.Dot(g, g));
        if (!double.IsFinite(gradNorm))
            throw new TrainingDivergedException($"RL² gradient norm became {gradNorm}");
        var fvp = FisherProducts(data, all, theta);
        (double, double) Values()
        {
            using var _ = GradMode.NoGrad();
            var (s, k, _, _) = Objective();
            return (s.ToScalar(), k.ToScalar());
        }
        var step = TrustRegion.Step(theta, g, fvp, oldSurrogate, Values, o.Config.MaxKl, o.Config.CgIterations,
            o.Config.CgDamping, o.Config.LineSearchSteps, o.Config.LineSearchBacktrack);

        // Value fitting on the recurrent features of the updated policy, over shuffled valid steps.
        int H = o.Network.FeatureSize, rows = (int)validTotal;
        var features = new float[rows * H];
        var targets = new float[rows];
        var taskFeatures = new float[rows * o.F];
        int row = 0;
        using (GradMode.NoGrad())
            foreach (var c in chunks)
            {
                var f = o.Features(c).ToArray();
                for (int j = 0; j < c.N; j++)
                {
                    if (c.Mask[j] == 0) continue;
                    f.AsSpan(j * H, H).CopyTo(features.AsSpan(row * H, H));
                    c.TaskFeatures.AsSpan(j * o.F, o.F).CopyTo(taskFeatures.AsSpan(row * o.F, o.F));
                    targets[row++] = c.Returns[j];
                }
            }
        var order = Enumerable.Range(0, rows).ToArray();
        double valueLoss = 0;
        int updates = 0;
        for (int epoch = 0; epoch < o.Config.Epochs; epoch++)
        {
            rng.Shuffle<int>(order);
            for (int m = 0; m < o.Config.Minibatches; m++)
            {
                int lo = (int)((long)m * rows / o.Config.Minibatches), n = (int)((long)(m + 1) * rows / o.Config.Minibatches) - lo;
                if (n == 0) continue;
                var xf = new float[n * H];
                var y = new float[n];
                var tf = new float[n * o.F];
                for (int j = 0; j < n; j++)
                {
                    int r = order[lo + j];
                    features.AsSpan(r * H, H).CopyTo(xf.AsSpan(j * H, H));
                    taskFeatures.AsSpan(r * o.F, o.F).CopyTo(tf.AsSpan(j * o.F, o.F));
                    y[j] = targets[r];
                }
                optimizer.ZeroGrad();
                var xt = Tensor.FromArray(xf, n, H);
                var value = o.Network.Value(xt, o.Network.CriticTaskFeatures > 0 ? Tensor.FromArray(tf, n, o.F) : null);
                var loss = Ops.Sum(Ops.Square(value - Tensor.FromArray(y, n))) * (0.5 / n);
                double lossValue = loss.ToScalar();
                if (!double.IsFinite(lossValue))
                    throw new TrainingDivergedException($"RL² value loss became {lossValue}");
                if (predict)
                {
                    var taskLoss = o.TaskLossSum(o.Network.PredictTask(xt), tf, null) * (1.0 / n);
                    double taskValue = taskLoss.ToScalar();
                    if (!double.IsFinite(taskValue))
                        throw new TrainingDivergedException($"RL² task loss became {taskValue}");
                    loss = loss + taskLoss * o.Config.TaskPrediction;
                }
                loss.Backward();
                GradClip.ClipGlobalNorm(optimizer.Parameters, o.Config.MaxGradNorm);
                optimizer.Step();
                valueLoss += lossValue;
                updates++;
            }
        }
        return new Rl2UpdateStats(-(oldSurrogate + step.Improvement), valueLoss / Math.Max(1, updates), meanEntropy.ToScalar(), step.Kl, 0, gradNorm,
            startTaskLoss?.ToScalar() ?? 0, step.LineSearchSteps, step.Accepted);
    }

    /// <summary>
    /// Products with the Hessian of the mean KL at the current (= sampling) policy, by double back-propagation, over the
    /// trials <see cref="Rl2Config.CgSubsample"/> picks. The trials are split in two halves whose graphs are built and
    /// differentiated side by side; the split is fixed, so results do not depend on the number of cores.
    /// </summary>
    public Func<Tensor<float>[], Tensor<float>[]> FisherProducts(Rl2Batch data, int[] all, IReadOnlyList<Tensor<float>> theta)
    {
        int m = Math.Clamp((int)Math.Ceiling(o.Config.CgSubsample * all.Length), 1, all.Length);
        var trials = all;
        if (m < all.Length)
        {
            trials = (int[])all.Clone();
            rng.Shuffle<int>(trials);
            trials = trials.AsSpan(0, m).ToArray();
            Array.Sort(trials);
        }
        int parts = Math.Min(o.Shards, trials.Length);
        var grads = new Tensor<float>?[parts][];
        var weights = new double[parts];
        Parallel.For(0, parts, Cores, p =>
        {
            using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
            var mine = trials[(p * trials.Length / parts)..((p + 1) * trials.Length / parts)];
            Tensor<float>? kl = null;
            var oldLogStd = o.Network.LogStd?.Detach().Clone();
            foreach (var c in o.Chunks(data, mine))
            {
                if (c.Valid == 0) continue;
                weights[p] += c.Valid;
                var features = o.Features(c);
                var policy = o.Network.Policy(features);
                var k = Ops.Sum(o.KlFromOld(policy.Detach(), oldLogStd, policy) * Tensor.FromArray(c.Mask, c.N));
                if (o.Network.TaskPredictionFeatures > 0)
                {
                    var prediction = o.Network.PredictTask(features);
                    k = k + o.TaskLossSum(prediction, prediction.Detach().ToArray(), c.Mask); // as in the objective's KL
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
}
