using MetaRL.Engine.Kernels;

namespace MetaRL.Core;

/// <summary>
/// How many threads MetaRL may use at once: trainers' gradient and curvature parts, MAML's tasks, agents' slots,
/// environment stepping and large matrix products. The default is the processor count, or the METARL_THREADS
/// environment variable. Work is always split into the same fixed parts and summed in the same order, so a seed gives
/// the same run, to the bit, for any value: this only trades speed for leaving cores to the rest of an application.
/// </summary>
public static class Compute
{
    private static int _maxThreads = Gemm.MaxThreads;

    /// <exception cref="ArgumentOutOfRangeException">Less than one thread.</exception>
    public static int MaxThreads
    {
        get => _maxThreads;
        set
        {
            Gemm.MaxThreads = value; // validates
            _maxThreads = value;
        }
    }

    /// <summary>Options for <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> under <see cref="MaxThreads"/>.</summary>
    public static ParallelOptions ParallelOptions => new() { MaxDegreeOfParallelism = _maxThreads };
}
