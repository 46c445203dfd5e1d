using System.Numerics;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Common;

/// <summary>
/// The two action distributions the policies here use, computed from a network's outputs: categorical over logits
/// (discrete actions) and diagonal Gaussian over means with a state-independent log standard deviation (boxes).
/// MAML's trust region and RL² trained with TRPO both constrain this KL; both policies' log-probabilities come from here.
/// </summary>
internal static class PolicyDistributions
{
    /// <summary>
    /// log π(a | ·) per row [N] from the outputs [N, A]: logits with the chosen <paramref name="actionIndices"/>, or
    /// Gaussian means with <paramref name="logStd"/> [A] and the action vectors <paramref name="actions"/> [N, A].
    /// </summary>
    public static Tensor<T> LogProb<T>(bool discrete, Tensor<T> output, Tensor<T>? logStd, Tensor<T>? actions, int[]? actionIndices)
        where T : unmanaged, IFloatingPointIeee754<T>
        => discrete ? Ops.Gather(Ops.LogSoftmax(output, 1), 1, actionIndices!) : GaussianLogProb(output, logStd!, actions!);

    /// <summary>log π(a | ·) and the entropy of π, per row [N] (the log-softmax computed once for both).</summary>
    public static (Tensor<T> LogProb, Tensor<T> Entropy) LogProbAndEntropy<T>(bool discrete, Tensor<T> output, Tensor<T>? logStd, Tensor<T>? actions, int[]? actionIndices)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (discrete)
        {
            var logp = Ops.LogSoftmax(output, 1);
            return (Ops.Gather(logp, 1, actionIndices!), -Ops.Sum(Ops.Exp(logp) * logp, 1));
        }
        var entropy = Ops.Sum(logStd! + 0.5 * (1 + Math.Log(2 * Math.PI))) + Tensor.Zeros<T>(output.Shape[0]);
        return (GaussianLogProb(output, logStd!, actions!), entropy);
    }

    private static Tensor<T> GaussianLogProb<T>(Tensor<T> mean, Tensor<T> logStd, Tensor<T> actions)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var z = (actions - mean) * Ops.Exp(-logStd);
        return Ops.Sum(Ops.Square(z) * -0.5 - logStd, 1) - 0.5 * mean.Shape[1] * Math.Log(2 * Math.PI);
    }

    /// <summary>KL(old ‖ new) per row [N], from the old outputs (and log-std) held fixed and the new ones.</summary>
    public static Tensor<T> Kl<T>(bool discrete, Tensor<T> oldOutput, Tensor<T>? oldLogStd, Tensor<T> output, Tensor<T>? logStd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (discrete)
        {
            var oldLogp = Ops.LogSoftmax(oldOutput, 1);
            return Ops.Sum(Ops.Exp(oldLogp) * (oldLogp - Ops.LogSoftmax(output, 1)), 1);
        }
        var varNew = Ops.Exp(logStd! * 2.0);
        var num = Ops.Exp(oldLogStd! * 2.0) + Ops.Square(oldOutput - output);
        return Ops.Sum(logStd! - oldLogStd! + num / (varNew * 2.0) - 0.5, 1);
    }
}
