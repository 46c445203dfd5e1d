using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Evaluation;

/// <summary>
/// Anything the meta-test protocol can evaluate: a trained meta-learner, a classic baseline or an oracle.
/// It plays a batch of trials side by side; each trial is several episodes of one task, and the agent
/// may keep memory across the episodes of a trial but not across trials.
/// <para>
/// Threads: an agent is shared safely. Any number of sessions may be begun from one agent and played on different
/// threads at once (a service keeps one session per client); each acts exactly as it would alone. A session itself is
/// for one thread at a time. The agent's weights must not be trained while its sessions play.
/// </para>
/// </summary>
public interface IMetaAgent
{
    /// <summary>The name shown in tables and plots.</summary>
    string Name { get; }

    /// <summary>Starts a session of <paramref name="batch"/> parallel trial slots.</summary>
    IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng);

    /// <summary>
    /// Episodes of a trial the agent plays with what it knows at the start of them, then learns from together: a round.
    /// 1 (the default) for agents that may change after every episode or step (recurrent memory, a posterior, a bandit
    /// index); K for MAML, which samples K trajectories with the same weights and then takes one gradient step on them.
    /// </summary>
    int EpisodesPerRound => 1;

    /// <summary>
    /// How the agent chooses its actions, shown beside its results so that agents compared in one table are known to act
    /// alike or not (e.g. "greedy", "sampled").
    /// </summary>
    string ActingRule => "";

    /// <summary>
    /// A session of <paramref name="batch"/> trial slots in which each trial is played in <paramref name="lanes"/> lanes
    /// side by side (its rounds' episodes at once): rows of <see cref="IAgentSession.Act"/> and
    /// <see cref="IAgentSession.Observe"/> are lanes, slot i owning rows i·lanes … i·lanes + lanes − 1, and
    /// <see cref="IAgentSession.StartTrial"/> names slots. The protocol asks for <see cref="EpisodesPerRound"/> lanes; an
    /// application playing one environment asks for one, and the agent then plays a round's episodes one after another.
    /// </summary>
    IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng, int lanes)
        => lanes == 1 ? Begin(batch, tasks, rng)
            : throw new NotSupportedException($"Agent '{Name}' plays one episode of a trial at a time; it was asked for {lanes} side by side.");
}

/// <summary>A batch of trial slots being played by one agent.</summary>
public interface IAgentSession
{
    /// <summary>A new trial starts in <paramref name="slot"/>: forget everything about the previous one. Only oracles may read <paramref name="task"/>.</summary>
    void StartTrial(int slot, ITask task);

    /// <summary>
    /// Writes actions for every active slot. <paramref name="observations"/> is [batch × observation size],
    /// <paramref name="actions"/> is [batch × action size]; inactive slots may be left alone.
    /// </summary>
    void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions);

    /// <summary>
    /// The outcome of the actions just taken: rewards, the observations they led to (for an episode that ended,
    /// its final observation) and whether the episode ended (terminated or truncated) in each slot. After an
    /// episode ends the next <see cref="Act"/> sees the first observation of the next episode. <paramref name="actions"/>
    /// are the ones played: those <see cref="Act"/> wrote, except where the environment played another
    /// (<see cref="Envs.IEnv.WritePlayedAction"/>).
    /// </summary>
    void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active);
}

/// <summary>
/// A session of an oracle or a task-aware aid that is given the environments' hidden state before every action, for
/// families whose hidden parameters move during a trial (<see cref="TaskDistribution.HiddenStateSize"/>). Like the
/// task passed to <see cref="IAgentSession.StartTrial"/>, this is for oracles only: an agent that implements it is not
/// meta-learning any more and is reported as knowing the task.
/// </summary>
public interface IHiddenStateReader
{
    /// <summary><paramref name="states"/> is [rows × <see cref="TaskDistribution.HiddenStateSize"/>], rows as in <see cref="IAgentSession.Act"/>; inactive rows are left as they were.</summary>
    void SeeHiddenState(ReadOnlySpan<float> states, ReadOnlySpan<bool> active);
}

/// <summary>
/// A session that shows the policy output behind its last <see cref="IAgentSession.Act"/>: the numbers an exported model
/// of the same policy gives for the same history (logits for discrete actions; for continuous actions the mean action
/// in the environment's units, the action a greedy agent takes before the environment clips it).
/// </summary>
public interface IPolicyOutputs
{
    /// <summary>Values per row: the number of discrete choices, or of action components.</summary>
    int PolicyOutputSize { get; }

    /// <summary>Row <paramref name="row"/>'s output from the last <see cref="IAgentSession.Act"/> (valid until the next one).</summary>
    ReadOnlySpan<float> PolicyOutput(int row);
}

/// <summary>An agent shown under another name (e.g. the run it came from, when several runs are compared).</summary>
public sealed class NamedAgent(IMetaAgent agent, string name) : IMetaAgent
{
    public string Name => name;

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => agent.Begin(batch, tasks, rng);

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng, int lanes) => agent.Begin(batch, tasks, rng, lanes);

    public int EpisodesPerRound => agent.EpisodesPerRound;

    public string ActingRule => agent.ActingRule;
}
