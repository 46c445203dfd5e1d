using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MetaRL.Engine.Kernels;

/// <summary>
/// General matrix multiply, C (=|+=) op(A)·op(B), row-major with explicit leading dimensions.
/// op(A) is M×K: A is M×K (row stride lda), or K×M when <c>transA</c>. op(B) is K×N: B is K×N,
/// or N×K when <c>transB</c>. The path (Vector512 / Vector256+FMA / Vector128 / scalar) follows
/// <see cref="Simd.Level"/>. Narrow outputs (a few columns) use a dot-product kernel vectorised
/// along K, and single rows a streaming kernel, so no shape falls into a scalar edge loop.
/// </summary>
public static class Gemm
{
    private static int _maxThreads = DefaultThreads();

    private static int DefaultThreads()
    {
        var env = Environment.GetEnvironmentVariable("METARL_THREADS");
        if (env is not null && int.TryParse(env, out int t) && t >= 1) return t;
        return Math.Max(1, Environment.ProcessorCount);
    }

    /// <summary>
    /// Threads a large product may use (default: the processor count, or METARL_THREADS). Work is split by
    /// column panels, so every element is computed by the same instructions in the same order whatever this
    /// is: results are bit-identical for any thread count.
    /// </summary>
    public static int MaxThreads
    {
        get => t_serial > 0 ? 1 : _maxThreads;
        set => _maxThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "At least one thread.");
    }

    [ThreadStatic] private static int t_serial;

    /// <summary>
    /// Makes products on the calling thread single-threaded until disposed: for work that is already spread over
    /// the cores (one task per core), where splitting each product again only adds synchronisation.
    /// Results do not change (the split never changes them).
    /// </summary>
    public static SerialScope Serial()
    {
        t_serial++;
        return new SerialScope();
    }

    /// <summary>Ends a <see cref="Serial"/> region.</summary>
    public readonly struct SerialScope : IDisposable
    {
        public void Dispose() => t_serial--;
    }

    /// <summary>
    /// Whether a product of rows by a K×N matrix B (A not transposed) runs as dot products along K at the current SIMD
    /// level, as it does for few output columns: then B stored transposed (N×K, <c>transB</c>) gives the same bits as B
    /// as it is, and saves the transposition the call would otherwise make each time. For callers that keep a transposed
    /// copy of a narrow weight matrix (a policy head acting one row at a time).
    /// </summary>
    public static bool TransposedBIsExact<T>(int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Simd.Level switch
        {
            SimdLevel.Vector512 => Vector512<T>.Count,
            SimdLevel.Vector256 => Vector256<T>.Count,
            SimdLevel.Vector128 => Vector128<T>.Count,
            _ => 0, // the scalar path reads B through strides: the same sums either way
        };
        return lanes == 0 || (n < lanes && k >= lanes);
    }

    /// <summary>Products below this many floating-point operations run on one thread.</summary>
    public const long ParallelThresholdFlops = 4_000_000;

    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(Simd.Level, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);

    public static void Multiply<T>(SimdLevel level, bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (!accumulate)
            for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
        if (k == 0) return;
        switch (level)
        {
            case SimdLevel.Vector512: GemmCore<V512<T>, Vector512<T>, T>.Run(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); break;
            case SimdLevel.Vector256: GemmCore<V256<T>, Vector256<T>, T>.Run(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); break;
            case SimdLevel.Vector128: GemmCore<V128<T>, Vector128<T>, T>.Run(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); break;
            default: Scalar(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); break;
        }
    }

    private static void Validate(bool transA, bool transB, int m, int n, int k, int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Gemm: negative size (m={m}, n={n}, k={k}).");
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        if (lda < Math.Max(1, aCols) || ldb < Math.Max(1, bCols) || ldc < Math.Max(1, n))
            throw new ArgumentException($"Gemm: leading dimension too small (lda={lda} for {aCols} columns, ldb={ldb} for {bCols}, ldc={ldc} for {n}).");
        if (aRows > 0 && aCols > 0 && (long)(aRows - 1) * lda + aCols > aLen)
            throw new ArgumentException($"Gemm: A has {aLen} elements, fewer than a {aRows}×{aCols} matrix with lda={lda} needs.");
        if (bRows > 0 && bCols > 0 && (long)(bRows - 1) * ldb + bCols > bLen)
            throw new ArgumentException($"Gemm: B has {bLen} elements, fewer than a {bRows}×{bCols} matrix with ldb={ldb} needs.");
        if (m > 0 && n > 0 && (long)(m - 1) * ldc + n > cLen)
            throw new ArgumentException($"Gemm: C has {cLen} elements, fewer than a {m}×{n} matrix with ldc={ldc} needs.");
    }

    /// <summary>The reference path: plain loops, also used to check the vector paths.</summary>
    private static void Scalar<T>(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int ars = transA ? 1 : lda, aks = transA ? lda : 1;
        int bks = transB ? 1 : ldb, bns = transB ? ldb : 1;
        for (int i = 0; i < m; i++)
        {
            var crow = c.Slice(i * ldc, n);
            for (int p = 0; p < k; p++)
            {
                T av = a[i * ars + p * aks];
                int bo = p * bks;
                for (int j = 0; j < n; j++) crow[j] += av * b[bo + j * bns];
            }
        }
    }
}

internal static class GemmCore<TOps, TV, T>
    where TOps : struct, IVecOps<TV, T>
    where TV : struct
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int MR = 6;       // rows per micro-tile (16-register paths)
    private const int MR8 = 8;      // rows per micro-tile where 32 vector registers exist (AVX-512)
    private static bool Wide => typeof(TV) == typeof(Vector512<T>);
    private const int KC = 256;     // depth per block (keeps a B strip in L1)
    private const int MC = 144;     // rows per block (keeps an A block in L2)
    private static int L => TOps.Lanes;
    private static int NR => 2 * TOps.Lanes;

    public static void Run(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
    {
        ref T A = ref MemoryMarshal.GetReference(a);
        ref T B = ref MemoryMarshal.GetReference(b);
        ref T C = ref MemoryMarshal.GetReference(c);
        if (m == 1 && !transB && n >= L)
        {
            // In depth blocks of KC, each added to C as the blocked path adds them: a row's result never depends on how
            // many rows share the product (a batch of one trial equals that trial in a batch of many, bit for bit).
            int aks = transA ? lda : 1;
            for (int p0 = 0; p0 < k; p0 += KC)
                RowTimesMatrix(Math.Min(KC, k - p0), n, ref Unsafe.Add(ref A, p0 * aks), aks, ref Unsafe.Add(ref B, p0 * ldb), ldb, ref C);
            return;
        }
        if (n < L && k >= L)
        {
            if (transA && m >= L) TransposedProduct(transB, m, n, k, a, lda, b, ldb, ref C, ldc);
            else DotPath(transA, transB, m, n, k, ref A, lda, ref B, ldb, ref C, ldc);
            return;
        }
        T[]? bt = null;
        try
        {
            if (transB)
            {
                // Transpose B (N×K) into K×N so the micro-kernel streams contiguous rows.
                bt = ArrayPool<T>.Shared.Rent(k * n);
                Transpose(ref B, ldb, n, k, ref bt[0]);
                B = ref bt[0];
                ldb = n;
            }
            int threads = Math.Min(Gemm.MaxThreads, n / NR);
            if (threads >= 2 && 2L * m * n * k >= Gemm.ParallelThresholdFlops)
                BlockedParallel(threads, m, n, k, ref A, transA ? 1 : lda, transA ? lda : 1, ref B, ldb, ref C, ldc);
            else
                Blocked(m, n, k, ref A, transA ? 1 : lda, transA ? lda : 1, ref B, ldb, ref C, ldc);
        }
        finally
        {
            if (bt is not null) ArrayPool<T>.Shared.Return(bt);
        }
    }

    /// <summary>
    /// C += AᵀB with few columns n and a wide A stored K×M (a weight gradient Hᵀ·Δ for a narrow layer): computed as
    /// Cᵀ = op(B)ᵀ·A, which streams A's rows as they are stored, then added in transposed. The dot-product path would
    /// first copy all of A into M×K order, which costs more than the product.
    /// </summary>
    private static void TransposedProduct(bool transB, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, ref T C, int ldc)
    {
        T[] ct = ArrayPool<T>.Shared.Rent(n * m);
        try
        {
            var cts = ct.AsSpan(0, n * m);
            cts.Clear();
            Run(!transB, false, n, m, k, b, ldb, a, lda, cts, m);
            for (int i = 0; i < m; i++)
            {
                ref T ci = ref Unsafe.Add(ref C, i * ldc);
                for (int j = 0; j < n; j++) Unsafe.Add(ref ci, j) += ct[j * m + i];
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(ct);
        }
    }

    private static void Transpose(ref T src, int lds, int rows, int cols, ref T dst)
    {
        if (typeof(T) == typeof(float) && Avx2.IsSupported && rows >= 8 && (long)7 * lds <= int.MaxValue)
        {
            GatherTranspose(ref Unsafe.As<T, float>(ref src), lds, rows, cols, ref Unsafe.As<T, float>(ref dst));
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            ref T s = ref Unsafe.Add(ref src, r * lds);
            for (int q = 0; q < cols; q++) Unsafe.Add(ref dst, q * rows + r) = Unsafe.Add(ref s, q);
        }
    }

    /// <summary>
    /// <see cref="Transpose"/> for float: eight rows of a column at once by one gather, so a narrow weight matrix (a few
    /// columns, hundreds of rows) is turned in a fraction of the scalar loop's time. An exact copy: no result changes.
    /// </summary>
    private static unsafe void GatherTranspose(ref float src, int lds, int rows, int cols, ref float dst)
    {
        var index = Vector256.Create(0, lds, 2 * lds, 3 * lds, 4 * lds, 5 * lds, 6 * lds, 7 * lds);
        int full = rows & ~7;
        fixed (float* s0 = &src, d0 = &dst)
        {
            for (int q = 0; q < cols; q++)
            {
                float* s = s0 + q, d = d0 + (nint)q * rows;
                int r = 0;
                for (; r < full; r += 8, s += 8L * lds)
                    Avx2.GatherVector256(s, index, 4).Store(d + r);
                for (; r < rows; r++, s += lds) d[r] = *s;
            }
        }
    }

    /// <summary>Splits the columns into panels of whole NR-wide strips, one range per thread (same arithmetic per element as <see cref="Blocked"/>).</summary>
    private static unsafe void BlockedParallel(int threads, int m, int n, int k, ref T A, int ars, int aks, ref T B, int ldb, ref T C, int ldc)
    {
        int strips = (n + NR - 1) / NR;
        fixed (T* pa = &A, pb = &B, pc = &C)
        {
            T* a = pa, b = pb, c = pc;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int s0 = strips * t / threads, s1 = strips * (t + 1) / threads;
                int j0 = s0 * NR, j1 = Math.Min(n, s1 * NR);
                if (j1 > j0) Blocked(m, j1 - j0, k, ref *a, ars, aks, ref *(b + j0), ldb, ref *(c + j0), ldc);
            });
        }
    }

    private static void Blocked(int m, int n, int k, ref T A, int ars, int aks, ref T B, int ldb, ref T C, int ldc)
    {
        int nr = NR;
        T[] pad = ArrayPool<T>.Shared.Rent(Math.Min(k, KC) * nr);
        try
        {
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                for (int i0 = 0; i0 < m; i0 += MC)
                {
                    int mc = Math.Min(MC, m - i0);
                    for (int j0 = 0; j0 < n; j0 += nr)
                    {
                        int w = Math.Min(nr, n - j0);
                        ref T bp = ref Unsafe.Add(ref B, p0 * ldb + j0);
                        int bs = ldb;
                        if (w < nr)
                        {
                            // Edge strip: copy into a zero-padded panel so the full-width kernel runs on it.
                            var padSpan = pad.AsSpan(0, kc * nr);
                            padSpan.Clear();
                            for (int p = 0; p < kc; p++)
                                MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref bp, p * ldb), w).CopyTo(padSpan.Slice(p * nr));
                            bp = ref pad[0];
                            bs = nr;
                        }
                        if (Wide)
                        {
                            int i = i0;
                            for (; i + MR8 <= i0 + mc; i += MR8)
                                Micro8(kc, ref Unsafe.Add(ref A, i * ars + p0 * aks), ars, aks, ref bp, bs,
                                    ref Unsafe.Add(ref C, i * ldc + j0), ldc, w);
                            for (; i < i0 + mc; i += MR) // up to 7 rows left: the 6-row tile covers them
                                Micro(kc, ref Unsafe.Add(ref A, i * ars + p0 * aks), ars, aks, Math.Min(MR, i0 + mc - i), ref bp, bs,
                                    ref Unsafe.Add(ref C, i * ldc + j0), ldc, w);
                        }
                        else
                            for (int i = i0; i < i0 + mc; i += MR)
                            {
                                int mr = Math.Min(MR, i0 + mc - i);
                                Micro(kc, ref Unsafe.Add(ref A, i * ars + p0 * aks), ars, aks, mr, ref bp, bs,
                                    ref Unsafe.Add(ref C, i * ldc + j0), ldc, w);
                            }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(pad);
        }
    }

    /// <summary>6×(2 vectors) micro-tile: C[0..mr, 0..w) += A[0..mr, 0..kc)·B[0..kc, 0..2L).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro(int kc, ref T a, int ars, int aks, int mr, ref T b, int bs, ref T c, int ldc, int w)
    {
        // Rows past mr re-read row 0 (their results are dropped), so the loop body has no branches.
        ref T a0 = ref a;
        ref T a1 = ref Unsafe.Add(ref a, (mr > 1 ? 1 : 0) * ars);
        ref T a2 = ref Unsafe.Add(ref a, (mr > 2 ? 2 : 0) * ars);
        ref T a3 = ref Unsafe.Add(ref a, (mr > 3 ? 3 : 0) * ars);
        ref T a4 = ref Unsafe.Add(ref a, (mr > 4 ? 4 : 0) * ars);
        ref T a5 = ref Unsafe.Add(ref a, (mr > 5 ? 5 : 0) * ars);
        int l = L;
        TV c00 = TOps.Zero, c01 = TOps.Zero, c10 = TOps.Zero, c11 = TOps.Zero, c20 = TOps.Zero, c21 = TOps.Zero;
        TV c30 = TOps.Zero, c31 = TOps.Zero, c40 = TOps.Zero, c41 = TOps.Zero, c50 = TOps.Zero, c51 = TOps.Zero;
        nint off = 0;
        for (int p = 0; p < kc; p++)
        {
            TV b0 = TOps.Load(ref b);
            TV b1 = TOps.Load(ref Unsafe.Add(ref b, l));
            TV x = TOps.Splat(Unsafe.Add(ref a0, off));
            c00 = TOps.Fma(x, b0, c00); c01 = TOps.Fma(x, b1, c01);
            x = TOps.Splat(Unsafe.Add(ref a1, off));
            c10 = TOps.Fma(x, b0, c10); c11 = TOps.Fma(x, b1, c11);
            x = TOps.Splat(Unsafe.Add(ref a2, off));
            c20 = TOps.Fma(x, b0, c20); c21 = TOps.Fma(x, b1, c21);
            x = TOps.Splat(Unsafe.Add(ref a3, off));
            c30 = TOps.Fma(x, b0, c30); c31 = TOps.Fma(x, b1, c31);
            x = TOps.Splat(Unsafe.Add(ref a4, off));
            c40 = TOps.Fma(x, b0, c40); c41 = TOps.Fma(x, b1, c41);
            x = TOps.Splat(Unsafe.Add(ref a5, off));
            c50 = TOps.Fma(x, b0, c50); c51 = TOps.Fma(x, b1, c51);
            off += aks;
            b = ref Unsafe.Add(ref b, bs);
        }
        if (w == 2 * l)
        {
            AddRow(ref c, l, c00, c01);
            if (mr > 1) AddRow(ref Unsafe.Add(ref c, ldc), l, c10, c11);
            if (mr > 2) AddRow(ref Unsafe.Add(ref c, 2 * ldc), l, c20, c21);
            if (mr > 3) AddRow(ref Unsafe.Add(ref c, 3 * ldc), l, c30, c31);
            if (mr > 4) AddRow(ref Unsafe.Add(ref c, 4 * ldc), l, c40, c41);
            if (mr > 5) AddRow(ref Unsafe.Add(ref c, 5 * ldc), l, c50, c51);
        }
        else
        {
            Span<T> tile = stackalloc T[MR * 2 * 64 / Unsafe.SizeOf<T>()];
            ref T t = ref MemoryMarshal.GetReference(tile);
            int nr = 2 * l;
            TOps.Store(c00, ref t); TOps.Store(c01, ref Unsafe.Add(ref t, l));
            TOps.Store(c10, ref Unsafe.Add(ref t, nr)); TOps.Store(c11, ref Unsafe.Add(ref t, nr + l));
            TOps.Store(c20, ref Unsafe.Add(ref t, 2 * nr)); TOps.Store(c21, ref Unsafe.Add(ref t, 2 * nr + l));
            TOps.Store(c30, ref Unsafe.Add(ref t, 3 * nr)); TOps.Store(c31, ref Unsafe.Add(ref t, 3 * nr + l));
            TOps.Store(c40, ref Unsafe.Add(ref t, 4 * nr)); TOps.Store(c41, ref Unsafe.Add(ref t, 4 * nr + l));
            TOps.Store(c50, ref Unsafe.Add(ref t, 5 * nr)); TOps.Store(c51, ref Unsafe.Add(ref t, 5 * nr + l));
            for (int r = 0; r < mr; r++)
            {
                ref T cr = ref Unsafe.Add(ref c, r * ldc);
                ref T tr = ref Unsafe.Add(ref t, r * nr);
                for (int j = 0; j < w; j++) Unsafe.Add(ref cr, j) += Unsafe.Add(ref tr, j);
            }
        }
    }

    /// <summary>8×(2 vectors) micro-tile for 32-register machines: 16 accumulators, all rows valid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro8(int kc, ref T a, int ars, int aks, ref T b, int bs, ref T c, int ldc, int w)
    {
        ref T a0 = ref a;
        ref T a1 = ref Unsafe.Add(ref a, ars);
        ref T a2 = ref Unsafe.Add(ref a, 2 * ars);
        ref T a3 = ref Unsafe.Add(ref a, 3 * ars);
        ref T a4 = ref Unsafe.Add(ref a, 4 * ars);
        ref T a5 = ref Unsafe.Add(ref a, 5 * ars);
        ref T a6 = ref Unsafe.Add(ref a, 6 * ars);
        ref T a7 = ref Unsafe.Add(ref a, 7 * ars);
        int l = L;
        TV c00 = TOps.Zero, c01 = TOps.Zero, c10 = TOps.Zero, c11 = TOps.Zero, c20 = TOps.Zero, c21 = TOps.Zero, c30 = TOps.Zero, c31 = TOps.Zero;
        TV c40 = TOps.Zero, c41 = TOps.Zero, c50 = TOps.Zero, c51 = TOps.Zero, c60 = TOps.Zero, c61 = TOps.Zero, c70 = TOps.Zero, c71 = TOps.Zero;
        nint off = 0;
        for (int p = 0; p < kc; p++)
        {
            TV b0 = TOps.Load(ref b);
            TV b1 = TOps.Load(ref Unsafe.Add(ref b, l));
            TV x = TOps.Splat(Unsafe.Add(ref a0, off));
            c00 = TOps.Fma(x, b0, c00); c01 = TOps.Fma(x, b1, c01);
            x = TOps.Splat(Unsafe.Add(ref a1, off));
            c10 = TOps.Fma(x, b0, c10); c11 = TOps.Fma(x, b1, c11);
            x = TOps.Splat(Unsafe.Add(ref a2, off));
            c20 = TOps.Fma(x, b0, c20); c21 = TOps.Fma(x, b1, c21);
            x = TOps.Splat(Unsafe.Add(ref a3, off));
            c30 = TOps.Fma(x, b0, c30); c31 = TOps.Fma(x, b1, c31);
            x = TOps.Splat(Unsafe.Add(ref a4, off));
            c40 = TOps.Fma(x, b0, c40); c41 = TOps.Fma(x, b1, c41);
            x = TOps.Splat(Unsafe.Add(ref a5, off));
            c50 = TOps.Fma(x, b0, c50); c51 = TOps.Fma(x, b1, c51);
            x = TOps.Splat(Unsafe.Add(ref a6, off));
            c60 = TOps.Fma(x, b0, c60); c61 = TOps.Fma(x, b1, c61);
            x = TOps.Splat(Unsafe.Add(ref a7, off));
            c70 = TOps.Fma(x, b0, c70); c71 = TOps.Fma(x, b1, c71);
            off += aks;
            b = ref Unsafe.Add(ref b, bs);
        }
        if (w == 2 * l)
        {
            AddRow(ref c, l, c00, c01);
            AddRow(ref Unsafe.Add(ref c, ldc), l, c10, c11);
            AddRow(ref Unsafe.Add(ref c, 2 * ldc), l, c20, c21);
            AddRow(ref Unsafe.Add(ref c, 3 * ldc), l, c30, c31);
            AddRow(ref Unsafe.Add(ref c, 4 * ldc), l, c40, c41);
            AddRow(ref Unsafe.Add(ref c, 5 * ldc), l, c50, c51);
            AddRow(ref Unsafe.Add(ref c, 6 * ldc), l, c60, c61);
            AddRow(ref Unsafe.Add(ref c, 7 * ldc), l, c70, c71);
        }
        else
        {
            AddPartialRow(ref c, l, w, c00, c01);
            AddPartialRow(ref Unsafe.Add(ref c, ldc), l, w, c10, c11);
            AddPartialRow(ref Unsafe.Add(ref c, 2 * ldc), l, w, c20, c21);
            AddPartialRow(ref Unsafe.Add(ref c, 3 * ldc), l, w, c30, c31);
            AddPartialRow(ref Unsafe.Add(ref c, 4 * ldc), l, w, c40, c41);
            AddPartialRow(ref Unsafe.Add(ref c, 5 * ldc), l, w, c50, c51);
            AddPartialRow(ref Unsafe.Add(ref c, 6 * ldc), l, w, c60, c61);
            AddPartialRow(ref Unsafe.Add(ref c, 7 * ldc), l, w, c70, c71);
        }
    }

    /// <summary>Adds the first <paramref name="w"/> lanes of (v0, v1) to a row of C.</summary>
    private static void AddPartialRow(ref T c, int l, int w, TV v0, TV v1)
    {
        Span<T> tmp = stackalloc T[2 * 64 / Unsafe.SizeOf<T>()];
        ref T t = ref MemoryMarshal.GetReference(tmp);
        TOps.Store(v0, ref t);
        TOps.Store(v1, ref Unsafe.Add(ref t, l));
        for (int j = 0; j < w; j++) Unsafe.Add(ref c, j) += tmp[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow(ref T c, int l, TV v0, TV v1)
    {
        TOps.Store(TOps.Add(TOps.Load(ref c), v0), ref c);
        ref T c1 = ref Unsafe.Add(ref c, l);
        TOps.Store(TOps.Add(TOps.Load(ref c1), v1), ref c1);
    }

    /// <summary>24 vectors of columns of one row times B, in registers (AVX-512 has 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowTimes24(int k, ref T a, int aks, ref T row, int ldb, ref T c)
    {
        int l = L;
        TV s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero, s4 = TOps.Zero, s5 = TOps.Zero, s6 = TOps.Zero, s7 = TOps.Zero;
        TV s8 = TOps.Zero, s9 = TOps.Zero, s10 = TOps.Zero, s11 = TOps.Zero, s12 = TOps.Zero, s13 = TOps.Zero, s14 = TOps.Zero, s15 = TOps.Zero;
        TV s16 = TOps.Zero, s17 = TOps.Zero, s18 = TOps.Zero, s19 = TOps.Zero, s20 = TOps.Zero, s21 = TOps.Zero, s22 = TOps.Zero, s23 = TOps.Zero;
        for (int p = 0; p < k; p++)
        {
            TV x = TOps.Splat(Unsafe.Add(ref a, p * aks));
            s0 = TOps.Fma(x, TOps.Load(ref row), s0);
            s1 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, l)), s1);
            s2 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 2 * l)), s2);
            s3 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 3 * l)), s3);
            s4 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 4 * l)), s4);
            s5 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 5 * l)), s5);
            s6 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 6 * l)), s6);
            s7 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 7 * l)), s7);
            s8 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 8 * l)), s8);
            s9 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 9 * l)), s9);
            s10 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 10 * l)), s10);
            s11 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 11 * l)), s11);
            s12 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 12 * l)), s12);
            s13 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 13 * l)), s13);
            s14 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 14 * l)), s14);
            s15 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 15 * l)), s15);
            s16 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 16 * l)), s16);
            s17 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 17 * l)), s17);
            s18 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 18 * l)), s18);
            s19 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 19 * l)), s19);
            s20 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 20 * l)), s20);
            s21 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 21 * l)), s21);
            s22 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 22 * l)), s22);
            s23 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 23 * l)), s23);
            row = ref Unsafe.Add(ref row, ldb);
        }
        AddTo(ref c, 0, s0); AddTo(ref c, l, s1); AddTo(ref c, 2 * l, s2); AddTo(ref c, 3 * l, s3);
        AddTo(ref c, 4 * l, s4); AddTo(ref c, 5 * l, s5); AddTo(ref c, 6 * l, s6); AddTo(ref c, 7 * l, s7);
        AddTo(ref c, 8 * l, s8); AddTo(ref c, 9 * l, s9); AddTo(ref c, 10 * l, s10); AddTo(ref c, 11 * l, s11);
        AddTo(ref c, 12 * l, s12); AddTo(ref c, 13 * l, s13); AddTo(ref c, 14 * l, s14); AddTo(ref c, 15 * l, s15);
        AddTo(ref c, 16 * l, s16); AddTo(ref c, 17 * l, s17); AddTo(ref c, 18 * l, s18); AddTo(ref c, 19 * l, s19);
        AddTo(ref c, 20 * l, s20); AddTo(ref c, 21 * l, s21); AddTo(ref c, 22 * l, s22); AddTo(ref c, 23 * l, s23);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo(ref T c, int offset, TV sum)
    {
        ref T at = ref Unsafe.Add(ref c, offset);
        TOps.Store(TOps.Add(TOps.Load(ref at), sum), ref at);
    }

    /// <summary>
    /// One row times a K×N matrix: 8 (then 4) independent vector accumulators stream each row of B, enough chains to
    /// keep both FMA units busy where 4 would wait on each other's latency; with 32 vector registers (AVX-512), 24 at
    /// once first, so B is read in fewer, longer sweeps (a GRU(128)'s 384 gate columns in one). Each column is summed
    /// over p in order whichever loop takes it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowTimesMatrix(int k, int n, ref T a, int aks, ref T B, int ldb, ref T c)
    {
        int l = L, j = 0;
        if (Wide)
            for (; j + 24 * l <= n; j += 24 * l) RowTimes24(k, ref a, aks, ref Unsafe.Add(ref B, j), ldb, ref Unsafe.Add(ref c, j));
        for (; j + 8 * l <= n; j += 8 * l)
        {
            TV s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero, s4 = TOps.Zero, s5 = TOps.Zero, s6 = TOps.Zero, s7 = TOps.Zero;
            ref T row = ref Unsafe.Add(ref B, j);
            for (int p = 0; p < k; p++)
            {
                TV x = TOps.Splat(Unsafe.Add(ref a, p * aks));
                s0 = TOps.Fma(x, TOps.Load(ref row), s0);
                s1 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, l)), s1);
                s2 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 2 * l)), s2);
                s3 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 3 * l)), s3);
                s4 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 4 * l)), s4);
                s5 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 5 * l)), s5);
                s6 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 6 * l)), s6);
                s7 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 7 * l)), s7);
                row = ref Unsafe.Add(ref row, ldb);
            }
            ref T cj = ref Unsafe.Add(ref c, j);
            AddTo(ref cj, 0, s0); AddTo(ref cj, l, s1); AddTo(ref cj, 2 * l, s2); AddTo(ref cj, 3 * l, s3);
            AddTo(ref cj, 4 * l, s4); AddTo(ref cj, 5 * l, s5); AddTo(ref cj, 6 * l, s6); AddTo(ref cj, 7 * l, s7);
        }
        for (; j + 4 * l <= n; j += 4 * l)
        {
            TV s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero;
            ref T bp = ref Unsafe.Add(ref B, j);
            for (int p = 0; p < k; p++)
            {
                TV x = TOps.Splat(Unsafe.Add(ref a, p * aks));
                ref T row = ref Unsafe.Add(ref bp, p * ldb);
                s0 = TOps.Fma(x, TOps.Load(ref row), s0);
                s1 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, l)), s1);
                s2 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 2 * l)), s2);
                s3 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, 3 * l)), s3);
            }
            ref T cj = ref Unsafe.Add(ref c, j);
            AddTo(ref cj, 0, s0); AddTo(ref cj, l, s1); AddTo(ref cj, 2 * l, s2); AddTo(ref cj, 3 * l, s3);
        }
        // Each column is one chain of FMAs over p, as in every other loop here and in the micro-kernels.
        for (; j + 2 * l <= n; j += 2 * l)
        {
            TV s0 = TOps.Zero, s1 = TOps.Zero;
            ref T bp = ref Unsafe.Add(ref B, j);
            for (int p = 0; p < k; p++)
            {
                TV x = TOps.Splat(Unsafe.Add(ref a, p * aks));
                ref T row = ref Unsafe.Add(ref bp, p * ldb);
                s0 = TOps.Fma(x, TOps.Load(ref row), s0);
                s1 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref row, l)), s1);
            }
            ref T cj = ref Unsafe.Add(ref c, j);
            AddTo(ref cj, 0, s0); AddTo(ref cj, l, s1);
        }
        for (; j + l <= n; j += l)
        {
            TV s0 = TOps.Zero;
            ref T bp = ref Unsafe.Add(ref B, j);
            for (int p = 0; p < k; p++)
                s0 = TOps.Fma(TOps.Splat(Unsafe.Add(ref a, p * aks)), TOps.Load(ref Unsafe.Add(ref bp, p * ldb)), s0);
            AddTo(ref c, j, s0);
        }
        if (j < n)
        {
            // Fewer than one vector of columns left: overlap the last full vector, adding only the new columns.
            int start = n - l;
            TV s0 = TOps.Zero;
            ref T bp = ref Unsafe.Add(ref B, start);
            for (int p = 0; p < k; p++)
                s0 = TOps.Fma(TOps.Splat(Unsafe.Add(ref a, p * aks)), TOps.Load(ref Unsafe.Add(ref bp, p * ldb)), s0);
            Span<T> tmp = stackalloc T[64 / Unsafe.SizeOf<T>()];
            TOps.Store(s0, ref MemoryMarshal.GetReference(tmp));
            for (int q = j; q < n; q++) Unsafe.Add(ref c, q) += tmp[q - start];
        }
    }

    /// <summary>
    /// Few output columns: each output is a dot product along K, vectorised along K,
    /// computed in 4×6 tiles (24 accumulators) where AVX-512 has the registers, else 4×3 (12).
    /// </summary>
    [SkipLocalsInit] // the stack copy of B is written whole before it is read
    private static void DotPath(bool transA, bool transB, int m, int n, int k, ref T A, int lda, ref T B, int ldb, ref T C, int ldc)
    {
        // A small B (a policy head acting on one row) is transposed on the stack: renting a pooled array costs more than the product.
        const int StackElements = 4096;
        if (!transB && !transA && n * k <= StackElements)
        {
            Span<T> small = stackalloc T[n * k];
            Transpose(ref B, ldb, k, n, ref MemoryMarshal.GetReference(small));
            DotTiles(m, n, k, ref A, lda, ref MemoryMarshal.GetReference(small), k, ref C, ldc);
            return;
        }
        T[]? at = null, bt = null;
        try
        {
            if (transA)
            {
                at = ArrayPool<T>.Shared.Rent(m * k);
                Transpose(ref A, lda, k, m, ref at[0]);
                A = ref at[0];
                lda = k;
            }
            if (!transB)
            {
                bt = ArrayPool<T>.Shared.Rent(n * k);
                Transpose(ref B, ldb, k, n, ref bt[0]);
                B = ref bt[0];
                ldb = k;
            }
            DotTiles(m, n, k, ref A, lda, ref B, ldb, ref C, ldc);
        }
        finally
        {
            if (at is not null) ArrayPool<T>.Shared.Return(at);
            if (bt is not null) ArrayPool<T>.Shared.Return(bt);
        }
    }

    /// <summary>C += A·Bᵀ for A [m, k] and B [n, k], both rows along K, in 4×6 or 4×3 tiles (a single row in 1×3 tiles).</summary>
    private static void DotTiles(int m, int n, int k, ref T A, int lda, ref T B, int ldb, ref T C, int ldc)
    {
        for (int i = 0; i < m; i += 4)
        {
            int mr = Math.Min(4, m - i);
            int j0 = 0;
            if (Wide && mr > 1)
                for (; j0 + 6 <= n; j0 += 6)
                    DotTile6(k, ref Unsafe.Add(ref A, i * lda), lda, mr, ref Unsafe.Add(ref B, j0 * ldb), ldb, ref Unsafe.Add(ref C, i * ldc + j0), ldc);
            for (int j = j0; j < n; j += 3)
            {
                if (mr == 1) DotRow(k, ref Unsafe.Add(ref A, i * lda), ref Unsafe.Add(ref B, j * ldb), ldb, Math.Min(3, n - j), ref Unsafe.Add(ref C, i * ldc + j));
                else DotTile(k, ref Unsafe.Add(ref A, i * lda), lda, mr, ref Unsafe.Add(ref B, j * ldb), ldb, Math.Min(3, n - j), ref Unsafe.Add(ref C, i * ldc + j), ldc);
            }
        }
    }

    /// <summary>One row of <see cref="DotTile"/>: the same operations per output, in the same order, without the three rows it would discard.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRow(int k, ref T a, ref T b, int ldb, int nc, ref T c)
    {
        ref T b0 = ref b;
        ref T b1 = ref Unsafe.Add(ref b, (nc > 1 ? 1 : 0) * ldb);
        ref T b2 = ref Unsafe.Add(ref b, (nc > 2 ? 2 : 0) * ldb);
        TV s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero;
        int l = L, p = 0;
        for (; p + l <= k; p += l)
        {
            TV x = TOps.Load(ref Unsafe.Add(ref a, p));
            s0 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref b0, p)), s0);
            s1 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref b1, p)), s1);
            s2 = TOps.Fma(x, TOps.Load(ref Unsafe.Add(ref b2, p)), s2);
        }
        T t0 = TOps.Sum(s0), t1 = TOps.Sum(s1), t2 = TOps.Sum(s2);
        for (; p < k; p++)
        {
            T x = Unsafe.Add(ref a, p);
            t0 += x * Unsafe.Add(ref b0, p);
            t1 += x * Unsafe.Add(ref b1, p);
            t2 += x * Unsafe.Add(ref b2, p);
        }
        c += t0;
        if (nc > 1) Unsafe.Add(ref c, 1) += t1;
        if (nc > 2) Unsafe.Add(ref c, 2) += t2;
    }

    /// <summary>
    /// <see cref="DotTile"/> for 4 rows × 6 columns where 32 vector registers hold 24 accumulators (AVX-512): A's rows are
    /// read once for six columns instead of twice for three. Each output is computed as in <see cref="DotTile"/> and
    /// <see cref="DotRow"/> (one chain of FMAs along K, the vector summed by <c>Sum</c>, then the tail in order), so
    /// which tile takes a row or a column never changes its bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile6(int k, ref T a, int lda, int mr, ref T b, int ldb, ref T c, int ldc)
    {
        ref T a0 = ref a;
        ref T a1 = ref Unsafe.Add(ref a, lda);
        ref T a2 = ref Unsafe.Add(ref a, (mr > 2 ? 2 : 0) * lda);
        ref T a3 = ref Unsafe.Add(ref a, (mr > 3 ? 3 : 0) * lda);
        ref T b0 = ref b;
        ref T b1 = ref Unsafe.Add(ref b, ldb);
        ref T b2 = ref Unsafe.Add(ref b, 2 * ldb);
        ref T b3 = ref Unsafe.Add(ref b, 3 * ldb);
        ref T b4 = ref Unsafe.Add(ref b, 4 * ldb);
        ref T b5 = ref Unsafe.Add(ref b, 5 * ldb);
        TV s00 = TOps.Zero, s01 = TOps.Zero, s02 = TOps.Zero, s03 = TOps.Zero, s04 = TOps.Zero, s05 = TOps.Zero;
        TV s10 = TOps.Zero, s11 = TOps.Zero, s12 = TOps.Zero, s13 = TOps.Zero, s14 = TOps.Zero, s15 = TOps.Zero;
        TV s20 = TOps.Zero, s21 = TOps.Zero, s22 = TOps.Zero, s23 = TOps.Zero, s24 = TOps.Zero, s25 = TOps.Zero;
        TV s30 = TOps.Zero, s31 = TOps.Zero, s32 = TOps.Zero, s33 = TOps.Zero, s34 = TOps.Zero, s35 = TOps.Zero;
        int l = L, p = 0;
        for (; p + l <= k; p += l)
        {
            TV y0 = TOps.Load(ref Unsafe.Add(ref b0, p)), y1 = TOps.Load(ref Unsafe.Add(ref b1, p)), y2 = TOps.Load(ref Unsafe.Add(ref b2, p));
            TV y3 = TOps.Load(ref Unsafe.Add(ref b3, p)), y4 = TOps.Load(ref Unsafe.Add(ref b4, p)), y5 = TOps.Load(ref Unsafe.Add(ref b5, p));
            TV x = TOps.Load(ref Unsafe.Add(ref a0, p));
            s00 = TOps.Fma(x, y0, s00); s01 = TOps.Fma(x, y1, s01); s02 = TOps.Fma(x, y2, s02); s03 = TOps.Fma(x, y3, s03); s04 = TOps.Fma(x, y4, s04); s05 = TOps.Fma(x, y5, s05);
            x = TOps.Load(ref Unsafe.Add(ref a1, p));
            s10 = TOps.Fma(x, y0, s10); s11 = TOps.Fma(x, y1, s11); s12 = TOps.Fma(x, y2, s12); s13 = TOps.Fma(x, y3, s13); s14 = TOps.Fma(x, y4, s14); s15 = TOps.Fma(x, y5, s15);
            x = TOps.Load(ref Unsafe.Add(ref a2, p));
            s20 = TOps.Fma(x, y0, s20); s21 = TOps.Fma(x, y1, s21); s22 = TOps.Fma(x, y2, s22); s23 = TOps.Fma(x, y3, s23); s24 = TOps.Fma(x, y4, s24); s25 = TOps.Fma(x, y5, s25);
            x = TOps.Load(ref Unsafe.Add(ref a3, p));
            s30 = TOps.Fma(x, y0, s30); s31 = TOps.Fma(x, y1, s31); s32 = TOps.Fma(x, y2, s32); s33 = TOps.Fma(x, y3, s33); s34 = TOps.Fma(x, y4, s34); s35 = TOps.Fma(x, y5, s35);
        }
        Span<T> sums = [TOps.Sum(s00), TOps.Sum(s01), TOps.Sum(s02), TOps.Sum(s03), TOps.Sum(s04), TOps.Sum(s05),
                        TOps.Sum(s10), TOps.Sum(s11), TOps.Sum(s12), TOps.Sum(s13), TOps.Sum(s14), TOps.Sum(s15),
                        TOps.Sum(s20), TOps.Sum(s21), TOps.Sum(s22), TOps.Sum(s23), TOps.Sum(s24), TOps.Sum(s25),
                        TOps.Sum(s30), TOps.Sum(s31), TOps.Sum(s32), TOps.Sum(s33), TOps.Sum(s34), TOps.Sum(s35)];
        for (int r = 0; r < mr; r++)
        {
            ref T ar = ref Unsafe.Add(ref a, r * lda);
            for (int q = 0; q < 6; q++)
            {
                ref T bq = ref Unsafe.Add(ref b, q * ldb);
                T t = sums[r * 6 + q];
                for (int pp = p; pp < k; pp++) t += Unsafe.Add(ref ar, pp) * Unsafe.Add(ref bq, pp);
                Unsafe.Add(ref c, r * ldc + q) += t;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotTile(int k, ref T a, int lda, int mr, ref T b, int ldb, int nc, ref T c, int ldc)
    {
        ref T a0 = ref a;
        ref T a1 = ref Unsafe.Add(ref a, (mr > 1 ? 1 : 0) * lda);
        ref T a2 = ref Unsafe.Add(ref a, (mr > 2 ? 2 : 0) * lda);
        ref T a3 = ref Unsafe.Add(ref a, (mr > 3 ? 3 : 0) * lda);
        ref T b0 = ref b;
        ref T b1 = ref Unsafe.Add(ref b, (nc > 1 ? 1 : 0) * ldb);
        ref T b2 = ref Unsafe.Add(ref b, (nc > 2 ? 2 : 0) * ldb);
        TV s00 = TOps.Zero, s01 = TOps.Zero, s02 = TOps.Zero, s10 = TOps.Zero, s11 = TOps.Zero, s12 = TOps.Zero;
        TV s20 = TOps.Zero, s21 = TOps.Zero, s22 = TOps.Zero, s30 = TOps.Zero, s31 = TOps.Zero, s32 = TOps.Zero;
        int l = L, p = 0;
        for (; p + l <= k; p += l)
        {
            TV y0 = TOps.Load(ref Unsafe.Add(ref b0, p)), y1 = TOps.Load(ref Unsafe.Add(ref b1, p)), y2 = TOps.Load(ref Unsafe.Add(ref b2, p));
            TV x = TOps.Load(ref Unsafe.Add(ref a0, p));
            s00 = TOps.Fma(x, y0, s00); s01 = TOps.Fma(x, y1, s01); s02 = TOps.Fma(x, y2, s02);
            x = TOps.Load(ref Unsafe.Add(ref a1, p));
            s10 = TOps.Fma(x, y0, s10); s11 = TOps.Fma(x, y1, s11); s12 = TOps.Fma(x, y2, s12);
            x = TOps.Load(ref Unsafe.Add(ref a2, p));
            s20 = TOps.Fma(x, y0, s20); s21 = TOps.Fma(x, y1, s21); s22 = TOps.Fma(x, y2, s22);
            x = TOps.Load(ref Unsafe.Add(ref a3, p));
            s30 = TOps.Fma(x, y0, s30); s31 = TOps.Fma(x, y1, s31); s32 = TOps.Fma(x, y2, s32);
        }
        Span<T> sums = [TOps.Sum(s00), TOps.Sum(s01), TOps.Sum(s02), TOps.Sum(s10), TOps.Sum(s11), TOps.Sum(s12),
                        TOps.Sum(s20), TOps.Sum(s21), TOps.Sum(s22), TOps.Sum(s30), TOps.Sum(s31), TOps.Sum(s32)];
        for (; p < k; p++)
        {
            T y0 = Unsafe.Add(ref b0, p), y1 = Unsafe.Add(ref b1, p), y2 = Unsafe.Add(ref b2, p);
            T x0 = Unsafe.Add(ref a0, p), x1 = Unsafe.Add(ref a1, p), x2 = Unsafe.Add(ref a2, p), x3 = Unsafe.Add(ref a3, p);
            sums[0] += x0 * y0; sums[1] += x0 * y1; sums[2] += x0 * y2;
            sums[3] += x1 * y0; sums[4] += x1 * y1; sums[5] += x1 * y2;
            sums[6] += x2 * y0; sums[7] += x2 * y1; sums[8] += x2 * y2;
            sums[9] += x3 * y0; sums[10] += x3 * y1; sums[11] += x3 * y2;
        }
        for (int r = 0; r < mr; r++)
            for (int q = 0; q < nc; q++)
                Unsafe.Add(ref c, r * ldc + q) += sums[r * 3 + q];
    }
}
