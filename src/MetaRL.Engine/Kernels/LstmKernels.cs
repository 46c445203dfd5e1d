using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MetaRL.Engine.Kernels;

/// <summary>
/// The element-wise part of one LSTM step for one batch row, fused into a single pass over the hidden units,
/// in every <see cref="SimdLevel"/>. Gate pre-activations come as rows [i | f | g | o] of width 4H.
/// </summary>
internal static class LstmKernels
{
    /// <summary>
    /// i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o) with a = gx + gh; c = f ⊙ cp + i ⊙ g, h = o ⊙ tanh(c).
    /// Stores the four gates, c, tanh(c) and h.
    /// </summary>
    public static void ForwardRow<T>(ReadOnlySpan<T> gx, ReadOnlySpan<T> gh, ReadOnlySpan<T> cp,
        Span<T> i, Span<T> f, Span<T> g, Span<T> o, Span<T> c, Span<T> tc, Span<T> h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = cp.Length;
        int done = Simd.Level switch
        {
            SimdLevel.Vector512 => ForwardCore<V512<T>, Vector512<T>, T>(gx, gh, cp, i, f, g, o, c, tc, h),
            SimdLevel.Vector256 => ForwardCore<V256<T>, Vector256<T>, T>(gx, gh, cp, i, f, g, o, c, tc, h),
            SimdLevel.Vector128 => ForwardCore<V128<T>, Vector128<T>, T>(gx, gh, cp, i, f, g, o, c, tc, h),
            _ => 0,
        };
        for (int j = done; j < hs; j++)
        {
            T ij = Sigmoid(gx[j] + gh[j]);
            T fj = Sigmoid(gx[hs + j] + gh[hs + j]);
            T gj = T.Tanh(gx[2 * hs + j] + gh[2 * hs + j]);
            T oj = Sigmoid(gx[3 * hs + j] + gh[3 * hs + j]);
            T cj = fj * cp[j] + ij * gj;
            T tj = T.Tanh(cj);
            i[j] = ij;
            f[j] = fj;
            g[j] = gj;
            o[j] = oj;
            c[j] = cj;
            tc[j] = tj;
            h[j] = oj * tj;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Sigmoid<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.One / (T.One + T.Exp(-x));

    private static int ForwardCore<TOps, TV, T>(ReadOnlySpan<T> gx, ReadOnlySpan<T> gh, ReadOnlySpan<T> cp,
        Span<T> i, Span<T> f, Span<T> g, Span<T> o, Span<T> c, Span<T> tc, Span<T> h)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = cp.Length, l = TOps.Lanes, j = 0;
        ref T rgx = ref MemoryMarshal.GetReference(gx);
        ref T rgh = ref MemoryMarshal.GetReference(gh);
        ref T rcp = ref MemoryMarshal.GetReference(cp);
        TV one = TOps.Splat(T.One), two = TOps.Splat(T.One + T.One), zero = TOps.Zero;
        for (; j + l <= hs; j += l)
        {
            TV iv = VSigmoid<TOps, TV, T>(TOps.Add(TOps.Load(ref Unsafe.Add(ref rgx, j)), TOps.Load(ref Unsafe.Add(ref rgh, j))), one, zero);
            TV fv = VSigmoid<TOps, TV, T>(TOps.Add(TOps.Load(ref Unsafe.Add(ref rgx, hs + j)), TOps.Load(ref Unsafe.Add(ref rgh, hs + j))), one, zero);
            TV gv = VTanh<TOps, TV, T>(TOps.Add(TOps.Load(ref Unsafe.Add(ref rgx, 2 * hs + j)), TOps.Load(ref Unsafe.Add(ref rgh, 2 * hs + j))), one, two, zero);
            TV ov = VSigmoid<TOps, TV, T>(TOps.Add(TOps.Load(ref Unsafe.Add(ref rgx, 3 * hs + j)), TOps.Load(ref Unsafe.Add(ref rgh, 3 * hs + j))), one, zero);
            TV cv = TOps.Fma(fv, TOps.Load(ref Unsafe.Add(ref rcp, j)), TOps.Mul(iv, gv));
            TV tv = VTanh<TOps, TV, T>(cv, one, two, zero);
            TOps.Store(iv, ref i[j]);
            TOps.Store(fv, ref f[j]);
            TOps.Store(gv, ref g[j]);
            TOps.Store(ov, ref o[j]);
            TOps.Store(cv, ref c[j]);
            TOps.Store(tv, ref tc[j]);
            TOps.Store(TOps.Mul(ov, tv), ref h[j]);
        }
        return j;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV VSigmoid<TOps, TV, T>(TV x, TV one, TV zero)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
        => TOps.Div(one, TOps.Add(one, TOps.Exp(TOps.Sub(zero, x))));

    /// <summary>tanh(x) = 2σ(2x) − 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV VTanh<TOps, TV, T>(TV x, TV one, TV two, TV zero)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
        => TOps.Sub(TOps.Mul(two, VSigmoid<TOps, TV, T>(TOps.Mul(two, x), one, zero)), one);

    /// <summary>
    /// Backward of one step for one row. In: dh and dc, the gradients reaching this step's h and c (from outside and
    /// from the next step), and the cached gates, tanh(c) and the incoming cell state cp. Out: dGates = the gradient
    /// of the gate pre-activations [da_i | da_f | da_g | da_o], and dc ← the gradient reaching cp (dc_total ⊙ f).
    /// The part of the gradient reaching the incoming hidden state is dGates·Whhᵀ, which the caller computes.
    /// </summary>
    public static void BackwardRow<T>(ReadOnlySpan<T> dh, Span<T> dc, ReadOnlySpan<T> i, ReadOnlySpan<T> f, ReadOnlySpan<T> g,
        ReadOnlySpan<T> o, ReadOnlySpan<T> tc, ReadOnlySpan<T> cp, Span<T> dGates) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = dh.Length;
        int done = Simd.Level switch
        {
            SimdLevel.Vector512 => BackwardCore<V512<T>, Vector512<T>, T>(dh, dc, i, f, g, o, tc, cp, dGates),
            SimdLevel.Vector256 => BackwardCore<V256<T>, Vector256<T>, T>(dh, dc, i, f, g, o, tc, cp, dGates),
            SimdLevel.Vector128 => BackwardCore<V128<T>, Vector128<T>, T>(dh, dc, i, f, g, o, tc, cp, dGates),
            _ => 0,
        };
        for (int j = done; j < hs; j++)
        {
            T ij = i[j], fj = f[j], gj = g[j], oj = o[j], tj = tc[j], d = dh[j];
            T dct = dc[j] + d * oj * (T.One - tj * tj);
            dGates[j] = dct * gj * ij * (T.One - ij);
            dGates[hs + j] = dct * cp[j] * fj * (T.One - fj);
            dGates[2 * hs + j] = dct * ij * (T.One - gj * gj);
            dGates[3 * hs + j] = d * tj * oj * (T.One - oj);
            dc[j] = dct * fj;
        }
    }

    private static int BackwardCore<TOps, TV, T>(ReadOnlySpan<T> dh, Span<T> dc, ReadOnlySpan<T> i, ReadOnlySpan<T> f, ReadOnlySpan<T> g,
        ReadOnlySpan<T> o, ReadOnlySpan<T> tc, ReadOnlySpan<T> cp, Span<T> dGates)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = dh.Length, l = TOps.Lanes, j = 0;
        TV one = TOps.Splat(T.One);
        ref T rdg = ref MemoryMarshal.GetReference(dGates);
        ref T rdc = ref MemoryMarshal.GetReference(dc);
        for (; j + l <= hs; j += l)
        {
            TV d = TOps.Load(ref MemoryMarshal.GetReference(dh[j..]));
            TV iv = TOps.Load(ref MemoryMarshal.GetReference(i[j..]));
            TV fv = TOps.Load(ref MemoryMarshal.GetReference(f[j..]));
            TV gv = TOps.Load(ref MemoryMarshal.GetReference(g[j..]));
            TV ov = TOps.Load(ref MemoryMarshal.GetReference(o[j..]));
            TV tv = TOps.Load(ref MemoryMarshal.GetReference(tc[j..]));
            TV cpv = TOps.Load(ref MemoryMarshal.GetReference(cp[j..]));
            TV dct = TOps.Fma(TOps.Mul(d, ov), TOps.Sub(one, TOps.Mul(tv, tv)), TOps.Load(ref Unsafe.Add(ref rdc, j)));
            TOps.Store(TOps.Mul(TOps.Mul(dct, gv), TOps.Mul(iv, TOps.Sub(one, iv))), ref Unsafe.Add(ref rdg, j));
            TOps.Store(TOps.Mul(TOps.Mul(dct, cpv), TOps.Mul(fv, TOps.Sub(one, fv))), ref Unsafe.Add(ref rdg, hs + j));
            TOps.Store(TOps.Mul(TOps.Mul(dct, iv), TOps.Sub(one, TOps.Mul(gv, gv))), ref Unsafe.Add(ref rdg, 2 * hs + j));
            TOps.Store(TOps.Mul(TOps.Mul(d, tv), TOps.Mul(ov, TOps.Sub(one, ov))), ref Unsafe.Add(ref rdg, 3 * hs + j));
            TOps.Store(TOps.Mul(dct, fv), ref Unsafe.Add(ref rdc, j));
        }
        return j;
    }
}
