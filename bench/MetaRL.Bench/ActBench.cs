using System.Diagnostics;
using MetaRL.Algorithms;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Engine;
using MetaRL.Algorithms.Export;
using Microsoft.ML.OnnxRuntime;

/// <summary>
/// What an application pays per decision: an untrained agent of each kind played step by step through
/// <see cref="AgentPlayer"/> at batch 1 on one core (Act, then Observe), the first step apart (it compiles the code),
/// then the median of timed windows; the bytes the thread allocates per step, with MAML's gradient steps between rounds
/// apart (the step that adapts runs the autodiff graph); the same policy exported to ONNX and run by OnnxRuntime with
/// one thread on preallocated tensors; and, when Debian's python3-torch is installed, PyTorch's step in the same run.
/// </summary>
internal static class ActBench
{
    public static void Run(double seconds)
    {
        Console.WriteLine("Batch-1 decisions through AgentPlayer (Act + Observe), one core; median of 5 windows");
        Console.WriteLine($"{"agent",-42}{"first, ms",10}{"step, µs",10}{"B/step",8}{"adapt, ms",11}{"adapt, MB",11}{"ORT, µs",9}");
        using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
        foreach (var (algorithm, task, settings) in new (string, string, Dictionary<string, string>)[]
        {
            ("rl2", "navigation-2d", new() { ["cell"] = "gru", ["hidden"] = "64" }),
            ("rl2", "navigation-2d", new() { ["cell"] = "gru", ["hidden"] = "128" }),
            ("rl2", "navigation-2d", new() { ["cell"] = "gru", ["hidden"] = "256" }),
            ("rl2", "navigation-2d", new() { ["cell"] = "lstm", ["hidden"] = "128" }),
            ("rl2", "bandit", new() { ["cell"] = "gru", ["hidden"] = "128" }),
            ("maml", "navigation-2d", new() { ["hidden"] = "64,64" }),
            ("maml", "navigation-2d", new() { ["hidden"] = "256,256" }),
        })
        {
            var learner = MetaLearners.Create(algorithm, task, settings, seed: 1);
            var tasks = learner.Tasks;
            var agent = learner.Agent();
            var player = new AgentPlayer(agent, tasks);
            var rng = new Rng(2);
            var observation = new float[tasks.ObservationSpace.Size];
            for (int i = 0; i < observation.Length; i++) observation[i] = (float)rng.Normal(0, 0.5);
            player.Reset();
            long step = 0;
            int round = agent.EpisodesPerRound * tasks.Horizon;
            // Whether the Act of step s starts a round after a complete one: MAML takes its gradient step there.
            bool AdaptsAt(long s) => round > tasks.Horizon && s > 0 && s % round == 0;
            void Step()
            {
                player.Act(observation);
                // An episode ends at the family's horizon, so the memory-reset path is timed in proportion.
                player.Observe(0.1f, false, ++step % tasks.Horizon == 0);
            }
            long start = Stopwatch.GetTimestamp();
            Step();
            double firstMs = 1e3 * (Stopwatch.GetTimestamp() - start) / Stopwatch.Frequency;
            var us = new double[5];
            for (int w = -1; w < us.Length; w++)
            {
                // Batches of 100 steps; a batch in which MAML adapts is played but not timed (its cost is the adapt column).
                long n = 0, ticks = 0;
                var watch = Stopwatch.StartNew();
                while (watch.Elapsed.TotalSeconds < (w < 0 ? Math.Min(0.3, seconds) : seconds / 2))
                {
                    bool adapting = false;
                    for (long i = step; i < step + 100; i++) adapting |= AdaptsAt(i);
                    long t0 = Stopwatch.GetTimestamp();
                    for (int i = 0; i < 100; i++) Step();
                    if (adapting) continue;
                    ticks += Stopwatch.GetTimestamp() - t0;
                    n += 100;
                }
                if (w >= 0) us[w] = 1e6 * ticks / Stopwatch.Frequency / n;
            }
            Array.Sort(us);

            // Allocation and the adapting steps, one step at a time over several rounds.
            long plainBytes = 0, plainSteps = 0, adaptBytes = 0, adaptions = 0;
            double adaptSeconds = 0;
            for (long i = 0, total = Math.Max(2000, 5L * round); i < total; i++)
            {
                bool adapts = AdaptsAt(step);
                long before = GC.GetAllocatedBytesForCurrentThread(), t0 = Stopwatch.GetTimestamp();
                Step();
                long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
                if (adapts)
                {
                    adaptSeconds += (double)(Stopwatch.GetTimestamp() - t0) / Stopwatch.Frequency;
                    adaptBytes += bytes;
                    adaptions++;
                }
                else
                {
                    plainBytes += bytes;
                    plainSteps++;
                }
            }
            string adaptMs = adaptions > 0 ? $"{1e3 * adaptSeconds / adaptions:F1}" : "-";
            string adaptMb = adaptions > 0 ? $"{adaptBytes / 1e6 / adaptions:F1}" : "-";
            string name = $"{algorithm} {task} {string.Join(" ", settings.Select(kv => $"{kv.Key}={kv.Value}"))}";
            Console.WriteLine($"{name,-42}{firstMs,10:F1}{us[2],10:F2}{(double)plainBytes / plainSteps,8:F1}{adaptMs,11}{adaptMb,11}{OnnxRuntimeStep(learner, seconds),9:F2}");
        }
        Console.WriteLine("step and B/step: steps that take no gradient step; adapt: the step that starts a MAML round (its gradient step on the last round).");
        Console.WriteLine("ORT: the policy exported by 'metarl export' (Godot convention), OnnxRuntime on one thread, inputs and outputs preallocated.");
        Console.WriteLine();
        PyTorchPeer.Run("act", seconds);
    }

    /// <summary>Median µs per step of the learner's exported policy in OnnxRuntime, the recurrent state fed back each step.</summary>
    private static double OnnxRuntimeStep(MetaRL.Core.Learning.IMetaLearner learner, double seconds)
    {
        var model = OnnxExport.Export(learner, OnnxConvention.Godot);
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        using var session = new InferenceSession(model.Bytes, options);
        var obsInfo = model.Inputs[0];
        var stateInfo = model.Inputs[1];
        int width = int.Parse(obsInfo.Dimensions[1]);
        var obs = new float[width];
        bool recurrent = stateInfo.Dimensions.Count == 2;
        int stateSize = recurrent ? int.Parse(stateInfo.Dimensions[1]) : 1;
        var state = new float[stateSize];
        var next = new float[stateSize];
        int outputs = int.Parse(model.Outputs.Single(o => o.Name == "output").Dimensions[1]);
        var output = new float[outputs];
        long[] stateShape = recurrent ? [1, stateSize] : [1];
        using var obsValue = OrtValue.CreateTensorValueFromMemory(obs, [1, width]);
        using var stateValue = OrtValue.CreateTensorValueFromMemory(state, stateShape);
        using var nextValue = OrtValue.CreateTensorValueFromMemory(next, stateShape);
        using var outputValue = OrtValue.CreateTensorValueFromMemory(output, [1, outputs]);
        using var run = new RunOptions();
        string[] inputNames = ["obs", "state_ins"], outputNames = ["output", "state_outs"];
        OrtValue[] inputs = [obsValue, stateValue], results = [outputValue, nextValue];
        return 1e6 * Bench.Median(() =>
        {
            session.Run(run, inputNames, inputs, outputNames, results);
            next.AsSpan().CopyTo(state);
        }, seconds);
    }
}

/// <summary>PyTorch's side of a section (bench/peer/torch_peer.py) run in the same process tree, when Debian's python3-torch is installed.</summary>
internal static class PyTorchPeer
{
    public static void Run(string section, double seconds)
    {
        var script = Locate();
        if (script is null || !File.Exists("/usr/bin/python3"))
        {
            Console.WriteLine("(PyTorch peer not run: bench/peer/torch_peer.py or /usr/bin/python3 not found)");
            Console.WriteLine();
            return;
        }
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(section);
        psi.ArgumentList.Add("--seconds");
        psi.ArgumentList.Add(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode == 0) Console.Write(stdout.Result);
        else Console.WriteLine(stderr.Result.Contains("No module named 'torch'")
            ? "(PyTorch peer not run: apt-get install python3-torch)"
            : $"(PyTorch peer failed: {stderr.Result.Trim().Split('\n').LastOrDefault()})");
        Console.WriteLine();
    }

    private static string? Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bench", "peer", "torch_peer.py");
            if (File.Exists(candidate)) return candidate;
            candidate = Path.Combine(dir.FullName, "peer", "torch_peer.py");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}

/// <summary>RL²'s training iteration (rollouts and the PPO update) by hidden size on navigation-2d, both cores: the median after the first.</summary>
internal static class Rl2IterationBench
{
    public static void Run(int iterations, int[] hiddenSizes)
    {
        Console.WriteLine($"RL² iteration on navigation-2d (GRU, default settings otherwise), {Environment.ProcessorCount} cores; median of {iterations - 1} iterations after the first");
        Console.WriteLine($"{"hidden",8}{"iteration, s",14}{"MB allocated/it",17}");
        foreach (int hidden in hiddenSizes)
        {
            var learner = MetaLearners.Create("rl2", "navigation-2d", new Dictionary<string, string> { ["hidden"] = hidden.ToString(), ["cell"] = "gru" }, seed: 1);
            var times = new List<double>();
            var allocated = new List<double>();
            for (int i = 0; i < iterations; i++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                var watch = Stopwatch.StartNew();
                learner.RunIteration();
                times.Add(watch.Elapsed.TotalSeconds);
                allocated.Add((GC.GetTotalAllocatedBytes(precise: true) - before) / 1e6);
            }
            var t = times.Skip(1).OrderBy(x => x).ToArray();
            var a = allocated.Skip(1).OrderBy(x => x).ToArray();
            Console.WriteLine($"{hidden,8}{t[t.Length / 2],14:F3}{a[a.Length / 2],17:F1}");
        }
        Console.WriteLine();
    }
}
