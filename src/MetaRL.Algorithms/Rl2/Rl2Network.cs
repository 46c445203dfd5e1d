using MetaRL.Core.Spaces;
using MetaRL.Engine;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Rl2;

/// <summary>
/// The RL² policy: a recurrent core (GRU by default, or LSTM) fed (observation, previous action,
/// previous reward, done flag), with a policy head (categorical logits, or a Gaussian mean with a learnt
/// log standard deviation for boxes) and a value head. The recurrent state is [batch, S] with S = H for
/// a GRU and 2H (h then c) for an LSTM. With <c>timeInput</c> two more inputs give the episode index within the
/// trial and the step within the episode, each as a fraction, so the value head need not count time itself.
/// With <c>previousObservation</c> the row also carries the observation the previous action was taken in.
/// With <c>criticTaskFeatures</c> &gt; 0 the value head is a task-aware critic: an MLP over the recurrent features
/// and the task's hidden parameters (<see cref="MetaRL.Core.Tasks.TaskDistribution.WriteTaskFeatures"/>). It is
/// used only to compute advantages during training; a baseline that depends on the task but not on the action is
/// still unbiased, and it removes the task-to-task spread of returns from the advantages. The policy never sees the task.
/// With <c>head</c> layer sizes, the policy and the value each read the recurrent features through their own tanh MLP
/// (the recurrent core alone is a single nonlinear layer between the inputs and the heads).
/// With <c>skipInput</c> the heads read the current input row beside the recurrent features (a connection around the
/// core): the policy can act on the observation directly, as a memory-less multi-task policy does, while the core
/// supplies what the history tells about the task.
/// With <c>pairInput</c> the row also carries the previous observation's outer product with the previous action, plain
/// and times the previous reward (see <see cref="PairInput"/>); with <c>gatedHead</c> the heads' output layers are gated
/// by the current observation (see <see cref="GatedHead"/>).
/// With <c>taskPredictionFeatures</c> &gt; 0 a linear task head predicts the task's hidden parameters from the same
/// features (an auxiliary training target, see <see cref="Rl2Config.TaskPrediction"/>); nothing the agent does reads it.
/// </summary>
public sealed class Rl2Network : Module<float>
{
    private readonly Gru<float>? _gru;
    private readonly Lstm<float>? _lstm;
    private readonly LayerNorm<float>? _norm;
    private readonly Linear<float>? _policy, _value;
    private readonly Mlp<float>? _policyMlp, _valueMlp;
    private readonly Linear<float>? _policyGate, _valueGate;
    private readonly Mlp<float>? _critic;
    private readonly Linear<float>? _taskHead;
    private readonly Tensor<float>? _logStd;

    // For the allocation-free acting path (Rl2ActingKernel), which reads the same weights.
    internal Gru<float>? GruCore => _gru;
    internal Lstm<float>? LstmCore => _lstm;
    internal LayerNorm<float>? Norm => _norm;
    internal Linear<float>? PolicyLinear => _policy;
    internal Mlp<float>? PolicyMlp => _policyMlp;
    internal Linear<float>? PolicyGate => _policyGate;

    public Rl2Network(Space observationSpace, Space actionSpace, int hidden, RecurrentCell cell, bool layerNorm, Rng rng, bool timeInput = false, int criticTaskFeatures = 0,
        bool memory = true, int policyTaskFeatures = 0, bool normalizeObservations = false, IReadOnlyList<int>? head = null, bool skipInput = false,
        int taskPredictionFeatures = 0, bool previousObservation = false, double memoryBias = 0, bool pairInput = false, bool gatedHead = false, double initialLogStd = -0.5)
    {
        head ??= [];
        if (normalizeObservations) ObservationNormalizer = new ObservationNormalizer(observationSpace.Size);
        ObservationSize = observationSpace.Size;
        ActionSpace = actionSpace;
        Discrete = actionSpace is Discrete;
        ActionSize = actionSpace is Discrete d ? d.N : actionSpace.Size;
        TimeInput = timeInput;
        Memory = memory;
        PolicyTaskFeatures = policyTaskFeatures;
        PreviousObservation = previousObservation;
        PairInput = pairInput;
        InputSize = ObservationSize + ActionSize + 2 + (timeInput ? 2 : 0) + (previousObservation ? ObservationSize : 0) + (pairInput ? PairSize : 0) + policyTaskFeatures;
        Hidden = hidden;
        Cell = cell;
        if (cell == RecurrentCell.Gru) _gru = RegisterModule("gru", new Gru<float>(InputSize, hidden, rng, memoryBias));
        else if (cell == RecurrentCell.Lstm) _lstm = RegisterModule("lstm", new Lstm<float>(InputSize, hidden, rng, memoryBias));
        else throw new ArgumentException($"Unknown recurrent cell '{cell}'; use gru or lstm.");
        if (layerNorm) _norm = RegisterModule("norm", new LayerNorm<float>(hidden));
        SkipInput = skipInput;
        if (gatedHead && !skipInput)
            throw new ArgumentException("Gated heads read the current observation from the input row the heads see; they need skip-input.");
        GatedHead = gatedHead;
        int f = FeatureSize;
        Head = head.ToArray();
        // A gated head: its MLP's hidden layers (if any), then an output layer with one block of outputs for itself and
        // one per observation component (see Gate).
        int gateWidth = Head.Count == 0 ? f : Head[^1];
        Mlp<float>? GatedHidden(string name) => Head.Count == 0 ? null
            : RegisterModule(name, new Mlp<float>([f, .. Head], rng, Activation.Tanh, Activation.Tanh, WeightInit.Orthogonal, Math.Sqrt(2), Math.Sqrt(2)));
        if (gatedHead)
        {
            _policyMlp = GatedHidden("policy");
            _policyGate = RegisterModule("policy_gate", new Linear<float>(gateWidth, (ObservationSize + 1) * ActionSize, rng, init: WeightInit.Orthogonal, gain: 0.01));
        }
        else if (Head.Count == 0) _policy = RegisterModule("policy", new Linear<float>(f, ActionSize, rng, init: WeightInit.Orthogonal, gain: 0.01));
        else _policyMlp = RegisterModule("policy", new Mlp<float>([f, .. Head, ActionSize], rng, Activation.Tanh, init: WeightInit.Orthogonal, gain: Math.Sqrt(2), outputGain: 0.01));
        CriticTaskFeatures = criticTaskFeatures;
        if (criticTaskFeatures > 0)
            _critic = RegisterModule("critic", new Mlp<float>([f + criticTaskFeatures, 256, 1], rng, Activation.Tanh, init: WeightInit.Orthogonal, gain: Math.Sqrt(2), outputGain: 1.0));
        else if (gatedHead)
        {
            _valueMlp = GatedHidden("value");
            _valueGate = RegisterModule("value_gate", new Linear<float>(gateWidth, ObservationSize + 1, rng, init: WeightInit.Orthogonal, gain: 1.0));
        }
        else if (Head.Count == 0)
            _value = RegisterModule("value", new Linear<float>(f, 1, rng, init: WeightInit.Orthogonal, gain: 1.0));
        else
            _valueMlp = RegisterModule("value", new Mlp<float>([f, .. Head, 1], rng, Activation.Tanh, init: WeightInit.Orthogonal, gain: Math.Sqrt(2), outputGain: 1.0));
        TaskPredictionFeatures = taskPredictionFeatures;
        if (taskPredictionFeatures > 0)
            _taskHead = RegisterModule("task_head", new Linear<float>(f, taskPredictionFeatures, rng, init: WeightInit.Orthogonal, gain: 1.0));
        if (!Discrete) _logStd = RegisterParameter("log_std", Tensor.Full<float>(initialLogStd, ActionSize));
    }

    public int ObservationSize { get; }
    /// <summary>Running observation statistics the inputs are scaled by (null: raw observations). Not trained by gradients.</summary>
    public ObservationNormalizer? ObservationNormalizer { get; }
    public int ActionSize { get; }
    public int InputSize { get; }
    public bool TimeInput { get; }
    /// <summary>
    /// Whether the input row also carries the previous observation, so that one row holds the whole last transition
    /// (s, a, r) → s' and the core need not remember s itself to tell which state the reward and the move belong to.
    /// </summary>
    public bool PreviousObservation { get; }
    /// <summary>
    /// Whether the input row also carries the outer product of the previous observation with the previous action (one-hot
    /// for discrete actions), once as it is and once times the previous reward (<see cref="PairSize"/> values). For one-hot
    /// observations and discrete actions it is a one-hot of the (state, action) pair just tried and, beside it, the reward
    /// that pair paid: what the core must remember per pair arrives at that pair's own inputs.
    /// </summary>
    public bool PairInput { get; }
    /// <summary>Values of the pair input: 2 × observation size × action size (0 without it).</summary>
    public int PairSize => PairInput ? 2 * ObservationSize * ActionSize : 0;
    /// <summary>Whether the input row needs the previous observation (for <see cref="PreviousObservation"/> or <see cref="PairInput"/>).</summary>
    public bool ReadsPreviousObservation => PreviousObservation || PairInput;
    /// <summary>
    /// False makes a non-adaptive multi-task policy for comparisons: the recurrent state is cleared before every step
    /// and the previous action, reward and done inputs are zero, so the policy sees only the current observation.
    /// </summary>
    public bool Memory { get; }
    /// <summary>
    /// Task features appended to every input (0: none). Non-zero makes a task-knowing oracle for comparisons:
    /// it need not infer the task, so its return bounds what adaptation can reach.
    /// </summary>
    public int PolicyTaskFeatures { get; }
    /// <summary>Task features the critic reads (0: the value head reads only the recurrent features).</summary>
    public int CriticTaskFeatures { get; }
    /// <summary>Task features the auxiliary task head predicts (0: no task head).</summary>
    public int TaskPredictionFeatures { get; }
    public int Hidden { get; }
    /// <summary>Whether the heads also read the current input row (see the class remarks).</summary>
    public bool SkipInput { get; }
    /// <summary>Width of what the heads read: the recurrent features, then the input row when <see cref="SkipInput"/>.</summary>
    public int FeatureSize => Hidden + (SkipInput ? InputSize : 0);
    /// <summary>
    /// Whether the policy's and the value's output layers are gated by the current observation o: they compute
    /// W₀·g + Σᵢ oᵢ·Wᵢ·g + b from what the layer reads (g: the head's last hidden layer, or the features for a linear
    /// head), a multiplicative interaction between what the agent sees now and what it remembers. For one-hot
    /// observations each state gets a read-out of its own, so "the best remembered action in this state" is linear in
    /// a memory that stores values per state and action. Needs <see cref="SkipInput"/> (the observation is read there).
    /// A task-aware critic, when there is one, is not gated.
    /// </summary>
    public bool GatedHead { get; }
    /// <summary>Hidden layer sizes of the policy and value MLP heads (empty: linear heads).</summary>
    public IReadOnlyList<int> Head { get; }
    public RecurrentCell Cell { get; }
    public bool Discrete { get; }
    public Space ActionSpace { get; }
    public int StateSize => _gru is not null ? Hidden : 2 * Hidden;
    public Tensor<float>? LogStd => _logStd is null ? null : P(_logStd);

    /// <summary>
    /// Whether a parameter (by its name in <see cref="Module{T}.NamedParameters"/>) serves only training estimates — the
    /// value head or task-aware critic, and the task head; the others shape the policy, and TRPO steps move them.
    /// </summary>
    public static bool IsTrainingOnlyParameter(string name) => name.StartsWith("value.", StringComparison.Ordinal) || name.StartsWith("value_gate.", StringComparison.Ordinal)
        || name.StartsWith("critic.", StringComparison.Ordinal) || name.StartsWith("task_head.", StringComparison.Ordinal);

    /// <summary>
    /// Multiplies the weights and bias of the policy's output layer (the linear head, the MLP's last layer or the gated
    /// head's output) by <paramref name="scale"/>: with discrete actions the logits scale with it, so the policy's
    /// temperature is divided by it (0: uniform). See <see cref="Rl2Config.WarmStartPolicyScale"/>.
    /// </summary>
    internal void ScalePolicyOutput(double scale)
    {
        if (scale == 1) return;
        var output = _policyGate ?? _policy ?? _policyMlp!.Layers[^1];
        float s = (float)scale;
        foreach (var t in output.Bias is null ? [output.Weight] : new[] { output.Weight, output.Bias })
            System.Numerics.Tensors.TensorPrimitives.Multiply(t.Data, s, t.Data);
    }

    public Tensor<float> InitialState(int batch) => Tensor.Zeros<float>(batch, StateSize);

    /// <summary>One step: x [B, I], state [B, S] → new state [B, S].</summary>
    public Tensor<float> Step(Tensor<float> x, Tensor<float> state)
    {
        if (!Memory) state = Tensor.Zeros<float>(state.Shape.ToArray());
        if (_gru is not null) return _gru.Step(x, state);
        var (h, c) = _lstm!.Step(x, Ops.Slice(state, 1, 0, Hidden), Ops.Slice(state, 1, Hidden, Hidden));
        return Ops.Concat([h, c], 1);
    }

    /// <summary>The features [B, F] the heads read, from the state [B, S] that input row x [B, I] led to.</summary>
    public Tensor<float> Features(Tensor<float> state, Tensor<float> x)
    {
        var h = _gru is not null ? state : Ops.Slice(state, state.Rank - 1, 0, Hidden);
        if (_norm is not null) h = _norm.Forward(h);
        return SkipInput ? Ops.Concat([h, x], 1) : h;
    }

    /// <summary>A sequence x [T, B, I] from state0 [B, S] → the features the heads read, [T, B, F].</summary>
    public Tensor<float> Sequence(Tensor<float> x, Tensor<float> state0)
    {
        Tensor<float> h;
        var reset = Memory ? null : Tensor.Zeros<float>(x.Shape[0], x.Shape[1]);
        if (_gru is not null) h = _gru.Forward(x, state0, reset);
        else h = _lstm!.Forward(x, Ops.Slice(state0, 1, 0, Hidden), Ops.Slice(state0, 1, Hidden, Hidden), reset).Output;
        if (_norm is not null) h = _norm.Forward(h);
        return SkipInput ? Ops.Concat([h, x], 2) : h;
    }

    /// <summary>Policy output (logits or Gaussian mean) [N, A] from features [N, F].</summary>
    public Tensor<float> Policy(Tensor<float> features)
    {
        if (_policyGate is not null) return Gate(_policyGate.Forward(_policyMlp?.Forward(features) ?? features), features, ActionSize);
        return _policy?.Forward(features) ?? _policyMlp!.Forward(features);
    }

    /// <summary>
    /// A gated output layer's result [N, <paramref name="outputs"/>] from its blocks [N, (O + 1)·outputs]: the first block
    /// plus each further block times its observation component (from the input row the features [N, F] carry), so that
    /// W₀·g + Σᵢ oᵢ·Wᵢ·g + b costs one product with O + 1 small blocks instead of one with the O·|g| products oᵢ·g.
    /// </summary>
    private Tensor<float> Gate(Tensor<float> blocks, Tensor<float> features, int outputs)
    {
        int n = features.Shape[0], o = ObservationSize;
        var gates = Ops.Concat([Tensor.Full<float>(1.0, n, 1), Ops.Slice(features, 1, Hidden, o)], 1);
        return Ops.Sum(Ops.Reshape(blocks, n, o + 1, outputs) * Ops.Reshape(gates, n, o + 1, 1), 1);
    }

    /// <summary>The task head's prediction of the task features, [N, <see cref="TaskPredictionFeatures"/>], from features [N, F].</summary>
    public Tensor<float> PredictTask(Tensor<float> features)
        => (_taskHead ?? throw new InvalidOperationException("This network has no task head (task-prediction=0).")).Forward(features);

    /// <summary>Value [N] from features [N, F] and, for a task-aware critic, task features [N, C].</summary>
    public Tensor<float> Value(Tensor<float> features, Tensor<float>? taskFeatures)
    {
        Tensor<float> v;
        if (_critic is not null)
        {
            if (taskFeatures is null || taskFeatures.Rank != 2 || taskFeatures.Shape[1] != CriticTaskFeatures || taskFeatures.Shape[0] != features.Shape[0])
                throw new ArgumentException($"The task-aware critic needs task features [{features.Shape[0]}, {CriticTaskFeatures}].");
            v = _critic.Forward(Ops.Concat([features, taskFeatures], 1));
        }
        else if (_valueGate is not null) v = Gate(_valueGate.Forward(_valueMlp?.Forward(features) ?? features), features, 1);
        else v = _value?.Forward(features) ?? _valueMlp!.Forward(features);
        return Ops.Reshape(v, v.Shape[0]);
    }
}
