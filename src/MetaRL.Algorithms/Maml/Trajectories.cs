using MetaRL.Algorithms.Common;
using System.Numerics;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// K trajectories of one task, each up to H steps, laid out [k · H + t]. Steps after an early
/// termination are masked out. Advantages are returns minus the linear feature baseline, normalised.
/// </summary>
public sealed class TrajectoryBatch
{
    public TrajectoryBatch(int trajectories, int horizon, int obsSize, int actSize)
    {
        (Trajectories, Horizon, ObservationSize, ActionSize) = (trajectories, horizon, obsSize, actSize);
        int n = trajectories * horizon;
        Observations = new float[n * obsSize];
        Actions = new float[n * actSize];
        Rewards = new float[n];
        Mask = new float[n];
        Returns = new float[n];
        Advantages = new float[n];
    }

    public int Trajectories { get; }
    public int Horizon { get; }
    public int ObservationSize { get; }
    public int ActionSize { get; }
    public float[] Observations { get; }
    public float[] Actions { get; }
    public float[] Rewards { get; }
    public float[] Mask { get; }
    public float[] Returns { get; }
    public float[] Advantages { get; }

    public int Steps => Trajectories * Horizon;

    /// <summary>The given rows (steps) of this batch, in that order, as one trajectory of that many steps.</summary>
    public TrajectoryBatch Rows(IReadOnlyList<int> rows)
    {
        var b = new TrajectoryBatch(1, rows.Count, ObservationSize, ActionSize);
        for (int i = 0; i < rows.Count; i++)
        {
            int r = rows[i];
            Array.Copy(Observations, r * ObservationSize, b.Observations, i * ObservationSize, ObservationSize);
            Array.Copy(Actions, r * ActionSize, b.Actions, i * ActionSize, ActionSize);
            (b.Rewards[i], b.Mask[i], b.Returns[i], b.Advantages[i]) = (Rewards[r], Mask[r], Returns[r], Advantages[r]);
        }
        return b;
    }

    /// <summary>Mean over trajectories of the undiscounted return.</summary>
    public double MeanReturn
    {
        get
        {
            double s = 0;
            for (int i = 0; i < Rewards.Length; i++) s += Rewards[i] * Mask[i];
            return s / Trajectories;
        }
    }

    public int[] ActionIndices()
    {
        var idx = new int[Steps];
        for (int i = 0; i < idx.Length; i++) idx[i] = (int)Actions[i * ActionSize];
        return idx;
    }

    internal static Tensor<T> ToTensor<T>(float[] data, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new T[data.Length];
        for (int i = 0; i < t.Length; i++) t[i] = T.CreateChecked(data[i]);
        return Tensor.FromArray(t, shape);
    }

    /// <summary>Discounted returns, the per-task baseline fit, and normalised advantages.</summary>
    public void ComputeAdvantages(double gamma)
    {
        for (int k = 0; k < Trajectories; k++)
        {
            double ret = 0;
            for (int t = Horizon - 1; t >= 0; t--)
            {
                int i = k * Horizon + t;
                ret = Mask[i] == 0 ? 0 : Rewards[i] + gamma * ret;
                Returns[i] = (float)ret;
            }
        }
        var values = new float[Steps];
        LinearFeatureBaseline.FitPredict(Observations, ObservationSize, Returns, Mask, Trajectories, Horizon, values);
        double sum = 0, sq = 0, count = 0;
        for (int i = 0; i < Steps; i++)
        {
            if (Mask[i] == 0) { Advantages[i] = 0; continue; }
            double a = Returns[i] - values[i];
            Advantages[i] = (float)a;
            sum += a; sq += a * a; count++;
        }
        double mean = sum / Math.Max(1, count), std = Math.Sqrt(Math.Max(0, sq / Math.Max(1, count) - mean * mean)) + 1e-8;
        for (int i = 0; i < Steps; i++) Advantages[i] = Mask[i] == 0 ? 0 : (float)((Advantages[i] - mean) / std);
    }

    /// <summary>
    /// Plays <paramref name="trajectories"/> episodes of <paramref name="task"/> side by side with the given policy weights
    /// (one round of the shared trial loop, <see cref="TrialSampler"/>), in <paramref name="envs"/> when given (reused:
    /// simulators can be expensive to create) or in new environments. Trajectory k draws its environment's randomness and
    /// its actions from the k-th stream split from <paramref name="rng"/>.
    /// </summary>
    public static TrajectoryBatch Sample(MlpPolicy<float> policy, IReadOnlyList<Tensor<float>> parameters, TaskDistribution tasks, ITask task,
        int trajectories, Rng rng, double gamma, IEnv[]? envs = null)
    {
        if (envs is not null && envs.Length < trajectories)
            throw new ArgumentException($"Sampling {trajectories} trajectories needs as many environments; got {envs.Length}.", nameof(envs));
        var batch = new TrajectoryBatch(trajectories, tasks.Horizon, tasks.ObservationSpace.Size, tasks.ActionSpace.Size);
        var streams = new Rng[trajectories];
        for (int k = 0; k < trajectories; k++) streams[k] = rng.Split();
        IEnv?[] lanes = envs is null ? new IEnv?[trajectories] : envs.AsSpan(0, trajectories).ToArray();
        TrialSampler.Play(new Recorder(policy, parameters, batch, streams), tasks, [task], streams,
            new TrialPlan(trajectories, trajectories, StepParallelism.Never, CheckActions: false), lanes);
        if (envs is not null) for (int k = 0; k < trajectories; k++) envs[k] = lanes[k]!;
        batch.ComputeAdvantages(gamma);
        return batch;
    }

    /// <summary>
    /// The session that samples MAML's trajectories: every lane acts with the same weights, drawing from its own
    /// stream (the one its environment steps with), and its steps are written at rows k · H + t.
    /// </summary>
    private sealed class Recorder(MlpPolicy<float> policy, IReadOnlyList<Tensor<float>> parameters, TrajectoryBatch batch, Rng[] streams) : IAgentSession
    {
        private readonly float[] _logStd = policy.Discrete ? [] : Functional.Call(policy, parameters, () => policy.LogStd).ToArray();
        private readonly int[] _step = new int[batch.Trajectories];
        private readonly MlpPolicyForward<float> _forward = new(policy, batch.Trajectories);

        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            int K = batch.Trajectories, O = batch.ObservationSize, A = batch.ActionSize;
            var o = _forward.Output(parameters, observations);
            for (int k = 0; k < K; k++)
            {
                if (!active[k]) continue;
                int i = k * batch.Horizon + _step[k];
                observations.Slice(k * O, O).CopyTo(batch.Observations.AsSpan(i * O, O));
                PolicyActions.Sample(policy, o.Slice(k * policy.ActionSize, policy.ActionSize), _logStd, streams[k], deterministic: false,
                    batch.Actions.AsSpan(i * A, A), actions.Slice(k * A, A));
                foreach (float a in actions.Slice(k * A, A))
                    if (!float.IsFinite(a))
                        throw new TrainingDivergedException($"MAML's policy chose a non-finite action ({string.Join(", ", actions.Slice(k * A, A).ToArray())}): "
                            + "its weights overflowed, usually because the inner step (inner-lr) or the outer step is too large");
            }
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int k = 0; k < batch.Trajectories; k++)
            {
                if (!active[k]) continue;
                int i = k * batch.Horizon + _step[k]++;
                // A discrete step the environment played with another action (IEnv.WritePlayedAction) is learnt as that action's.
                if (policy.Discrete) batch.Actions[i] = actions[k];
                batch.Rewards[i] = rewards[k];
                batch.Mask[i] = 1;
            }
        }
    }
}

/// <summary>The differentiable pieces of MAML, generic so that they can be checked in double.</summary>
public static class MamlMath
{
    /// <summary>log π(a | s) [steps] of a batch's actions under the given parameters.</summary>
    public static Tensor<T> LogProb<T>(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> parameters, TrajectoryBatch b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = b.Steps;
        var obs = TrajectoryBatch.ToTensor<T>(b.Observations, n, b.ObservationSize);
        var acts = TrajectoryBatch.ToTensor<T>(b.Actions, n, b.ActionSize);
        var idx = policy.Discrete ? b.ActionIndices() : null;
        return Functional.Call(policy, parameters, () => policy.LogProb(obs, acts, idx));
    }

    /// <summary>
    /// The inner (vanilla policy gradient) loss: −Σ mask·log π·A / Σ mask; with <paramref name="lowVarianceCurvature"/>
    /// ProMP's form −Σ mask·(π/⊥π)·A / Σ mask (Rothfuss et al. 2019), ⊥ stopping the gradient. Both have the same gradient,
    /// so they take the same inner step. The second's Hessian adds −Σ A ∇log π ∇log πᵀ / Σ mask, the part of the
    /// meta-gradient that credits the pre-adaptation actions for what the step learns from them.
    /// </summary>
    public static Tensor<T> InnerLoss<T>(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> parameters, TrajectoryBatch b, bool lowVarianceCurvature = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var logp = LogProb(policy, parameters, b);
        var weight = TrajectoryBatch.ToTensor<T>(b.Advantages, b.Steps);
        double valid = b.Mask.Sum();
        var term = lowVarianceCurvature ? Ops.Exp(logp - logp.Detach()) : logp;
        return -Ops.Sum(term * weight) / Math.Max(1, valid);
    }

    /// <summary>
    /// θ' after <paramref name="steps"/> inner steps of size <paramref name="alpha"/>. With <paramref name="createGraph"/>
    /// the steps stay in the graph, so θ' is a differentiable function of θ (the exact second-order meta-gradient).
    /// </summary>
    public static Tensor<T>[] Adapt<T>(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> theta, TrajectoryBatch b, double alpha, int steps, bool createGraph,
        bool lowVarianceCurvature = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var fast = FastWeights<T>.Clone(policy, theta);
        for (int s = 0; s < steps; s++) fast.Adapt(InnerLoss(policy, fast.Weights, b, lowVarianceCurvature), alpha, createGraph);
        return fast.Weights.ToArray();
    }

    /// <summary>The TRPO surrogate Σ mask·r·A / Σ mask on post-adaptation trajectories, r = exp(log π − log π_old) bounded as <see cref="RatioBounds"/> says.</summary>
    public static Tensor<T> Surrogate<T>(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> adapted, TrajectoryBatch b, Tensor<T> oldLogProb)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ratio = RatioBounds.Ratio(LogProb(policy, adapted, b) - oldLogProb);
        var weight = TrajectoryBatch.ToTensor<T>(b.Advantages, b.Steps); // zero on masked steps
        return Ops.Sum(ratio * weight) / Math.Max(1, b.Mask.Sum());
    }

    /// <summary>PPO's clipped surrogate Σ mask·min(rA, clip(r, 1 ± ε)A) / Σ mask, r = exp(log π − log π_old), with <see cref="RatioBounds"/>' bounds.</summary>
    public static Tensor<T> ClippedSurrogate<T>(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> adapted, TrajectoryBatch b, Tensor<T> oldLogProb, double clip)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ratio = RatioBounds.Ratio(LogProb(policy, adapted, b) - oldLogProb);
        var weight = TrajectoryBatch.ToTensor<T>(b.Advantages, b.Steps); // zero on masked steps
        return Ops.Sum(RatioBounds.ClippedTerms(ratio, weight, clip)) / Math.Max(1, b.Mask.Sum());
    }

    /// <summary>Mean KL(π_old ‖ π_adapted) over the valid steps.</summary>
    public static Tensor<T> Kl<T>(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> adapted, TrajectoryBatch b, Tensor<T> oldOutput, Tensor<T>? oldLogStd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = b.Steps;
        var obs = TrajectoryBatch.ToTensor<T>(b.Observations, n, b.ObservationSize);
        var kl = Functional.Call(policy, adapted, () => policy.KlFrom(obs, oldOutput, oldLogStd));
        return Ops.Sum(kl * TrajectoryBatch.ToTensor<T>(b.Mask, n)) / Math.Max(1, b.Mask.Sum());
    }
}
