using System.Numerics;

namespace MetaRL.Engine.Nn;

/// <summary>
/// A gated recurrent unit (gate order r, z, n). <see cref="Forward"/> runs a whole sequence as one fused
/// operation, clearing the state of a row where the reset mask is 0 (an episode or trial boundary);
/// <see cref="Step"/> runs one step. Weights: input [in, 3H] (Xavier), recurrent [H, 3H] (orthogonal
/// per gate), biases zero except the update gate's input bias, which starts at <c>updateBias</c>: z = σ(updateBias) at
/// initialisation, so a positive value keeps more of the state each step before training has taught it to (0: half).
/// </summary>
public sealed class Gru<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int InputSize { get; }
    public int HiddenSize { get; }
    public Tensor<T> WeightIh { get; }
    public Tensor<T> WeightHh { get; }
    public Tensor<T> BiasIh { get; }
    public Tensor<T> BiasHh { get; }

    /// <summary>Use the fused sequence kernel (default) rather than the step-by-step graph; results agree to rounding.</summary>
    public bool Fused { get; set; } = true;

    public Gru(int inputSize, int hiddenSize, Rng rng, double updateBias = 0)
    {
        if (inputSize <= 0 || hiddenSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(hiddenSize), $"GRU needs positive sizes, got input {inputSize}, hidden {hiddenSize}.");
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        WeightIh = RegisterParameter("weight_ih", Init.XavierUniform<T>(rng, inputSize, 3 * hiddenSize));
        WeightHh = RegisterParameter("weight_hh", RecurrentInit.PerGateOrthogonal<T>(rng, hiddenSize, 3));
        BiasIh = RegisterParameter("bias_ih", RecurrentInit.GateBias<T>(hiddenSize, 3, gate: 1, updateBias, "GRU update-gate bias"));
        BiasHh = RegisterParameter("bias_hh", Tensor.Zeros<T>(3 * hiddenSize));
    }

    /// <summary>A zero state for <paramref name="batch"/> rows.</summary>
    public Tensor<T> InitialState(int batch) => Tensor.Zeros<T>(batch, HiddenSize);

    /// <summary>Runs x [steps, batch, in] from h0 [batch, H]; returns every hidden state [steps, batch, H].</summary>
    public Tensor<T> Forward(Tensor<T> x, Tensor<T> h0, Tensor<T>? resetMask = null)
        => Fused
            ? Ops.GruSequence(x, h0, P(WeightIh), P(WeightHh), P(BiasIh), P(BiasHh), resetMask)
            : Ops.GruSequenceComposite(x, h0, P(WeightIh), P(WeightHh), P(BiasIh), P(BiasHh), resetMask);

    /// <summary>One step: x [batch, in], h [batch, H] → h' [batch, H].</summary>
    public Tensor<T> Step(Tensor<T> x, Tensor<T> h) => Ops.GruCell(x, h, P(WeightIh), P(WeightHh), P(BiasIh), P(BiasHh));
}

/// <summary>
/// A long short-term memory layer (gate order i, f, g, o). The forget gate's input bias starts at 1 + <c>extraForgetBias</c>.
/// <see cref="Forward"/> runs a sequence as one fused operation with per-step reset masks; <see cref="Step"/> one step.
/// </summary>
public sealed class Lstm<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int InputSize { get; }
    public int HiddenSize { get; }
    public Tensor<T> WeightIh { get; }
    public Tensor<T> WeightHh { get; }
    public Tensor<T> BiasIh { get; }
    public Tensor<T> BiasHh { get; }

    public Lstm(int inputSize, int hiddenSize, Rng rng, double extraForgetBias = 0)
    {
        if (inputSize <= 0 || hiddenSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(hiddenSize), $"LSTM needs positive sizes, got input {inputSize}, hidden {hiddenSize}.");
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        WeightIh = RegisterParameter("weight_ih", Init.XavierUniform<T>(rng, inputSize, 4 * hiddenSize));
        WeightHh = RegisterParameter("weight_hh", RecurrentInit.PerGateOrthogonal<T>(rng, hiddenSize, 4));
        BiasIh = RegisterParameter("bias_ih", RecurrentInit.GateBias<T>(hiddenSize, 4, gate: 1, 1 + extraForgetBias, "LSTM forget-gate bias"));
        BiasHh = RegisterParameter("bias_hh", Tensor.Zeros<T>(4 * hiddenSize));
    }

    /// <summary>Use the fused sequence kernel (default) rather than the step-by-step graph; results agree to rounding.</summary>
    public bool Fused { get; set; } = true;

    /// <summary>A zero (h, c) for <paramref name="batch"/> rows.</summary>
    public (Tensor<T> H, Tensor<T> C) InitialState(int batch) => (Tensor.Zeros<T>(batch, HiddenSize), Tensor.Zeros<T>(batch, HiddenSize));

    /// <summary>Runs x [steps, batch, in]; returns all hidden states [steps, batch, H] and the final (h, c).</summary>
    public (Tensor<T> Output, Tensor<T> H, Tensor<T> C) Forward(Tensor<T> x, Tensor<T> h0, Tensor<T> c0, Tensor<T>? resetMask = null)
        => Fused
            ? Ops.LstmSequence(x, h0, c0, P(WeightIh), P(WeightHh), P(BiasIh), P(BiasHh), resetMask)
            : Ops.LstmSequenceComposite(x, h0, c0, P(WeightIh), P(WeightHh), P(BiasIh), P(BiasHh), resetMask);

    /// <summary>One step.</summary>
    public (Tensor<T> H, Tensor<T> C) Step(Tensor<T> x, Tensor<T> h, Tensor<T> c)
        => Ops.LstmCell(x, h, c, P(WeightIh), P(WeightHh), P(BiasIh), P(BiasHh));
}

internal static class RecurrentInit
{
    /// <summary>A zero bias [gates·H] except gate <paramref name="gate"/>'s H entries, which hold <paramref name="value"/>.</summary>
    public static Tensor<T> GateBias<T>(int hidden, int gates, int gate, double value, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!double.IsFinite(value))
            throw new ArgumentOutOfRangeException(nameof(value), $"{what} must be finite, got {value}.");
        var bias = Tensor.Zeros<T>(gates * hidden);
        bias.Data.Slice(gate * hidden, hidden).Fill(T.CreateChecked(value));
        return bias;
    }

    /// <summary>[H, gates·H] with an orthogonal H×H block per gate.</summary>
    public static Tensor<T> PerGateOrthogonal<T>(Rng rng, int hidden, int gates) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = Tensor.Zeros<T>(hidden, gates * hidden);
        for (int g = 0; g < gates; g++)
        {
            var block = Init.Orthogonal<T>(rng, hidden, hidden);
            for (int i = 0; i < hidden; i++)
                block.Data.Slice(i * hidden, hidden).CopyTo(w.Data.Slice(i * gates * hidden + g * hidden, hidden));
        }
        return w;
    }
}
