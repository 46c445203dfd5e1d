using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Core.Evaluation;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// An MLP policy playing the episode protocol of <see cref="MetaTest"/> with its weights fixed: no memory, no
/// gradient steps, so every episode of a trial is played alike. For a policy trained with <c>inner-steps=0</c> this is
/// the non-adaptive multi-task policy, which lets the recurrent family be compared with it on the same trials.
/// </summary>
public sealed class FixedPolicyAgent(MlpPolicy<float> policy, bool deterministic, string name) : IMetaAgent
{
    public string Name => name;

    /// <summary>The policy (its own weights act), for exporters.</summary>
    internal MlpPolicy<float> Policy => policy;

    public string ActingRule => deterministic ? "greedy" : "sampled";

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        if (tasks.ObservationSpace.Size != policy.ObservationSize || tasks.ActionSpace.Size != policy.ActionSpace.Size
            || tasks.ActionSpace.GetType() != policy.ActionSpace.GetType())
            throw new ArgumentException($"This policy was trained for observations of size {policy.ObservationSize} and actions {policy.ActionSpace}; '{tasks.Name}' has {tasks.ObservationSpace.Size} and {tasks.ActionSpace}.");
        return new Session(policy, batch, rng, deterministic);
    }

    private sealed class Session(MlpPolicy<float> policy, int batch, Rng rng, bool deterministic) : IAgentSession
    {
        private readonly float[] _input = new float[batch * policy.ObservationSize];
        private readonly float[] _action = new float[policy.ActionSize];

        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            observations.CopyTo(_input);
            Tensor<float> output;
            float[] logStd;
            using (GradMode.NoGrad())
            {
                output = policy.Output(Tensor.FromArray((float[])_input.Clone(), batch, policy.ObservationSize));
                logStd = policy.Discrete ? [] : policy.LogStd.ToArray();
            }
            int width = policy.Discrete ? 1 : policy.ActionSize;
            for (int i = 0; i < batch; i++)
            {
                if (!active[i]) continue;
                var row = output.Data.Slice(i * policy.ActionSize, policy.ActionSize);
                PolicyActions.Sample(policy, row, logStd, rng, deterministic, _action, actions.Slice(i * width, width));
            }
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active) { }
    }
}
