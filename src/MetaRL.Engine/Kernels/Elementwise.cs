using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MetaRL.Engine.Kernels;

/// <summary>A binary element-wise operation, written once for vectors and once for scalars.</summary>
internal interface IBinaryOp
{
    static abstract TV Vec<TOps, TV, T>(TV a, TV b) where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>;
    static abstract T Scalar<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T>;
}

internal struct AddOp : IBinaryOp
{
    public static TV Vec<TOps, TV, T>(TV a, TV b) where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T> => TOps.Add(a, b);
    public static T Scalar<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => a + b;
}
internal struct SubOp : IBinaryOp
{
    public static TV Vec<TOps, TV, T>(TV a, TV b) where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T> => TOps.Sub(a, b);
    public static T Scalar<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => a - b;
}
internal struct MulOp : IBinaryOp
{
    public static TV Vec<TOps, TV, T>(TV a, TV b) where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T> => TOps.Mul(a, b);
    public static T Scalar<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => a * b;
}
internal struct DivOp : IBinaryOp
{
    public static TV Vec<TOps, TV, T>(TV a, TV b) where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T> => TOps.Div(a, b);
    public static T Scalar<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => a / b;
}
/// <summary>b where a &gt; 0, else 0 (the ReLU gradient mask).</summary>
internal struct PositiveMaskOp : IBinaryOp
{
    public static TV Vec<TOps, TV, T>(TV a, TV b) where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T> => TOps.GreaterThanZeroMask(a, b);
    public static T Scalar<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => a > T.Zero ? b : T.Zero;
}

/// <summary>The hot element-wise paths, in every <see cref="SimdLevel"/>.</summary>
public static class Elementwise
{
    public static void Add<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> => Binary<AddOp, T>(Simd.Level, a, b, d);
    public static void Sub<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> => Binary<SubOp, T>(Simd.Level, a, b, d);
    public static void Mul<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> => Binary<MulOp, T>(Simd.Level, a, b, d);
    public static void Div<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> => Binary<DivOp, T>(Simd.Level, a, b, d);
    /// <summary>d = b where a &gt; 0, else 0.</summary>
    public static void PositiveMask<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> => Binary<PositiveMaskOp, T>(Simd.Level, a, b, d);
    public static void AddInPlace<T>(Span<T> d, ReadOnlySpan<T> b) where T : unmanaged, IFloatingPointIeee754<T> => Binary<AddOp, T>(Simd.Level, d, b, d);

    /// <summary>d = max(a, 0).</summary>
    public static void Relu<T>(ReadOnlySpan<T> a, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T> => PositiveMask(a, a, d);

    /// <summary>d[i, j] = a[i, j] op b[j] for a rows×cols matrix and a row vector b.</summary>
    internal static void BinaryRows<TOp, T>(ReadOnlySpan<T> a, ReadOnlySpan<T> row, Span<T> d, int rows, int cols)
        where TOp : struct, IBinaryOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        var level = Simd.Level;
        for (int i = 0; i < rows; i++)
            Binary<TOp, T>(level, a.Slice(i * cols, cols), row, d.Slice(i * cols, cols));
    }

    public static void AddRows<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> row, Span<T> d, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
        => BinaryRows<AddOp, T>(a, row, d, rows, cols);

    internal static void Binary<TOp, T>(SimdLevel level, ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d)
        where TOp : struct, IBinaryOp where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length != b.Length || d.Length != a.Length)
            throw new ShapeMismatchException($"Element-wise {typeof(TOp).Name}: lengths {a.Length}, {b.Length} and {d.Length} differ.");
        switch (level)
        {
            case SimdLevel.Vector512: BinaryCore<TOp, V512<T>, Vector512<T>, T>(a, b, d); break;
            case SimdLevel.Vector256: BinaryCore<TOp, V256<T>, Vector256<T>, T>(a, b, d); break;
            case SimdLevel.Vector128: BinaryCore<TOp, V128<T>, Vector128<T>, T>(a, b, d); break;
            default:
                for (int i = 0; i < d.Length; i++) d[i] = TOp.Scalar(a[i], b[i]);
                break;
        }
    }

    private static void BinaryCore<TOp, TOps, TV, T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d)
        where TOp : struct, IBinaryOp where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rb = ref MemoryMarshal.GetReference(b);
        ref T rd = ref MemoryMarshal.GetReference(d);
        int n = d.Length, l = TOps.Lanes, i = 0;
        for (; i + 2 * l <= n; i += 2 * l)
        {
            TV x0 = TOp.Vec<TOps, TV, T>(TOps.Load(ref Unsafe.Add(ref ra, i)), TOps.Load(ref Unsafe.Add(ref rb, i)));
            TV x1 = TOp.Vec<TOps, TV, T>(TOps.Load(ref Unsafe.Add(ref ra, i + l)), TOps.Load(ref Unsafe.Add(ref rb, i + l)));
            TOps.Store(x0, ref Unsafe.Add(ref rd, i));
            TOps.Store(x1, ref Unsafe.Add(ref rd, i + l));
        }
        for (; i + l <= n; i += l)
            TOps.Store(TOp.Vec<TOps, TV, T>(TOps.Load(ref Unsafe.Add(ref ra, i)), TOps.Load(ref Unsafe.Add(ref rb, i))), ref Unsafe.Add(ref rd, i));
        for (; i < n; i++)
            Unsafe.Add(ref rd, i) = TOp.Scalar(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i));
    }

    /// <summary>y += alpha·x.</summary>
    public static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length != y.Length) throw new ShapeMismatchException($"Axpy: lengths {x.Length} and {y.Length} differ.");
        switch (Simd.Level)
        {
            case SimdLevel.Vector512: AxpyCore<V512<T>, Vector512<T>, T>(alpha, x, y); break;
            case SimdLevel.Vector256: AxpyCore<V256<T>, Vector256<T>, T>(alpha, x, y); break;
            case SimdLevel.Vector128: AxpyCore<V128<T>, Vector128<T>, T>(alpha, x, y); break;
            default: for (int i = 0; i < y.Length; i++) y[i] += alpha * x[i]; break;
        }
    }

    private static void AxpyCore<TOps, TV, T>(T alpha, ReadOnlySpan<T> x, Span<T> y)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T rx = ref MemoryMarshal.GetReference(x);
        ref T ry = ref MemoryMarshal.GetReference(y);
        TV va = TOps.Splat(alpha);
        int n = y.Length, l = TOps.Lanes, i = 0;
        for (; i + l <= n; i += l)
            TOps.Store(TOps.Fma(va, TOps.Load(ref Unsafe.Add(ref rx, i)), TOps.Load(ref Unsafe.Add(ref ry, i))), ref Unsafe.Add(ref ry, i));
        for (; i < n; i++) Unsafe.Add(ref ry, i) += alpha * Unsafe.Add(ref rx, i);
    }

    /// <summary>d = a·s + t.</summary>
    public static void ScaleShift<T>(ReadOnlySpan<T> a, T s, T t, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length != d.Length) throw new ShapeMismatchException($"ScaleShift: lengths {a.Length} and {d.Length} differ.");
        switch (Simd.Level)
        {
            case SimdLevel.Vector512: ScaleShiftCore<V512<T>, Vector512<T>, T>(a, s, t, d); break;
            case SimdLevel.Vector256: ScaleShiftCore<V256<T>, Vector256<T>, T>(a, s, t, d); break;
            case SimdLevel.Vector128: ScaleShiftCore<V128<T>, Vector128<T>, T>(a, s, t, d); break;
            default: for (int i = 0; i < d.Length; i++) d[i] = a[i] * s + t; break;
        }
    }

    private static void ScaleShiftCore<TOps, TV, T>(ReadOnlySpan<T> a, T s, T t, Span<T> d)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T ra = ref MemoryMarshal.GetReference(a);
        ref T rd = ref MemoryMarshal.GetReference(d);
        TV vs = TOps.Splat(s), vt = TOps.Splat(t);
        int n = d.Length, l = TOps.Lanes, i = 0;
        for (; i + l <= n; i += l)
            TOps.Store(TOps.Fma(TOps.Load(ref Unsafe.Add(ref ra, i)), vs, vt), ref Unsafe.Add(ref rd, i));
        for (; i < n; i++) Unsafe.Add(ref rd, i) = Unsafe.Add(ref ra, i) * s + t;
    }

    /// <summary>d[j] += Σ_i a[i, j] for a rows×cols matrix (bias gradients).</summary>
    public static void SumRowsInto<T>(ReadOnlySpan<T> a, int rows, int cols, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length < rows * cols || d.Length != cols) throw new ShapeMismatchException($"SumRows: {a.Length} elements as {rows}×{cols} into {d.Length}.");
        var level = Simd.Level;
        for (int i = 0; i < rows; i++)
            Binary<AddOp, T>(level, d, a.Slice(i * cols, cols), d);
    }

    /// <summary>
    /// One Adam step on a parameter vector: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
    /// p ← p − stepSize·m / (√v + eps). Bias corrections are folded into stepSize and eps by the caller.
    /// </summary>
    public static void AdamStep<T>(Span<T> p, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T beta1, T beta2, T stepSize, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g.Length != p.Length || m.Length != p.Length || v.Length != p.Length)
            throw new ShapeMismatchException($"AdamStep: lengths {p.Length}, {g.Length}, {m.Length}, {v.Length} differ.");
        switch (Simd.Level)
        {
            case SimdLevel.Vector512: AdamCore<V512<T>, Vector512<T>, T>(p, g, m, v, beta1, beta2, stepSize, eps); break;
            case SimdLevel.Vector256: AdamCore<V256<T>, Vector256<T>, T>(p, g, m, v, beta1, beta2, stepSize, eps); break;
            case SimdLevel.Vector128: AdamCore<V128<T>, Vector128<T>, T>(p, g, m, v, beta1, beta2, stepSize, eps); break;
            default:
                for (int i = 0; i < p.Length; i++) AdamScalar(ref p[i], g[i], ref m[i], ref v[i], beta1, beta2, stepSize, eps);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AdamScalar<T>(ref T p, T g, ref T m, ref T v, T b1, T b2, T step, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        m = b1 * m + (T.One - b1) * g;
        v = b2 * v + (T.One - b2) * g * g;
        p -= step * m / (T.Sqrt(v) + eps);
    }

    private static void AdamCore<TOps, TV, T>(Span<T> p, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T b1, T b2, T step, T eps)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T rp = ref MemoryMarshal.GetReference(p);
        ref T rg = ref MemoryMarshal.GetReference(g);
        ref T rm = ref MemoryMarshal.GetReference(m);
        ref T rv = ref MemoryMarshal.GetReference(v);
        TV vb1 = TOps.Splat(b1), vb2 = TOps.Splat(b2), c1 = TOps.Splat(T.One - b1), c2 = TOps.Splat(T.One - b2);
        TV vstep = TOps.Splat(step), veps = TOps.Splat(eps);
        int n = p.Length, l = TOps.Lanes, i = 0;
        for (; i + l <= n; i += l)
        {
            TV gi = TOps.Load(ref Unsafe.Add(ref rg, i));
            TV mi = TOps.Fma(vb1, TOps.Load(ref Unsafe.Add(ref rm, i)), TOps.Mul(c1, gi));
            TV vi = TOps.Fma(vb2, TOps.Load(ref Unsafe.Add(ref rv, i)), TOps.Mul(c2, TOps.Mul(gi, gi)));
            TOps.Store(mi, ref Unsafe.Add(ref rm, i));
            TOps.Store(vi, ref Unsafe.Add(ref rv, i));
            TV upd = TOps.Div(TOps.Mul(vstep, mi), TOps.Add(TOps.Sqrt(vi), veps));
            TOps.Store(TOps.Sub(TOps.Load(ref Unsafe.Add(ref rp, i)), upd), ref Unsafe.Add(ref rp, i));
        }
        for (; i < n; i++)
            AdamScalar(ref Unsafe.Add(ref rp, i), Unsafe.Add(ref rg, i), ref Unsafe.Add(ref rm, i), ref Unsafe.Add(ref rv, i), b1, b2, step, eps);
    }
}
