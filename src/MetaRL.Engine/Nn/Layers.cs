using System.Numerics;

namespace MetaRL.Engine.Nn;

/// <summary>An element-wise non-linearity.</summary>
public enum Activation
{
    Tanh,
    Relu,
    Sigmoid,
    Identity,
}

internal static class ActivationExtensions
{
    public static Tensor<T> Apply<T>(this Activation a, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => a switch
    {
        Activation.Tanh => Ops.Tanh(x),
        Activation.Relu => Ops.Relu(x),
        Activation.Sigmoid => Ops.Sigmoid(x),
        _ => x,
    };
}

/// <summary>y = x·W + b, with W of shape [in, out]; inputs of shape [..., in].</summary>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor<T> Weight { get; }
    public Tensor<T>? Bias { get; }

    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true, WeightInit init = WeightInit.Default, double gain = 1.0)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentOutOfRangeException(nameof(inFeatures), $"Linear needs positive sizes, got {inFeatures}→{outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", init switch
        {
            WeightInit.Orthogonal => Init.Orthogonal<T>(rng, inFeatures, outFeatures, gain),
            WeightInit.XavierUniform => Init.XavierUniform<T>(rng, inFeatures, outFeatures, gain),
            _ => Init.LecunUniform<T>(rng, inFeatures, inFeatures, outFeatures),
        });
        if (bias)
            Bias = RegisterParameter("bias", init == WeightInit.Default ? Init.LecunUniform<T>(rng, inFeatures, outFeatures) : Tensor.Zeros<T>(outFeatures));
    }

    public Tensor<T> Forward(Tensor<T> x) => Ops.Linear(x, P(Weight), Bias is null ? null : P(Bias));
}

/// <summary>A multi-layer perceptron: Linear layers with an activation between them (none after the last by default).</summary>
public sealed class Mlp<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Linear<T>[] _layers;

    public Activation Hidden { get; }
    public Activation Output { get; }
    public IReadOnlyList<Linear<T>> Layers => _layers;

    /// <param name="sizes">Input size, hidden sizes, output size (at least two entries).</param>
    public Mlp(IReadOnlyList<int> sizes, Rng rng, Activation hidden = Activation.Tanh, Activation output = Activation.Identity,
        WeightInit init = WeightInit.Default, double gain = 1.0, double outputGain = 1.0)
    {
        if (sizes.Count < 2) throw new ArgumentException($"An MLP needs at least an input and an output size; got [{string.Join(", ", sizes)}].");
        Hidden = hidden;
        Output = output;
        _layers = new Linear<T>[sizes.Count - 1];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                new Linear<T>(sizes[i], sizes[i + 1], rng, true, init, i == _layers.Length - 1 ? outputGain : gain));
    }

    public Tensor<T> Forward(Tensor<T> x)
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            x = _layers[i].Forward(x);
            x = (i == _layers.Length - 1 ? Output : Hidden).Apply(x);
        }
        return x;
    }
}

/// <summary>Layer normalisation over the last axis, with a learned gain and bias.</summary>
public sealed class LayerNorm<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Tensor<T> Gain { get; }
    public Tensor<T> Bias { get; }
    public double Epsilon { get; }

    public LayerNorm(int features, double epsilon = 1e-5)
    {
        Gain = RegisterParameter("weight", Tensor.Ones<T>(features));
        Bias = RegisterParameter("bias", Tensor.Zeros<T>(features));
        Epsilon = epsilon;
    }

    public Tensor<T> Forward(Tensor<T> x) => Ops.LayerNorm(x, P(Gain), P(Bias), Epsilon);
}
