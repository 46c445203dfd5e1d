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
