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

    private sealed class Session(SoftActorCritic sac, ActionMap map, int batch, Rng rng, bool deterministic) : IAgentSession, IPolicyOutputs
    {
        private readonly float[] _unit = new float[batch * sac.ActionSize];
        private readonly float[] _outputs = new float[batch * sac.ActionSize];

        public int PolicyOutputSize => sac.ActionSize;

        /// <summary>The mean action tanh(μ) in the environment's units (the action itself when the agent acts by its mean).</summary>
        public ReadOnlySpan<float> PolicyOutput(int row) => _outputs.AsSpan(row * sac.ActionSize, sac.ActionSize);

        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            var input = Tensor.FromArray(observations.ToArray(), batch, sac.ObservationSize);
            sac.Act(input, rng, deterministic, _unit);
            int a = sac.ActionSize;
            for (int i = 0; i < batch; i++)
                if (active[i]) map.ToEnv(_unit.AsSpan(i * a, a), actions.Slice(i * a, a));
            // The mean action behind a sampled one: one more pass of the policy, drawing nothing from the stream.
            var mean = _unit;
            if (!deterministic) sac.Act(input, rng, deterministic: true, mean = new float[_unit.Length]);
            for (int i = 0; i < batch; i++)
                if (active[i]) map.ToEnv(mean.AsSpan(i * a, a), _outputs.AsSpan(i * a, a));
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }
}
