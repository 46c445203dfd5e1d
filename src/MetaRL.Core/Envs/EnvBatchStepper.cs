using System.Diagnostics;
using System.Runtime.ExceptionServices;
using MetaRL.Engine;

namespace MetaRL.Core.Envs;

/// <summary>When an <see cref="EnvBatchStepper"/> hands environments to other cores.</summary>
public enum StepParallelism
{
    /// <summary>Time the first rounds on the calling thread; go parallel if the fastest costs more than handing it over does.</summary>
    Auto,
    /// <summary>Always on the calling thread.</summary>
    Never,
    /// <summary>Always split across the cores (when there is more than one).</summary>
    Always,
}

/// <summary>
/// Steps a batch of environments, each with its own random stream, one action row each. A round of steps
/// is split across the cores when it is costly enough to repay the hand-off (physics simulations) and run
/// on the calling thread otherwise (a bandit step costs nanoseconds). Each environment's step reads only
/// its own state, action and stream, so the results are the same whichever way a round runs. The caller
/// does everything that shares state (sampling actions, sums, resets) before or after <see cref="Step"/>.
/// </summary>
public sealed class EnvBatchStepper
{
    /// <summary>A round must cost at least this on one thread before it is split: several hand-offs' worth.</summary>
    private const double ParallelAboveSeconds = 40e-6;
    private const int ProbeRounds = 8;
    /// <summary>How many environments ahead a serial round asks for the memory of the step it will take there.</summary>
    private const int PrefetchDistance = 8;

    private readonly IEnv[] _envs;
    private readonly IPrefetchingEnv[]? _prefetching;
    private readonly Rng[] _rngs;
    private readonly int _obs, _act, _helpers;
    private readonly StepParallelism _mode;
    private readonly Exception?[] _errors;
    private readonly Action<int> _help;
    private float[] _actions = [], _observations = [];
    private bool[] _active = [];
    private int _probes;
    private long _fastestProbe = long.MaxValue;
    private bool _parallel;
    // A parallel round: the high half of _claim is the round's number, the low half the next environment to take.
    private long _claim;
    private int _round, _finished;

    /// <param name="envs">The environments, each already given its task.</param>
    /// <param name="rngs">One random stream per environment, used only by that environment's steps.</param>
    /// <param name="observationSize">Floats per observation row.</param>
    /// <param name="actionSize">Floats per action row.</param>
    /// <param name="mode">When to use the other cores; the results do not depend on it.</param>
    public EnvBatchStepper(IEnv[] envs, Rng[] rngs, int observationSize, int actionSize, StepParallelism mode = StepParallelism.Auto)
    {
        ArgumentNullException.ThrowIfNull(envs);
        ArgumentNullException.ThrowIfNull(rngs);
        if (rngs.Length != envs.Length) throw new ArgumentException($"One random stream per environment: {envs.Length} environments, {rngs.Length} streams.", nameof(rngs));
        _envs = envs;
        _rngs = rngs;
        _prefetching = Array.TrueForAll(envs, e => e is IPrefetchingEnv) ? Array.ConvertAll(envs, e => (IPrefetchingEnv)e) : null;
        _obs = observationSize;
        _act = actionSize;
        _mode = mode;
        _helpers = Math.Max(0, Math.Min(Compute.MaxThreads, envs.Length) - 1);
        _errors = new Exception?[envs.Length];
        _parallel = mode == StepParallelism.Always && _helpers > 0;
        Results = new StepResult[envs.Length];
        _help = Work;
    }

    /// <summary>What each environment's last step returned (stale for environments that were not active).</summary>
    public StepResult[] Results { get; }

    /// <summary>Whether rounds are currently shared with other cores.</summary>
    public bool IsParallel => _parallel;

    /// <summary>
    /// Steps every environment whose <paramref name="active"/> flag is set with its row of <paramref name="actions"/>,
    /// writing its next observation into its row of <paramref name="observations"/> and its result into <see cref="Results"/>.
    /// An exception from an environment is rethrown as it was (the lowest-indexed one if several fail).
    /// </summary>
    public void Step(float[] actions, bool[] active, float[] observations)
    {
        if (actions.Length < _envs.Length * _act) throw new ArgumentException($"Need {_envs.Length} × {_act} actions, got {actions.Length}.", nameof(actions));
        if (observations.Length < _envs.Length * _obs) throw new ArgumentException($"Need room for {_envs.Length} × {_obs} observation floats, got {observations.Length}.", nameof(observations));
        if (active.Length < _envs.Length) throw new ArgumentException($"Need {_envs.Length} active flags, got {active.Length}.", nameof(active));
        (_actions, _active, _observations) = (actions, active, observations);
        if (_parallel)
        {
            StepShared();
            return;
        }
        long start = Stopwatch.GetTimestamp();
        var prefetching = _prefetching;
        for (int i = 0; i < _envs.Length; i++)
        {
            int ahead = i + PrefetchDistance;
            if (prefetching is not null && ahead < prefetching.Length && _active[ahead]) prefetching[ahead].Prefetch(_actions.AsSpan(ahead * _act, _act));
            if (_active[i]) StepOne(i);
        }
        if (_mode != StepParallelism.Auto || _helpers == 0 || _probes >= ProbeRounds) return;
        // The fastest probe round decides: the first rounds include compiling the environment's code.
        _fastestProbe = Math.Min(_fastestProbe, Stopwatch.GetTimestamp() - start);
        if (++_probes == ProbeRounds)
            _parallel = (double)_fastestProbe / Stopwatch.Frequency > ParallelAboveSeconds;
    }

    /// <summary>
    /// Environments are taken one at a time from a shared counter by this thread and by helpers queued to the
    /// thread pool. This thread never waits for a helper to start: on a busy machine it simply takes every
    /// environment itself, waiting at most for steps a helper has already begun. A helper that starts after its
    /// round is over finds the round number changed and leaves.
    /// </summary>
    private void StepShared()
    {
        Array.Clear(_errors);
        int round = unchecked(++_round);
        Volatile.Write(ref _finished, 0);
        Volatile.Write(ref _claim, (long)round << 32);
        for (int h = 0; h < _helpers; h++) ThreadPool.UnsafeQueueUserWorkItem(_help, round, preferLocal: false);
        Work(round);
        var spin = new SpinWait();
        while (Volatile.Read(ref _finished) < _envs.Length) spin.SpinOnce(sleep1Threshold: -1);
        foreach (var e in _errors)
            if (e is not null) ExceptionDispatchInfo.Throw(e);
    }

    private void Work(int round)
    {
        int n = _envs.Length;
        while (true)
        {
            long claim = Volatile.Read(ref _claim);
            int i = (int)(claim & 0xFFFF_FFFF);
            if ((int)(claim >> 32) != round || i >= n) return;
            if (Interlocked.CompareExchange(ref _claim, claim + 1, claim) != claim) continue;
            if (_active[i])
            {
                try { StepOne(i); }
                catch (Exception e) { _errors[i] = e; }
            }
            Interlocked.Increment(ref _finished);
        }
    }

    private void StepOne(int i) => Results[i] = _envs[i].Step(_actions.AsSpan(i * _act, _act), _rngs[i], _observations.AsSpan(i * _obs, _obs));
}
