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

    private readonly IEnv[] _envs;
    private readonly Rng[] _rngs;
    private readonly int _obs, _act, _chunks;
    private readonly StepParallelism _mode;
    private readonly Exception?[] _errors;
    private readonly Action<int> _chunk;
    private float[] _actions = [], _observations = [];
    private bool[] _active = [];
    private int _probes;
    private long _fastestProbe = long.MaxValue;
    private bool _parallel;

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
        _obs = observationSize;
        _act = actionSize;
        _mode = mode;
        _chunks = Math.Max(1, Math.Min(Environment.ProcessorCount, envs.Length));
        _errors = new Exception?[_chunks];
        _parallel = mode == StepParallelism.Always && _chunks > 1;
        Results = new StepResult[envs.Length];
        _chunk = RunChunk;
    }

    /// <summary>What each environment's last step returned (stale for environments that were not active).</summary>
    public StepResult[] Results { get; }

    /// <summary>Whether rounds are currently split across cores.</summary>
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
            Array.Clear(_errors);
            Parallel.For(0, _chunks, _chunk);
            foreach (var e in _errors)
                if (e is not null) ExceptionDispatchInfo.Throw(e);
            return;
        }
        long start = Stopwatch.GetTimestamp();
        Run(0, _envs.Length);
        if (_mode != StepParallelism.Auto || _chunks == 1 || _probes >= ProbeRounds) return;
        // The fastest probe round decides: the first rounds include compiling the environment's code.
        _fastestProbe = Math.Min(_fastestProbe, Stopwatch.GetTimestamp() - start);
        if (++_probes == ProbeRounds)
            _parallel = (double)_fastestProbe / Stopwatch.Frequency > ParallelAboveSeconds;
    }

    private void RunChunk(int chunk)
    {
        int from = (int)((long)_envs.Length * chunk / _chunks), to = (int)((long)_envs.Length * (chunk + 1) / _chunks);
        try { Run(from, to); }
        catch (Exception e) { _errors[chunk] = e; }
    }

    private void Run(int from, int to)
    {
        for (int i = from; i < to; i++)
            if (_active[i])
                Results[i] = _envs[i].Step(_actions.AsSpan(i * _act, _act), _rngs[i], _observations.AsSpan(i * _obs, _obs));
    }
}
