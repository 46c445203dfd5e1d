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

/// <summary>
/// MAML-TRPO on navigation-2d (20 trajectories × 100 steps per task, pre and post adaptation): the wall time of a
/// meta-iteration and its parts over a grid of hidden sizes and meta-batches, the median of the iterations after the
/// first; then, per hidden size, the cost of one task's curvature products on one core against the arithmetic they do.
/// </summary>
internal static class MamlBench
{
    public static void Run(int iterations, int[] hiddenSizes, int[] metaBatches, double[] subsamples, bool verbose)
    {
        var tasks = new MetaRL.Tasks.Navigation.Navigation2DDistribution();
        var defaults = new MetaRL.Algorithms.Maml.MamlConfig();
        Console.WriteLine($"MAML-TRPO on navigation-2d: {defaults.Trajectories} trajectories per task, horizon {tasks.Horizon}, two tanh layers, {defaults.CgIterations} CG iterations, {Environment.ProcessorCount} cores; median of {iterations - 1} meta-iterations after the first");
        Console.WriteLine($"{"hidden",8}{"meta-batch",12}{"curvature rows",16}{"iteration, s",14}{"sampling, s",13}{"step, s",10}{"line search, s",16}{"MB allocated/it",17}");
        foreach (int hidden in hiddenSizes)
            foreach (int metaBatch in metaBatches)
            foreach (double subsample in subsamples)
            {
                var config = defaults with { Hidden = [hidden, hidden], MetaBatch = metaBatch, ValidateEvery = 0, CurvatureSubsample = subsample };
                var trainer = new MetaRL.Algorithms.Maml.MamlTrainer(tasks, config, seed: 1);
                var stats = new List<MetaRL.Algorithms.Maml.MamlIterationStats>();
                var allocated = new List<double>();
                for (int i = 0; i < iterations; i++)
                {
                    long before = GC.GetTotalAllocatedBytes(precise: true);
                    var s = trainer.RunIteration();
                    allocated.Add((GC.GetTotalAllocatedBytes(precise: true) - before) / 1e6);
                    stats.Add(s);
                    if (verbose)
                        Console.WriteLine($"    iteration {s.Iteration,3}: {s.Seconds,6:F3} s (sampling {s.SamplingSeconds:F3}, step {s.StepSeconds:F3}, line search {s.LineSearchSeconds:F3}), pre {s.PreAdaptationReturn,8:F2}, post {s.PostAdaptationReturn,8:F2}, kl {s.Kl:F4}, line search {s.LineSearchSteps} {(s.Accepted ? "accepted" : "rejected")}");
                }
                var kept = stats.Skip(1).ToList();
                Console.WriteLine($"{hidden,8}{metaBatch,12}{subsample,16:P0}{Bench.Median(kept.Select(s => s.Seconds)),14:F3}{Bench.Median(kept.Select(s => s.SamplingSeconds)),13:F3}{Bench.Median(kept.Select(s => s.StepSeconds)),10:F3}{Bench.Median(kept.Select(s => s.LineSearchSeconds)),16:F3}{Bench.Median(allocated.Skip(1)),17:F1}");
            }
        Console.WriteLine();
        CurvatureProducts(hiddenSizes, defaults);
    }

    /// <summary>
    /// One task's inner-loss Hessian and KL Fisher products (2000 rows, one core), as the TRPO step calls them: the
    /// median time, the floating-point operations of their matrix products, and the rate. A CG iteration does two
    /// inner-Hessian products and one Fisher product per task.
    /// </summary>
    private static void CurvatureProducts(int[] hiddenSizes, MetaRL.Algorithms.Maml.MamlConfig config)
    {
        Console.WriteLine("Curvature products of one task (2000 rows), one core");
        Console.WriteLine($"{"hidden",8}{"product",16}{"ms",9}{"GFLOP",9}{"GFLOP/s",9}{"CG iteration × 20 tasks, s",28}");
        using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
        foreach (int hidden in hiddenSizes)
        {
            var rng = new Rng(5);
            var space = new MetaRL.Core.Spaces.Box(-1, 1, 2);
            var policy = new MetaRL.Algorithms.Maml.MlpPolicy<float>(new MetaRL.Core.Spaces.Box(-1, 1, 2), space, [hidden, hidden], rng);
            var theta = policy.Parameters();
            var batch = new MetaRL.Algorithms.Maml.TrajectoryBatch(config.Trajectories, 100, 2, 2);
            for (int i = 0; i < batch.Observations.Length; i++) batch.Observations[i] = (float)rng.Normal();
            for (int i = 0; i < batch.Actions.Length; i++) batch.Actions[i] = (float)rng.Normal(0, 0.5);
            for (int i = 0; i < batch.Steps; i++) (batch.Mask[i], batch.Advantages[i]) = (1, (float)rng.Normal());
            var v = theta.Select(p => Tensor.RandN<float>(rng, 1, p.Shape.ToArray())).ToArray();
            var inner = new MetaRL.Algorithms.Maml.GaussianMlpCurvature<float>(policy, batch.Steps, innerLoss: true, config.LowVarianceCurvature).Load(theta, batch);
            var kl = new MetaRL.Algorithms.Maml.GaussianMlpCurvature<float>(policy, batch.Steps, innerLoss: false).Load(theta, batch);
            double n = batch.Steps, gemm = 0, gemmTwoLayer = 0;
            int[] dims = [2, hidden, hidden, 2];
            for (int l = 0; l < 3; l++) { gemm += 2 * n * dims[l] * dims[l + 1]; if (l > 0) gemmTwoLayer += 2 * n * dims[l] * dims[l + 1]; }
            // Inner Hessian: R-forward (H·V, and RH·W past the first layer), R-backward (two weight products, and two
            // signal products past the first layer). Fisher: R-forward as above, backward one weight and one signal product.
            double innerFlop = 2 * gemm + 4 * gemmTwoLayer, fisherFlop = 2 * gemm + 2 * gemmTwoLayer;
            double tInner = Bench.Median(() => inner.HessianTimes(v), 0.5), tFisher = Bench.Median(() => kl.FisherTimes(v), 0.5);
            double perCg = (2 * tInner + tFisher) * 20 / Environment.ProcessorCount;
            Console.WriteLine($"{hidden,8}{"inner Hessian",16}{tInner * 1e3,9:F2}{innerFlop / 1e9,9:F3}{innerFlop / tInner / 1e9,9:F1}{perCg,28:F3}");
            Console.WriteLine($"{hidden,8}{"KL Fisher",16}{tFisher * 1e3,9:F2}{fisherFlop / 1e9,9:F3}{fisherFlop / tFisher / 1e9,9:F1}");
        }
        Console.WriteLine();
    }
}
