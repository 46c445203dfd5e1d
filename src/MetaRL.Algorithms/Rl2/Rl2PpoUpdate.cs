using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Optim;

namespace MetaRL.Algorithms.Rl2;

/// <summary>What one update did, for the iteration's report.</summary>
internal readonly record struct Rl2UpdateStats(double PolicyLoss, double ValueLoss, double Entropy, double Kl, double ClipFraction, double GradNorm, double TaskLoss,
    int LineSearchSteps = 0, bool Accepted = true, double TeacherKl = double.NaN);

/// <summary>
/// RL²'s PPO update (Schulman et al. 2017) on a collected batch: several epochs of clipped-surrogate Adam steps on
/// minibatches of whole trials, back-propagating through time over whole trials or <see cref="Rl2Config.Bptt"/>-step chunks.
/// Shuffles with <paramref name="rng"/>, the stream the rollout drew from.
/// </summary>
internal sealed class Rl2PpoUpdate(Rl2Objective o, Adam<float> optimizer, Rng rng)
{
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    /// <summary>
    /// <see cref="Rl2Config.Epochs"/> passes over the batch in <see cref="Rl2Config.Minibatches"/> shuffled minibatches of
    /// whole trials, one clipped-surrogate Adam step each (value and entropy terms, the task loss when predicting), with
    /// the global gradient norm clipped, and with teachers their cross-entropy term weighted by <paramref name="teacherCoef"/>.
    /// Returns the means over the steps taken.
    /// </summary>
    public Rl2UpdateStats Update(Rl2Batch data, double entropyCoef, double teacherCoef, int iteration)
    {
        int B = o.Config.TrialsPerIteration;
        var order = Enumerable.Range(0, B).ToArray();
        var parameters = o.Network.Parameters();
        double pl = 0, vl = 0, ent = 0, kl = 0, clipFrac = 0, taskLoss = 0, gradNorm = 0, teacherKl = 0, taught = 0;
        int updates = 0;
        for (int epoch = 0; epoch < o.Config.Epochs; epoch++)
        {
            rng.Shuffle<int>(order);
            for (int m = 0; m < o.Config.Minibatches; m++)
            {
                int lo = m * B / o.Config.Minibatches, hi = (m + 1) * B / o.Config.Minibatches, mb = hi - lo;
                if (mb == 0) continue;
                var trials = order.AsSpan(lo, mb).ToArray();
                double validTotal = 0;
                for (int k = 0; k < trials.Length; k++) for (int t = 0; t < o.T; t++) validTotal += data.Mask[t * B + trials[k]];
                if (validTotal == 0) continue;
                var (grads, mbPl, mbVl, mbEnt, mbKl, mbClip, mbTask, mbTeacher) = MinibatchGradients(data, trials, validTotal, entropyCoef, teacherCoef, iteration);
                optimizer.ZeroGrad();
                for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = grads[i];
                double norm = GradClip.ClipGlobalNorm(parameters, o.Config.MaxGradNorm);
                if (!double.IsFinite(norm))
                    throw new TrainingDivergedException($"RL² gradient norm became {norm}");
                optimizer.Step();
                pl += mbPl; vl += mbVl; ent += mbEnt; kl += mbKl; clipFrac += mbClip; taskLoss += mbTask; gradNorm += norm;
                teacherKl += mbTeacher.KlSum; taught += mbTeacher.Steps;
                updates++;
            }
        }
        int u = Math.Max(1, updates);
        return new Rl2UpdateStats(pl / u, vl / u, ent / u, kl / u, clipFrac / u, gradNorm / u, taskLoss / u,
            TeacherKl: taught > 0 ? teacherKl / taught : double.NaN);
    }

    /// <summary>
    /// The clipped surrogate term of each of the first <paramref name="n"/> steps and its probability ratio, from the new
    /// log-probabilities, the acting policy's (<paramref name="oldLogProbs"/>) and the advantages; the ratio and the term
    /// are bounded as <see cref="RatioBounds"/> says (a step the environment played in place of the sampled one).
    /// </summary>
    internal static (Tensor<float> Surrogate, Tensor<float> Ratio) Surrogate(Tensor<float> newLogProbs, float[] oldLogProbs, float[] advantages, int n, double clipRange)
    {
        var ratio = RatioBounds.Ratio(newLogProbs - Tensor.FromArray(oldLogProbs, n));
        return (RatioBounds.ClippedTerms(ratio, Tensor.FromArray(advantages, n), clipRange), ratio);
    }

    /// <summary>
    /// The PPO loss's gradient over one minibatch of trials (weighted by its <paramref name="validTotal"/> valid steps)
    /// and its parts' means; with teachers, the sum over the taught steps of KL(teacher ‖ policy) and their number. The
    /// trials are split in <see cref="Rl2Objective.Shards"/> fixed parts whose graphs are built and differentiated side
    /// by side, one per core, and summed in order: results do not depend on the number of cores.
    /// </summary>
    internal (Tensor<float>?[] Grads, double Policy, double Value, double Entropy, double Kl, double ClipFraction, double TaskLoss, (double KlSum, double Steps) Teacher) MinibatchGradients(
        Rl2Batch data, int[] trials, double validTotal, double entropyCoef, double teacherCoef, int iteration)
    {
        var parameters = o.Network.Parameters();
        int parts = Math.Min(o.Shards, trials.Length);
        var grads = new Tensor<float>?[parts][];
        var sums = new double[parts, 8];
        var failures = new string?[parts];
        Parallel.For(0, parts, Cores, p =>
        {
            using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
            var mine = trials[(p * trials.Length / parts)..((p + 1) * trials.Length / parts)];
            var g = new Tensor<float>?[parameters.Count];
            foreach (var c in o.Chunks(data, mine))
            {
                if (c.Valid == 0) continue;
                int N = c.N;
                var (acts, oldLogp, adv, ret, mask, tf) = (c.Actions, c.OldLogProbs, c.Advantages, c.Returns, c.Mask, c.TaskFeatures);
                var flat = o.Features(c);
                var policy = o.Network.Policy(flat);
                var value = o.Network.Value(flat, o.Network.CriticTaskFeatures > 0 ? Tensor.FromArray(tf, N, o.F) : null);
                var (newLogp, entropy) = o.LogProbAndEntropy(policy, acts, N);
                var maskT = Tensor.FromArray(mask, N);
                var (surrogate, ratio) = Surrogate(newLogp, oldLogp, adv, N, o.Config.ClipRange);
                double w = 1.0 / validTotal;
                var policyLoss = -Ops.Sum(surrogate * maskT) * w;
                var valueLoss = Ops.Sum(Ops.Square(value - Tensor.FromArray(ret, N)) * maskT) * (0.5 * w);
                var entropyMean = Ops.Sum(entropy * maskT) * w;
                var loss = policyLoss + valueLoss * o.Config.ValueCoef - entropyMean * entropyCoef;
                Tensor<float>? taskLoss = null;
                if (o.Network.TaskPredictionFeatures > 0)
                {
                    taskLoss = o.TaskLossSum(o.Network.PredictTask(flat), tf, mask) * w;
                    loss = loss + taskLoss * o.Config.TaskPrediction;
                }
                float[]? teacherCrossEntropy = null;
                if (c.Taught.Length > 0)
                {
                    // Kickstarting's term: the cross-entropy from each taught step's teacher distribution to the policy's,
                    // −Σ_a p_teacher(a) log π(a), over the valid steps a teacher read.
                    int A = o.Network.ActionSize;
                    var target = new float[N * A];
                    for (int j = 0; j < N; j++)
                        if (mask[j] != 0 && c.Taught[j] != 0) c.TeacherProbs.AsSpan(j * A, A).CopyTo(target.AsSpan(j * A, A));
                    var perStep = -Ops.Sum(Ops.LogSoftmax(policy, 1) * Tensor.FromArray(target, N, A), 1);
                    loss = loss + Ops.Sum(perStep) * (w * teacherCoef);
                    teacherCrossEntropy = perStep.ToArray();
                }
                double lossValue = loss.ToScalar();
                if (!double.IsFinite(lossValue))
                {
                    failures[p] = $"RL² loss became {lossValue} (policy {policyLoss.ToScalar()}, value {valueLoss.ToScalar()})";
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
                if (teacherCrossEntropy is not null)
                    for (int j = 0; j < N; j++)
                        if (mask[j] != 0 && c.Taught[j] != 0) { sums[p, 6] += teacherCrossEntropy[j] + c.TeacherNegEntropy[j]; sums[p, 7] += 1; }
                var lr = ratio.ToArray();
                var nl = newLogp.ToArray();
                // The KL estimate and the clip fraction read the steps the acting policy sampled: an action the environment
                // played in its place is no sample of it, and one it all but never takes would swamp the estimate.
                for (int j = 0; j < N; j++)
                {
                    if (mask[j] == 0 || c.Replaced[j] != 0) continue;
                    double logRatio = nl[j] - oldLogp[j];
                    sums[p, 3] += (Math.Exp(logRatio) - 1 - logRatio) / validTotal;
                    if (Math.Abs(lr[j] - 1) > o.Config.ClipRange) sums[p, 4] += 1 / validTotal;
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
        return (total, Sum(0), Sum(1), Sum(2), Sum(3), Sum(4), Sum(5), (Sum(6), Sum(7)));
    }
}
