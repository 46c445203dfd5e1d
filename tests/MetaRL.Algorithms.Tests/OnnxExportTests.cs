using MetaRL.Algorithms.Export;
using MetaRL.Algorithms.Maml;
using MetaRL.Algorithms.Rl2;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MetaRL.Algorithms.Tests;

/// <summary>Exported ONNX models run by OnnxRuntime against the engine, step by step on held-out tasks, in both conventions.</summary>
public sealed class OnnxExportTests
{
    private const int Steps = 1000;

    public static TheoryData<string, string[]> Networks => new()
    {
        // Each family set to trials of 1000 steps: one trial, the memory carried through all of it.
        { "bandit", ["hidden=12", "episodes=1000"] },
        { "bandit", ["hidden=12", "cell=lstm", "episodes=1000"] },
        { "bandit", ["hidden=12", "memory=false", "episodes=1000"] },
        { "bandit", ["hidden=12", "layer-norm=true", "cell=lstm", "time-input=true", "episodes=1000"] },
        { "tabular-mdp", ["hidden=16", "skip-input=true", "gated-head=true", "pair-input=true", "head=8", "episodes=100"] },
        { "tabular-mdp", ["hidden=16", "task-input=true", "episodes=100"] },
        { "navigation-2d", ["episodes=10"] }, // the default GRU(128)
        { "navigation-2d", ["hidden=12", "head=8,6", "normalize-observations=true", "episodes=10"] },
        { "navigation-2d", ["hidden=12", "skip-input=true", "gated-head=true", "previous-observation=true", "normalize-observations=true", "episodes=10"] },
        { "navigation-2d", ["hidden=12", "skip-input=true", "gated-head=true", "head=7", "layer-norm=true", "time-input=true", "cell=lstm", "episodes=10"] },
        { "dependent-bandit", ["hidden=10", "skip-input=true", "gated-head=true", "pair-input=true", "head=5", "episodes=1000"] },
    };

    private static (Rl2Network Net, TaskDistribution Tasks, Core.Learning.IMetaLearner Learner) Build(string task, string[] settings)
    {
        var s = TestSettings.Parse(settings);
        s["deterministic"] = "true";
        var learner = MetaLearners.Create("rl2", task, s, seed: 5);
        var net = ((Rl2Agent)learner.Agent()).Network;
        var rng = new Rng(8);
        // Move the layer norm off its initial gain 1, bias 0; scale the policy's output layer (initialised with gain 0.01)
        // to outputs of a trained policy's size (logits of several units; means that stay near the action box, since the
        // previous action is fed back); and give the observation statistics something to scale by.
        foreach (var (name, p) in net.NamedParameters())
        {
            if (name.StartsWith("norm.", StringComparison.Ordinal))
                for (int i = 0; i < p.Size; i++) p.Data[i] = 0.5f + 0.1f * i;
        }
        ScaleOutputLayer(net, net.Discrete ? 100 : 3);
        if (net.ObservationNormalizer is { } norm)
        {
            var rows = new float[64 * norm.Size];
            for (int i = 0; i < rows.Length; i++) rows[i] = (float)rng.Normal(0.3, 2);
            norm.Update(rows);
        }
        return (net, learner.Tasks, learner);
    }

    /// <summary>Multiplies the policy head's last layer by <paramref name="factor"/>.</summary>
    private static void ScaleOutputLayer(Rl2Network net, float factor)
    {
        var last = net.PolicyGate ?? net.PolicyLinear ?? net.PolicyMlp!.Layers[^1];
        foreach (var t in new[] { last.Weight, last.Bias })
            if (t is not null)
                for (int i = 0; i < t.Size; i++) t.Data[i] *= factor;
    }

    private static NamedOnnxValue Value(string name, float[] data, params int[] dims) => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(data, dims));

    private static float[] Floats(IEnumerable<DisposableNamedOnnxValue> results, string name) => results.Single(r => r.Name == name).AsTensor<float>().ToArray();

    private static long[] Longs(IEnumerable<DisposableNamedOnnxValue> results, string name) => results.Single(r => r.Name == name).AsTensor<long>().ToArray();

    /// <summary>|a − b| within 1e-5, relative to the value above 1 (float32 spacing at 100 is already 7.6e-6).</summary>
    private static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = 1e-5 * Math.Max(1, Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"{what}[{i}]: engine {expected[i]:R}, ONNX {actual[i]:R}");
        }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void An_exported_RL2_network_gives_the_engines_outputs_and_actions_over_1000_steps_in_both_conventions(string task, string[] settings)
    {
        var (net, tasks, learner) = Build(task, settings);
        foreach (var convention in new[] { OnnxConvention.Godot, OnnxConvention.Unity })
        {
            using var onnx = new InferenceSession(OnnxExport.Export(learner, convention).Bytes);
            var row = AgentInputRow.Parse(onnx.ModelMetadata.CustomMetadataMap[OnnxExport.RowKey]);
            Assert.Equal(OnnxExport.InputRow(net, tasks).ToString(), row.ToString());
            var player = new AgentPlayer(learner.Agent(), tasks, seed: 4);
            var env = tasks.CreateEnv();
            var obs = new float[tasks.ObservationSpace.Size];
            var input = new float[row.Size];
            var state = new float[net.StateSize];
            var features = new float[net.PolicyTaskFeatures];
            var rng = new Rng(6);
            int steps = 0, trial = 0;
            var heldOut = MetaTest.Tasks(tasks, 1, 200);
            while (steps < Steps)
            {
                var t = heldOut[trial++];
                env.SetTask(t);
                player.Reset(t);
                row.StartTrial();
                Array.Clear(state);
                if (features.Length > 0) tasks.WriteTaskFeatures(t, features);
                for (int e = 0; e < tasks.EpisodesPerTrial; e++)
                {
                    env.Reset(rng, obs);
                    for (bool done = false; !done; steps++)
                    {
                        row.Write(obs, input, features);
                        var action = player.Act(obs).ToArray();
                        var expected = player.PolicyOutput.ToArray();
                        var inputs = new List<NamedOnnxValue> { Value(convention == OnnxConvention.Godot ? "obs" : "obs_0", input, 1, row.Size) };
                        inputs.Add(convention == OnnxConvention.Godot ? Value("state_ins", state, 1, state.Length) : Value("recurrent_in", state, 1, 1, state.Length));
                        if (convention == OnnxConvention.Unity && net.Discrete) inputs.Add(Value("action_masks", Enumerable.Repeat(1f, net.ActionSize).ToArray(), 1, net.ActionSize));
                        using var results = onnx.Run(inputs);
                        string where = $"{convention} step {steps}";
                        if (convention == OnnxConvention.Godot)
                        {
                            var output = Floats(results, "output");
                            Close(expected, output, where + " output");
                            if (net.Discrete) Assert.Equal(action[0], ArgMax(output));
                            state = Floats(results, "state_outs");
                        }
                        else if (net.Discrete)
                        {
                            Assert.Equal((long)action[0], Longs(results, "deterministic_discrete_actions").Single());
                            long sampled = Longs(results, "discrete_actions").Single();
                            Assert.InRange(sampled, 0, net.ActionSize - 1);
                            state = Floats(results, "recurrent_out");
                        }
                        else
                        {
                            Close(expected, Floats(results, "deterministic_continuous_actions"), where + " deterministic action");
                            state = Floats(results, "recurrent_out");
                        }
                        if (!net.Discrete) Close(expected, action, where + " engine action"); // greedy: the mean is the action
                        var r = env.Step(action, rng, obs);
                        done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
                        row.Observe(action, (float)r.Reward, done);
                    }
                }
            }
        }
    }

    private static float ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }

    [Fact]
    public void Each_convention_has_exactly_the_names_shapes_and_constants_it_requires()
    {
        foreach (var (task, discrete) in new[] { ("bandit", true), ("navigation-2d", false) })
        {
            var (net, _, learner) = Build(task, ["hidden=12", "cell=lstm"]);
            int r = OnnxExport.InputRow(net, learner.Tasks).Size, s = net.StateSize, a = net.ActionSize;

            using (var godot = new InferenceSession(OnnxExport.Export(learner, OnnxConvention.Godot).Bytes))
            {
                Assert.Equal(["obs", "state_ins"], godot.InputMetadata.Keys.Order());
                Assert.Equal(["output", "state_outs"], godot.OutputMetadata.Keys.Order());
                Assert.Equal([-1, r], godot.InputMetadata["obs"].Dimensions);
                Assert.Equal([-1, s], godot.InputMetadata["state_ins"].Dimensions);
                Assert.Equal([-1, a], godot.OutputMetadata["output"].Dimensions);
                Assert.Equal([-1, s], godot.OutputMetadata["state_outs"].Dimensions);
                Assert.Equal("batch", godot.InputMetadata["obs"].SymbolicDimensions[0]);
            }

            using var unity = new InferenceSession(OnnxExport.Export(learner, OnnxConvention.Unity).Bytes);
            string[] inputs = discrete ? ["action_masks", "obs_0", "recurrent_in"] : ["obs_0", "recurrent_in"];
            string[] outputs = discrete
                ? ["deterministic_discrete_actions", "discrete_action_output_shape", "discrete_actions", "memory_size", "recurrent_out", "version_number"]
                : ["continuous_action_output_shape", "continuous_actions", "deterministic_continuous_actions", "memory_size", "recurrent_out", "version_number"];
            Assert.Equal(inputs, unity.InputMetadata.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(outputs, unity.OutputMetadata.Keys.Order(StringComparer.Ordinal));
            Assert.Equal([-1, r], unity.InputMetadata["obs_0"].Dimensions);
            Assert.Equal([-1, 1, s], unity.InputMetadata["recurrent_in"].Dimensions);
            Assert.Equal([-1, 1, s], unity.OutputMetadata["recurrent_out"].Dimensions);
            using var results = unity.Run(new List<NamedOnnxValue>(
                discrete
                    ? [Value("obs_0", new float[r], 1, r), Value("recurrent_in", new float[s], 1, 1, s), Value("action_masks", Enumerable.Repeat(1f, a).ToArray(), 1, a)]
                    : [Value("obs_0", new float[r], 1, r), Value("recurrent_in", new float[s], 1, 1, s)]));
            Assert.Equal([3f], Floats(results, "version_number"));
            Assert.Equal([(float)s], Floats(results, "memory_size"));
            if (discrete)
            {
                Assert.Equal([(float)a], Floats(results, "discrete_action_output_shape"));
                Assert.Equal(typeof(long), unity.OutputMetadata["discrete_actions"].ElementType);
                Assert.Equal([-1, 1], unity.OutputMetadata["deterministic_discrete_actions"].Dimensions);
            }
            else
            {
                Assert.Equal([(float)a], Floats(results, "continuous_action_output_shape"));
                Assert.Equal([-1, a], unity.OutputMetadata["continuous_actions"].Dimensions);
            }
        }

        // A memory-less MLP (MAML): Godot's plugin feeds a one-value state placeholder; Unity's model declares memory 0 and no recurrent tensors.
        var maml = MetaLearners.Create("maml", "navigation-2d", new Dictionary<string, string> { ["hidden"] = "8" }, seed: 1);
        using (var godot = new InferenceSession(OnnxExport.Export(maml, OnnxConvention.Godot).Bytes))
        {
            Assert.Equal(["obs", "state_ins"], godot.InputMetadata.Keys.Order());
            Assert.Equal([-1], godot.InputMetadata["state_ins"].Dimensions);
            Assert.Equal(["output", "state_outs"], godot.OutputMetadata.Keys.Order());
        }
        using (var unity = new InferenceSession(OnnxExport.Export(maml, OnnxConvention.Unity).Bytes))
        {
            Assert.Equal(["obs_0"], unity.InputMetadata.Keys);
            using var results = unity.Run([Value("obs_0", new float[2], 1, 2)]);
            Assert.Equal([0f], Floats(results, "memory_size"));
            Assert.DoesNotContain("recurrent_out", unity.OutputMetadata.Keys);
        }
    }

    [Fact]
    public void Unity_action_masks_exclude_choices_and_sampled_continuous_actions_have_the_policys_spread()
    {
        var (_, _, bandit) = Build("bandit", ["hidden=12"]);
        var net = ((Rl2Agent)bandit.Agent()).Network;
        int r = OnnxExport.InputRow(net, bandit.Tasks).Size, s = net.StateSize, a = net.ActionSize;
        using (var unity = new InferenceSession(OnnxExport.Export(bandit, OnnxConvention.Unity).Bytes))
        {
            const int n = 200;
            var mask = new float[n * a];
            for (int i = 0; i < n; i++) mask[i * a + (i % a)] = 1; // row i may only choose i mod a
            using var results = unity.Run([Value("obs_0", new float[n * r], n, r), Value("recurrent_in", new float[n * s], n, 1, s), Value("action_masks", mask, n, a)]);
            var greedy = Longs(results, "deterministic_discrete_actions");
            var sampled = Longs(results, "discrete_actions");
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(i % a, greedy[i]);
                Assert.Equal(i % a, sampled[i]);
            }
        }

        var (nav, _, navLearner) = Build("navigation-2d", ["hidden=12"]);
        using var model = new InferenceSession(OnnxExport.Export(navLearner, OnnxConvention.Unity).Bytes);
        const int rows = 4000;
        int width = OnnxExport.InputRow(nav, navLearner.Tasks).Size;
        using var sample = model.Run([Value("obs_0", new float[rows * width], rows, width), Value("recurrent_in", new float[rows * nav.StateSize], rows, 1, nav.StateSize)]);
        var mean = Floats(sample, "deterministic_continuous_actions");
        var drawn = Floats(sample, "continuous_actions");
        var logStd = nav.LogStd!.ToArray();
        for (int j = 0; j < nav.ActionSize; j++)
        {
            var d = Enumerable.Range(0, rows).Select(i => (double)drawn[i * nav.ActionSize + j] - mean[i * nav.ActionSize + j]).ToArray();
            double m = d.Average(), sd = Math.Sqrt(d.Select(x => (x - m) * (x - m)).Sum() / (rows - 1));
            Assert.InRange(m, -0.1 * Math.Exp(logStd[j]), 0.1 * Math.Exp(logStd[j]));
            Assert.InRange(sd / Math.Exp(logStd[j]), 0.94, 1.06);
        }
    }

    public static TheoryData<string, string[]> MamlPolicies => new()
    {
        { "navigation-2d", ["hidden=16,16", "trajectories=2"] },
        { "navigation-2d", ["hidden=16", "trajectories=2", "normalize-actions=false"] },
        { "bandit", ["hidden=8,8", "trajectories=3"] },
    };

    [Theory]
    [MemberData(nameof(MamlPolicies))]
    public void A_MAML_policy_exports_with_its_meta_trained_weights_and_with_the_weights_adapted_on_a_task(string task, string[] settings)
    {
        var s = TestSettings.Parse(settings);
        var learner = MetaLearners.Create("maml", task, s, seed: 2);
        var tasks = learner.Tasks;
        var agent = (MamlAgent)learner.Agent();
        var session = agent.Begin(1, tasks, new Rng(3));
        var outputs = (IPolicyOutputs)session;
        var env = tasks.CreateEnv();
        var obs = new float[tasks.ObservationSpace.Size];
        var action = new float[tasks.ActionSpace.Size];
        var rng = new Rng(4);
        var t = MetaTest.Tasks(tasks, 1, 1)[0];
        env.SetTask(t);
        session.StartTrial(0, t);
        int rounds = 3, steps = 0;
        for (int round = 0; round < rounds; round++)
        {
            // The weights of this round: θ₀ first, then adapted by each round's gradient step.
            var bytes = round == 0 ? OnnxExport.Export(learner, OnnxConvention.Godot).Bytes : OnnxExport.ExportAdapted(agent, session, OnnxConvention.Godot).Bytes;
            using var onnx = new InferenceSession(bytes);
            for (int e = 0; e < agent.Adaptation.Trajectories; e++)
            {
                env.Reset(rng, obs);
                for (int step = 0; ; step++)
                {
                    steps++;
                    session.Act(obs, [true], action);
                    using var results = onnx.Run([Value("obs", obs.ToArray(), 1, obs.Length), Value("state_ins", [0f], 1)]);
                    Close(outputs.PolicyOutput(0), Floats(results, "output"), $"round {round} step {step}");
                    var r = env.Step(action, rng, obs);
                    bool done = r.Terminated || r.Truncated || step + 1 >= tasks.Horizon;
                    session.Observe(action, [(float)r.Reward], obs, [done], [true]);
                    if (done) break;
                }
            }
        }
        Assert.True(steps > 0);
        // The adapted weights differ from θ₀ (the export after a step is not the unadapted policy again).
        var theta0 = agent.InitialWeights.SelectMany(w => w.ToArray()).ToArray();
        var adapted = MamlAgent.AdaptedWeights(session).SelectMany(w => w.ToArray()).ToArray();
        Assert.NotEqual(theta0, adapted);
    }

    [Theory]
    [InlineData("pendulum", "hidden=16,16", "true")]
    [InlineData("navigation-2d", "hidden=12", "false")]
    public void An_exported_SAC_policy_gives_the_engines_mean_action_over_1000_steps_in_both_conventions(string task, string hidden, string deterministic)
    {
        var learner = MetaLearners.Create("sac", task, new Dictionary<string, string> { ["hidden"] = hidden.Split('=')[1], ["deterministic"] = deterministic }, seed: 3);
        var tasks = learner.Tasks;
        foreach (var convention in new[] { OnnxConvention.Godot, OnnxConvention.Unity })
        {
            using var onnx = new InferenceSession(OnnxExport.Export(learner, convention).Bytes);
            var player = new AgentPlayer(learner.Agent(), tasks, seed: 4);
            var env = tasks.CreateEnv();
            var obs = new float[tasks.ObservationSpace.Size];
            var rng = new Rng(6);
            int steps = 0, trial = 0;
            var heldOut = MetaTest.Tasks(tasks, 1, 50);
            while (steps < Steps)
            {
                var t = heldOut[trial++ % heldOut.Length];
                env.SetTask(t);
                player.Reset();
                env.Reset(rng, obs);
                for (bool done = false; !done; steps++)
                {
                    var action = player.Act(obs).ToArray();
                    var expected = player.PolicyOutput.ToArray();
                    var inputs = new List<NamedOnnxValue> { Value(convention == OnnxConvention.Godot ? "obs" : "obs_0", obs.ToArray(), 1, obs.Length) };
                    if (convention == OnnxConvention.Godot) inputs.Add(Value("state_ins", [0f], 1));
                    using var results = onnx.Run(inputs);
                    Close(expected, Floats(results, convention == OnnxConvention.Godot ? "output" : "deterministic_continuous_actions"), $"{convention} step {steps}");
                    if (deterministic == "true") Close(expected, action, $"step {steps} engine action");
                    if (convention == OnnxConvention.Unity)
                    {
                        var sampled = Floats(results, "continuous_actions");
                        var box = (MetaRL.Core.Spaces.Box)tasks.ActionSpace;
                        for (int j = 0; j < sampled.Length; j++) Assert.InRange(sampled[j], box.Low[j], box.High[j]);
                    }
                    var r = env.Step(action, rng, obs);
                    done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
                }
            }
        }
    }

    [Theory]
    [InlineData("point-robot", "false", "2")]
    [InlineData("sparse-point-robot", "true", "5")]
    public void An_exported_PEARL_agent_carries_the_posterior_in_its_state_and_acts_as_the_engine_over_1000_steps(string task, string nextObservation, string latent)
    {
        var learner = MetaLearners.Create("pearl", task, new Dictionary<string, string>
        {
            ["hidden"] = "16,16", ["encoder-hidden"] = "12", ["latent"] = latent, ["train-tasks"] = "4", ["tasks-per-iteration"] = "2",
            ["next-obs-in-context"] = nextObservation, ["deterministic"] = "true", ["eval-latent"] = "mean",
        }, seed: 3);
        var tasks = learner.Tasks;
        foreach (var convention in new[] { OnnxConvention.Godot, OnnxConvention.Unity })
        {
            using var onnx = new InferenceSession(OnnxExport.Export(learner, convention).Bytes);
            var row = PearlInputRow.Parse(onnx.ModelMetadata.CustomMetadataMap[OnnxExport.RowKey]);
            Assert.Equal(nextObservation == "true", row.NextObservation);
            var player = new AgentPlayer(learner.Agent(), tasks, seed: 4);
            var env = tasks.CreateEnv();
            var obs = new float[tasks.ObservationSpace.Size];
            var input = new float[row.Size];
            var state = new float[row.StateSize];
            var rng = new Rng(6);
            int steps = 0, trial = 0;
            var heldOut = MetaTest.Tasks(tasks, 1, 50);
            bool latentMoved = false;
            while (steps < Steps)
            {
                var t = heldOut[trial++];
                env.SetTask(t);
                player.Reset();
                row.StartTrial();
                Array.Clear(state);
                for (int e = 0; e < tasks.EpisodesPerTrial; e++)
                {
                    env.Reset(rng, obs);
                    for (bool done = false; !done; steps++)
                    {
                        row.Write(obs, input);
                        var action = player.Act(obs).ToArray();
                        var expected = player.PolicyOutput.ToArray();
                        var inputs = new List<NamedOnnxValue> { Value(convention == OnnxConvention.Godot ? "obs" : "obs_0", input, 1, row.Size) };
                        inputs.Add(convention == OnnxConvention.Godot ? Value("state_ins", state, 1, state.Length) : Value("recurrent_in", state, 1, 1, state.Length));
                        using var results = onnx.Run(inputs);
                        Close(expected, Floats(results, convention == OnnxConvention.Godot ? "output" : "deterministic_continuous_actions"), $"{convention} step {steps}");
                        Close(expected, action, $"step {steps} engine action");
                        state = Floats(results, convention == OnnxConvention.Godot ? "state_outs" : "recurrent_out");
                        latentMoved |= state.Skip(2 * row.Latent).Any(v => v != 0);
                        var previous = obs.ToArray();
                        var r = env.Step(action, rng, obs);
                        done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
                        row.Observe(action, (float)r.Reward, obs, done);
                    }
                }
            }
            Assert.True(latentMoved, "z never left the prior's mean: the posterior was not exercised");

            // A sampled z: the posterior mean plus its deviation times the row's noise (the prior N(0, 1) before any transition).
            row.StartTrial();
            row.Write(new float[row.Observations], input, Enumerable.Repeat(0.75f, row.Latent).ToArray());
            using var drawn = onnx.Run([Value(convention == OnnxConvention.Godot ? "obs" : "obs_0", input, 1, row.Size),
                convention == OnnxConvention.Godot ? Value("state_ins", new float[row.StateSize], 1, row.StateSize) : Value("recurrent_in", new float[row.StateSize], 1, 1, row.StateSize)]);
            var z = Floats(drawn, convention == OnnxConvention.Godot ? "state_outs" : "recurrent_out").Skip(2 * row.Latent);
            Assert.All(z, v => Assert.Equal(0.75f, v));
        }
    }

    [Fact]
    public void The_input_row_helper_writes_what_the_engine_feeds_the_network()
    {
        // The engine's own input rows for a network without pair inputs equal the helper's, up to the observation scaling
        // the exported model applies itself (none here) and the has-previous flag the helper adds after the previous observation.
        var (net, tasks, learner) = Build("navigation-2d", ["hidden=8", "time-input=true", "previous-observation=true", "normalize-observations=false"]);
        var row = OnnxExport.InputRow(net, tasks);
        Assert.Equal(net.InputSize + 1, row.Size);
        var session = (Rl2Agent.Session)new Rl2Agent(net, true).Begin(1, tasks, new Rng(1));
        var env = tasks.CreateEnv();
        var t = MetaTest.Tasks(tasks, 1, 1)[0];
        env.SetTask(t);
        session.StartTrial(0, t);
        row.StartTrial();
        var obs = new float[2];
        var action = new float[2];
        var buffer = new float[row.Size];
        var rng = new Rng(2);
        env.Reset(rng, obs);
        for (int step = 0; step < 2 * tasks.Horizon + 3; step++)
        {
            row.Write(obs, buffer);
            session.Act(obs, [true], action);
            var engine = session.LastInput(0).ToArray();
            int prevAt = net.ObservationSize + net.ActionSize + 4;
            Assert.Equal(engine[..(prevAt + 2)], buffer[..(prevAt + 2)]);
            Assert.Equal(step == 0 ? 0f : 1f, buffer[prevAt + 2]);
            var r = env.Step(action, rng, obs);
            bool done = r.Terminated || r.Truncated || (step + 1) % tasks.Horizon == 0;
            session.Observe(action, [(float)r.Reward], obs, [done], [true]);
            row.Observe(action, (float)r.Reward, done);
            if (done) env.Reset(rng, obs);
        }
        Assert.Throws<FormatException>(() => AgentInputRow.Parse("observations=2;actions=x"));
        Assert.Throws<FormatException>(() => AgentInputRow.Parse(row.ToString().Replace("size=", "size=9")));
        Assert.Throws<ArgumentException>(() => row.Write(new float[3], buffer));
        Assert.Throws<ArgumentException>(() => new AgentInputRow(2, 3, true, true, false, 1, 1, false).Observe([3f], 0, false));
    }
}
