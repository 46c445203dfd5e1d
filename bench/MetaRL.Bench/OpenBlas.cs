using System.Runtime.InteropServices;

/// <summary>
/// OpenBLAS's single-precision GEMM and GEMV called in this process, one thread, when the library is installed
/// (Debian: <c>apt-get install libopenblas0-pthread</c>): the peer the engine's kernels are compared with, timed
/// interleaved with them so both see the same machine.
/// </summary>
internal static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
    private static readonly delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemv;

    static OpenBlas()
    {
        foreach (var name in new[] { "libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "libopenblas.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var gemm) || !NativeLibrary.TryGetExport(handle, "cblas_sgemv", out var gemv)) continue;
            Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)gemm;
            Sgemv = (delegate* unmanaged<int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)gemv;
            if (NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var threads))
                ((delegate* unmanaged<int, void>)threads)(1);
            Available = true;
            break;
        }
    }

    public static bool Available { get; }

    /// <summary>C = op(A)·op(B), row-major, as <c>Gemm.Multiply</c> without accumulation; a single row uses GEMV.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float[] a, int lda, float[] b, int ldb, float[] c, int ldc)
    {
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (m == 1 && !transA)
                // c = op(B)ᵀ·a: B is K×N row-major, so c = Bᵀa is a transposed GEMV (a no-transpose one when B is stored N×K).
                Sgemv(RowMajor, transB ? NoTrans : Trans, transB ? n : k, transB ? k : n, 1f, pb, ldb, pa, 1, 0f, pc, 1);
            else
                Sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, ldc);
        }
    }
}
