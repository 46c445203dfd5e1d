using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Sac;

/// <summary>
/// A soft actor-critic policy playing the meta-test protocol with its weights fixed and no memory: every episode of a
/// trial is played alike. On a family of many tasks it is the non-adaptive multi-task policy.
/// </summary>
public sealed class SacAgent(SoftActorCritic sac, ActionMap map, bool deterministic, string name) : IMetaAgent
{
    public string Name => name;

    public string ActingRule => deterministic ? "mean action" : "sampled";

    /// <summary>The networks and the action map, for exporters.</summary>
    internal SoftActorCritic Sac => sac;
    internal ActionMap Map => map;

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        if (tasks.ObservationSpace.Size != sac.ObservationSize || tasks.ActionSpace is not Box || tasks.ActionSpace.Size != sac.ActionSize)
            throw new ArgumentException($"This policy was trained for observations of size {sac.ObservationSize} and {sac.ActionSize} continuous actions; '{tasks.Name}' has {tasks.ObservationSpace.Size} and {tasks.ActionSpace}.");
        return new Session(sac, map, batch, rng, deterministic);
    }

    /// <summary>
    /// One act of a squashed policy on <paramref name="input"/>: <paramref name="unit"/> gets the policy's [−1, 1] actions,
    /// <paramref name="actions"/> and <paramref name="outputs"/> the active rows' environment actions and, for
    /// <see cref="IPolicyOutputs"/>, the mean actions behind them (a second pass of the policy when it samples, drawing
    /// nothing from <paramref name="rng"/>). Shared with PEARL's agent, whose input also carries z.
    /// </summary>
    internal static void Act(SoftActorCritic sac, ActionMap map, Tensor<float> input, Rng rng, bool deterministic, float[] unit,
        ReadOnlySpan<bool> active, Span<float> actions, Span<float> outputs)
    {
        sac.Act(input, rng, deterministic, unit);
        int a = sac.ActionSize;
        for (int i = 0; i < active.Length; i++)
            if (active[i]) map.ToEnv(unit.AsSpan(i * a, a), actions.Slice(i * a, a));
        var mean = unit;
        if (!deterministic) sac.Act(input, rng, deterministic: true, mean = new float[unit.Length]);
        for (int i = 0; i < active.Length; i++)
            if (active[i]) map.ToEnv(mean.AsSpan(i * a, a), outputs.Slice(i * a, a));
    }

    private sealed class Session(SoftActorCritic sac, ActionMap map, int batch, Rng rng, bool deterministic) : IAgentSession, IPolicyOutputs
    {
        private readonly float[] _unit = new float[batch * sac.ActionSize];
        private readonly float[] _outputs = new float[batch * sac.ActionSize];

        public int PolicyOutputSize => sac.ActionSize;

        /// <summary>The mean action tanh(μ) in the environment's units (the action itself when the agent acts by its mean).</summary>
        public ReadOnlySpan<float> PolicyOutput(int row) => _outputs.AsSpan(row * sac.ActionSize, sac.ActionSize);

        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
            => SacAgent.Act(sac, map, Tensor.FromArray(observations.ToArray(), batch, sac.ObservationSize), rng, deterministic, _unit, active, actions, _outputs);

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }
}
