using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Baselines;

/// <summary>
/// A hand-written strategy for one environment: a practitioner's rule (a dosing protocol, a trading rule, a game bot)
/// that <see cref="StrategyAgent"/> turns into an agent the meta-test protocol evaluates beside learned ones.
/// </summary>
public interface IStrategy
{
    /// <summary>A new task begins: forget what was learned about the previous one.</summary>
    void Reset();

    /// <summary>A new trial of <paramref name="task"/> begins. Only an oracle's strategy reads the task; the others are reset.</summary>
    void Reset(ITask task) => Reset();

    /// <summary>Writes the action for <paramref name="observation"/> (for a discrete space, the index as one number).</summary>
    void Act(ReadOnlySpan<float> observation, Span<float> action);

    /// <summary>The reward the last action earned and whether its episode ended (the task goes on in the next episode).</summary>
    void Observe(float reward, bool episodeEnded);
}

/// <summary>Evaluates one <see cref="IStrategy"/> per trial slot, each built by <paramref name="create"/>.</summary>
/// <param name="name">The name shown in tables and plots.</param>
/// <param name="create">Builds a strategy for the family; it may draw its own random choices from the generator it is given.</param>
public sealed class StrategyAgent(string name, Func<TaskDistribution, Rng, IStrategy> create) : IMetaAgent
{
    public string Name => name;

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        var strategies = new IStrategy[batch];
        for (int i = 0; i < batch; i++) strategies[i] = create(tasks, rng.Split()) ?? throw new InvalidOperationException($"'{name}' built no strategy.");
        return new Session(strategies, tasks.ObservationSpace.Size, tasks.ActionSpace.Size);
    }

    private sealed class Session(IStrategy[] strategies, int obsSize, int actSize) : IAgentSession
    {
        public void StartTrial(int slot, ITask task) => strategies[slot].Reset(task);

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < strategies.Length; i++)
                if (active[i]) strategies[i].Act(observations.Slice(i * obsSize, obsSize), actions.Slice(i * actSize, actSize));
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int i = 0; i < strategies.Length; i++)
                if (active[i]) strategies[i].Observe(rewards[i], episodeEnded[i]);
        }
    }
}
