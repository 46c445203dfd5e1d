using System.Diagnostics;
using MetaRL.Algorithms;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Engine;

/// <summary>
/// What an application pays per decision: an untrained agent of each kind played step by step through
/// <see cref="AgentPlayer"/> at batch 1 on one core (Act, then Observe), the first step apart (it compiles the code),
/// then the median of timed windows and the bytes the thread allocated per step.
/// </summary>
internal static class ActBench
{
    public static void Run(double seconds)
    {
        Console.WriteLine("Batch-1 decisions through AgentPlayer (Act + Observe), one core; median of 5 windows");
        Console.WriteLine($"{"agent",-44}{"first step, ms",16}{"step, µs",10}{"bytes/step",12}");
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
            var player = new AgentPlayer(learner.Agent(), tasks);
            var rng = new Rng(2);
            var observation = new float[tasks.ObservationSpace.Size];
            for (int i = 0; i < observation.Length; i++) observation[i] = (float)rng.Normal(0, 0.5);
            player.Reset();
            int step = 0;
            void Step()
            {
                player.Act(observation);
                // An episode ends at the family's horizon, so the memory-reset path is timed in proportion.
                if (player.Observe(0.1f, false, ++step % tasks.Horizon == 0)) { }
            }
            long start = Stopwatch.GetTimestamp();
            Step();
            double firstMs = 1e3 * (Stopwatch.GetTimestamp() - start) / Stopwatch.Frequency;
            var us = new double[5];
            long bytes = 0, steps = 0;
            for (int w = -1; w < us.Length; w++)
            {
                long n = 0, before = GC.GetAllocatedBytesForCurrentThread();
                var watch = Stopwatch.StartNew();
                while (watch.Elapsed.TotalSeconds < (w < 0 ? Math.Min(0.3, seconds) : seconds / 2))
                {
                    for (int i = 0; i < 100; i++) Step();
                    n += 100;
                }
                if (w < 0) continue;
                us[w] = 1e6 * watch.Elapsed.TotalSeconds / n;
                bytes += GC.GetAllocatedBytesForCurrentThread() - before;
                steps += n;
            }
            Array.Sort(us);
            string name = $"{algorithm} {task} {string.Join(" ", settings.Select(kv => $"{kv.Key}={kv.Value}"))}";
            Console.WriteLine($"{name,-44}{firstMs,16:F1}{us[2],10:F2}{(double)bytes / steps,12:F1}");
        }
        Console.WriteLine();
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
