using System.Numerics;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Common;

/// <summary>
/// The bounds every policy-gradient surrogate here (RL²'s PPO and TRPO, MAML's PPO and TRPO outer steps) puts on the
/// probability ratio r = π / π_old. An action the acting policy all but never takes (one an environment played in
/// place of the sampled one, <c>IEnv.WritePlayedAction</c>) can see its ratio soar once the policy moves: the log-ratio
/// is bounded by <see cref="MaxLogRatio"/> before exp, and PPO's term for a negative advantage is bounded below by
/// <see cref="DualClip"/> · A (dual clipping, Ye et al. 2020), so such a step's term and gradient stay bounded. For
/// actions the policy samples, neither bound is met in practice.
/// </summary>
internal static class RatioBounds
{
    /// <summary>The largest log-ratio of new to old probability a surrogate reads (e^20: far past any clip).</summary>
    public const double MaxLogRatio = 20;

    /// <summary>The dual clip's bound on a negative advantage's term, in multiples of the advantage (Ye et al. 2020 use 3).</summary>
    public const double DualClip = 3;

    /// <summary>exp of the log-ratio clamped to ±<see cref="MaxLogRatio"/>; the gradient passes only inside the bounds.</summary>
    public static Tensor<T> Ratio<T>(Tensor<T> logRatio) where T : unmanaged, IFloatingPointIeee754<T>
        => Ops.Exp(Ops.Clamp(logRatio, -MaxLogRatio, MaxLogRatio));

    /// <summary>The scalar <see cref="Ratio{T}(Tensor{T})"/>, for the hand-written fast paths.</summary>
    public static double Ratio(double logRatio) => Math.Exp(Math.Clamp(logRatio, -MaxLogRatio, MaxLogRatio));

    /// <summary>Whether the gradient passes through <see cref="Ratio(double)"/> at this log-ratio.</summary>
    public static bool InBounds(double logRatio) => logRatio >= -MaxLogRatio && logRatio <= MaxLogRatio;

    /// <summary>
    /// PPO's clipped term per step, max(min(r·A, clip(r, 1 ± ε)·A), <see cref="DualClip"/> · min(A, 0)), from the
    /// <paramref name="ratio"/> and the constant <paramref name="advantages"/>. For A ≥ 0 the floor is 0, below the term.
    /// </summary>
    public static Tensor<T> ClippedTerms<T>(Tensor<T> ratio, Tensor<T> advantages, double clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var clipped = Ops.Minimum(ratio * advantages, Ops.Clamp(ratio, 1 - clip, 1 + clip) * advantages);
        return Ops.Maximum(clipped, Ops.Clamp(advantages, double.NegativeInfinity, 0) * DualClip);
    }
}
