using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Sac;

/// <summary>
/// A ReLU MLP's forward and backward passes on preallocated buffers, with the engine's matrix kernels and none of the
/// graph's bookkeeping: the activations of the last forward pass are kept for the backward one, and the weight
/// gradients go into tensors owned here, which become the parameters' <see cref="Tensor{T}.Grad"/>. Same arithmetic
/// as <see cref="Mlp{T}.Forward"/> and its recorded backward (the tests hold them equal).
/// </summary>
internal sealed class MlpWorkspace
{
    private readonly Linear<float>[] _layers;
    private readonly int[] _sizes;
    private readonly float[][] _activations;
    private readonly float[] _signal, _signal2;
    private readonly Tensor<float>[] _weightGrads, _biasGrads;

    public MlpWorkspace(Mlp<float> mlp, int rows)
    {
        if (mlp.Hidden != Activation.Relu || mlp.Output != Activation.Identity)
            throw new ArgumentException("The workspace runs ReLU MLPs with a linear output.");
        _layers = mlp.Layers.ToArray();
        _sizes = [_layers[0].InFeatures, .. _layers.Select(l => l.OutFeatures)];
        Rows = rows;
        _activations = _sizes.Select(s => new float[rows * s]).ToArray();
        int widest = _sizes.Max();
        _signal = new float[rows * widest];
        _signal2 = new float[rows * widest];
        _weightGrads = _layers.Select(l => Tensor.Zeros<float>(l.InFeatures, l.OutFeatures)).ToArray();
        _biasGrads = _layers.Select(l => Tensor.Zeros<float>(l.OutFeatures)).ToArray();
    }

    public int Rows { get; }
    public int InputSize => _sizes[0];
    public int OutputSize => _sizes[^1];

    /// <summary>The input rows of the next <see cref="Forward"/>, to be written by the caller.</summary>
    public Span<float> Input => _activations[0];

    /// <summary>The outputs of the last <see cref="Forward"/>.</summary>
    public Span<float> Output => _activations[^1];

    /// <summary>Runs the MLP on <see cref="Input"/>.</summary>
    public void Forward()
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            int fin = _sizes[i], fout = _sizes[i + 1];
            var y = _activations[i + 1].AsSpan();
            var bias = _layers[i].Bias!.Data;
            for (int r = 0; r < Rows; r++) bias.CopyTo(y.Slice(r * fout, fout));
            Gemm.Multiply<float>(false, false, Rows, fout, fin, _activations[i], fin, _layers[i].Weight.Data, fout, y, fout, accumulate: true);
            if (i < _layers.Length - 1) Elementwise.Relu<float>(y, y);
        }
    }

    /// <summary>
    /// Back-propagates <paramref name="outputGrad"/> (the loss's derivative by <see cref="Output"/>) through the last
    /// forward pass: with <paramref name="weights"/>, the weight and bias gradients are written and set as the parameters'
    /// gradients; with a non-empty <paramref name="inputGrad"/>, the derivative by the input rows is written there.
    /// </summary>
    public void Backward(ReadOnlySpan<float> outputGrad, bool weights, Span<float> inputGrad)
    {
        var dz = _signal.AsSpan(0, Rows * OutputSize);
        outputGrad.CopyTo(dz);
        var next = _signal2;
        var current = _signal;
        for (int i = _layers.Length - 1; i >= 0; i--)
        {
            int fin = _sizes[i], fout = _sizes[i + 1];
            var d = current.AsSpan(0, Rows * fout);
            if (weights)
            {
                Gemm.Multiply<float>(true, false, fin, fout, Rows, _activations[i], fin, d, fout, _weightGrads[i].Data, fout, accumulate: false);
                _biasGrads[i].Data.Clear();
                Elementwise.SumRowsInto<float>(d, Rows, fout, _biasGrads[i].Data);
                _layers[i].Weight.Grad = _weightGrads[i];
                _layers[i].Bias!.Grad = _biasGrads[i];
            }
            if (i == 0 && inputGrad.IsEmpty) break;
            var below = i == 0 ? inputGrad[..(Rows * fin)] : next.AsSpan(0, Rows * fin);
            Gemm.Multiply<float>(false, true, Rows, fin, fout, d, fout, _layers[i].Weight.Data, fout, below, fin, accumulate: false);
            if (i == 0) break;
            Elementwise.PositiveMask<float>(_activations[i], below, below);
            (current, next) = (next, current);
        }
    }
}
