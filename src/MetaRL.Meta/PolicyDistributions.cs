using System.Numerics;
using MetaRL.Engine;

namespace MetaRL.Meta;

/// <summary>
/// The two action distributions the policies here use, computed from a network's outputs: categorical over logits
/// (discrete actions) and diagonal Gaussian over means with a state-independent log standard deviation (boxes).
/// MAML's trust region and RL² trained with TRPO both constrain this KL.
/// </summary>
internal static class PolicyDistributions
{
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
