using System.Numerics;
using MetaRL.Core.Spaces;
using MetaRL.Engine;
using MetaRL.Engine.Nn;

namespace MetaRL.Meta.Maml;

/// <summary>
/// A feed-forward policy for MAML: an MLP giving categorical logits (discrete actions) or a Gaussian mean
/// with a learnt, state-independent log standard deviation (boxes). Every method reads the parameters in
/// force, so it can be evaluated with adapted weights through <see cref="Functional.Call{T, TResult}"/>.
/// </summary>
public sealed class MlpPolicy<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Mlp<T> _net;
    private readonly Tensor<T>? _logStd;

    public MlpPolicy(Space observationSpace, Space actionSpace, IReadOnlyList<int> hidden, Rng rng, Activation activation = Activation.Tanh, double initLogStd = 0)
    {
        ObservationSize = observationSpace.Size;
        Discrete = actionSpace is Discrete;
        ActionSize = actionSpace is Discrete d ? d.N : actionSpace.Size;
        ActionSpace = actionSpace;
        _net = RegisterModule("mlp", new Mlp<T>([ObservationSize, .. hidden, ActionSize], rng, activation, Activation.Identity,
            WeightInit.XavierUniform, 1.0, 1.0));
        if (!Discrete) _logStd = RegisterParameter("log_std", Tensor.Full<T>(initLogStd, ActionSize));
    }

    /// <summary>The network giving logits or means.</summary>
    public Mlp<T> Network => _net;

    public int ObservationSize { get; }
    public int ActionSize { get; }
    public bool Discrete { get; }
    public Space ActionSpace { get; }

    /// <summary>Logits or Gaussian means [N, A].</summary>
    public Tensor<T> Output(Tensor<T> observations) => _net.Forward(observations);

    /// <summary>The log standard deviation in force (boxes only).</summary>
    public Tensor<T> LogStd => P(_logStd ?? throw new InvalidOperationException("A discrete policy has no standard deviation."));

    /// <summary>log π(a | s) for every row [N]; <paramref name="actions"/> holds indices (discrete) or vectors.</summary>
    public Tensor<T> LogProb(Tensor<T> observations, Tensor<T> actions, int[]? actionIndices)
    {
        var output = Output(observations);
        if (Discrete) return Ops.Gather(Ops.LogSoftmax(output, 1), 1, actionIndices!);
        var logStd = LogStd;
        var z = (actions - output) * Ops.Exp(-logStd);
        return Ops.Sum(Ops.Square(z) * -0.5 - logStd, 1) - 0.5 * ActionSize * Math.Log(2 * Math.PI);
    }

    /// <summary>KL(old ‖ this) per row [N], from the old policy's outputs (and log-std) held fixed.</summary>
    public Tensor<T> KlFrom(Tensor<T> observations, Tensor<T> oldOutput, Tensor<T>? oldLogStd)
    {
        var output = Output(observations);
        if (Discrete)
        {
            var oldLogp = Ops.LogSoftmax(oldOutput, 1);
            return Ops.Sum(Ops.Exp(oldLogp) * (oldLogp - Ops.LogSoftmax(output, 1)), 1);
        }
        var logStd = LogStd;
        var varNew = Ops.Exp(logStd * 2.0);
        var num = Ops.Exp(oldLogStd! * 2.0) + Ops.Square(oldOutput - output);
        return Ops.Sum(logStd - oldLogStd! + num / (varNew * 2.0) - 0.5, 1);
    }
}
