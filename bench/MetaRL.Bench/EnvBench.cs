using System.Diagnostics;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Core.Evaluation;
using MetaRL.Algorithms.Rl2;
using MetaRL.Tasks;
using MetaRL.Tasks.Bandits;

/// <summary>
/// Vectorised environment throughput: one <see cref="VectorEnv"/> per core stepping random actions, each vector kept on
/// its own core (its <see cref="EnvBatchStepper"/> is the one training runs step their environments with).
/// </summary>
internal static class EnvBench
{
    public static void Run(double seconds)
    {
        Console.WriteLine($"Vectorised environments, 1024 environments per vector, random actions, autoreset; median of 5 windows of {seconds:0.##} s");
        Console.WriteLine($"{"task",-28}{"1 core, M steps/s",20}{$"{Environment.ProcessorCount} cores, M steps/s",22}{"per core",12}");
        foreach (var (name, settings) in new (string, Dictionary<string, string>)[] { ("bandit", []), ("tabular-mdp", []), ("navigation-2d", []) })
        {
            var tasks = TaskRegistry.Create(name, settings);
            double one = Throughput(tasks, 1, seconds);
            int cores = Environment.ProcessorCount;
            double all = Throughput(tasks, cores, seconds);
            Console.WriteLine($"{name,-28}{one / 1e6,20:F1}{all / 1e6,22:F1}{all / cores / 1e6,12:F1}");
        }
        Console.WriteLine();
    }

    private static double Throughput(TaskDistribution tasks, int threads, double seconds)
    {
        const int count = 1024, batches = 16;
        var vectors = new VectorEnv[threads];
        var actions = new float[threads][];
        for (int t = 0; t < threads; t++)
        {
            var v = vectors[t] = new VectorEnv(tasks, count, (ulong)t + 1, StepParallelism.Never);
            var rng = new Rng((ulong)t + 100);
            for (int i = 0; i < count; i++) v.SetTask(i, tasks.SampleTask(rng, TaskSplit.Train));
            int a = tasks.ActionSpace.Size;
            actions[t] = new float[batches * count * a];
            for (int j = 0; j < actions[t].Length; j++)
                actions[t][j] = tasks.ActionSpace is Discrete d ? rng.NextInt(d.N) : (float)rng.Uniform(-0.1, 0.1);
        }
        // Warm-up, then the median of several timed windows: a shared machine's speed drifts from second to second.
        const int windows = 5;
        var rates = new double[windows];
        for (int w = -1; w < windows; w++)
        {
            long[] steps = new long[threads];
            double[] elapsed = new double[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var v = vectors[t];
                int a = tasks.ActionSpace.Size;
                var local = Stopwatch.StartNew();
                long s = 0;
                double length = w < 0 ? Math.Min(0.2, seconds) : seconds;
                while (local.Elapsed.TotalSeconds < length)
                    for (int j = 0; j < 64; j++)
                    {
                        v.Step(actions[t].AsSpan(j % batches * count * a, count * a));
                        s += count;
                    }
                (steps[t], elapsed[t]) = (s, local.Elapsed.TotalSeconds);
            });
            if (w >= 0) rates[w] = Enumerable.Range(0, threads).Sum(t => steps[t] / elapsed[t]);
        }
        Array.Sort(rates);
        return rates[windows / 2];
    }
}

/// <summary>Wall-clock time for RL² (default settings) to reach 6.60 on held-out 5-armed, 10-pull bandits.</summary>
internal static class Rl2Bench
{
    public static void Run()
    {
        const double target = 6.60;
        var tasks = new BernoulliBanditDistribution(5, 10);
        var config = Rl2Config.DefaultsFor("bandit");
        var trainer = new Rl2Trainer(tasks, config, seed: 1);
        Console.WriteLine($"RL² on bandit arms=5 episodes=10, default settings (GRU {config.Hidden}, {config.TrialsPerIteration} trials/iteration, {config.Iterations} iterations max), seed 1");
        Console.WriteLine("Held-out check every 50 iterations on 2000 trials; a pass is confirmed on 10 000 trials.");
        var train = new Stopwatch();
        var total = Stopwatch.StartNew();
        while (trainer.Iteration < config.Iterations)
        {
            train.Start();
            for (int i = 0; i < 50 && trainer.Iteration < config.Iterations; i++) trainer.RunIteration();
            train.Stop();
            var quick = MetaTest.Run(trainer.Agent(), tasks, new MetaTestOptions(2000, 1000 + (ulong)trainer.Iteration));
            Console.WriteLine($"  iteration {trainer.Iteration,5}: training {train.Elapsed.TotalSeconds,6:F1} s, held-out {quick.MeanTotalReturn:F3} ± {quick.Ci95:F3}");
            if (quick.MeanTotalReturn < target) continue;
            var full = MetaTest.Run(trainer.Agent(), tasks, new MetaTestOptions(10000, 1));
            Console.WriteLine($"  confirmation on 10 000 held-out trials: {full.MeanTotalReturn:F3} ± {full.Ci95:F3}");
            if (full.MeanTotalReturn >= target)
            {
                Console.WriteLine($"Reached {target:F2} after {trainer.Iteration} iterations ({trainer.TotalSteps:N0} steps): {train.Elapsed.TotalSeconds:F1} s of training, {total.Elapsed.TotalSeconds:F1} s with the checks.");
                Console.WriteLine();
                return;
            }
        }
        Console.WriteLine($"Did not reach {target:F2} within {config.Iterations} iterations ({train.Elapsed.TotalSeconds:F1} s of training).");
        Console.WriteLine();
    }
}

/// <summary>Wall time of one MAML-TRPO meta-iteration on navigation-2d (20 tasks × 20 trajectories × 100 steps, pre and post adaptation).</summary>
internal static class MamlBench
{
    public static void Run(int iterations)
    {
        var tasks = new MetaRL.Tasks.Navigation.Navigation2DDistribution();
        var config = new MetaRL.Algorithms.Maml.MamlConfig();
        var trainer = new MetaRL.Algorithms.Maml.MamlTrainer(tasks, config, seed: 1);
        Console.WriteLine($"MAML-TRPO on navigation-2d: meta-batch {config.MetaBatch}, {config.Trajectories} trajectories per task, horizon {tasks.Horizon}, hidden [{string.Join(", ", config.Hidden)}], {Environment.ProcessorCount} cores");
        var times = new List<double>();
        var validations = new List<double>();
        for (int i = 0; i < iterations; i++)
        {
            var s = trainer.RunIteration();
            times.Add(s.Seconds);
            if (!double.IsNaN(s.ValidationReturn)) validations.Add(s.ValidationSeconds);
            Console.WriteLine($"  iteration {s.Iteration,3}: {s.Seconds,6:F3} s (sampling {s.SamplingSeconds:F3}, step {s.StepSeconds:F3}, line search {s.LineSearchSeconds:F3}), pre-adaptation {s.PreAdaptationReturn,8:F2}, post-adaptation {s.PostAdaptationReturn,8:F2}, kl {s.Kl:F4}, line search {s.LineSearchSteps} {(s.Accepted ? "accepted" : "rejected")}"
                + (double.IsNaN(s.ValidationReturn) ? "" : $"; then validation {s.ValidationSeconds:F3} s (score {s.ValidationReturn:F2})"));
        }
        var sorted = times.Skip(1).OrderBy(t => t).ToArray();
        if (sorted.Length > 0) Console.WriteLine($"Median meta-iteration (excluding the first): {sorted[sorted.Length / 2]:F3} s");
        if (validations.Count > 0)
            Console.WriteLine($"Validation on {config.ValidationTasks} tasks every {config.ValidateEvery} iterations (not part of a meta-iteration): {validations.Average():F3} s each, {validations.Average() / config.ValidateEvery:F3} s per iteration on average");
        Console.WriteLine();
    }
}
