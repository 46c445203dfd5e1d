using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MetaRL.Engine.Kernels;

/// <summary>
/// The element-wise part of one GRU step for one batch row, fused into a single pass over the hidden units,
/// in every <see cref="SimdLevel"/>. Gate pre-activations come as rows [r | z | n] of width 3H.
/// </summary>
internal static class GruKernels
{
    /// <summary>
    /// r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r ⊙ gh_n), h = n + z ⊙ (hp − n); stores r, z, n, gh_n, h.
    /// </summary>
    public static void ForwardRow<T>(ReadOnlySpan<T> gx, ReadOnlySpan<T> gh, ReadOnlySpan<T> hp,
        Span<T> r, Span<T> z, Span<T> n, Span<T> ghn, Span<T> h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = hp.Length;
        int done = Simd.Level switch
        {
            SimdLevel.Vector512 => ForwardCore<V512<T>, Vector512<T>, T>(gx, gh, hp, r, z, n, ghn, h),
            SimdLevel.Vector256 => ForwardCore<V256<T>, Vector256<T>, T>(gx, gh, hp, r, z, n, ghn, h),
            SimdLevel.Vector128 => ForwardCore<V128<T>, Vector128<T>, T>(gx, gh, hp, r, z, n, ghn, h),
            _ => 0,
        };
        for (int j = done; j < hs; j++)
        {
            T rj = Sigmoid(gx[j] + gh[j]);
            T zj = Sigmoid(gx[hs + j] + gh[hs + j]);
            T gn = gh[2 * hs + j];
            T nj = T.Tanh(gx[2 * hs + j] + rj * gn);
            r[j] = rj;
            z[j] = zj;
            n[j] = nj;
            ghn[j] = gn;
            h[j] = nj + zj * (hp[j] - nj);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Sigmoid<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.One / (T.One + T.Exp(-x));

    private static int ForwardCore<TOps, TV, T>(ReadOnlySpan<T> gx, ReadOnlySpan<T> gh, ReadOnlySpan<T> hp,
        Span<T> r, Span<T> z, Span<T> n, Span<T> ghn, Span<T> h)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = hp.Length, l = TOps.Lanes, j = 0;
        ref T rgx = ref MemoryMarshal.GetReference(gx);
        ref T rgh = ref MemoryMarshal.GetReference(gh);
        ref T rhp = ref MemoryMarshal.GetReference(hp);
        TV one = TOps.Splat(T.One), two = TOps.Splat(T.One + T.One), zero = TOps.Zero;
        for (; j + l <= hs; j += l)
        {
            TV rv = VSigmoid<TOps, TV, T>(TOps.Add(TOps.Load(ref Unsafe.Add(ref rgx, j)), TOps.Load(ref Unsafe.Add(ref rgh, j))), one, zero);
            TV zv = VSigmoid<TOps, TV, T>(TOps.Add(TOps.Load(ref Unsafe.Add(ref rgx, hs + j)), TOps.Load(ref Unsafe.Add(ref rgh, hs + j))), one, zero);
            TV gn = TOps.Load(ref Unsafe.Add(ref rgh, 2 * hs + j));
            TV pre = TOps.Fma(rv, gn, TOps.Load(ref Unsafe.Add(ref rgx, 2 * hs + j)));
            // tanh(x) = 2σ(2x) − 1
            TV nv = TOps.Sub(TOps.Mul(two, VSigmoid<TOps, TV, T>(TOps.Mul(two, pre), one, zero)), one);
            TV hpv = TOps.Load(ref Unsafe.Add(ref rhp, j));
            TOps.Store(rv, ref r[j]);
            TOps.Store(zv, ref z[j]);
            TOps.Store(nv, ref n[j]);
            TOps.Store(gn, ref ghn[j]);
            TOps.Store(TOps.Fma(zv, TOps.Sub(hpv, nv), nv), ref h[j]);
        }
        return j;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV VSigmoid<TOps, TV, T>(TV x, TV one, TV zero)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
        => TOps.Div(one, TOps.Add(one, TOps.Exp(TOps.Sub(zero, x))));

    /// <summary>
    /// Backward of one step for one row. In: dh (gradient w.r.t. this step's output) and the cached r, z, n, hp, gh_n.
    /// Out: dgx = [dr_pre | dz_pre | dn_pre], dghRow = [dr_pre | dz_pre | dn_pre ⊙ r], and dh ← dh ⊙ z
    /// (the direct part of the gradient w.r.t. hp).
    /// </summary>
    public static void BackwardRow<T>(Span<T> dh, ReadOnlySpan<T> r, ReadOnlySpan<T> z, ReadOnlySpan<T> n, ReadOnlySpan<T> hp,
        ReadOnlySpan<T> ghn, Span<T> dgx, Span<T> dghRow) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = dh.Length;
        int done = Simd.Level switch
        {
            SimdLevel.Vector512 => BackwardCore<V512<T>, Vector512<T>, T>(dh, r, z, n, hp, ghn, dgx, dghRow),
            SimdLevel.Vector256 => BackwardCore<V256<T>, Vector256<T>, T>(dh, r, z, n, hp, ghn, dgx, dghRow),
            SimdLevel.Vector128 => BackwardCore<V128<T>, Vector128<T>, T>(dh, r, z, n, hp, ghn, dgx, dghRow),
            _ => 0,
        };
        for (int j = done; j < hs; j++)
        {
            T d = dh[j], rj = r[j], zj = z[j], nj = n[j];
            T dz = d * (hp[j] - nj) * zj * (T.One - zj);
            T dn = d * (T.One - zj) * (T.One - nj * nj);
            T dr = dn * ghn[j] * rj * (T.One - rj);
            dgx[j] = dghRow[j] = dr;
            dgx[hs + j] = dghRow[hs + j] = dz;
            dgx[2 * hs + j] = dn;
            dghRow[2 * hs + j] = dn * rj;
            dh[j] = d * zj;
        }
    }

    private static int BackwardCore<TOps, TV, T>(Span<T> dh, ReadOnlySpan<T> r, ReadOnlySpan<T> z, ReadOnlySpan<T> n, ReadOnlySpan<T> hp,
        ReadOnlySpan<T> ghn, Span<T> dgx, Span<T> dghRow)
        where TOps : struct, IVecOps<TV, T> where TV : struct where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = dh.Length, l = TOps.Lanes, j = 0;
        TV one = TOps.Splat(T.One);
        ref T rdh = ref MemoryMarshal.GetReference(dh);
        ref T rgx = ref MemoryMarshal.GetReference(dgx);
        ref T rgh = ref MemoryMarshal.GetReference(dghRow);
        for (; j + l <= hs; j += l)
        {
            TV d = TOps.Load(ref Unsafe.Add(ref rdh, j));
            TV rv = TOps.Load(ref MemoryMarshal.GetReference(r[j..]));
            TV zv = TOps.Load(ref MemoryMarshal.GetReference(z[j..]));
            TV nv = TOps.Load(ref MemoryMarshal.GetReference(n[j..]));
            TV hpv = TOps.Load(ref MemoryMarshal.GetReference(hp[j..]));
            TV gn = TOps.Load(ref MemoryMarshal.GetReference(ghn[j..]));
            TV oneMinusZ = TOps.Sub(one, zv);
            TV dz = TOps.Mul(TOps.Mul(d, TOps.Sub(hpv, nv)), TOps.Mul(zv, oneMinusZ));
            TV dn = TOps.Mul(TOps.Mul(d, oneMinusZ), TOps.Sub(one, TOps.Mul(nv, nv)));
            TV dr = TOps.Mul(TOps.Mul(dn, gn), TOps.Mul(rv, TOps.Sub(one, rv)));
            TOps.Store(dr, ref Unsafe.Add(ref rgx, j));
            TOps.Store(dr, ref Unsafe.Add(ref rgh, j));
            TOps.Store(dz, ref Unsafe.Add(ref rgx, hs + j));
            TOps.Store(dz, ref Unsafe.Add(ref rgh, hs + j));
            TOps.Store(dn, ref Unsafe.Add(ref rgx, 2 * hs + j));
            TOps.Store(TOps.Mul(dn, rv), ref Unsafe.Add(ref rgh, 2 * hs + j));
            TOps.Store(TOps.Mul(d, zv), ref Unsafe.Add(ref rdh, j));
        }
        return j;
    }
}
