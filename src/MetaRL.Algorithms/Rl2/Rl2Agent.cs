using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Core.Evaluation;

namespace MetaRL.Algorithms.Rl2;

/// <summary>A trained RL² network playing trials: memory carried across the episodes of a trial, cleared between trials.</summary>
public sealed class Rl2Agent(Rl2Network network, bool deterministic, string? name = null) : IMetaAgent
{
    public string Name => name ?? (network.PolicyTaskFeatures > 0 ? "oracle (knows the task)" : network.Memory ? "RL²" : "multi-task (no memory)");

    public string ActingRule => deterministic ? "greedy" : "sampled";

    public Rl2Network Network => network;

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng)
    {
        if (tasks.ObservationSpace.Size != network.ObservationSize || tasks.ActionSpace.Size != network.ActionSpace.Size
            || tasks.ActionSpace.GetType() != network.ActionSpace.GetType()
            || (tasks.ActionSpace is Core.Spaces.Discrete d && d.N != network.ActionSize))
            throw new ArgumentException($"This RL² network was trained for observations of size {network.ObservationSize} and actions {network.ActionSpace}; '{tasks.Name}' has {tasks.ObservationSpace.Size} and {tasks.ActionSpace}.");
        if (network.PolicyTaskFeatures > 0 && tasks.TaskFeatureSize != network.PolicyTaskFeatures)
            throw new ArgumentException($"This network reads {network.PolicyTaskFeatures} task features; '{tasks.Name}' offers {tasks.TaskFeatureSize}.");
        return new Session(network, tasks, batch, rng, deterministic);
    }

    /// <summary>For tests: whether one-slot sessions act through <see cref="Rl2ActingKernel"/> (the default) or the tensor path.</summary>
    internal static bool UseKernel { get; set; } = true;

    internal sealed class Session(Rl2Network net, TaskDistribution tasks, int batch, Rng rng, bool deterministic) : IAgentSession, IPolicyOutputs
    {
        private Tensor<float> _state = net.InitialState(batch);
        private readonly bool[] _fresh = Enumerable.Repeat(true, batch).ToArray();
        private readonly float[] _prevAction = new float[batch * tasks.ActionSpace.Size];
        private readonly float[] _prevObservation = new float[net.ReadsPreviousObservation ? batch * tasks.ObservationSpace.Size : 0];
        private readonly float[] _prevReward = new float[batch];
        private readonly bool[] _prevDone = new bool[batch];
        private readonly int[] _episode = new int[batch], _step = new int[batch];
        private readonly float[] _taskFeatures = new float[batch * net.PolicyTaskFeatures];
        private readonly float[] _input = new float[batch * net.InputSize];
        private readonly int _actSize = tasks.ActionSpace.Size, _obsSize = tasks.ObservationSpace.Size;

        // One slot (an application's loop): the allocation-free acting path, the same to the bit as the tensor path.
        private readonly Rl2ActingKernel? _kernel = batch == 1 && UseKernel ? new Rl2ActingKernel(net) : null;

        private readonly float[] _outputs = new float[batch * net.ActionSize];

        public int PolicyOutputSize => net.ActionSize;

        public ReadOnlySpan<float> PolicyOutput(int row) => _kernel is not null ? _kernel.Output : _outputs.AsSpan(row * net.ActionSize, net.ActionSize);

        /// <summary>The input row slot <paramref name="slot"/> was last given (for tests).</summary>
        internal ReadOnlySpan<float> LastInput(int slot) => _input.AsSpan(slot * net.InputSize, net.InputSize);

        public void StartTrial(int slot, ITask task)
        {
            _state.Data.Slice(slot * net.StateSize, net.StateSize).Clear();
            _fresh[slot] = true;
            _prevDone[slot] = false;
            _episode[slot] = 0;
            _step[slot] = 0;
            if (net.PolicyTaskFeatures > 0) tasks.WriteTaskFeatures(task, _taskFeatures.AsSpan(slot * net.PolicyTaskFeatures, net.PolicyTaskFeatures));
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < batch; i++)
                Rl2Inputs.Write(net, _input.AsSpan(i * net.InputSize, net.InputSize), observations.Slice(i * _obsSize, _obsSize),
                    _prevAction.AsSpan(i * _actSize, _actSize), _prevReward[i], _prevDone[i], !_fresh[i],
                    new Rl2Inputs.TrialClock(_episode[i], _step[i], tasks.EpisodesPerTrial, tasks.Horizon),
                    _taskFeatures.AsSpan(i * net.PolicyTaskFeatures, net.PolicyTaskFeatures),
                    net.ReadsPreviousObservation ? _prevObservation.AsSpan(i * _obsSize, _obsSize) : default);
            if (net.ReadsPreviousObservation)
                for (int i = 0; i < batch; i++)
                    if (active[i]) observations.Slice(i * _obsSize, _obsSize).CopyTo(_prevObservation.AsSpan(i * _obsSize, _obsSize));
            if (_kernel is not null)
            {
                if (!active[0]) return;
                _kernel.Step(_input, _state.Data);
                Rl2Inputs.Act(net, _kernel.Output, net.LogStd is { } std ? std.Data : default, rng, deterministic, actions[.._actSize]);
                return;
            }
            using var _ = GradMode.NoGrad();
            var x = Tensor.FromArray(_input, batch, net.InputSize);
            var next = net.Step(x, _state);
            // Slots that are not playing keep their state (their trial is over or has not started).
            for (int i = 0; i < batch; i++)
                if (!active[i]) _state.Data.Slice(i * net.StateSize, net.StateSize).CopyTo(next.Data.Slice(i * net.StateSize, net.StateSize));
            _state = next;
            var policy = net.Policy(net.Features(_state, x));
            policy.Data.CopyTo(_outputs);
            var logStd = net.LogStd?.ToArray() ?? [];
            for (int i = 0; i < batch; i++)
                if (active[i])
                    Rl2Inputs.Act(net, policy.Data.Slice(i * net.ActionSize, net.ActionSize), logStd, rng, deterministic, actions.Slice(i * _actSize, _actSize));
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int i = 0; i < batch; i++)
            {
                if (!active[i]) continue;
                actions.Slice(i * _actSize, _actSize).CopyTo(_prevAction.AsSpan(i * _actSize, _actSize));
                _prevReward[i] = rewards[i];
                _prevDone[i] = episodeEnded[i];
                _fresh[i] = false;
                if (episodeEnded[i]) { _episode[i]++; _step[i] = 0; }
                else _step[i]++;
            }
        }
    }
}
