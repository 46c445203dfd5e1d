using MetaRL.Core.Tasks;
using MetaRL.Core.Spaces;
using MetaRL.Engine;

namespace MetaRL.Core.Envs;

/// <summary>What one step returns besides the next observation (Gymnasium's terminated/truncated convention).</summary>
/// <param name="Reward">The reward for the step.</param>
/// <param name="Terminated">The episode reached a terminal state of the task.</param>
/// <param name="Truncated">The episode was cut off (time limit) without reaching a terminal state.</param>
public readonly record struct StepResult(double Reward, bool Terminated, bool Truncated)
{
    public bool Done => Terminated || Truncated;
}

/// <summary>
/// An environment for one task at a time. Randomness comes only from the generator the caller passes,
/// so a run is reproducible from its seeds and an environment holds no random state of its own.
/// Observations are written into caller-owned buffers: stepping allocates nothing.
/// </summary>
public interface IEnv
{
    Space ObservationSpace { get; }

    Space ActionSpace { get; }

    /// <summary>Points the environment at a task (its hidden parameters); takes effect at the next <see cref="Reset"/>.</summary>
    void SetTask(ITask task);

    /// <summary>Starts an episode and writes the first observation.</summary>
    void Reset(Rng rng, Span<float> observation);

    /// <summary>Applies <paramref name="action"/> (for a <see cref="Discrete"/> space, one float holding the index) and writes the next observation.</summary>
    StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation);

    /// <summary>
    /// Writes the hidden state in force now (<see cref="TaskDistribution.HiddenStateSize"/> numbers: a market's regime, an
    /// opponent's current strategy), for families whose hidden parameters move during a trial. Only oracles and
    /// task-aware training aids read it, never the agent. Nothing by default: the hidden parameters are the task's.
    /// </summary>
    void WriteHiddenState(Span<float> state) { }

    /// <summary>
    /// Writes the measures of the episode that just ended (<see cref="TaskDistribution.EpisodeMetrics"/>, in that order),
    /// called once after its last step and before the next <see cref="Reset"/>. Nothing by default.
    /// </summary>
    void WriteEpisodeMetrics(Span<double> metrics) { }

    /// <summary>Writes this step's values of <see cref="TaskDistribution.TraceChannels"/>, for plots of one episode. Nothing by default.</summary>
    void WriteTrace(Span<double> values) { }

    /// <summary>
    /// After a step that played an action drawn in place of the one it was given, independently of it (a training task's
    /// forced exploration), writes the action it played into <paramref name="action"/> and returns true; returns false,
    /// writing nothing, when it played the one given (always, by default). <see cref="Evaluation.TrialSampler"/> hands
    /// sessions the played action, so that a learner credits the outcome to the action that caused it. A replacement that
    /// depends on the action given is the environment's dynamics, not to be reported: the learner's choice caused it.
    /// </summary>
    bool WritePlayedAction(Span<float> action) => false;
}

/// <summary>
/// An environment whose step reads memory that is hard to predict but known in advance, such as one row of a
/// per-task table chosen by the current state and the action. Vectors of environments ask the environment a few
/// places ahead to fetch it while they step the current one, so the cache misses of many environments overlap
/// instead of following one another.
/// </summary>
public interface IPrefetchingEnv : IEnv
{
    /// <summary>
    /// Hints to the processor the memory that the next <see cref="IEnv.Step"/> with <paramref name="action"/> will
    /// read. Changes nothing, and ignores an action that <see cref="IEnv.Step"/> would refuse (Step reports it).
    /// </summary>
    void Prefetch(ReadOnlySpan<float> action);
}

/// <summary>A convenient base for environments whose task type is known.</summary>
public abstract class Env<TTask> : IEnv where TTask : class, ITask
{
    private TTask? _task;

    public abstract Space ObservationSpace { get; }

    public abstract Space ActionSpace { get; }

    /// <summary>The current task; set by <see cref="SetTask"/>.</summary>
    protected TTask Task => _task ?? throw new InvalidOperationException($"{GetType().Name}: no task set; call SetTask before Reset.");

    public void SetTask(ITask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        _task = task as TTask ?? throw new ArgumentException($"{GetType().Name} expects a {typeof(TTask).Name}, got a {task.GetType().Name}.");
        OnTaskSet(_task);
    }

    /// <summary>Called after the task changes.</summary>
    protected virtual void OnTaskSet(TTask task) { }

    public abstract void Reset(Rng rng, Span<float> observation);

    public abstract StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation);

    /// <inheritdoc cref="IEnv.WriteHiddenState"/>
    public virtual void WriteHiddenState(Span<float> state) { }

    /// <inheritdoc cref="IEnv.WriteEpisodeMetrics"/>
    public virtual void WriteEpisodeMetrics(Span<double> metrics) { }

    /// <inheritdoc cref="IEnv.WriteTrace"/>
    public virtual void WriteTrace(Span<double> values) { }

    /// <inheritdoc cref="IEnv.WritePlayedAction"/>
    public virtual bool WritePlayedAction(Span<float> action) => false;
}

/// <summary>Gymnasium-style helpers.</summary>
public static class EnvExtensions
{
    /// <summary>Reset with a fresh generator seeded by <paramref name="seed"/>; returns the observation.</summary>
    public static float[] Reset(this IEnv env, ulong seed, out Rng rng)
    {
        rng = new Rng(seed);
        var obs = new float[env.ObservationSpace.Size];
        env.Reset(rng, obs);
        return obs;
    }

    /// <summary>Step with a discrete action; returns the observation in <paramref name="observation"/>.</summary>
    public static StepResult Step(this IEnv env, int action, Rng rng, Span<float> observation)
    {
        ReadOnlySpan<float> a = [action];
        return env.Step(a, rng, observation);
    }
}
