using MetaRL.Engine;
using MetaRL.Engine.Kernels;

namespace MetaRL.Engine.Tests;

/// <summary>
/// Tests that change process-wide kernel settings (the forced SIMD path, GEMM's thread count) run alone: a test of
/// another class running beside them would compute part of its work on another path, and its bit-identity checks
/// (same seed, same result) would fail at random.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelSettingsCollection
{
    public const string Name = "process-wide kernel settings";
}

/// <summary>Every kernel path this processor supports against a naive reference, on awkward shapes.</summary>
[Collection(KernelSettingsCollection.Name)]
public class KernelTests
{
    public static TheoryData<SimdLevel> Levels()
    {
        var data = new TheoryData<SimdLevel>();
        foreach (var l in Simd.Supported) data.Add(l);
        return data;
    }

    private static readonly int[] Awkward = [1, 2, 7, 33, 138, 385];

    private static float[] Random(Rng rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.Uniform(-1, 1);
        return a;
    }

    private static double[] Reference(bool ta, bool tb, int m, int n, int k, float[] a, int lda, float[] b, int ldb)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)a[ta ? p * lda + i : i * lda + p] * b[tb ? j * ldb + p : p * ldb + j];
                c[i * n + j] = s;
            }
        return c;
    }

    private static void CheckGemm(SimdLevel level, bool ta, bool tb, int m, int n, int k, bool accumulate, int pad = 0)
    {
        var rng = new Rng((ulong)(m * 1000003 + n * 1009 + k * 7 + (ta ? 1 : 0) + (tb ? 2 : 0)));
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = Random(rng, (ta ? k : m) * lda);
        var b = Random(rng, (tb ? n : k) * ldb);
        var c = Random(rng, m * ldc);
        var c0 = (float[])c.Clone();
        Gemm.Multiply<float>(level, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        var expected = Reference(ta, tb, m, n, k, a, lda, b, ldb);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double e = expected[i * n + j] + (accumulate ? c0[i * ldc + j] : 0);
                double tol = 1e-5 * (k + 1) + 1e-5 * Math.Abs(e);
                double got = c[i * ldc + j];
                if (!(Math.Abs(got - e) <= tol))
                    Assert.Fail($"{level} gemm ta={ta} tb={tb} {m}x{k}·{k}x{n}: C[{i},{j}] = {got}, expected {e}");
            }
            for (int j = n; j < ldc; j++)
                Assert.True(c[i * ldc + j] == c0[i * ldc + j], $"{level}: wrote outside C at row {i}, column {j}");
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_all_paths_match_reference_on_awkward_shapes(SimdLevel level)
    {
        foreach (int m in Awkward)
            foreach (int n in Awkward)
                foreach (int k in new[] { 1, 7, 33, 138 })
                {
                    if ((long)m * n * k > 3_000_000) continue;
                    CheckGemm(level, false, false, m, n, k, accumulate: false);
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void A_row_alone_gets_the_same_bits_as_within_a_batch_for_narrow_outputs(SimdLevel level)
    {
        // Outputs narrower than a vector (a policy head): one slot acting alone and the slots of a batch agree exactly.
        int lanes = level switch { SimdLevel.Vector512 => 16, SimdLevel.Vector256 => 8, SimdLevel.Vector128 => 4, _ => int.MaxValue };
        foreach (var (n, k) in new[] { (2, 128), (1, 33), (5, 300), (3, 17), (7, 4096), (6, 384), (13, 77) })
        {
            if (n >= lanes) continue;
            var rng = new Rng((ulong)(n * 31 + k));
            const int m = 6;
            var a = Random(rng, m * k);
            var b = Random(rng, k * n);
            var batch = Random(rng, m * n);
            var alone = (float[])batch.Clone();
            Gemm.Multiply<float>(level, false, false, m, n, k, a, k, b, n, batch, n, accumulate: true);
            for (int i = 0; i < m; i++)
                Gemm.Multiply<float>(level, false, false, 1, n, k, a.AsSpan(i * k, k), k, b, n, alone.AsSpan(i * n, n), n, accumulate: true);
            Assert.Equal(batch, alone);
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Where_the_engine_says_so_a_transposed_B_gives_the_same_bits(SimdLevel level)
    {
        using var forced = Simd.Force(level);
        int exact = 0;
        foreach (var (m, n, k) in new[] { (1, 2, 128), (1, 1, 33), (3, 5, 300), (1, 7, 64), (1, 2, 3), (1, 40, 64), (6, 3, 17) })
        {
            if (!Gemm.TransposedBIsExact<float>(n, k)) continue;
            exact++;
            var rng = new Rng((ulong)(m * 7 + n * 31 + k));
            var a = Random(rng, m * k);
            var b = Random(rng, k * n);
            var bt = new float[n * k];
            for (int p = 0; p < k; p++)
                for (int j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
            var c = Random(rng, m * n);
            var ct = (float[])c.Clone();
            Gemm.Multiply<float>(level, false, false, m, n, k, a, k, b, n, c, n, accumulate: true);
            Gemm.Multiply<float>(level, false, true, m, n, k, a, k, bt, k, ct, n, accumulate: true);
            Assert.Equal(c, ct);
        }
        Assert.True(exact >= 3, $"{level}: only {exact} shapes were narrow enough to check");
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_transposes_accumulate_and_leading_dimensions(SimdLevel level)
    {
        foreach (var (m, n, k) in new[] { (1, 385, 33), (33, 7, 138), (7, 33, 385), (64, 6, 384), (138, 2, 7), (2, 138, 1), (385, 17, 5) })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    CheckGemm(level, ta, tb, m, n, k, accumulate: true);
                    CheckGemm(level, ta, tb, m, n, k, accumulate: false, pad: 3);
                }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Gemm_rl_shapes(SimdLevel level)
    {
        CheckGemm(level, false, false, 64, 384, 138, false);
        CheckGemm(level, false, false, 1, 384, 138, false);
        // One row across every column loop of the matrix-vector kernel (8, 4 and 1 vectors, then a partial one).
        CheckGemm(level, false, false, 1, 213, 50, true);
        CheckGemm(level, true, false, 1, 213, 50, false, pad: 2);
        CheckGemm(level, false, false, 64, 6, 384, false);
        CheckGemm(level, true, false, 128, 384, 600, false);
        CheckGemm(level, false, true, 16, 128, 384, true);
        // Weight gradients of a narrow output layer, Hᵀ·Δ with a wide H and few columns (computed as (Δᵀ·H)ᵀ).
        CheckGemm(level, true, false, 64, 2, 2000, true);
        CheckGemm(level, true, true, 64, 1, 500, false);
        CheckGemm(level, true, false, 70, 3, 257, false, pad: 5);
    }

    [Fact]
    public void Gemm_double_matches_reference()
    {
        var rng = new Rng(5);
        int m = 13, n = 37, k = 29;
        var a = new double[m * k];
        var b = new double[k * n];
        for (int i = 0; i < a.Length; i++) a[i] = rng.Normal();
        for (int i = 0; i < b.Length; i++) b[i] = rng.Normal();
        foreach (var level in Simd.Supported)
        {
            var c = new double[m * n];
            Gemm.Multiply<double>(level, false, false, m, n, k, a, k, b, n, c, n, false);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
                    Assert.True(Math.Abs(c[i * n + j] - s) < 1e-12, $"{level}: {c[i * n + j]} vs {s}");
                }
        }
    }

    /// <summary>
    /// A row of A·op(B) is the same bits however many rows share the product (one trial alone, or among many): what lets
    /// rollouts be cut into pieces of any size and played anywhere with the same result. Every SIMD level, shapes drawn
    /// across every path (one row, narrow, wide, deeper than a depth block).
    /// </summary>
    [Fact]
    public void Gemm_rows_do_not_depend_on_how_many_rows_share_the_product()
    {
        var rnd = new Random(7);
        foreach (var level in Simd.Supported)
            for (int it = 0; it < 400; it++)
            {
                int n = rnd.Next(1, 80), k = rnd.Next(1, 600), m = rnd.Next(2, 30);
                bool transB = rnd.Next(2) == 0;
                var a = Enumerable.Range(0, m * k).Select(_ => (float)rnd.NextDouble() - 0.5f).ToArray();
                var b = Enumerable.Range(0, n * k).Select(_ => (float)rnd.NextDouble() - 0.5f).ToArray();
                var all = new float[m * n];
                Gemm.Multiply<float>(level, false, transB, m, n, k, a, k, b, transB ? k : n, all, n, accumulate: false);
                int few = rnd.Next(1, m);
                var part = new float[few * n];
                Gemm.Multiply<float>(level, false, transB, few, n, k, a, k, b, transB ? k : n, part, n, accumulate: false);
                for (int j = 0; j < part.Length; j++)
                    Assert.True(BitConverter.SingleToInt32Bits(part[j]) == BitConverter.SingleToInt32Bits(all[j]),
                        $"{level}: m={few} of {m}, n={n}, k={k}, transB={transB}: element {j} is {part[j]}, {all[j]} among {m} rows");
            }
    }

    [Fact]
    public void Gemm_rejects_buffers_too_small()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Multiply<float>(false, false, 4, 4, 4, new float[15], 4, new float[16], 4, new float[16], 4, false));
        Assert.Contains("A has 15 elements", ex.Message);
    }

    [Theory, MemberData(nameof(Levels))]
    public void Elementwise_paths_match_scalar(SimdLevel level)
    {
        foreach (int n in Awkward)
        {
            var rng = new Rng((ulong)n);
            var a = Random(rng, n);
            var b = Random(rng, n);
            var d = new float[n];
            var expected = new float[n];
            using (Simd.Force(level))
            {
                Elementwise.Add<float>(a, b, d);
                for (int i = 0; i < n; i++) Assert.Equal(a[i] + b[i], d[i]);
                Elementwise.Sub<float>(a, b, d);
                for (int i = 0; i < n; i++) Assert.Equal(a[i] - b[i], d[i]);
                Elementwise.Mul<float>(a, b, d);
                for (int i = 0; i < n; i++) Assert.Equal(a[i] * b[i], d[i]);
                Elementwise.Div<float>(a, b, d);
                for (int i = 0; i < n; i++) Assert.Equal(a[i] / b[i], d[i]);
                Elementwise.Relu<float>(a, d);
                for (int i = 0; i < n; i++) Assert.Equal(Math.Max(a[i], 0f), d[i]);
                Elementwise.PositiveMask<float>(a, b, d);
                for (int i = 0; i < n; i++) Assert.Equal(a[i] > 0 ? b[i] : 0f, d[i]);
                Elementwise.ScaleShift<float>(a, 1.5f, -0.25f, d);
                for (int i = 0; i < n; i++) Assert.Equal(a[i] * 1.5f - 0.25f, d[i], 1e-6f);
                var y = (float[])b.Clone();
                Elementwise.Axpy<float>(0.75f, a, y);
                for (int i = 0; i < n; i++) Assert.Equal(b[i] + 0.75f * a[i], y[i], 1e-6f);
                var sums = new float[7];
                int rows = n / 7;
                Elementwise.SumRowsInto<float>(a.AsSpan(0, rows * 7), rows, 7, sums);
                for (int j = 0; j < 7; j++)
                {
                    double s = 0;
                    for (int i = 0; i < rows; i++) s += a[i * 7 + j];
                    Assert.Equal(s, sums[j], 1e-4);
                }
            }
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Adam_kernel_matches_formula(SimdLevel level)
    {
        foreach (int n in Awkward)
        {
            var rng = new Rng((ulong)n + 99);
            var p = Random(rng, n);
            var g = Random(rng, n);
            var m = Random(rng, n);
            var v = Random(rng, n).Select(Math.Abs).ToArray();
            var (p0, m0, v0) = ((float[])p.Clone(), (float[])m.Clone(), (float[])v.Clone());
            using (Simd.Force(level))
                Elementwise.AdamStep<float>(p, g, m, v, 0.9f, 0.999f, 0.01f, 1e-8f);
            for (int i = 0; i < n; i++)
            {
                double mi = 0.9 * m0[i] + 0.1 * g[i];
                double vi = 0.999 * v0[i] + 0.001 * g[i] * g[i];
                double pi = p0[i] - 0.01 * mi / (Math.Sqrt(vi) + 1e-8);
                Assert.Equal(mi, m[i], 1e-6);
                Assert.Equal(vi, v[i], 1e-6);
                Assert.Equal(pi, p[i], 1e-5);
            }
        }
    }

    [Fact]
    public void Forcing_an_unsupported_level_is_an_error_naming_it()
    {
        if (Simd.Best == SimdLevel.Vector512) return; // every level is supported here
        var ex = Assert.Throws<PlatformNotSupportedException>(() => Simd.Force(SimdLevel.Vector512));
        Assert.Contains("Vector512", ex.Message);
    }

    [Fact]
    public void Ops_agree_across_levels()
    {
        // A small network forward and backward gives the same numbers on every path (to rounding).
        float[]? first = null;
        foreach (var level in Simd.Supported)
        {
            using var _ = Simd.Force(level);
            var rng = new Rng(3);
            var x = Tensor.RandN<float>(rng, 1, 37, 19);
            var w = Tensor.Parameter(Tensor.RandN<float>(rng, 0.3, 19, 6));
            var y = Ops.Sum(Ops.Tanh(Ops.MatMul(x, w)));
            y.Backward();
            var grad = w.Grad!.ToArray();
            if (first is null) first = grad;
            else for (int i = 0; i < grad.Length; i++) Assert.Equal(first[i], grad[i], 1e-4f);
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Fused_gru_matches_composite_on_every_path(SimdLevel level)
    {
        using var _ = Simd.Force(level);
        foreach (int hidden in new[] { 5, 16, 37 })
        {
            int steps = 6, batch = 3, input = 4;
            var rng = new Rng((ulong)hidden);
            var inputs = new[]
            {
                Tensor.RandN<float>(rng, 1, steps, batch, input), Tensor.RandN<float>(rng, 1, batch, hidden),
                Tensor.RandN<float>(rng, 0.5, input, 3 * hidden), Tensor.RandN<float>(rng, 0.5, hidden, 3 * hidden),
                Tensor.RandN<float>(rng, 0.5, 3 * hidden), Tensor.RandN<float>(rng, 0.5, 3 * hidden),
            };
            var mask = Tensor.Ones<float>(steps, batch);
            mask[3, 1] = 0;
            var weights = Tensor.RandN<float>(rng, 1, steps, batch, hidden);
            (float[] Out, float[][] Grads) Run(bool fused)
            {
                var leaves = inputs.Select(t => Tensor.Parameter(t.Clone())).ToArray();
                var y = fused
                    ? Ops.GruSequence(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], mask)
                    : Ops.GruSequenceComposite(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], mask);
                var g = Autodiff.Autograd.Grad([Ops.Sum(y * weights)], leaves);
                return (y.ToArray(), g.Select(t => t!.ToArray()).ToArray());
            }
            var f = Run(true);
            var c = Run(false);
            for (int i = 0; i < f.Out.Length; i++) Assert.True(Math.Abs(f.Out[i] - c.Out[i]) < 1e-5, $"{level} H={hidden}: output {i}: {f.Out[i]} vs {c.Out[i]}");
            for (int k = 0; k < f.Grads.Length; k++)
                for (int i = 0; i < f.Grads[k].Length; i++)
                    Assert.True(Math.Abs(f.Grads[k][i] - c.Grads[k][i]) < 1e-4 * (1 + Math.Abs(c.Grads[k][i])),
                        $"{level} H={hidden}: gradient of input {k}, element {i}: {f.Grads[k][i]} vs {c.Grads[k][i]}");
        }
    }

    [Theory, MemberData(nameof(Levels))]
    public void Fused_lstm_matches_composite_on_every_path(SimdLevel level)
    {
        using var _ = Simd.Force(level);
        foreach (int hidden in new[] { 5, 16, 37 })
        {
            int steps = 6, batch = 3, input = 4;
            var rng = new Rng((ulong)hidden + 100);
            var inputs = new[]
            {
                Tensor.RandN<float>(rng, 1, steps, batch, input), Tensor.RandN<float>(rng, 1, batch, hidden), Tensor.RandN<float>(rng, 1, batch, hidden),
                Tensor.RandN<float>(rng, 0.5, input, 4 * hidden), Tensor.RandN<float>(rng, 0.5, hidden, 4 * hidden),
                Tensor.RandN<float>(rng, 0.5, 4 * hidden), Tensor.RandN<float>(rng, 0.5, 4 * hidden),
            };
            var mask = Tensor.Ones<float>(steps, batch);
            mask[3, 1] = 0;
            mask[0, 2] = 0;
            var wOut = Tensor.RandN<float>(rng, 1, steps, batch, hidden);
            var wH = Tensor.RandN<float>(rng, 1, batch, hidden);
            var wC = Tensor.RandN<float>(rng, 1, batch, hidden);
            (float[] Out, float[] H, float[] C, float[][] Grads) Run(bool fused)
            {
                var leaves = inputs.Select(t => Tensor.Parameter(t.Clone())).ToArray();
                var (o, h, c) = fused
                    ? Ops.LstmSequence(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], leaves[6], mask)
                    : Ops.LstmSequenceComposite(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], leaves[6], mask);
                // The loss reads every output, the final h and the final c, so each reaches the gradients.
                var loss = Ops.Sum(o * wOut) + Ops.Sum(h * wH) + Ops.Sum(c * wC);
                var g = Autodiff.Autograd.Grad([loss], leaves);
                return (o.ToArray(), h.ToArray(), c.ToArray(), g.Select(t => t!.ToArray()).ToArray());
            }
            var f = Run(true);
            var r = Run(false);
            foreach (var (a, b, what) in new[] { (f.Out, r.Out, "output"), (f.H, r.H, "final h"), (f.C, r.C, "final c") })
                for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) < 1e-5, $"{level} H={hidden}: {what} {i}: {a[i]} vs {b[i]}");
            for (int k = 0; k < f.Grads.Length; k++)
                for (int i = 0; i < f.Grads[k].Length; i++)
                    Assert.True(Math.Abs(f.Grads[k][i] - r.Grads[k][i]) < 1e-4 * (1 + Math.Abs(r.Grads[k][i])),
                        $"{level} H={hidden}: gradient of input {k}, element {i}: {f.Grads[k][i]} vs {r.Grads[k][i]}");
        }
    }
}

[Collection(KernelSettingsCollection.Name)]
public class GemmThreadingTests
{
    [Theory]
    [InlineData(64, 138, 384)]
    [InlineData(33, 385, 138)]
    [InlineData(256, 135, 384)]
    [InlineData(7, 1000, 700)]
    public void Threaded_products_are_bit_identical_to_single_threaded(int m, int k, int n)
    {
        var rng = new Rng(5);
        var a = Tensor.RandN<float>(rng, 1, m, k).ToArray();
        var b = Tensor.RandN<float>(rng, 1, k, n).ToArray();
        var one = new float[m * n];
        var many = new float[m * n];
        int saved = Gemm.MaxThreads;
        try
        {
            foreach (bool transB in new[] { false, true })
            {
                Gemm.MaxThreads = 1;
                Gemm.Multiply<float>(false, transB, m, n, k, a, k, b, transB ? k : n, one, n, false);
                Gemm.MaxThreads = 3;
                Gemm.Multiply<float>(false, transB, m, n, k, a, k, b, transB ? k : n, many, n, false);
                Assert.Equal(one, many);
            }
        }
        finally
        {
            Gemm.MaxThreads = saved;
        }
    }
}
