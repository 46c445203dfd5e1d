using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MetaRL.Engine.Kernels;

/// <summary>The instruction-set paths of the hand-written kernels.</summary>
public enum SimdLevel
{
    /// <summary>Plain scalar loops.</summary>
    Scalar = 0,
    /// <summary>128-bit vectors (SSE / NEON).</summary>
    Vector128 = 1,
    /// <summary>256-bit vectors with fused multiply-add (AVX2 + FMA).</summary>
    Vector256 = 2,
    /// <summary>512-bit vectors (AVX-512F).</summary>
    Vector512 = 3,
}

/// <summary>
/// Chooses the kernel path at run time: the widest the processor supports, unless forced
/// (for tests and benchmarks) with <see cref="Force"/> or the METARL_SIMD environment variable
/// (scalar, v128, v256, v512).
/// </summary>
public static class Simd
{
    private static SimdLevel? _forced;

    /// <summary>The widest path this processor runs natively.</summary>
    public static SimdLevel Best { get; } = Detect();

    static Simd()
    {
        var env = Environment.GetEnvironmentVariable("METARL_SIMD");
        if (!string.IsNullOrWhiteSpace(env)) _forced = Check(Parse(env));
    }

    /// <summary>The path kernels take now.</summary>
    public static SimdLevel Level => _forced ?? Best;

    /// <summary>Whether this processor can run <paramref name="level"/>.</summary>
    public static bool IsSupported(SimdLevel level) => level <= Best;

    /// <summary>Every path this processor can run, narrowest first.</summary>
    public static IReadOnlyList<SimdLevel> Supported => Enum.GetValues<SimdLevel>().Where(IsSupported).ToArray();

    /// <summary>Forces a path until the returned scope is disposed. Forcing an unsupported path is an error.</summary>
    public static IDisposable Force(SimdLevel level)
    {
        var previous = _forced;
        _forced = Check(level);
        return new Restore(previous);
    }

    public static SimdLevel Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "scalar" => SimdLevel.Scalar,
        "v128" or "vector128" => SimdLevel.Vector128,
        "v256" or "vector256" => SimdLevel.Vector256,
        "v512" or "vector512" => SimdLevel.Vector512,
        _ => throw new ArgumentException($"Unknown SIMD level '{text}'; valid: scalar, v128, v256, v512."),
    };

    private static SimdLevel Check(SimdLevel level)
    {
        if (!IsSupported(level))
            throw new PlatformNotSupportedException($"SIMD path {level} is not supported on this processor (best: {Best}).");
        return level;
    }

    private static SimdLevel Detect()
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported) return SimdLevel.Vector512;
        if (Vector256.IsHardwareAccelerated && Fma.IsSupported) return SimdLevel.Vector256;
        if (Vector128.IsHardwareAccelerated) return SimdLevel.Vector128;
        return SimdLevel.Scalar;
    }

    private sealed class Restore(SimdLevel? previous) : IDisposable
    {
        public void Dispose() => _forced = previous;
    }
}

/// <summary>
/// Static vector operations over one register width. Kernels are generic over an implementation
/// of this interface, and the JIT compiles a separate copy of each kernel per width.
/// </summary>
internal interface IVecOps<TV, T> where TV : struct where T : unmanaged
{
    static abstract int Lanes { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(ref T source);
    static abstract void Store(TV value, ref T destination);
    static abstract TV Splat(T value);
    static abstract TV Fma(TV a, TV b, TV c);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    static abstract TV Max(TV a, TV b);
    static abstract TV Sqrt(TV a);
    static abstract TV GreaterThanZeroMask(TV a, TV b); // b where a > 0 else 0
    static abstract TV Exp(TV a);
    /// <summary>The sum of the lanes, halving: the upper half added to the lower until one lane is left (the same order at every call).</summary>
    static abstract T Sum(TV value);
}

internal struct V512<T> : IVecOps<Vector512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector512<T>.Count;
    public static Vector512<T> Zero => Vector512<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Load(ref T s) => Vector512.LoadUnsafe(ref s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<T> v, ref T d) => v.StoreUnsafe(ref d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Splat(T x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float)) return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        return a * b + c;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Sub(Vector512<T> a, Vector512<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Div(Vector512<T> a, Vector512<T> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Max(Vector512<T> a, Vector512<T> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Sqrt(Vector512<T> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> GreaterThanZeroMask(Vector512<T> a, Vector512<T> b) => Vector512.GreaterThan(a, Vector512<T>.Zero) & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector512<T> v) => V256<T>.Sum(v.GetLower() + v.GetUpper());
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Exp(Vector512<T> a)
    {
        if (typeof(T) == typeof(float)) return Vector512.Exp(a.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector512.Exp(a.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }
}

internal struct V256<T> : IVecOps<Vector256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector256<T>.Count;
    public static Vector256<T> Zero => Vector256<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Load(ref T s) => Vector256.LoadUnsafe(ref s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<T> v, ref T d) => v.StoreUnsafe(ref d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Splat(T x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float)) return Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        return a * b + c;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Sub(Vector256<T> a, Vector256<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Div(Vector256<T> a, Vector256<T> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Max(Vector256<T> a, Vector256<T> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Sqrt(Vector256<T> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> GreaterThanZeroMask(Vector256<T> a, Vector256<T> b) => Vector256.GreaterThan(a, Vector256<T>.Zero) & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector256<T> v) => V128<T>.Sum(v.GetLower() + v.GetUpper());
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp(Vector256<T> a)
    {
        if (typeof(T) == typeof(float)) return Vector256.Exp(a.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.Exp(a.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }
}

internal struct V128<T> : IVecOps<Vector128<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Lanes => Vector128<T>.Count;
    public static Vector128<T> Zero => Vector128<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Load(ref T s) => Vector128.LoadUnsafe(ref s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<T> v, ref T d) => v.StoreUnsafe(ref d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Splat(T x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Fma(Vector128<T> a, Vector128<T> b, Vector128<T> c)
    {
        // Vector128 is the portable path: FMA only where the processor has it.
        if (System.Runtime.Intrinsics.X86.Fma.IsSupported || !System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            if (typeof(T) == typeof(float)) return Vector128.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double)) return Vector128.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        }
        return a * b + c;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Sub(Vector128<T> a, Vector128<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Mul(Vector128<T> a, Vector128<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Div(Vector128<T> a, Vector128<T> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Max(Vector128<T> a, Vector128<T> b) => Vector128.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Sqrt(Vector128<T> a) => Vector128.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> GreaterThanZeroMask(Vector128<T> a, Vector128<T> b) => Vector128.GreaterThan(a, Vector128<T>.Zero) & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Vector128<T> v)
    {
        if (typeof(T) == typeof(float))
        {
            var f = v.AsSingle();
            var h = f + Vector128.Shuffle(f, Vector128.Create(2, 3, 2, 3));
            return (T)(object)(h.ToScalar() + h.GetElement(1));
        }
        if (typeof(T) == typeof(double)) return (T)(object)(v.AsDouble().ToScalar() + v.AsDouble().GetElement(1));
        T sum = T.Zero;
        for (int i = 0; i < Vector128<T>.Count; i++) sum += v.GetElement(i);
        return sum;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Exp(Vector128<T> a)
    {
        if (typeof(T) == typeof(float)) return Vector128.Exp(a.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector128.Exp(a.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }
}
