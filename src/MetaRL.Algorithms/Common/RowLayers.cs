using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MetaRL.Algorithms.Common;

/// <summary>
/// One row through a layer on the caller's buffers, with the engine's kernels in the order its tensor operations use
/// (<c>Ops.Linear</c>, the activations), so the results equal the tensor path's to the bit and nothing is allocated:
/// the acting paths an application's step loop runs (RL²'s <c>Rl2ActingKernel</c>, MAML's one-slot agent).
/// </summary>
internal static class RowLayers
{
    /// <summary>y = b + x·W for one row x [in], W [in, out].</summary>
    public static void Linear(ReadOnlySpan<float> x, Tensor<float> w, Tensor<float>? b, Span<float> y)
    {
        int fin = w.Shape[0], fout = w.Shape[1];
        if (b is not null) b.Data.CopyTo(y);
        else y.Clear();
        Gemm.Multiply<float>(false, false, 1, fout, fin, x, Math.Max(1, fin), w.Data, Math.Max(1, fout), y, Math.Max(1, fout), accumulate: true);
    }

    /// <summary>
    /// As <see cref="Linear(ReadOnlySpan{float}, Tensor{float}, Tensor{float}?, Span{float})"/>, reading a transposed copy
    /// of W kept in <paramref name="transposed"/> where the engine computes the product as dot products (few outputs): the
    /// same bits, without the transposition the product would otherwise make on every call.
    /// </summary>
    public static void Linear(ReadOnlySpan<float> x, Tensor<float> w, Tensor<float>? b, Span<float> y, TransposedWeight transposed)
    {
        int fin = w.Shape[0], fout = w.Shape[1];
        if (!Gemm.TransposedBIsExact<float>(fout, fin))
        {
            Linear(x, w, b, y);
            return;
        }
        if (b is not null) b.Data.CopyTo(y);
        else y.Clear();
        Gemm.Multiply<float>(false, true, 1, fout, fin, x, fin, transposed.Of(w), fin, y, fout, accumulate: true);
    }

    /// <summary>The activation in place.</summary>
    public static void Activate(Activation a, Span<float> y)
    {
        switch (a)
        {
            case Activation.Tanh: TensorPrimitives.Tanh<float>(y, y); break;
            case Activation.Sigmoid: TensorPrimitives.Sigmoid<float>(y, y); break;
            case Activation.Relu: Elementwise.Relu<float>(y, y); break;
        }
    }
}

/// <summary>
/// A weight matrix [in, out] kept transposed for <see cref="RowLayers"/>' narrow products, made again when the layer is
/// given another weight tensor (MAML's adapted weights are new tensors). Weights changed in place are not seen: an agent's
/// weights are not trained while its sessions play.
/// </summary>
internal sealed class TransposedWeight
{
    private Tensor<float>? _source;
    private float[] _data = [];

    public ReadOnlySpan<float> Of(Tensor<float> w)
    {
        if (ReferenceEquals(w, _source)) return _data;
        int rows = w.Shape[0], cols = w.Shape[1];
        if (_data.Length != rows * cols) _data = new float[rows * cols];
        var source = w.Data;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) _data[c * rows + r] = source[r * cols + c];
        _source = w;
        return _data;
    }
}
