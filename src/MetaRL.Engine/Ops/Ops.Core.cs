using System.Numerics;
using System.Numerics.Tensors;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Kernels;

namespace MetaRL.Engine;

/// <summary>
/// The differentiable operations. Every backward function is written with these same operations,
/// so gradients can be differentiated again (see <see cref="Autograd.Grad{T}(IReadOnlyList{Tensor{T}}, IReadOnlyList{Tensor{T}}, IReadOnlyList{Tensor{T}?}?, bool, bool)"/>
/// with createGraph).
/// </summary>
public static partial class Ops
{
    internal static Tensor<T> Record<T>(Tensor<T> result, string op, Tensor<T>[] inputs, BackwardFn<T> backward)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!GradMode.IsEnabled) return result;
        foreach (var input in inputs)
        {
            if (!input.RequiresGrad) continue;
            result.Node = new Node<T>(op, inputs, backward);
            result.MarkRequiresGrad();
            break;
        }
        return result;
    }

    private static T C<T>(double v) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateChecked(v);

    // ------------------------------------------------------------------ binary, broadcasting

    public static Tensor<T> Add<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Broadcast<AddOp, T>("Add", a, b);
        return Record(r, "Add", [a, b], g => [a.RequiresGrad ? SumTo(g, a.Dims) : null, b.RequiresGrad ? SumTo(g, b.Dims) : null]);
    }

    public static Tensor<T> Sub<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Broadcast<SubOp, T>("Sub", a, b);
        return Record(r, "Sub", [a, b], g => [a.RequiresGrad ? SumTo(g, a.Dims) : null, b.RequiresGrad ? SumTo(Neg(g), b.Dims) : null]);
    }

    public static Tensor<T> Mul<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Broadcast<MulOp, T>("Mul", a, b);
        return Record(r, "Mul", [a, b], g => [a.RequiresGrad ? SumTo(Mul(g, b), a.Dims) : null, b.RequiresGrad ? SumTo(Mul(g, a), b.Dims) : null]);
    }

    public static Tensor<T> Div<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Broadcast<DivOp, T>("Div", a, b);
        return Record(r, "Div", [a, b], g => [
            a.RequiresGrad ? SumTo(Div(g, b), a.Dims) : null,
            b.RequiresGrad ? SumTo(Neg(Div(Mul(g, a), Mul(b, b))), b.Dims) : null]);
    }

    /// <summary>Element-wise maximum of two tensors (broadcasting); ties send the gradient to <paramref name="a"/>.</summary>
    public static Tensor<T> Maximum<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = ShapeUtil.Broadcast("Maximum", a.Dims, b.Dims);
        var ab = BroadcastValues(a, shape);
        var bb = BroadcastValues(b, shape);
        var r = Tensor.Uninit<T>(shape);
        var mask = Tensor.Uninit<T>(shape);
        for (int i = 0; i < r.Size; i++)
        {
            bool takeA = ab[i] >= bb[i] || T.IsNaN(ab[i]);
            r.Buffer[i] = takeA ? ab[i] : bb[i];
            mask.Buffer[i] = takeA ? T.One : T.Zero;
        }
        return Record(r, "Maximum", [a, b], g => [
            a.RequiresGrad ? SumTo(Mul(g, mask), a.Dims) : null,
            b.RequiresGrad ? SumTo(Mul(g, OneMinus(mask)), b.Dims) : null]);
    }

    public static Tensor<T> Minimum<T>(Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => Neg(Maximum(Neg(a), Neg(b)));

    private static Tensor<T> OneMinus<T>(Tensor<T> constant) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(constant.Dims);
        Elementwise.ScaleShift(constant.Buffer, -T.One, T.One, r.Buffer);
        return r;
    }

    private static T[] BroadcastValues<T>(Tensor<T> x, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ShapeUtil.Same(x.Dims, shape)) return x.Buffer;
        using var _ = GradMode.NoGrad();
        return BroadcastTo(x.Detach(), shape).Buffer;
    }

    private static Tensor<T> Broadcast<TOp, T>(string op, Tensor<T> a, Tensor<T> b)
        where TOp : struct, IBinaryOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ShapeUtil.Same(a.Dims, b.Dims))
        {
            var r = Tensor.Uninit<T>(a.Dims);
            Elementwise.Binary<TOp, T>(Simd.Level, a.Buffer, b.Buffer, r.Buffer);
            return r;
        }
        var shape = ShapeUtil.Broadcast(op, a.Dims, b.Dims);
        var result = Tensor.Uninit<T>(shape);
        int size = result.Size;
        if (size == 0) return result;
        // b repeats along leading axes of a (a bias row, a per-feature scale): one vector pass per row.
        if (a.Size == size && b.Size > 0 && IsSuffix(b.Dims, shape))
        {
            Elementwise.BinaryRows<TOp, T>(a.Buffer, b.Buffer, result.Buffer, size / b.Size, b.Size);
            return result;
        }
        if (b.Size == 1)
        {
            var bb = new T[size];
            bb.AsSpan().Fill(b.Buffer[0]);
            Elementwise.Binary<TOp, T>(Simd.Level, a.Size == size ? a.Buffer : BroadcastValues(a, shape), bb, result.Buffer);
            return result;
        }
        var av = a.Size == size ? a.Buffer : BroadcastValues(a, shape);
        var bv = b.Size == size ? b.Buffer : BroadcastValues(b, shape);
        Elementwise.Binary<TOp, T>(Simd.Level, av, bv, result.Buffer);
        return result;
    }

    /// <summary>True when <paramref name="small"/>, with leading ones dropped, equals the trailing axes of <paramref name="shape"/>.</summary>
    private static bool IsSuffix(ReadOnlySpan<int> small, ReadOnlySpan<int> shape)
    {
        int lead = 0;
        while (lead < small.Length && small[lead] == 1) lead++;
        var core = small[lead..];
        if (core.Length > shape.Length) return false;
        return core.SequenceEqual(shape[(shape.Length - core.Length)..]);
    }

    // ------------------------------------------------------------------ broadcast / reduce to shape

    /// <summary>Repeats <paramref name="x"/> along broadcast axes to <paramref name="shape"/>.</summary>
    public static Tensor<T> BroadcastTo<T>(Tensor<T> x, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ShapeUtil.Same(x.Dims, shape)) return x;
        var target = shape.ToArray();
        var check = ShapeUtil.Broadcast("BroadcastTo", x.Dims, target);
        if (!ShapeUtil.Same(check, target))
            throw new ShapeMismatchException($"BroadcastTo: shape {ShapeUtil.Format(x.Dims)} cannot be broadcast to {ShapeUtil.Format(target)}.");
        var r = Tensor.Uninit<T>(target);
        if (r.Size > 0)
        {
            if (x.Size == 1) r.Buffer.AsSpan().Fill(x.Buffer[0]);
            else if (IsSuffix(x.Dims, target))
                for (int o = 0; o < r.Size; o += x.Size) x.Buffer.AsSpan().CopyTo(r.Buffer.AsSpan(o, x.Size));
            else
            {
                var strides = ShapeUtil.BroadcastStrides(x.Dims, target);
                var idx = new int[target.Length];
                int src = 0;
                for (int i = 0; i < r.Size; i++)
                {
                    r.Buffer[i] = x.Buffer[src];
                    for (int ax = target.Length - 1; ax >= 0; ax--)
                    {
                        idx[ax]++;
                        src += strides[ax];
                        if (idx[ax] < target[ax]) break;
                        src -= strides[ax] * idx[ax];
                        idx[ax] = 0;
                    }
                }
            }
        }
        var xShape = x.Dims;
        return Record(r, "BroadcastTo", [x], g => [SumTo(g, xShape)]);
    }

    /// <summary>Sums <paramref name="x"/> over the axes along which <paramref name="shape"/> was broadcast to it.</summary>
    public static Tensor<T> SumTo<T>(Tensor<T> x, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ShapeUtil.Same(x.Dims, shape)) return x;
        var target = shape.ToArray();
        var check = ShapeUtil.Broadcast("SumTo", target, x.Dims);
        if (!ShapeUtil.Same(check, x.Dims))
            throw new ShapeMismatchException($"SumTo: shape {ShapeUtil.Format(x.Dims)} cannot be reduced to {ShapeUtil.Format(target)}.");
        var r = Tensor.Zeros<T>(target);
        if (x.Size > 0)
        {
            if (r.Size == 1)
            {
                r.Buffer[0] = TensorPrimitives.Sum<T>(x.Buffer);
            }
            else if (IsSuffix(target, x.Dims))
                Elementwise.SumRowsInto<T>(x.Buffer, x.Size / r.Size, r.Size, r.Buffer);
            else
            {
                var strides = ShapeUtil.BroadcastStrides(target, x.Dims);
                var idx = new int[x.Rank];
                int dst = 0;
                for (int i = 0; i < x.Size; i++)
                {
                    r.Buffer[dst] += x.Buffer[i];
                    for (int ax = x.Rank - 1; ax >= 0; ax--)
                    {
                        idx[ax]++;
                        dst += strides[ax];
                        if (idx[ax] < x.Dims[ax]) break;
                        dst -= strides[ax] * idx[ax];
                        idx[ax] = 0;
                    }
                }
            }
        }
        var xShape = x.Dims;
        return Record(r, "SumTo", [x], g => [BroadcastTo(g, xShape)]);
    }

    // ------------------------------------------------------------------ scalar forms

    public static Tensor<T> Neg<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Scale(x, -1.0, "Neg");

    public static Tensor<T> Scale<T>(Tensor<T> x, double s) where T : unmanaged, IFloatingPointIeee754<T> => Scale(x, s, "Scale");

    private static Tensor<T> Scale<T>(Tensor<T> x, double s, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        Elementwise.ScaleShift(x.Buffer, C<T>(s), T.Zero, r.Buffer);
        return Record(r, name, [x], g => [Scale(g, s)]);
    }

    public static Tensor<T> AddScalar<T>(Tensor<T> x, double s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        Elementwise.ScaleShift(x.Buffer, T.One, C<T>(s), r.Buffer);
        return Record(r, "AddScalar", [x], g => [g]);
    }

    // ------------------------------------------------------------------ unary

    public static Tensor<T> Exp<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        TensorPrimitives.Exp<T>(x.Buffer, r.Buffer);
        return Record(r, "Exp", [x], g => [Mul(g, r)]);
    }

    public static Tensor<T> Log<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        TensorPrimitives.Log<T>(x.Buffer, r.Buffer);
        return Record(r, "Log", [x], g => [Div(g, x)]);
    }

    public static Tensor<T> Sqrt<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        TensorPrimitives.Sqrt<T>(x.Buffer, r.Buffer);
        return Record(r, "Sqrt", [x], g => [Scale(Div(g, r), 0.5)]);
    }

    /// <summary>x raised to a constant power.</summary>
    public static Tensor<T> Pow<T>(Tensor<T> x, double exponent) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        if (exponent == 2) Elementwise.Mul<T>(x.Buffer, x.Buffer, r.Buffer);
        else TensorPrimitives.Pow<T>(x.Buffer, C<T>(exponent), r.Buffer);
        return Record(r, "Pow", [x], g => [Mul(g, Scale(exponent == 2 ? x : Pow(x, exponent - 1), exponent))]);
    }

    public static Tensor<T> Square<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Pow(x, 2);

    public static Tensor<T> Abs<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        var sign = Tensor.Uninit<T>(x.Dims);
        for (int i = 0; i < x.Size; i++)
        {
            T v = x.Buffer[i];
            r.Buffer[i] = T.Abs(v);
            sign.Buffer[i] = v > T.Zero ? T.One : v < T.Zero ? -T.One : T.Zero;
        }
        return Record(r, "Abs", [x], g => [Mul(g, sign)]);
    }

    public static Tensor<T> Tanh<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        TensorPrimitives.Tanh<T>(x.Buffer, r.Buffer);
        return Record(r, "Tanh", [x], g => [TanhBackward(g, r)]);
    }

    /// <summary>g·(1 − y²): the tanh derivative as an operation of its own, so it is fast and differentiable.</summary>
    private static Tensor<T> TanhBackward<T>(Tensor<T> g, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(y.Dims);
        var yb = y.Buffer;
        var gb = g.Buffer;
        var rb = r.Buffer;
        Elementwise.Mul<T>(yb, yb, rb);
        Elementwise.ScaleShift<T>(rb, -T.One, T.One, rb);
        Elementwise.Mul<T>(rb, gb, rb);
        return Record(r, "TanhBackward", [g, y], gg => [
            g.RequiresGrad ? TanhBackward(gg, y) : null,
            y.RequiresGrad ? Scale(Mul(Mul(gg, g), y), -2.0) : null]);
    }

    public static Tensor<T> Sigmoid<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        TensorPrimitives.Sigmoid<T>(x.Buffer, r.Buffer);
        return Record(r, "Sigmoid", [x], g => [SigmoidBackward(g, r)]);
    }

    /// <summary>g·y·(1 − y), differentiable.</summary>
    private static Tensor<T> SigmoidBackward<T>(Tensor<T> g, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(y.Dims);
        var rb = r.Buffer;
        Elementwise.ScaleShift<T>(y.Buffer, -T.One, T.One, rb);
        Elementwise.Mul<T>(rb, y.Buffer, rb);
        Elementwise.Mul<T>(rb, g.Buffer, rb);
        return Record(r, "SigmoidBackward", [g, y], gg => [
            g.RequiresGrad ? SigmoidBackward(gg, y) : null,
            y.RequiresGrad ? Mul(Mul(gg, g), AddScalar(Scale(y, -2.0), 1.0)) : null]);
    }

    public static Tensor<T> Relu<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        Elementwise.Relu<T>(x.Buffer, r.Buffer);
        return Record(r, "Relu", [x], g => [ReluBackward(g, x)]);
    }

    /// <summary>g where x &gt; 0, else 0; x only selects, so only g carries a gradient.</summary>
    private static Tensor<T> ReluBackward<T>(Tensor<T> g, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        Elementwise.PositiveMask<T>(x.Buffer, g.Buffer, r.Buffer);
        return Record(r, "ReluBackward", [g], gg => [ReluBackward(gg, x)]);
    }

    /// <summary>log(1 + eˣ), computed stably.</summary>
    public static Tensor<T> Softplus<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.Uninit<T>(x.Dims);
        for (int i = 0; i < x.Size; i++)
        {
            T v = x.Buffer[i];
            r.Buffer[i] = T.Max(v, T.Zero) + T.LogP1(T.Exp(-T.Abs(v)));
        }
        return Record(r, "Softplus", [x], g => [Mul(g, Sigmoid(x))]);
    }

    /// <summary>Limits values to [lo, hi]; the gradient passes only where the value was inside.</summary>
    public static Tensor<T> Clamp<T>(Tensor<T> x, double lo, double hi) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (lo > hi) throw new ArgumentException($"Clamp: lower bound {lo} is above upper bound {hi}.");
        T tlo = C<T>(lo), thi = C<T>(hi);
        var r = Tensor.Uninit<T>(x.Dims);
        var mask = Tensor.Uninit<T>(x.Dims);
        for (int i = 0; i < x.Size; i++)
        {
            T v = x.Buffer[i];
            r.Buffer[i] = T.Clamp(v, tlo, thi);
            mask.Buffer[i] = v >= tlo && v <= thi ? T.One : T.Zero;
        }
        return Record(r, "Clamp", [x], g => [Mul(g, mask)]);
    }

    /// <summary>cond ? a : b, element-wise; <paramref name="condition"/> is a constant (non-zero means true).</summary>
    public static Tensor<T> Where<T>(Tensor<T> condition, Tensor<T> a, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ShapeUtil.RequireSame("Where", condition.Dims, a.Dims);
        ShapeUtil.RequireSame("Where", a.Dims, b.Dims);
        var mask = Tensor.Uninit<T>(a.Dims);
        for (int i = 0; i < mask.Size; i++) mask.Buffer[i] = condition.Buffer[i] != T.Zero ? T.One : T.Zero;
        var r = Tensor.Uninit<T>(a.Dims);
        for (int i = 0; i < r.Size; i++) r.Buffer[i] = mask.Buffer[i] != T.Zero ? a.Buffer[i] : b.Buffer[i];
        return Record(r, "Where", [a, b], g => [
            a.RequiresGrad ? Mul(g, mask) : null,
            b.RequiresGrad ? Mul(g, OneMinus(mask)) : null]);
    }

    // ------------------------------------------------------------------ reductions

    /// <summary>The sum of all elements, as a rank-0 tensor.</summary>
    public static Tensor<T> Sum<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor.FromArray([TensorPrimitives.Sum<T>(x.Buffer)]);
        var xShape = x.Dims;
        return Record(r, "Sum", [x], g => [BroadcastTo(g, xShape)]);
    }

    /// <summary>The mean of all elements, as a rank-0 tensor.</summary>
    public static Tensor<T> Mean<T>(Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Size == 0) throw new ArgumentException("Mean of an empty tensor.");
        return Scale(Sum(x), 1.0 / x.Size);
    }

    /// <summary>Sum over one axis.</summary>
    public static Tensor<T> Sum<T>(Tensor<T> x, int axis, bool keepDim = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "Sum");
        var kept = ShapeUtil.With(x.Dims, ax, 1);
        var r = SumTo(x, kept);
        return keepDim ? r : Reshape(r, ShapeUtil.Without(x.Dims, ax));
    }

    /// <summary>Mean over one axis.</summary>
    public static Tensor<T> Mean<T>(Tensor<T> x, int axis, bool keepDim = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "Mean");
        if (x.Dims[ax] == 0) throw new ArgumentException($"Mean over an empty axis {axis} of shape {ShapeUtil.Format(x.Dims)}.");
        return Scale(Sum(x, ax, keepDim), 1.0 / x.Dims[ax]);
    }

    /// <summary>Maximum over one axis; the gradient goes to the first maximal element.</summary>
    public static Tensor<T> Max<T>(Tensor<T> x, int axis, bool keepDim = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "Max");
        var (outer, n, inner) = ShapeUtil.Split(x.Dims, ax);
        if (n == 0) throw new ArgumentException($"Max over an empty axis {axis} of shape {ShapeUtil.Format(x.Dims)}.");
        var kept = ShapeUtil.With(x.Dims, ax, 1);
        var r = Tensor.Uninit<T>(kept);
        var mask = Tensor.Zeros<T>(x.Dims.ToArray());
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int best = 0;
                T bv = x.Buffer[o * n * inner + i];
                for (int j = 1; j < n; j++)
                {
                    T v = x.Buffer[(o * n + j) * inner + i];
                    if (v > bv || (T.IsNaN(v) && !T.IsNaN(bv))) { bv = v; best = j; }
                }
                r.Buffer[o * inner + i] = bv;
                mask.Buffer[(o * n + best) * inner + i] = T.One;
            }
        var xShape = x.Dims;
        var result = Record(r, "Max", [x], g => [Mul(BroadcastTo(g, xShape), mask)]);
        return keepDim ? result : Reshape(result, ShapeUtil.Without(x.Dims, ax));
    }

    /// <summary>Softmax along an axis (the last by default).</summary>
    public static Tensor<T> Softmax<T>(Tensor<T> x, int axis = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "Softmax");
        var r = Tensor.Uninit<T>(x.Dims);
        SoftmaxRows(x, ax, r, log: false);
        return Record(r, "Softmax", [x], g => [Mul(r, Sub(g, Sum(Mul(g, r), ax, keepDim: true)))]);
    }

    /// <summary>Log-softmax along an axis (the last by default), computed stably.</summary>
    public static Tensor<T> LogSoftmax<T>(Tensor<T> x, int axis = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ax = ShapeUtil.Axis(axis, x.Rank, "LogSoftmax");
        var r = Tensor.Uninit<T>(x.Dims);
        SoftmaxRows(x, ax, r, log: true);
        return Record(r, "LogSoftmax", [x], g => [Sub(g, Mul(Exp(r), Sum(g, ax, keepDim: true)))]);
    }

    private static void SoftmaxRows<T>(Tensor<T> x, int ax, Tensor<T> r, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (outer, n, inner) = ShapeUtil.Split(x.Dims, ax);
        if (inner == 1)
        {
            var tmp = new T[n];
            for (int o = 0; o < outer; o++)
            {
                var src = x.Buffer.AsSpan(o * n, n);
                var dst = r.Buffer.AsSpan(o * n, n);
                T max = TensorPrimitives.Max<T>(src);
                TensorPrimitives.Subtract(src, max, dst);
                if (log)
                {
                    TensorPrimitives.Exp<T>(dst, tmp);
                    T lse = T.Log(TensorPrimitives.Sum<T>(tmp));
                    TensorPrimitives.Subtract(dst, lse, dst);
                }
                else
                {
                    TensorPrimitives.Exp<T>(dst, dst);
                    T sum = TensorPrimitives.Sum<T>(dst);
                    TensorPrimitives.Divide(dst, sum, dst);
                }
            }
            return;
        }
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b0 = o * n * inner + i;
                T max = T.NegativeInfinity;
                for (int j = 0; j < n; j++) max = T.Max(max, x.Buffer[b0 + j * inner]);
                T sum = T.Zero;
                for (int j = 0; j < n; j++) sum += T.Exp(x.Buffer[b0 + j * inner] - max);
                T lse = T.Log(sum);
                for (int j = 0; j < n; j++)
                {
                    T z = x.Buffer[b0 + j * inner] - max;
                    r.Buffer[b0 + j * inner] = log ? z - lse : T.Exp(z) / sum;
                }
            }
    }
}

public static partial class Ops
{
    /// <summary>(x − mean) / √(var + eps) · gain + bias over the last axis (biased variance).</summary>
    public static Tensor<T> LayerNorm<T>(Tensor<T> x, Tensor<T> gain, Tensor<T> bias, double epsilon = 1e-5) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int f = x.Dims[^1];
        if (gain.Rank != 1 || gain.Dims[0] != f || bias.Rank != 1 || bias.Dims[0] != f)
            throw new ShapeMismatchException($"LayerNorm: gain {ShapeUtil.Format(gain.Dims)} and bias {ShapeUtil.Format(bias.Dims)} must be [{f}] for input {ShapeUtil.Format(x.Dims)}.");
        var centred = Sub(x, Mean(x, -1, keepDim: true));
        var variance = Mean(Mul(centred, centred), -1, keepDim: true);
        var normalised = Div(centred, Sqrt(AddScalar(variance, epsilon)));
        return Add(Mul(normalised, gain), bias);
    }
}
