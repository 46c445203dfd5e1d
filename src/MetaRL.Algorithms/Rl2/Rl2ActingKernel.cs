using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Rl2;

/// <summary>
/// One RL² network's acting step for a single trial slot — recurrent step, features, policy output — on buffers
/// allocated once, so an application's step loop (<see cref="Core.Evaluation.AgentPlayer"/>) allocates nothing. It
/// calls the engine's own kernels in the order the tensor operations do (<see cref="Rl2Network.Step"/>,
/// <see cref="Rl2Network.Features"/>, <see cref="Rl2Network.Policy"/> with one row), so its outputs are the same to the
/// bit; a test holds it to that for every kind of network. Batches of slots keep the batched tensor path.
/// </summary>
internal sealed class Rl2ActingKernel
{
    private readonly Rl2Network _net;
    private readonly float[] _gx, _gh, _a, _b, _r, _z, _n, _newState, _features, _blocks, _gates, _products;
    private readonly float[][] _layers;
    // Transposed copies of the policy's layers, read where the product is a narrow one (the output layer).
    private readonly TransposedWeight[] _transposed;
    private readonly TransposedWeight _linearTransposed = new(), _gateTransposed = new();
    private readonly float[] _zeroState;

    public Rl2ActingKernel(Rl2Network net)
    {
        _net = net;
        int h = net.Hidden, gates = net.LstmCore is not null ? 4 * h : 3 * h;
        _gx = new float[gates];
        _gh = new float[gates];
        (_a, _b, _r, _z, _n) = (new float[h], new float[h], new float[h], new float[h], new float[h]);
        _newState = new float[net.StateSize];
        _zeroState = new float[net.StateSize];
        _features = new float[net.FeatureSize];
        _layers = net.PolicyMlp is { } mlp ? mlp.Layers.Select(l => new float[l.OutFeatures]).ToArray() : [];
        _transposed = _layers.Select(_ => new TransposedWeight()).ToArray();
        int o = net.ObservationSize;
        _blocks = net.PolicyGate is { } gate ? new float[gate.OutFeatures] : [];
        _gates = net.PolicyGate is not null ? new float[o + 1] : [];
        _products = net.PolicyGate is not null ? new float[(o + 1) * net.ActionSize] : [];
        Output = new float[net.ActionSize];
    }

    /// <summary>The policy output (logits or Gaussian mean) of the last <see cref="Step"/>.</summary>
    public float[] Output { get; }

    /// <summary>One step from <paramref name="input"/> (the input row): <paramref name="state"/> becomes the new state and <see cref="Output"/> the policy's output.</summary>
    public void Step(ReadOnlySpan<float> input, Span<float> state)
    {
        var net = _net;
        ReadOnlySpan<float> previous = net.Memory ? state : _zeroState;
        int h = net.Hidden;
        if (net.GruCore is { } gru)
        {
            RowLayers.Linear(input, gru.WeightIh, gru.BiasIh, _gx);
            RowLayers.Linear(previous, gru.WeightHh, gru.BiasHh, _gh);
            Elementwise.Add<float>(_gx.AsSpan(0, h), _gh.AsSpan(0, h), _a);
            TensorPrimitives.Sigmoid<float>(_a, _r);
            Elementwise.Add<float>(_gx.AsSpan(h, h), _gh.AsSpan(h, h), _a);
            TensorPrimitives.Sigmoid<float>(_a, _z);
            Elementwise.Mul<float>(_r, _gh.AsSpan(2 * h, h), _a);
            Elementwise.Add<float>(_gx.AsSpan(2 * h, h), _a, _b);
            TensorPrimitives.Tanh<float>(_b, _n);
            Elementwise.Sub<float>(previous, _n, _a);
            Elementwise.Mul<float>(_z, _a, _b);
            Elementwise.Add<float>(_n, _b, _newState);
        }
        else
        {
            var lstm = net.LstmCore!;
            RowLayers.Linear(input, lstm.WeightIh, lstm.BiasIh, _gx);
            RowLayers.Linear(previous[..h], lstm.WeightHh, lstm.BiasHh, _gh);
            Elementwise.Add<float>(_gx, _gh, _gx);
            TensorPrimitives.Sigmoid<float>(_gx.AsSpan(0, h), _r);          // input gate
            TensorPrimitives.Sigmoid<float>(_gx.AsSpan(h, h), _z);          // forget gate
            TensorPrimitives.Tanh<float>(_gx.AsSpan(2 * h, h), _n);         // candidate
            TensorPrimitives.Sigmoid<float>(_gx.AsSpan(3 * h, h), _b);      // output gate
            var c = _newState.AsSpan(h, h);
            Elementwise.Mul<float>(_z, previous.Slice(h, h), _a);
            Elementwise.Mul<float>(_r, _n, c);
            Elementwise.Add<float>(_a, c, c);
            TensorPrimitives.Tanh<float>(c, _a);
            Elementwise.Mul<float>(_b, _a, _newState.AsSpan(0, h));
        }
        _newState.CopyTo(state);

        // Features: the hidden state (layer-normalised if so built), then the input row with skip-input.
        var hidden = _features.AsSpan(0, h);
        _newState.AsSpan(0, h).CopyTo(hidden);
        if (net.Norm is { } norm) LayerNorm(hidden, norm);
        if (net.SkipInput) input.CopyTo(_features.AsSpan(h));

        // The policy: a linear layer, an MLP, or a gated output layer over either.
        if (net.PolicyGate is { } gate)
        {
            ReadOnlySpan<float> x = _features;
            if (net.PolicyMlp is { } gatedHidden) x = Mlp(x, gatedHidden);
            RowLayers.Linear(x, gate.Weight, gate.Bias, _blocks, _gateTransposed);
            Gate();
        }
        else if (net.PolicyLinear is { } linear) RowLayers.Linear(_features, linear.Weight, linear.Bias, Output, _linearTransposed);
        else Mlp(_features, net.PolicyMlp!).CopyTo(Output);
    }

    private ReadOnlySpan<float> Mlp(ReadOnlySpan<float> x, Mlp<float> mlp)
    {
        for (int i = 0; i < mlp.Layers.Count; i++)
        {
            var layer = mlp.Layers[i];
            var y = _layers[i];
            RowLayers.Linear(x, layer.Weight, layer.Bias, y, _transposed[i]);
            RowLayers.Activate(i == mlp.Layers.Count - 1 ? mlp.Output : mlp.Hidden, y);
            x = y;
        }
        return x;
    }

    /// <summary>(x − mean) / √(variance + ε) · gain + bias over one row, as <c>Ops.LayerNorm</c> computes it.</summary>
    private void LayerNorm(Span<float> x, LayerNorm<float> norm)
    {
        int f = x.Length;
        float scale = (float)(1.0 / f);
        Span<float> one = stackalloc float[1];
        one[0] = TensorPrimitives.Sum<float>(x);
        Elementwise.ScaleShift<float>(one, scale, 0f, one);
        float mean = one[0];
        var centred = _a.AsSpan(0, f);
        for (int i = 0; i < f; i++) centred[i] = x[i] - mean;
        var squares = _b.AsSpan(0, f);
        Elementwise.Mul<float>(centred, centred, squares);
        one[0] = TensorPrimitives.Sum<float>(squares);
        Elementwise.ScaleShift<float>(one, scale, 0f, one);
        Elementwise.ScaleShift<float>(one, 1f, (float)norm.Epsilon, one);
        TensorPrimitives.Sqrt<float>(one, one);
        float deviation = one[0];
        for (int i = 0; i < f; i++) x[i] = centred[i] / deviation;
        Elementwise.Mul<float>(x, norm.Gain.Data, x);
        Elementwise.Add<float>(x, norm.Bias.Data, x);
    }

    /// <summary>W₀g + Σᵢ oᵢWᵢg + b from the gate layer's blocks, as <c>Rl2Network.Gate</c> computes one row.</summary>
    private void Gate()
    {
        int o = _net.ObservationSize, outputs = _net.ActionSize;
        _gates[0] = 1;
        _features.AsSpan(_net.Hidden, o).CopyTo(_gates.AsSpan(1));
        for (int j = 0; j <= o; j++)
            for (int k = 0; k < outputs; k++) _products[j * outputs + k] = _blocks[j * outputs + k] * _gates[j];
        if (outputs == 1) Output[0] = TensorPrimitives.Sum<float>(_products);
        else
        {
            Output.AsSpan().Clear();
            Elementwise.SumRowsInto<float>(_products, o + 1, outputs, Output);
        }
    }
}
