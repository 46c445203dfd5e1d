using System.Globalization;
using MetaRL.Algorithms.Maml;
using MetaRL.Algorithms.Rl2;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Nn;
using static MetaRL.Algorithms.Export.OnnxGraph;

namespace MetaRL.Algorithms.Export;

/// <summary>The names, shapes and constants an exported model follows, for the runtime that loads it.</summary>
public enum OnnxConvention
{
    /// <summary>
    /// Godot RL Agents': inputs <c>obs</c> [batch, n] and <c>state_ins</c> ([batch, memory] for a recurrent policy, the
    /// plugin's one-value placeholder [batch] otherwise), outputs <c>output</c> (logits, or the mean action) and
    /// <c>state_outs</c>.
    /// </summary>
    Godot,

    /// <summary>
    /// Unity ML-Agents' (Sentis): inputs <c>obs_0</c> [batch, n], <c>action_masks</c> [batch, choices] for discrete
    /// actions and <c>recurrent_in</c> [batch, 1, memory] for a recurrent policy; outputs <c>version_number</c> (3),
    /// <c>memory_size</c>, the sampled, deterministic and shape outputs of the action kind, and <c>recurrent_out</c>.
    /// </summary>
    Unity,
}

/// <summary>A graph input or output: its name, element type ("float" or "int64") and dimensions ("batch" for the batch).</summary>
public sealed record OnnxTensor(string Name, string ElementType, IReadOnlyList<string> Dimensions)
{
    public override string ToString() => $"{Name} {ElementType}[{string.Join(", ", Dimensions)}]";
}

/// <summary>An exported model: the file's bytes, its inputs and outputs, and its metadata.</summary>
public sealed record OnnxModel(byte[] Bytes, IReadOnlyList<OnnxTensor> Inputs, IReadOnlyList<OnnxTensor> Outputs, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>Writes the model to <paramref name="path"/> atomically (a temporary file moved into place), creating its folder.</summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp";
        File.WriteAllBytes(temp, Bytes);
        File.Move(temp, full, overwrite: true);
    }
}

/// <summary>
/// Writes a trained agent's policy as an ONNX model (operator set 13, within what Unity's Sentis loads): RL²'s GRU or
/// LSTM network with its heads and observation statistics, the recurrent state an explicit input and output so the
/// caller carries memory across steps; a MAML MLP policy with any weights (θ₀, or weights adapted on a task); a SAC
/// policy (tanh-squashed, mapped onto the action box); or a PEARL agent, its posterior over z the recurrent state. The graph is made of elementary operators (MatMul, Add, Sigmoid,
/// Tanh, Slice, Concat, …) in the order the engine computes, so its outputs match the engine's to rounding. The model's metadata says what it is and, for recurrent
/// policies, the input row's layout (<see cref="AgentInputRow"/>).
/// </summary>
public static class OnnxExport
{
    /// <summary>The ONNX operator set the models use.</summary>
    public const int Opset = 13;

    /// <summary>The <c>version_number</c> Unity ML-Agents reads (its ModelApiVersion for ML-Agents 2.0 and later).</summary>
    public const int UnityApiVersion = 3;

    /// <summary>Metadata keys of an exported model.</summary>
    public const string RowKey = "metarl.input_row", OutputKey = "metarl.output", LogStdKey = "metarl.log_std";

    /// <summary>The learner's current policy as an ONNX model (RL², PEARL, SAC, and MAML, whose unadapted policy θ₀ is written).</summary>
    /// <exception cref="NotSupportedException">The algorithm's policy cannot be exported yet.</exception>
    public static OnnxModel Export(IMetaLearner learner, OnnxConvention convention)
    {
        ArgumentNullException.ThrowIfNull(learner);
        var metadata = new Dictionary<string, string>
        {
            ["metarl.algorithm"] = learner.Algorithm,
            ["metarl.task"] = learner.Tasks.Name,
            ["metarl.task_settings"] = string.Join(";", learner.TaskSettings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")),
            ["metarl.iteration"] = learner.Iteration.ToString(CultureInfo.InvariantCulture),
        };
        return learner.Agent() switch
        {
            Rl2Agent rl2 => Rl2(rl2.Network, learner.Tasks, convention, metadata),
            MamlAgent maml => Mlp(maml.Policy, maml.InitialWeights, convention, new Dictionary<string, string>(metadata) { ["metarl.weights"] = "meta-trained (unadapted)" }),
            FixedPolicyAgent fixedPolicy => Mlp(fixedPolicy.Policy, fixedPolicy.Policy.Parameters(), convention, metadata),
            Sac.SacAgent sac => SquashedGaussian(sac.Sac, sac.Map, convention, metadata),
            Pearl.PearlAgent pearl => pearl.Encoder is null ? SquashedGaussian(pearl.Sac, pearl.Map, convention, metadata) : Pearl(pearl, convention, metadata),
            var other => throw new NotSupportedException($"ONNX export covers RL², MAML, PEARL and SAC policies; '{learner.Algorithm}' ({other.Name}) cannot be exported."),
        };
    }

    /// <summary>
    /// A MAML agent's policy with the weights it plays <paramref name="slot"/> of <paramref name="session"/> with now: adapted
    /// to that slot's task by the gradient steps its trial has taken so far (θ₀ before the first).
    /// </summary>
    public static OnnxModel ExportAdapted(MamlAgent agent, IAgentSession session, OnnxConvention convention, int slot = 0)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return Mlp(agent.Policy, MamlAgent.AdaptedWeights(session, slot), convention, new Dictionary<string, string> { ["metarl.algorithm"] = "maml", ["metarl.weights"] = "adapted" });
    }

    /// <summary>The input row of an RL² network as an exported model reads it.</summary>
    public static AgentInputRow InputRow(Rl2Network network, TaskDistribution tasks)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(tasks);
        return new AgentInputRow(network.ObservationSize, network.ActionSize, network.Discrete, network.Memory, network.TimeInput,
            tasks.EpisodesPerTrial, tasks.Horizon, network.ReadsPreviousObservation, network.PolicyTaskFeatures);
    }

    /// <summary>An RL² network as an ONNX model in <paramref name="convention"/>.</summary>
    public static OnnxModel Rl2(Rl2Network network, TaskDistribution tasks, OnnxConvention convention, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var row = InputRow(network, tasks);
        var b = new Builder(convention);
        var x = b.G.Input(b.ObservationName, OnnxType.Float, Builder.Batch, row.Size);
        string state = b.StateInput(network.StateSize);
        var net = new Rl2Graph(b.G, network, row);
        var (output, nextState) = net.Build(x, state);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            [RowKey] = row.ToString(),
            ["metarl.state_size"] = network.StateSize.ToString(CultureInfo.InvariantCulture),
        };
        float[]? logStd = network.LogStd?.ToArray();
        b.Actions(output, network.Discrete, network.ActionSize, logStd, map: null, meta);
        b.StateOutput(nextState, network.StateSize);
        return b.Model("rl2", meta, $"RL² {network.Cell} policy ({network.Hidden} units) for {tasks.Name}; recurrent state of {network.StateSize} values.");
    }

    /// <summary>
    /// A MAML MLP policy evaluated with <paramref name="weights"/> (in the order of its parameters: θ₀, or weights adapted on
    /// a task) as an ONNX model in <paramref name="convention"/>. Its input is the raw observation.
    /// </summary>
    public static OnnxModel Mlp(MlpPolicy<float> policy, IReadOnlyList<Tensor<float>> weights, OnnxConvention convention, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(weights);
        var names = policy.NamedParameters().Select(p => p.Name).ToList();
        if (weights.Count != names.Count) throw new ArgumentException($"The policy has {names.Count} parameters; {weights.Count} weights were given.", nameof(weights));
        Tensor<float> W(string name) => weights[names.IndexOf(name)];
        var b = new Builder(convention);
        var x = b.G.Input(b.ObservationName, OnnxType.Float, Builder.Batch, policy.ObservationSize);
        b.PlaceholderState();
        var layers = policy.Network.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            x = b.G.Linear(x, W($"mlp.{i}.weight"), layers[i].Bias is null ? null : W($"mlp.{i}.bias"));
            x = b.G.Activate(i == layers.Count - 1 ? policy.Network.Output : policy.Network.Hidden, x);
        }
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            ["metarl.observations"] = policy.ObservationSize.ToString(CultureInfo.InvariantCulture),
        };
        b.Actions(x, policy.Discrete, policy.ActionSize, policy.Discrete ? null : W("log_std").ToArray(), policy.ActionMap, meta);
        return b.Model("mlp", meta, $"MLP policy {string.Join("x", layers.Select(l => l.OutFeatures))} over {policy.ObservationSize} observations.");
    }

    /// <summary>
    /// A soft actor-critic policy (no latent) as an ONNX model: the MLP's mean μ and clamped log σ, the action tanh(μ) (or
    /// tanh(μ + σ·noise) for Unity's sampled output) mapped onto the action box. Its input is the raw observation.
    /// </summary>
    public static OnnxModel SquashedGaussian(Sac.SoftActorCritic sac, Sac.ActionMap map, OnnxConvention convention, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(sac);
        ArgumentNullException.ThrowIfNull(map);
        if (sac.LatentSize > 0) throw new ArgumentException("This policy reads PEARL's latent; export its PearlAgent (the posterior travels as the model's state).", nameof(sac));
        var b = new Builder(convention);
        var x = b.G.Input(b.ObservationName, OnnxType.Float, Builder.Batch, sac.ObservationSize);
        b.PlaceholderState();
        SquashedPolicy(b, sac, map, x);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            ["metarl.observations"] = sac.ObservationSize.ToString(CultureInfo.InvariantCulture),
            [OutputKey] = "mean action",
        };
        return b.Model("sac", meta, $"Soft actor-critic policy {string.Join("x", sac.Policy.Network.Layers.Select(l => l.OutFeatures))} over {sac.ObservationSize} observations (tanh-squashed, mapped onto the action box).");
    }

    /// <summary>
    /// A PEARL agent as a recurrent ONNX model: its state is the posterior over z (the sums of the factors' precisions and
    /// precision-weighted means, then the z in use), and each step first adds the previous transition's factor from the
    /// context encoder, draws z when an episode starts (the posterior mean plus its standard deviation times the row's
    /// noise), then acts as the SAC policy on the observation and z. The row is <see cref="PearlInputRow"/>'s.
    /// </summary>
    public static OnnxModel Pearl(Pearl.PearlAgent agent, OnnxConvention convention, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(agent);
        var encoder = agent.Encoder ?? throw new ArgumentException("This PEARL agent has no latent (latent=0): export it as a plain SAC policy.", nameof(agent));
        var sac = agent.Sac;
        int o = sac.ObservationSize, a = sac.ActionSize, l = sac.LatentSize;
        var row = new PearlInputRow(o, a, l, agent.NextObservation);
        var b = new Builder(convention);
        var g = b.G;
        var x = g.Input(b.ObservationName, OnnxType.Float, Builder.Batch, row.Size);
        var state = b.StateInput(row.StateSize);
        int k = 0;
        string Take(int n)
        {
            var part = g.Slice(x, k, k + n);
            k += n;
            return part;
        }
        var obs = Take(o);
        var previousObs = Take(o);
        var previousAction = Take(a);
        var reward = Take(1);
        var previousNext = agent.NextObservation ? Take(o) : null;
        var has = Take(1);
        var start = Take(1);
        var noise = Take(l);

        // The previous transition as the encoder reads it: the action back in the policy's [−1, 1] coordinates.
        var (low, half) = agent.Map.Bounds;
        var unit = g.Op("Sub", g.Op("Div", g.Op("Sub", previousAction, g.Constant("low", low, 1, a)), g.Constant("half", half, 1, a)), g.Scalar("one", 1));
        string[] transition = previousNext is null ? [previousObs, unit, reward] : [previousObs, unit, reward, previousNext];
        var factor = g.Mlp(g.Op("Concat", transition, A("axis", 1L)), encoder.Network);
        var factorMean = g.Slice(factor, 0, l);
        var variance = g.Op("Max", g.Op("Softplus", g.Slice(factor, l, 2 * l)), g.Scalar("min_variance", (float)Algorithms.Pearl.ContextEncoder.MinVariance));
        var precision = g.Op("Mul", g.Op("Reciprocal", variance), has); // no transition yet: adds nothing
        var precisionSum = g.Op("Add", g.Slice(state, 0, l), precision);
        var weightedSum = g.Op("Add", g.Slice(state, l, 2 * l), g.Op("Mul", precision, factorMean));
        var previousZ = g.Slice(state, 2 * l, 3 * l);

        // z at an episode's start: N(Σpμ / Σp, 1 / Σp) from the factors so far, the prior N(0, 1) before any.
        var seen = g.Op("Greater", precisionSum, g.Scalar("zero", 0));
        var mean = g.Op("Where", seen, g.Op("Div", weightedSum, precisionSum), g.Scalar("prior_mean", 0));
        var deviation = g.Op("Where", seen, g.Op("Sqrt", g.Op("Reciprocal", precisionSum)), g.Scalar("prior_std", 1));
        var drawn = g.Op("Add", mean, g.Op("Mul", deviation, noise));
        var z = g.Op("Where", g.Op("Greater", start, g.Scalar("half", 0.5f)), drawn, previousZ);

        SquashedPolicy(b, sac, agent.Map, g.Op("Concat", [obs, z], A("axis", 1L)));
        b.StateOutput(g.Op("Concat", [precisionSum, weightedSum, z], A("axis", 1L)), row.StateSize);
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            [RowKey] = row.ToString(),
            ["metarl.state_size"] = row.StateSize.ToString(CultureInfo.InvariantCulture),
            [OutputKey] = "mean action",
            ["metarl.latent"] = agent.LatentRule == Algorithms.Pearl.PearlLatent.Mean ? "evaluated with the posterior mean (noise zeros)" : "evaluated with sampled z (noise standard normal)",
        };
        return b.Model("pearl", meta, $"PEARL: the posterior over a {l}-dimensional z as the state, and the SAC policy over {o} observations and z.");
    }

    /// <summary>The squashed Gaussian policy's outputs from <paramref name="input"/>: greedy tanh(μ), and for Unity tanh(μ + σ·noise), mapped onto the box.</summary>
    private static void SquashedPolicy(Builder b, Sac.SoftActorCritic sac, Sac.ActionMap map, string input)
    {
        int a = sac.ActionSize;
        var g = b.G;
        var h = g.Mlp(input, sac.Policy.Network);
        var mean = g.Slice(h, 0, a);
        var logStd = g.Op("Clip", g.Slice(h, a, 2 * a), g.Scalar("log_std_min", (float)Sac.TanhGaussianPolicy.LogStdMin), g.Scalar("log_std_max", (float)Sac.TanhGaussianPolicy.LogStdMax));
        var (low, half) = map.Bounds;
        // low + (clamp(u, −1, 1) + 1)·half, as ActionMap.ToEnv computes it.
        string ToBox(string unit) => g.Op("Add",
            g.Op("Mul", g.Op("Add", g.Op("Clip", unit, g.Scalar("minus_one", -1), g.Scalar("one", 1)), g.Scalar("one", 1)), g.Constant("half", half, 1, a)),
            g.Constant("low", low, 1, a));
        b.SquashedActions(ToBox(g.Op("Tanh", mean)),
            () => ToBox(g.Op("Tanh", g.Op("Add", mean, g.Op("Mul", g.Op("RandomNormalLike", [mean], A("dtype", 1L)), g.Op("Exp", logStd))))), a);
    }

    /// <summary>The inputs and outputs each convention names, around the policy's own graph.</summary>
    private sealed class Builder(OnnxConvention convention)
    {
        public const string Batch = "batch";
        public readonly OnnxGraph G = new();
        private int _stateSize;

        /// <summary>The constants Unity's runtime reads: the API version and the memory size (0 without a recurrent state).</summary>
        private void UnityConstants()
        {
            G.Output("version_number", G.Constant("version", [UnityApiVersion], 1), OnnxType.Float, 1);
            G.Output("memory_size", G.Constant("memory", [_stateSize], 1), OnnxType.Float, 1);
        }

        /// <summary>Continuous actions already in the environment's units: the greedy one, and the sampled one built on demand (Unity only).</summary>
        public void SquashedActions(string greedy, Func<string> sampled, int size)
        {
            if (convention == OnnxConvention.Godot)
            {
                G.Output("output", greedy, OnnxType.Float, Batch, size);
                return;
            }
            UnityConstants();
            G.Output("continuous_actions", sampled(), OnnxType.Float, Batch, size);
            G.Output("continuous_action_output_shape", G.Constant("action_size", [size], 1), OnnxType.Float, 1);
            G.Output("deterministic_continuous_actions", greedy, OnnxType.Float, Batch, size);
        }

        public string ObservationName => convention == OnnxConvention.Unity ? "obs_0" : "obs";

        /// <summary>The recurrent state input, as [batch, size] whatever the convention's shape.</summary>
        public string StateInput(int size)
        {
            _stateSize = size;
            if (convention == OnnxConvention.Godot) return G.Input("state_ins", OnnxType.Float, Batch, size);
            return G.Op("Reshape", G.Input("recurrent_in", OnnxType.Float, Batch, 1, size), G.Int64s("state_shape", -1, size));
        }

        /// <summary>Godot RL Agents' plugin feeds a one-value state to every model; a memory-less policy passes it through.</summary>
        public void PlaceholderState()
        {
            if (convention == OnnxConvention.Godot) G.Output("state_outs", G.Input("state_ins", OnnxType.Float, Batch), OnnxType.Float, Batch);
        }

        public void StateOutput(string state, int size)
        {
            if (convention == OnnxConvention.Godot) G.Output("state_outs", state, OnnxType.Float, Batch, size);
            else G.Output("recurrent_out", G.Op("Reshape", state, G.Int64s("recurrent_shape", -1, 1, size)), OnnxType.Float, Batch, 1, size);
        }

        /// <summary>
        /// The action outputs from the policy's output (logits, or the Gaussian mean in the policy's coordinates, mapped onto
        /// the action box by <paramref name="map"/> when it acts in [−1, 1]).
        /// </summary>
        public void Actions(string output, bool discrete, int size, float[]? logStd, (float[] Offset, float[] HalfRange)? map, Dictionary<string, string> meta)
        {
            string ToEnvironment(string a) => map is { } m
                ? G.Op("Add", G.Op("Mul", a, G.Constant("half_range", m.HalfRange, 1, size)), G.Constant("offset", m.Offset, 1, size))
                : a;
            meta[OutputKey] = discrete ? "logits" : "mean action";
            if (!discrete) meta[LogStdKey] = string.Join(",", logStd!.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))
                + (map is null ? "" : " (in [-1, 1] coordinates mapped onto the action box)");
            if (convention == OnnxConvention.Godot)
            {
                G.Output("output", discrete ? output : ToEnvironment(output), OnnxType.Float, Batch, size);
                return;
            }
            UnityConstants();
            if (discrete)
            {
                // Masked choices get −1e9 added to their logit: never the greedy choice, probability 0 when sampled.
                var masks = G.Input("action_masks", OnnxType.Float, Batch, size);
                var masked = G.Op("Add", output, G.Op("Mul", G.Op("Sub", masks, G.Scalar("one", 1)), G.Scalar("mask_penalty", 1e9f)));
                G.Output("discrete_actions", G.Op("Multinomial", [masked], A("dtype", 7L), A("sample_size", 1L)), OnnxType.Int64, Batch, 1);
                G.Output("discrete_action_output_shape", G.Constant("branches", [size], 1, 1), OnnxType.Float, 1, 1);
                G.Output("deterministic_discrete_actions", G.Op("ArgMax", [masked], A("axis", 1L), A("keepdims", 1L)), OnnxType.Int64, Batch, 1);
                return;
            }
            var noise = G.Op("RandomNormalLike", [output], A("dtype", 1L));
            var sampled = G.Op("Add", output, G.Op("Mul", noise, G.Op("Exp", G.Constant("log_std", logStd!, 1, size))));
            G.Output("continuous_actions", ToEnvironment(sampled), OnnxType.Float, Batch, size);
            G.Output("continuous_action_output_shape", G.Constant("action_size", [size], 1), OnnxType.Float, 1);
            G.Output("deterministic_continuous_actions", ToEnvironment(output), OnnxType.Float, Batch, size);
        }

        public OnnxModel Model(string name, IReadOnlyDictionary<string, string> meta, string doc)
        {
            var all = new Dictionary<string, string>(meta) { ["metarl.convention"] = convention.ToString().ToLowerInvariant() };
            string version = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0";
            return new OnnxModel(G.ToModel(name, Opset, version, all, doc), G.Inputs.ToArray(), G.Outputs.ToArray(), all);
        }
    }

    /// <summary>RL²'s acting step as graph nodes: the network's input row from the exported row, the recurrent cell, the features and the policy head.</summary>
    private sealed class Rl2Graph(OnnxGraph g, Rl2Network net, AgentInputRow row)
    {
        public (string Output, string State) Build(string x, string state)
        {
            int o = net.ObservationSize, a = net.ActionSize;
            int k = 0;
            string Take(int n)
            {
                var part = g.Slice(x, k, k + n);
                k += n;
                return part;
            }
            var obs = Normalize(Take(o));
            var action = Take(a);
            var reward = Take(1);
            var done = Take(1);
            var parts = new List<string> { obs, action, reward, done };
            if (net.TimeInput) parts.Add(Take(2));
            string? previous = null;
            if (row.PreviousObservation)
            {
                var raw = Take(o);
                var has = Take(1);
                previous = g.Op("Mul", Normalize(raw), has);
            }
            if (net.PreviousObservation) parts.Add(previous!);
            if (net.PairInput)
            {
                // (previous observation ⊗ previous action), then the same times the previous reward, row-major as the engine writes them.
                var outer = g.Op("Mul", g.Op("Unsqueeze", previous!, g.Int64s("axis2", 2)), g.Op("Unsqueeze", action, g.Int64s("axis1", 1)));
                var plain = g.Op("Reshape", outer, g.Int64s("pair_shape", -1, o * a));
                parts.Add(plain);
                parts.Add(g.Op("Mul", plain, reward));
            }
            if (net.PolicyTaskFeatures > 0) parts.Add(Take(net.PolicyTaskFeatures));
            var input = g.Op("Concat", [.. parts], A("axis", 1L));

            string prior = net.Memory ? state : g.Constant("zero_state", new float[net.StateSize], 1, net.StateSize);
            string next, hidden;
            if (net.GruCore is { } gru) next = hidden = Gru(gru, input, prior);
            else (next, hidden) = Lstm(net.LstmCore!, input, prior);

            if (net.Norm is { } norm) hidden = LayerNorm(hidden, norm);
            var features = net.SkipInput ? g.Op("Concat", [hidden, input], A("axis", 1L)) : hidden;
            string output;
            if (net.PolicyGate is { } gate)
            {
                var inner = net.PolicyMlp is { } hiddenLayers ? g.Mlp(features, hiddenLayers) : features;
                var blocks = g.Linear(inner, gate.Weight, gate.Bias);
                // W₀g + Σᵢ oᵢWᵢg + b: the first block, plus the others weighted by the (scaled) observation.
                var first = g.Slice(blocks, 0, a);
                var rest = g.Op("Reshape", g.Slice(blocks, a, (o + 1) * a), g.Int64s("gate_shape", -1, o, a));
                var weighted = g.Op("Mul", rest, g.Op("Unsqueeze", obs, g.Int64s("axis2", 2)));
                output = g.Op("Add", first, g.Op("ReduceSum", [weighted, g.Int64s("axis1", 1)], A("keepdims", 0L)));
            }
            else if (net.PolicyLinear is { } linear) output = g.Linear(features, linear.Weight, linear.Bias);
            else output = g.Mlp(features, net.PolicyMlp!);
            return (output, next);
        }

        /// <summary>(x − mean) / √(var + 1e-8) clipped to ±10 with the network's statistics; unchanged before any were gathered.</summary>
        private string Normalize(string x)
        {
            if (net.ObservationNormalizer is not { Count: > 0 } n) return x;
            var mean = new float[n.Size];
            var std = new float[n.Size];
            for (int i = 0; i < n.Size; i++)
            {
                mean[i] = (float)n.Mean(i);
                std[i] = (float)Math.Sqrt(n.Variance(i) + 1e-8);
            }
            var scaled = g.Op("Div", g.Op("Sub", x, g.Constant("obs_mean", mean, 1, n.Size)), g.Constant("obs_std", std, 1, n.Size));
            return g.Op("Clip", scaled, g.Scalar("clip_low", -10), g.Scalar("clip_high", 10));
        }

        private string Gru(Gru<float> gru, string x, string h)
        {
            int hs = net.Hidden;
            string Gate(int i, Tensor<float> w, Tensor<float> b, string input) => g.Op("Add", g.Op("MatMul", input, g.Columns(w, i * hs, hs)), g.Columns(b, i * hs, hs));
            var r = g.Op("Sigmoid", g.Op("Add", Gate(0, gru.WeightIh, gru.BiasIh, x), Gate(0, gru.WeightHh, gru.BiasHh, h)));
            var z = g.Op("Sigmoid", g.Op("Add", Gate(1, gru.WeightIh, gru.BiasIh, x), Gate(1, gru.WeightHh, gru.BiasHh, h)));
            var n = g.Op("Tanh", g.Op("Add", Gate(2, gru.WeightIh, gru.BiasIh, x), g.Op("Mul", r, Gate(2, gru.WeightHh, gru.BiasHh, h))));
            return g.Op("Add", n, g.Op("Mul", z, g.Op("Sub", h, n)));
        }

        private (string State, string Hidden) Lstm(Lstm<float> lstm, string x, string state)
        {
            int hs = net.Hidden;
            var h = g.Slice(state, 0, hs);
            var c = g.Slice(state, hs, 2 * hs);
            string Gate(int i) => g.Op("Add",
                g.Op("Add", g.Op("MatMul", x, g.Columns(lstm.WeightIh, i * hs, hs)), g.Columns(lstm.BiasIh, i * hs, hs)),
                g.Op("Add", g.Op("MatMul", h, g.Columns(lstm.WeightHh, i * hs, hs)), g.Columns(lstm.BiasHh, i * hs, hs)));
            var input = g.Op("Sigmoid", Gate(0));
            var forget = g.Op("Sigmoid", Gate(1));
            var candidate = g.Op("Tanh", Gate(2));
            var output = g.Op("Sigmoid", Gate(3));
            var cell = g.Op("Add", g.Op("Mul", forget, c), g.Op("Mul", input, candidate));
            var hidden = g.Op("Mul", output, g.Op("Tanh", cell));
            return (g.Op("Concat", [hidden, cell], A("axis", 1L)), hidden);
        }

        private string LayerNorm(string x, LayerNorm<float> norm)
        {
            var mean = g.Op("ReduceMean", [x], A("axes", new long[] { 1 }), A("keepdims", 1L));
            var centred = g.Op("Sub", x, mean);
            var variance = g.Op("ReduceMean", [g.Op("Mul", centred, centred)], A("axes", new long[] { 1 }), A("keepdims", 1L));
            var deviation = g.Op("Sqrt", g.Op("Add", variance, g.Scalar("ln_eps", (float)norm.Epsilon)));
            return g.Op("Add", g.Op("Mul", g.Op("Div", centred, deviation), g.Row(norm.Gain)), g.Row(norm.Bias));
        }
    }
}

/// <summary>Layer-level helpers over <see cref="OnnxGraph"/>.</summary>
internal static class OnnxLayers
{
    /// <summary>x[:, start:end].</summary>
    public static string Slice(this OnnxGraph g, string x, int start, int end)
        => g.Op("Slice", x, g.Int64s("start", start), g.Int64s("end", end), g.Int64s("axes", 1));

    /// <summary>A weight matrix [in, out] (or a bias [out]) as a constant; with a column range, only those columns.</summary>
    public static string Columns(this OnnxGraph g, Tensor<float> w, int start, int count)
    {
        if (w.Rank == 1) return g.Constant("bias", w.Data.Slice(start, count).ToArray(), 1, count);
        int rows = w.Shape[0], cols = w.Shape[1];
        var data = new float[rows * count];
        for (int r = 0; r < rows; r++) w.Data.Slice(r * cols + start, count).CopyTo(data.AsSpan(r * count, count));
        return g.Constant("weight", data, rows, count);
    }

    /// <summary>A vector as a [1, n] constant (broadcast over the batch).</summary>
    public static string Row(this OnnxGraph g, Tensor<float> v) => g.Constant("row", v.ToArray(), 1, v.Size);

    /// <summary>x·W + b, as <c>Ops.Linear</c>.</summary>
    public static string Linear(this OnnxGraph g, string x, Tensor<float> w, Tensor<float>? b)
    {
        var y = g.Op("MatMul", x, g.Columns(w, 0, w.Shape[1]));
        return b is null ? y : g.Op("Add", y, g.Row(b));
    }

    public static string Activate(this OnnxGraph g, Activation a, string x) => a switch
    {
        Activation.Identity => x,
        Activation.Tanh => g.Op("Tanh", x),
        Activation.Sigmoid => g.Op("Sigmoid", x),
        Activation.Relu => g.Op("Relu", x),
        _ => throw new NotSupportedException($"Activation {a} has no ONNX counterpart here."),
    };

    public static string Mlp(this OnnxGraph g, string x, Mlp<float> mlp)
    {
        for (int i = 0; i < mlp.Layers.Count; i++)
            x = g.Activate(i == mlp.Layers.Count - 1 ? mlp.Output : mlp.Hidden, g.Linear(x, mlp.Layers[i].Weight, mlp.Layers[i].Bias));
        return x;
    }
}
