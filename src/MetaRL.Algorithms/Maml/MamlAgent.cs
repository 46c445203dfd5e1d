using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Maml;

/// <summary>How a <see cref="MamlAgent"/> adapts on a new task.</summary>
/// <param name="InnerLearningRate">The first gradient step's size α.</param>
/// <param name="Trajectories">Episodes per round: sampled with the same weights, then one gradient step on them all.</param>
/// <param name="Gamma">Discount of the returns the step's advantages are computed from.</param>
/// <param name="LaterStepScale">Steps after the first have size α × this (Finn et al. halve it).</param>
public sealed record MamlAdaptation(double InnerLearningRate, int Trajectories, double Gamma, double LaterStepScale = 1)
{
    public void Validate()
    {
        if (!double.IsFinite(InnerLearningRate) || InnerLearningRate < 0)
            throw new ArgumentOutOfRangeException(nameof(InnerLearningRate), InnerLearningRate, "The inner learning rate must be finite and not negative.");
        if (Trajectories < 1) throw new ArgumentOutOfRangeException(nameof(Trajectories), Trajectories, "A round has at least one trajectory.");
        if (!(Gamma is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(Gamma), Gamma, "The discount must be in (0, 1].");
        if (!double.IsFinite(LaterStepScale) || LaterStepScale < 0)
            throw new ArgumentOutOfRangeException(nameof(LaterStepScale), LaterStepScale, "The later steps' scale must be finite and not negative.");
    }
}

/// <summary>
/// A MAML policy that adapts while it plays a task: it samples a round of <see cref="MamlAdaptation.Trajectories"/>
/// episodes with its current weights, takes one policy-gradient step on them (the inner loss with the linear feature
/// baseline, as in meta-training), and plays the next round with the adapted weights. Each trial starts again from
/// θ₀. Under the meta-test protocol the round's episodes are played side by side; an application playing one
/// environment (<see cref="AgentPlayer"/>) plays them one after another and gets the same adaptation. Actions are
/// always sampled: the step learns from the policy's own exploration.
/// </summary>
public sealed class MamlAgent : IMetaAgent
{
    private readonly MlpPolicy<float> _policy;
    private readonly Tensor<float>[] _theta0;

    /// <param name="policy">The meta-trained policy; its weights are copied, so later training does not change this agent.</param>
    public MamlAgent(MlpPolicy<float> policy, MamlAdaptation adaptation, string name)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(adaptation);
        adaptation.Validate();
        (_policy, Adaptation, Name) = (policy, adaptation, name);
        _theta0 = policy.Parameters().Select(p => p.Detach().Clone()).ToArray();
    }

    public string Name { get; }

    /// <summary>The policy and its meta-trained weights θ₀ (the unadapted policy), for exporters.</summary>
    internal MlpPolicy<float> Policy => _policy;
    internal IReadOnlyList<Tensor<float>> InitialWeights => _theta0;

    /// <summary>
    /// The weights a session of this agent plays slot <paramref name="slot"/> with now: θ₀ until the slot's first round is
    /// complete, then θ₀ adapted by the gradient steps taken on the slot's trial (copies, for export or inspection).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="session"/> is not a session of a MAML agent.</exception>
    public static IReadOnlyList<Tensor<float>> AdaptedWeights(IAgentSession session, int slot = 0)
        => session is Session s ? s.Weights(slot) : throw new ArgumentException("The session is not a MAML agent's.", nameof(session));

    /// <summary>For tests: whether a one-slot, one-lane session (an application's loop) acts allocation-free (the default) or through tensors.</summary>
    internal static bool UseKernel { get; set; } = true;

    /// <summary>For tests: called after each gradient step with the round it learnt from, the weights before and after, and the step size.</summary>
    internal Action<TrajectoryBatch, IReadOnlyList<Tensor<float>>, IReadOnlyList<Tensor<float>>, double>? OnAdapted { get; set; }

    public MamlAdaptation Adaptation { get; }

    public int EpisodesPerRound => Adaptation.Trajectories;

    public string ActingRule => "sampled";

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => Begin(batch, tasks, rng, 1);

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng, int lanes)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(rng);
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "At least one trial slot.");
        if (lanes != 1 && lanes != Adaptation.Trajectories)
            throw new ArgumentException($"'{Name}' plays rounds of {Adaptation.Trajectories} episodes, side by side or one after another; it was asked for {lanes} lanes.", nameof(lanes));
        if (tasks.ObservationSpace.Size != _policy.ObservationSize || tasks.ActionSpace.Size != _policy.ActionSpace.Size
            || tasks.ActionSpace.GetType() != _policy.ActionSpace.GetType())
            throw new ArgumentException($"This policy was trained for observations of size {_policy.ObservationSize} and actions {_policy.ActionSpace}; '{tasks.Name}' has {tasks.ObservationSpace.Size} and {tasks.ActionSpace}.");
        return new Session(this, batch, lanes, tasks, rng);
    }

    /// <summary>One trial slot: its weights, its random stream, and the round being recorded.</summary>
    private sealed class Slot(Rng rng)
    {
        public readonly Rng Rng = rng;
        public FastWeights<float>? Weights;
        public TrajectoryBatch? Round;
        public int Steps;            // gradient steps taken in this trial
        public int EpisodesEnded;    // episodes of the current round that have ended
        public bool RoundComplete;   // the round is recorded; adapt before the next action
    }

    private sealed class Session : IAgentSession, IPolicyOutputs
    {
        private readonly MamlAgent _agent;
        private readonly MlpPolicy<float> _policy;
        private readonly int _batch, _lanes, _horizon, _obs, _envAct, _act;
        private readonly Slot[] _slots;
        private readonly int[] _episodeOfLane, _stepOfLane;
        private readonly float[][] _input;
        private readonly float[] _outputs;
        // One slot playing one lane (an application's loop): the policy's layers run on these buffers, allocation-free.
        private readonly float[][]? _layerOutputs;
        private readonly TransposedWeight[] _transposed = [];
        private readonly int[] _weightIndex = [], _biasIndex = [];
        private readonly int _logStdIndex = -1;

        public Session(MamlAgent agent, int batch, int lanes, TaskDistribution tasks, Rng rng)
        {
            (_agent, _policy, _batch, _lanes) = (agent, agent._policy, batch, lanes);
            (_horizon, _obs, _envAct, _act) = (tasks.Horizon, tasks.ObservationSpace.Size, tasks.ActionSpace.Size, agent._policy.ActionSize);
            _slots = Enumerable.Range(0, batch).Select(_ => new Slot(rng.Split())).ToArray();
            _episodeOfLane = new int[batch * lanes];
            _stepOfLane = new int[batch * lanes];
            _input = Enumerable.Range(0, batch).Select(_ => new float[lanes * _obs]).ToArray();
            _outputs = new float[batch * lanes * _act];
            if (batch == 1 && lanes == 1 && UseKernel)
            {
                _layerOutputs = _policy.Network.Layers.Select(l => new float[l.OutFeatures]).ToArray();
                _transposed = _layerOutputs.Select(_ => new TransposedWeight()).ToArray();
                // Where each layer's weights sit among the policy's parameters (the order FastWeights keeps).
                var names = _policy.NamedParameters().Select(p => p.Name).ToList();
                _weightIndex = Enumerable.Range(0, _layerOutputs.Length).Select(i => names.IndexOf($"mlp.{i}.weight")).ToArray();
                _biasIndex = Enumerable.Range(0, _layerOutputs.Length).Select(i => names.IndexOf($"mlp.{i}.bias")).ToArray();
                _logStdIndex = names.IndexOf("log_std");
                if (_weightIndex.Concat(_biasIndex).Any(i => i < 0) || (!_policy.Discrete && _logStdIndex < 0))
                    throw new InvalidOperationException("The policy's parameters are not named as an MLP policy's.");
            }
        }

        private int K => _agent.Adaptation.Trajectories;

        public int PolicyOutputSize => _act;

        public ReadOnlySpan<float> PolicyOutput(int row) => _outputs.AsSpan(row * _act, _act);

        /// <summary>The policy's row as <see cref="IPolicyOutputs"/> shows it: logits, or the mean action in the environment's units.</summary>
        private void KeepOutput(int lane, ReadOnlySpan<float> row)
        {
            var destination = _outputs.AsSpan(lane * _act, _act);
            if (_policy.Discrete) row.CopyTo(destination);
            else _policy.ToEnvironmentAction(row, destination);
        }

        /// <summary>The weights slot <paramref name="slot"/> plays with now (θ₀ until its first gradient step), copied.</summary>
        public Tensor<float>[] Weights(int slot)
        {
            var s = _slots[slot];
            if (s.Weights is null) throw new InvalidOperationException("StartTrial must be called for a slot before its weights exist.");
            if (s.RoundComplete) Adapt(slot);
            return s.Weights.Weights.Select(w => w.Detach().Clone()).ToArray();
        }

        public void StartTrial(int slot, ITask task)
        {
            var s = _slots[slot];
            s.Weights = FastWeights<float>.Detached(_policy, _agent._theta0);
            s.Steps = 0;
            StartRound(slot);
        }

        private void StartRound(int slot)
        {
            var s = _slots[slot];
            s.Round = new TrajectoryBatch(K, _horizon, _obs, _policy.Discrete ? 1 : _act);
            s.EpisodesEnded = 0;
            s.RoundComplete = false;
            for (int j = 0; j < _lanes; j++) (_episodeOfLane[slot * _lanes + j], _stepOfLane[slot * _lanes + j]) = (0, 0);
        }

        /// <summary>The row of the round's batch lane <paramref name="lane"/> writes now: its trajectory (k·H) plus the step.</summary>
        private int Row(int lane) => (_episodeOfLane[lane] * _lanes + lane % _lanes) * _horizon + _stepOfLane[lane];

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            if (_layerOutputs is not null)
            {
                if (active[0]) ActAlone(observations, actions);
                return;
            }
            ActSideBySide(observations, active, actions);
        }

        // Kept apart from Act: its lambda's captured locals would otherwise be allocated on every call, alone or not.
        private void ActSideBySide(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            var obs = observations.ToArray();
            var on = active.ToArray();
            var outActions = new float[actions.Length];
            Parallel.For(0, _batch, Core.Compute.ParallelOptions, slot =>
            {
                using var serial = Engine.Kernels.Gemm.Serial(); // one slot per core
                ActSlot(slot, obs, on, outActions);
            });
            outActions.AsSpan().CopyTo(actions);
        }

        private void ActSlot(int slot, float[] observations, bool[] active, float[] actions)
        {
            int first = slot * _lanes;
            if (!active.AsSpan(first, _lanes).Contains(true)) return;
            var s = _slots[slot];
            if (s.Weights is null) throw new InvalidOperationException("StartTrial must be called for a slot before it acts.");
            if (s.RoundComplete) Adapt(slot);
            var input = _input[slot];
            observations.AsSpan(first * _obs, _lanes * _obs).CopyTo(input);
            float[] output, logStd;
            using (GradMode.NoGrad())
            {
                output = s.Weights.Call(() => _policy.Output(Tensor.FromArray((float[])input.Clone(), _lanes, _obs))).ToArray();
                logStd = _policy.Discrete ? [] : s.Weights.Call(() => _policy.LogStd).ToArray();
            }
            for (int j = 0; j < _lanes; j++)
            {
                int lane = first + j;
                if (active[lane]) SampleAndRecord(s, lane, observations.AsSpan(lane * _obs, _obs), output.AsSpan(j * _act, _act), logStd, actions.AsSpan(lane * _envAct, _envAct));
            }
        }

        /// <summary>
        /// Draws lane <paramref name="lane"/>'s action from its policy row with the slot's stream, and records the observation and
        /// the action (in the policy's coordinates) in the round the next gradient step learns from.
        /// </summary>
        private void SampleAndRecord(Slot s, int lane, ReadOnlySpan<float> observation, ReadOnlySpan<float> row, ReadOnlySpan<float> logStd, Span<float> envAction)
        {
            if (_stepOfLane[lane] >= _horizon || _episodeOfLane[lane] * _lanes + lane % _lanes >= K)
                throw new InvalidOperationException($"'{_agent.Name}' was played past its horizon or its round of {K} episodes without an episode end.");
            int at = Row(lane), width = _policy.Discrete ? 1 : _act;
            KeepOutput(lane, row);
            observation.CopyTo(s.Round!.Observations.AsSpan(at * _obs, _obs));
            PolicyActions.Sample(_policy, row, logStd, s.Rng, deterministic: false, s.Round.Actions.AsSpan(at * width, width), envAction);
        }

        /// <summary>
        /// The one-slot, one-lane step without tensors: the slot's current weights through the policy's layers (the same
        /// kernels, in the same order, as <see cref="MlpPolicy{T}.Output"/> on one row), then the same sampling.
        /// </summary>
        private void ActAlone(ReadOnlySpan<float> observation, Span<float> action)
        {
            var s = _slots[0];
            if (s.Weights is null) throw new InvalidOperationException("StartTrial must be called for a slot before it acts.");
            if (s.RoundComplete) Adapt(0); // between rounds: the gradient step allocates, the steps do not
            var weights = s.Weights.Weights;
            var layers = _policy.Network.Layers;
            ReadOnlySpan<float> x = observation;
            for (int i = 0; i < layers.Count; i++)
            {
                var y = _layerOutputs![i];
                RowLayers.Linear(x, weights[_weightIndex[i]], weights[_biasIndex[i]], y, _transposed[i]);
                RowLayers.Activate(i == layers.Count - 1 ? _policy.Network.Output : _policy.Network.Hidden, y);
                x = y;
            }
            SampleAndRecord(s, 0, observation, x, _policy.Discrete ? default : weights[_logStdIndex].Data, action[.._envAct]);
        }

        /// <summary>One gradient step on the slot's recorded round: α the first time, α × the later scale after.</summary>
        private void Adapt(int slot)
        {
            var s = _slots[slot];
            var a = _agent.Adaptation;
            s.Round!.ComputeAdvantages(a.Gamma);
            double lr = s.Steps == 0 ? a.InnerLearningRate : a.InnerLearningRate * a.LaterStepScale;
            var before = s.Weights!.Weights;
            s.Weights.Adapt(MamlMath.InnerLoss(_policy, before, s.Round), lr);
            s.Steps++;
            _agent.OnAdapted?.Invoke(s.Round, before, s.Weights.Weights, lr);
            StartRound(slot);
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            for (int lane = 0; lane < _batch * _lanes; lane++)
            {
                if (!active[lane]) continue;
                var s = _slots[lane / _lanes];
                int row = Row(lane);
                s.Round!.Rewards[row] = rewards[lane];
                s.Round.Mask[row] = 1;
                _stepOfLane[lane]++;
                if (!episodeEnded[lane]) continue;
                _stepOfLane[lane] = 0;
                _episodeOfLane[lane]++;
                if (++s.EpisodesEnded == K) s.RoundComplete = true; // adapted lazily: the last round of a trial needs no step
            }
        }
    }
}
