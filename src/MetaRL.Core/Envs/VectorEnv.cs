using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Envs;

/// <summary>
/// Many environments stepped as one batch, each with its own task and random stream. Observations,
/// rewards and flags live in buffers owned by the vector, so stepping allocates nothing. An environment
/// whose episode ends is reset at once (its new first observation replaces the final one, which is kept
/// in <see cref="FinalObservations"/>), Gymnasium's autoreset convention. The steps themselves are taken by an
/// <see cref="EnvBatchStepper"/>, the same code that steps the environments of a training run.
/// </summary>
public sealed class VectorEnv
{
    private readonly IEnv[] _envs;
    private readonly Rng[] _rngs;
    private readonly EnvBatchStepper _stepper;
    private readonly float[] _actions;
    private readonly bool[] _active;
    private readonly int[] _steps;
    private readonly int _obs, _act, _horizon;

    /// <param name="tasks">The family whose environments the vector holds (give each a task with <see cref="SetTask"/>).</param>
    /// <param name="count">How many environments.</param>
    /// <param name="seed">Seeds one random stream per environment, split in order.</param>
    /// <param name="parallelism">When a step of the batch is shared with the other cores; the results do not depend on it.</param>
    public VectorEnv(TaskDistribution tasks, int count, ulong seed, StepParallelism parallelism = StepParallelism.Auto)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "A vector of environments needs at least one.");
        Count = count;
        _obs = tasks.ObservationSpace.Size;
        _act = tasks.ActionSpace.Size;
        _horizon = tasks.Horizon;
        _envs = new IEnv[count];
        _rngs = new Rng[count];
        _steps = new int[count];
        var root = new Rng(seed);
        for (int i = 0; i < count; i++)
        {
            _envs[i] = tasks.CreateEnv();
            _rngs[i] = root.Split();
        }
        _stepper = new EnvBatchStepper(_envs, _rngs, _obs, _act, parallelism);
        _actions = new float[count * _act];
        _active = new bool[count];
        Array.Fill(_active, true);
        Observations = new float[count * _obs];
        FinalObservations = new float[count * _obs];
        Rewards = new float[count];
        Terminated = new bool[count];
        Truncated = new bool[count];
    }

    public int Count { get; }

    /// <summary>Current observations, [Count × observation size].</summary>
    public float[] Observations { get; }

    /// <summary>For environments whose episode just ended, the observation it ended on.</summary>
    public float[] FinalObservations { get; }

    public float[] Rewards { get; }
    public bool[] Terminated { get; }
    public bool[] Truncated { get; }

    /// <summary>Gives environment <paramref name="index"/> a task and starts an episode.</summary>
    public void SetTask(int index, ITask task)
    {
        _envs[index].SetTask(task);
        Reset(index);
    }

    /// <summary>Starts a new episode in environment <paramref name="index"/>.</summary>
    public void Reset(int index)
    {
        _steps[index] = 0;
        _envs[index].Reset(_rngs[index], Observations.AsSpan(index * _obs, _obs));
    }

    /// <summary>
    /// Steps every environment with its row of <paramref name="actions"/> [Count × action size]; an episode
    /// is truncated when it reaches the family's horizon. Ended episodes are reset automatically.
    /// </summary>
    public void Step(ReadOnlySpan<float> actions)
    {
        if (actions.Length != Count * _act)
            throw new ArgumentException($"VectorEnv.Step needs {Count} × {_act} actions, got {actions.Length}.", nameof(actions));
        actions.CopyTo(_actions);
        _stepper.Step(_actions, _active, Observations);
        var results = _stepper.Results;
        for (int i = 0; i < _envs.Length; i++)
        {
            var r = results[i];
            Rewards[i] = (float)r.Reward;
            bool truncated = r.Truncated || (!r.Terminated && ++_steps[i] >= _horizon);
            Terminated[i] = r.Terminated;
            Truncated[i] = truncated;
            if (r.Terminated || truncated)
            {
                var o = Observations.AsSpan(i * _obs, _obs);
                o.CopyTo(FinalObservations.AsSpan(i * _obs, _obs));
                _steps[i] = 0;
                _envs[i].Reset(_rngs[i], o);
            }
        }
    }
}
