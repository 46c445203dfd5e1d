using System.Numerics;
using MetaRL.Core.Spaces;
using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// A feed-forward policy for MAML: an MLP giving categorical logits (discrete actions) or a Gaussian mean
/// with a learnt, state-independent log standard deviation (boxes). Every method reads the parameters in
/// force, so it can be evaluated with adapted weights through <see cref="Functional.Call{T, TResult}"/>.
/// </summary>
/// <remarks>
/// With <c>normalizeActions</c>, a Gaussian policy over a bounded box acts in [−1, 1] per coordinate and
/// <see cref="ToEnvironmentAction"/> maps that affinely onto the box (as rllab's normalised environments and
/// Stable-Baselines3's advice do): its standard deviation is then relative to the action range, whatever the units.
/// Log-probabilities, KLs and stored actions are all in the policy's own coordinates.
/// </remarks>
public sealed class MlpPolicy<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Mlp<T> _net;
    private readonly Tensor<T>? _logStd;

    public MlpPolicy(Space observationSpace, Space actionSpace, IReadOnlyList<int> hidden, Rng rng, Activation activation = Activation.Tanh, double initLogStd = 0,
        bool normalizeActions = false)
    {
        ObservationSize = observationSpace.Size;
        Discrete = actionSpace is Discrete;
        ActionSize = actionSpace is Discrete d ? d.N : actionSpace.Size;
        ActionSpace = actionSpace;
        _net = RegisterModule("mlp", new Mlp<T>([ObservationSize, .. hidden, ActionSize], rng, activation, Activation.Identity,
            WeightInit.XavierUniform, 1.0, 1.0));
        if (!Discrete) _logStd = RegisterParameter("log_std", Tensor.Full<T>(initLogStd, ActionSize));
        if (normalizeActions && actionSpace is Box box)
        {
            _offset = new float[ActionSize];
            _halfRange = new float[ActionSize];
            for (int i = 0; i < ActionSize; i++)
            {
                if (!float.IsFinite(box.Low[i]) || !float.IsFinite(box.High[i]))
                    throw new ArgumentException($"Normalised actions need a bounded action box; coordinate {i} is [{box.Low[i]}, {box.High[i]}].", nameof(actionSpace));
                _offset[i] = 0.5f * (box.Low[i] + box.High[i]);
                _halfRange[i] = 0.5f * (box.High[i] - box.Low[i]);
            }
        }
    }

    private readonly float[]? _offset, _halfRange;

    /// <summary>The affine map's offset and half-range per coordinate (null without normalised actions), for exporters.</summary>
    internal (float[] Offset, float[] HalfRange)? ActionMap => _offset is null ? null : (_offset, _halfRange!);

    /// <summary>Whether the Gaussian acts in [−1, 1] coordinates mapped onto the action box.</summary>
    public bool NormalizedActions => _offset is not null;

    /// <summary>
    /// The environment's action for a policy action: the affine map of [−1, 1] onto the box when actions are normalised
    /// (values outside [−1, 1] map outside the box, for the environment to clip as it always does), else a copy.
    /// </summary>
    public void ToEnvironmentAction(ReadOnlySpan<float> policyAction, Span<float> environmentAction)
    {
        if (_offset is null) { policyAction.CopyTo(environmentAction); return; }
        for (int i = 0; i < _offset.Length; i++) environmentAction[i] = _offset[i] + _halfRange![i] * policyAction[i];
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
        => PolicyDistributions.LogProb(Discrete, Output(observations), Discrete ? null : LogStd, actions, actionIndices);

    /// <summary>KL(old ‖ this) per row [N], from the old policy's outputs (and log-std) held fixed.</summary>
    public Tensor<T> KlFrom(Tensor<T> observations, Tensor<T> oldOutput, Tensor<T>? oldLogStd) =>
        PolicyDistributions.Kl(Discrete, oldOutput, oldLogStd, Output(observations), Discrete ? null : LogStd);
}

/// <summary>
/// An <see cref="MlpPolicy{T}"/>'s outputs for batches of a fixed number of rows, written to buffers kept here: the
/// kernels of the autodiff forward pass (<see cref="Ops.Linear{T}"/> and the activations) called in the same order on
/// the same lengths, so the numbers are the same, without the tensors and the parameter swap. For samplers that run the
/// policy at every step.
/// </summary>
internal sealed class MlpPolicyForward<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Mlp<T> _net;
    private readonly int _rows;
    private readonly int[] _dims, _weightIndex, _biasIndex;
    private readonly T[][] _outputs;

    public MlpPolicyForward(MlpPolicy<T> policy, int rows)
    {
        _net = policy.Network;
        _rows = rows;
        var names = policy.NamedParameters().Select(p => p.Name).ToList();
        int layers = _net.Layers.Count;
        _dims = [policy.ObservationSize, .. _net.Layers.Select(l => l.OutFeatures)];
        _weightIndex = Enumerable.Range(0, layers).Select(l => names.IndexOf($"mlp.{l}.weight")).ToArray();
        _biasIndex = Enumerable.Range(0, layers).Select(l => _net.Layers[l].Bias is null ? -1 : names.IndexOf($"mlp.{l}.bias")).ToArray();
        if (_weightIndex.Contains(-1)) throw new ArgumentException("The policy's network lacks a layer's weight (a parameter mlp.<layer>.weight).", nameof(policy));
        _outputs = _dims.Skip(1).Select(d => new T[rows * d]).ToArray();
    }

    /// <summary>The logits or means [rows, A] for <paramref name="observations"/> [rows, O] under <paramref name="parameters"/> (in the policy's order).</summary>
    public ReadOnlySpan<T> Output(IReadOnlyList<Tensor<T>> parameters, ReadOnlySpan<T> observations)
    {
        if (observations.Length != _rows * _dims[0]) throw new ArgumentException($"Expected {_rows} rows of {_dims[0]} observations, got {observations.Length} values.", nameof(observations));
        ReadOnlySpan<T> x = observations;
        for (int l = 0; l < _outputs.Length; l++)
        {
            int din = _dims[l], dout = _dims[l + 1];
            var y = _outputs[l];
            bool bias = _biasIndex[l] >= 0;
            if (bias)
            {
                var b = parameters[_biasIndex[l]].Data;
                for (int i = 0; i < _rows; i++) b.CopyTo(y.AsSpan(i * dout, dout));
            }
            Gemm.Multiply<T>(false, false, _rows, dout, din, x, Math.Max(1, din), parameters[_weightIndex[l]].Data, Math.Max(1, dout), y, Math.Max(1, dout), accumulate: bias);
            switch (l == _outputs.Length - 1 ? _net.Output : _net.Hidden)
            {
                case Activation.Tanh: System.Numerics.Tensors.TensorPrimitives.Tanh<T>(y, y); break;
                case Activation.Sigmoid: System.Numerics.Tensors.TensorPrimitives.Sigmoid<T>(y, y); break;
                case Activation.Relu: Elementwise.Relu<T>(y, y); break;
            }
            x = y;
        }
        return x;
    }
}

/// <summary>Drawing an action from one row of an <see cref="MlpPolicy{T}"/>'s output: one implementation for every MAML sampler and agent.</summary>
internal static class PolicyActions
{
    /// <summary>
    /// The action for <paramref name="row"/> (logits, or the Gaussian mean with <paramref name="logStd"/>): the most likely
    /// one when <paramref name="deterministic"/>, else a draw from <paramref name="rng"/>. Writes it in the policy's own
    /// coordinates to <paramref name="policyAction"/> (what the inner loss learns from; an index for discrete actions) and
    /// as the environment takes it to <paramref name="environmentAction"/>.
    /// </summary>
    public static void Sample(MlpPolicy<float> policy, ReadOnlySpan<float> row, ReadOnlySpan<float> logStd, Rng rng, bool deterministic,
        Span<float> policyAction, Span<float> environmentAction)
    {
        if (policy.Discrete)
        {
            policyAction[0] = environmentAction[0] = ActionSampling.Categorical(row, rng, deterministic).Index;
            return;
        }
        for (int j = 0; j < policy.ActionSize; j++)
            policyAction[j] = deterministic ? row[j] : (float)(row[j] + Math.Exp(logStd[j]) * rng.Normal());
        policy.ToEnvironmentAction(policyAction[..policy.ActionSize], environmentAction);
    }
}
