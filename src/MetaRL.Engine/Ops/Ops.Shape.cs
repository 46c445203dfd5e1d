using System.Numerics;
using MetaRL.Engine.Kernels;

namespace MetaRL.Engine;

public static partial class Ops
{
    /// <summary>Same elements, new shape (one extent may be -1 and is inferred). Shares the buffer.</summary>
    public static Tensor<T> Reshape<T>(Tensor<T> x, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var target = (int[])shape.Clone();
        int infer = -1, known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == -1)
            {
                if (infer >= 0) throw new ShapeMismatchException($"Reshape: {ShapeUtil.Format(shape)} has more than one -1.");
                infer = i;
            }
            else if (target[i] < 0) throw new ShapeMismatchException($"Reshape: {ShapeUtil.Format(shape)} has a negative extent.");
            else known *= target[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || x.Size % known != 0)
                throw new ShapeMismatchException($"Reshape: cannot reshape {ShapeUtil.Format(x.Dims)} ({x.Size} elements) to {ShapeUtil.Format(shape)}.");
            target[infer] = x.Size / known;
        }
        if (ShapeUtil.Size(target) != x.Size)
            throw new ShapeMismatchException($"Reshape: cannot reshape {ShapeUtil.Format(x.Dims)} ({x.Size} elements) to {ShapeUtil.Format(shape)}.");
        var r = new Tensor<T>(target, x.Buffer);
        var xShape = x.Dims;
        return Record(r, "Reshape", [x], g => [Reshape(g, xShape)]);
    }

    /// <summary>Swaps two axes (a copy).</summary>
    public static Tensor<T> Transpose<T>(Tensor<T> x, int axis0 = -2, int axis1 = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int a0 = ShapeUtil.Axis(axis0, x.Rank, "Transpose"), a1 = ShapeUtil.Axis(axis1, x.Rank, "Transpose");
        if (a0 == a1) return x;
        var shape = x.Dims.ToArray();
        (shape[a0], shape[a1]) = (shape[a1], shape[a0]);
        var r = Tensor.Uninit<T>(shape);
        var inStrides = ShapeUtil.Strides(x.Dims);
        var srcStrides = inStrides.ToArray();
        (srcStrides[a0], srcStrides[a1]) = (srcStrides[a1], srcStrides[a0]);
        if (x.Rank == 2)
        {
            int rows = x.Dims[0], cols = x.Dims[1];
            const int B = 32;
            for (int i0 = 0; i0 < rows; i0 += B)
                for (int j0 = 0; j0 < cols; j0 += B)
                    for (int i = i0; i < Math.Min(i0 + B, rows); i++)
                        for (int j = j0; j < Math.Min(j0 + B, cols); j++)
                            r.Buffer[j * rows + i] = x.Buffer[i * cols + j];
        }
        else if (r.Size > 0)
        {
            var idx = new int[shape.Length];
            int src = 0;
            for (int i = 0; i < r.Size; i++)
            {
                r.Buffer[i] = x.Buffer[src];
                for (int ax = shape.Length - 1; ax >= 0; ax--)
                {
                    idx[ax]++;
                    src += srcStrides[ax];
                    if (idx[ax] < shape[ax]) break;
                    src -= srcStrides[ax] * idx[ax];
                    idx[ax] = 0;
                }
            }
        }
        return Record(r, "Transpose", [x], g => [Transpose(g, a0, a1)]);
    }

    /// <summary>A contiguous range [start, start + length) along an axis (a copy).</summary>
    public static Tensor<T> Slice<T>(Tensor<T> x, int axis, int start, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "Slice");
        int n = x.Dims[ax];
        if (start < 0 || length < 0 || start + length > n)
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice: range [{start}, {start + length}) is outside axis {axis} of shape {ShapeUtil.Format(x.Dims)}.");
        var (outer, _, inner) = ShapeUtil.Split(x.Dims, ax);
        var r = Tensor.Uninit<T>(ShapeUtil.With(x.Dims, ax, length));
        int block = length * inner;
        for (int o = 0; o < outer; o++)
            x.Buffer.AsSpan((o * n + start) * inner, block).CopyTo(r.Buffer.AsSpan(o * block, block));
        return Record(r, "Slice", [x], g => [PadSlice(g, ax, start, n)]);
    }

    /// <summary>The adjoint of <see cref="Slice{T}"/>: zeros of extent <paramref name="full"/> along the axis with <paramref name="g"/> at start.</summary>
    private static Tensor<T> PadSlice<T>(Tensor<T> g, int ax, int start, int full) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (outer, length, inner) = ShapeUtil.Split(g.Dims, ax);
        var r = Tensor.Zeros<T>(ShapeUtil.With(g.Dims, ax, full));
        int block = length * inner;
        for (int o = 0; o < outer; o++)
            g.Buffer.AsSpan(o * block, block).CopyTo(r.Buffer.AsSpan((o * full + start) * inner, block));
        return Record(r, "PadSlice", [g], gg => [Slice(gg, ax, start, length)]);
    }

    /// <summary>Joins tensors along an axis; all other extents must agree.</summary>
    public static Tensor<T> Concat<T>(IReadOnlyList<Tensor<T>> parts, int axis) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (parts.Count == 0) throw new ArgumentException("Concat needs at least one tensor.");
        var first = parts[0];
        int ax = ShapeUtil.Axis(axis, first.Rank, "Concat");
        int total = 0;
        foreach (var p in parts)
        {
            if (p.Rank != first.Rank)
                throw new ShapeMismatchException($"Concat: shapes {ShapeUtil.Format(first.Dims)} and {ShapeUtil.Format(p.Dims)} have different ranks.");
            for (int d = 0; d < p.Rank; d++)
                if (d != ax && p.Dims[d] != first.Dims[d])
                    throw new ShapeMismatchException($"Concat along axis {ax}: shapes {ShapeUtil.Format(first.Dims)} and {ShapeUtil.Format(p.Dims)} differ on axis {d}.");
            total += p.Dims[ax];
        }
        var r = Tensor.Uninit<T>(ShapeUtil.With(first.Dims, ax, total));
        var (outer, _, inner) = ShapeUtil.Split(first.Dims, ax);
        var offsets = new int[parts.Count];
        int offset = 0;
        for (int k = 0; k < parts.Count; k++)
        {
            var p = parts[k];
            offsets[k] = offset;
            int block = p.Dims[ax] * inner;
            for (int o = 0; o < outer; o++)
                p.Buffer.AsSpan(o * block, block).CopyTo(r.Buffer.AsSpan((o * total + offset) * inner, block));
            offset += p.Dims[ax];
        }
        var inputs = parts.ToArray();
        return Record(r, "Concat", inputs, g =>
        {
            var grads = new Tensor<T>?[inputs.Length];
            for (int k = 0; k < inputs.Length; k++)
                if (inputs[k].RequiresGrad) grads[k] = Slice(g, ax, offsets[k], inputs[k].Dims[ax]);
            return grads;
        });
    }

    /// <summary>
    /// Picks one element along <paramref name="axis"/> for every position of the other axes:
    /// result[o, i] = x[o, index[o·inner + i], i]. The result drops the axis. With x of shape [B, A]
    /// and one action index per row this is the log-probability of the actions taken.
    /// </summary>
    public static Tensor<T> Gather<T>(Tensor<T> x, int axis, ReadOnlySpan<int> index) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "Gather");
        var (outer, n, inner) = ShapeUtil.Split(x.Dims, ax);
        if (index.Length != outer * inner)
            throw new ShapeMismatchException($"Gather along axis {ax} of {ShapeUtil.Format(x.Dims)} needs {outer * inner} indices, got {index.Length}.");
        var idx = index.ToArray();
        var r = Tensor.Uninit<T>(ShapeUtil.Without(x.Dims, ax));
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int j = idx[o * inner + i];
                if ((uint)j >= (uint)n)
                    throw new IndexOutOfRangeException($"Gather: index {j} at position {o * inner + i} is outside [0, {n}) on axis {ax} of {ShapeUtil.Format(x.Dims)}.");
                r.Buffer[o * inner + i] = x.Buffer[(o * n + j) * inner + i];
            }
        return Record(r, "Gather", [x], g => [ScatterAdd(g, ax, idx, n)]);
    }

    /// <summary>The adjoint of <see cref="Gather{T}"/>.</summary>
    private static Tensor<T> ScatterAdd<T>(Tensor<T> g, int ax, int[] idx, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = g.Dims.ToList();
        shape.Insert(ax, n);
        var r = Tensor.Zeros<T>(shape.ToArray());
        var (outer, _, inner) = ShapeUtil.Split(r.Dims, ax);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
                r.Buffer[(o * n + idx[o * inner + i]) * inner + i] += g.Buffer[o * inner + i];
        return Record(r, "ScatterAdd", [g], gg => [Gather(gg, ax, idx)]);
    }

    /// <summary>Selects entries along an axis by index (rows of a batch, say), in the order given; indices may repeat.</summary>
    public static Tensor<T> IndexSelect<T>(Tensor<T> x, int axis, ReadOnlySpan<int> index) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "IndexSelect");
        var (outer, n, inner) = ShapeUtil.Split(x.Dims, ax);
        var idx = index.ToArray();
        var r = Tensor.Uninit<T>(ShapeUtil.With(x.Dims, ax, idx.Length));
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < idx.Length; k++)
            {
                if ((uint)idx[k] >= (uint)n)
                    throw new IndexOutOfRangeException($"IndexSelect: index {idx[k]} is outside [0, {n}) on axis {ax} of {ShapeUtil.Format(x.Dims)}.");
                x.Buffer.AsSpan((o * n + idx[k]) * inner, inner).CopyTo(r.Buffer.AsSpan((o * idx.Length + k) * inner, inner));
            }
        return Record(r, "IndexSelect", [x], g => [IndexAdd(g, ax, idx, n)]);
    }

    private static Tensor<T> IndexAdd<T>(Tensor<T> g, int ax, int[] idx, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Zeros<T>(ShapeUtil.With(g.Dims, ax, n));
        var (outer, _, inner) = ShapeUtil.Split(g.Dims, ax);
        for (int o = 0; o < outer; o++)
            for (int k = 0; k < idx.Length; k++)
                Elementwise.AddInPlace<T>(r.Buffer.AsSpan((o * n + idx[k]) * inner, inner), g.Buffer.AsSpan((o * idx.Length + k) * inner, inner));
        return Record(r, "IndexAdd", [g], gg => [IndexSelect(gg, ax, idx)]);
    }

    // ------------------------------------------------------------------ linear algebra

    /// <summary>op(a)·op(b) for matrices, with optional transposes that cost no copy.</summary>
    public static Tensor<T> MatMul<T>(Tensor<T> a, Tensor<T> b, bool transA = false, bool transB = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Rank != 2 || b.Rank != 2)
            throw new ShapeMismatchException($"MatMul needs matrices; got shapes {ShapeUtil.Format(a.Dims)} and {ShapeUtil.Format(b.Dims)}.");
        int m = transA ? a.Dims[1] : a.Dims[0], k = transA ? a.Dims[0] : a.Dims[1];
        int k2 = transB ? b.Dims[1] : b.Dims[0], n = transB ? b.Dims[0] : b.Dims[1];
        if (k != k2)
            throw new ShapeMismatchException($"MatMul: shapes {ShapeUtil.Format(a.Dims)}{(transA ? "ᵀ" : "")} and {ShapeUtil.Format(b.Dims)}{(transB ? "ᵀ" : "")} are incompatible (inner dimensions {k} vs {k2}).");
        var r = Tensor.Uninit<T>([m, n]);
        Gemm.Multiply<T>(transA, transB, m, n, k, a.Buffer, a.Dims[1], b.Buffer, b.Dims[1], r.Buffer, n, accumulate: false);
        return Record(r, "MatMul", [a, b], g => [
            a.RequiresGrad ? (transA ? MatMul(b, g, transB, true) : MatMul(g, b, false, !transB)) : null,
            b.RequiresGrad ? (transB ? MatMul(g, a, true, transA) : MatMul(a, g, !transA, false)) : null]);
    }

    /// <summary>
    /// x·W + b for x of shape [..., in], W of shape [in, out] and b of shape [out] (or null),
    /// one fused operation.
    /// </summary>
    public static Tensor<T> Linear<T>(Tensor<T> x, Tensor<T> w, Tensor<T>? b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (w.Rank != 2) throw new ShapeMismatchException($"Linear: weight must be a matrix, got {ShapeUtil.Format(w.Dims)}.");
        int fin = w.Dims[0], fout = w.Dims[1];
        if (x.Rank == 0 || x.Dims[^1] != fin)
            throw new ShapeMismatchException($"Linear: input {ShapeUtil.Format(x.Dims)} does not end in {fin} (weight {ShapeUtil.Format(w.Dims)}).");
        if (b is not null && (b.Rank != 1 || b.Dims[0] != fout))
            throw new ShapeMismatchException($"Linear: bias {ShapeUtil.Format(b.Dims)} does not match weight {ShapeUtil.Format(w.Dims)}.");
        int rows = x.Size / Math.Max(1, fin);
        if (fin == 0) rows = ShapeUtil.Size(x.Dims[..^1]);
        var outShape = ShapeUtil.With(x.Dims, x.Rank - 1, fout);
        var r = Tensor.Uninit<T>(outShape);
        if (b is not null)
        {
            for (int i = 0; i < rows; i++) b.Buffer.AsSpan().CopyTo(r.Buffer.AsSpan(i * fout, fout));
            Gemm.Multiply<T>(false, false, rows, fout, fin, x.Buffer, Math.Max(1, fin), w.Buffer, Math.Max(1, fout), r.Buffer, Math.Max(1, fout), accumulate: true);
        }
        else Gemm.Multiply<T>(false, false, rows, fout, fin, x.Buffer, Math.Max(1, fin), w.Buffer, Math.Max(1, fout), r.Buffer, Math.Max(1, fout), accumulate: false);
        var xShape = x.Dims;
        Tensor<T>[] inputs = b is null ? [x, w] : [x, w, b];
        return Record(r, "Linear", inputs, g =>
        {
            var g2 = Reshape(g, rows, fout);
            var grads = new Tensor<T>?[inputs.Length];
            if (x.RequiresGrad) grads[0] = Reshape(MatMul(g2, w, false, true), xShape);
            if (w.RequiresGrad) grads[1] = MatMul(Reshape(x, rows, fin), g2, true, false);
            if (b is not null && b.RequiresGrad) grads[2] = SumTo(g2, b.Dims);
            return grads;
        });
    }
}
