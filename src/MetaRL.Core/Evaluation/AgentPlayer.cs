using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Evaluation;

/// <summary>
/// One agent playing one environment step by step, as a game loop, a trading system or a controller calls it:
/// <see cref="Reset"/> when a new task (a new player, patient, market) begins, then for every step
/// <see cref="Act"/> on the observation and <see cref="Observe"/> with what the step returned. Memory is carried across
/// the episodes of a task and cleared by <see cref="Reset"/>. Any <see cref="IMetaAgent"/> can be played this way (a
/// trained RL² network, a MAML policy, a baseline). The player's own buffers are allocated once; what an agent
/// allocates per step is the agent's.
/// </summary>
public sealed class AgentPlayer
{
    private static readonly bool[] Active = [true];
    private readonly IAgentSession _session;
    private readonly TaskDistribution _tasks;
    private readonly float[] _observation, _action, _reward = new float[1];
    private readonly bool[] _ended = new bool[1];
    private bool _started, _awaitingObserve;
    private int _step;

    /// <param name="agent">The agent to play.</param>
    /// <param name="tasks">The family the environment plays (its spaces and horizon).</param>
    /// <param name="seed">Seeds the agent's own random choices (a sampling policy); a deterministic agent ignores it.</param>
    public AgentPlayer(IMetaAgent agent, TaskDistribution tasks, ulong seed = 1)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(tasks);
        _tasks = tasks;
        _observation = new float[tasks.ObservationSpace.Size];
        _action = new float[tasks.ActionSpace.Size];
        _session = agent.Begin(1, tasks, new Rng(seed));
        Agent = agent;
    }

    public IMetaAgent Agent { get; }

    /// <summary>Steps taken in the current episode.</summary>
    public int Step => _step;

    /// <summary>
    /// A new task begins: the agent forgets everything it inferred about the previous one. <paramref name="task"/> is
    /// read only by oracles (agents that are allowed to know the task); leave it null for any other agent.
    /// </summary>
    public void Reset(ITask? task = null)
    {
        _session.StartTrial(0, task ?? UnknownTask.Instance);
        _started = true;
        _awaitingObserve = false;
        _step = 0;
    }

    /// <summary>The action for <paramref name="observation"/> (for a discrete space, one number holding the index). The span is valid until the next call.</summary>
    /// <exception cref="InvalidOperationException">Before <see cref="Reset"/>, or twice without <see cref="Observe"/> between.</exception>
    /// <exception cref="ArgumentException">The observation is not of the family's size.</exception>
    public ReadOnlySpan<float> Act(ReadOnlySpan<float> observation)
    {
        if (!_started) throw new InvalidOperationException("Call Reset before the first Act of a task.");
        if (_awaitingObserve) throw new InvalidOperationException("Act was called twice without Observe: report each step's outcome before asking for the next action.");
        if (observation.Length != _observation.Length)
            throw new ArgumentException($"The observation has {observation.Length} numbers; '{_tasks.Name}' observations have {_observation.Length}.", nameof(observation));
        observation.CopyTo(_observation);
        _session.Act(_observation, Active, _action);
        _awaitingObserve = true;
        return _action;
    }

    /// <summary>
    /// The policy output behind the last <see cref="Act"/> (logits, or the mean action in the environment's units: what an
    /// exported model gives for the same history), or an empty span for agents that do not show it.
    /// </summary>
    public ReadOnlySpan<float> PolicyOutput => _session is IPolicyOutputs outputs ? outputs.PolicyOutput(0) : default;

    /// <summary>
    /// What the last action led to. Returns whether the episode is over: it terminated, it was truncated, or it reached
    /// the family's horizon. The agent's memory carries over into the next episode of the same task.
    /// </summary>
    /// <param name="nextObservation">The observation the action led to, for agents that read it at once; by default the last one.</param>
    public bool Observe(float reward, bool terminated, bool truncated, ReadOnlySpan<float> nextObservation = default)
    {
        if (!_awaitingObserve) throw new InvalidOperationException("Observe must follow an Act.");
        if (!float.IsFinite(reward)) throw new ArgumentOutOfRangeException(nameof(reward), reward, "The reward must be a finite number.");
        if (!nextObservation.IsEmpty)
        {
            if (nextObservation.Length != _observation.Length)
                throw new ArgumentException($"The observation has {nextObservation.Length} numbers; '{_tasks.Name}' observations have {_observation.Length}.", nameof(nextObservation));
            nextObservation.CopyTo(_observation);
        }
        _awaitingObserve = false;
        _step++;
        bool ended = terminated || truncated || _step >= _tasks.Horizon;
        _reward[0] = reward;
        _ended[0] = ended;
        _session.Observe(_action, _reward, _observation, _ended, Active);
        if (ended) _step = 0;
        return ended;
    }

    private sealed class UnknownTask : ITask
    {
        public static readonly UnknownTask Instance = new();
        public IReadOnlyList<KeyValuePair<string, double>> Describe() => [];
    }
}
