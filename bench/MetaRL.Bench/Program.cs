using System.Diagnostics;
using System.Globalization;
using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;
using MetaRL.Engine.Optim;

// Benchmarks: warmed up, median of repeated timed batches.
// Usage: metarl-bench [engine|envs|rl2|maml|mujoco|glucose|arena|all] [--seconds S]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
double seconds = 1.0;
int? iterations = null;
var sections = new HashSet<string>();
string[] known = ["engine", "envs", "rl2", "maml", "mujoco", "glucose", "arena", "all"];
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--seconds" && i + 1 < args.Length) seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--iterations" && i + 1 < args.Length) iterations = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] is "-h" or "--help")
    {
        Console.WriteLine("metarl-bench [engine|envs|rl2|maml|mujoco|glucose|arena|all] [--seconds S] [--iterations N (maml)]");
        Console.WriteLine("  engine  GEMM, GRU, LSTM and MLP kernels, single thread (default)");
        Console.WriteLine("  envs    vectorised environment throughput, steps per second per core");
        Console.WriteLine("  rl2     wall time for RL² to reach 6.60 on bandit arms=5 episodes=10 (both cores)");
        Console.WriteLine("  maml    wall time of a MAML-TRPO meta-iteration on navigation-2d (both cores)");
        Console.WriteLine("  mujoco  MuJoCo steps per second through MetaRL against mujoco-testspeed on the same model");
        Console.WriteLine("  glucose UVA/Padova patient-days per second per core");
        Console.WriteLine("  arena   an arena NPC's decision in a game loop (RL² at batch 1) and the world's step, one core");
        return 0;
    }
    else if (known.Contains(args[i])) sections.Add(args[i]);
    else
    {
        Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: metarl-bench [engine|envs|rl2|maml|mujoco|glucose|arena|all] [--seconds S]");
        return 2;
    }
}
if (sections.Count == 0) sections.Add("engine");
if (sections.Contains("all")) sections.UnionWith(["engine", "envs", "rl2", "maml", "mujoco", "glucose", "arena"]);
Console.WriteLine($".NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical cores, best SIMD path: {Simd.Best}");
Console.WriteLine();
if (sections.Contains("engine")) EngineBench.Run(seconds);
if (sections.Contains("envs")) EnvBench.Run(seconds);
if (sections.Contains("rl2")) Rl2Bench.Run();
if (sections.Contains("maml")) MamlBench.Run(iterations ?? 10);
if (sections.Contains("mujoco")) MuJoCoBench.Run();
if (sections.Contains("glucose")) GlucoseBench.Run(seconds);
if (sections.Contains("arena")) ArenaBench.Run(seconds);
return 0;

internal static class EngineBench
{
public static void Run(double seconds)
{
int savedThreads = Gemm.MaxThreads;
Gemm.MaxThreads = 1;
Console.WriteLine($"Engine, 1 thread");
Console.WriteLine();

// ---------------------------------------------------------------- GEMM
(int M, int K, int N)[] shapes = [(64, 138, 384), (1, 138, 384), (2000, 64, 64), (64, 384, 6), (16, 128, 384)];
var levels = Simd.Supported.Reverse().ToArray();
Console.WriteLine("GEMM, float32, GFLOP/s (C = A·B, A: M×K, B: K×N)");
Console.Write($"{"shape",-22}");
foreach (var l in levels) Console.Write($"{l,12}");
Console.WriteLine();
foreach (var (m, k, n) in shapes)
{
    var rng = new Rng(1);
    var a = Tensor.RandN<float>(rng, 1, m, k).ToArray();
    var b = Tensor.RandN<float>(rng, 1, k, n).ToArray();
    var c = new float[m * n];
    Console.Write($"{$"{m}×{k}·{k}×{n}",-22}");
    foreach (var level in levels)
    {
        double t = Bench.Median(() => Gemm.Multiply<float>(level, false, false, m, n, k, a, k, b, n, c, n, false), seconds);
        Console.Write($"{2.0 * m * n * k / t / 1e9,12:F1}");
    }
    Console.WriteLine();
}
Console.WriteLine();

// ---------------------------------------------------------------- GRU
{
    const int steps = 100, batch = 16, input = 10, hidden = 128;
    var rng = new Rng(2);
    var gru = new Gru<float>(input, hidden, rng);
    var head = new Linear<float>(hidden, 1, rng);
    var parameters = gru.Parameters().Concat(head.Parameters()).ToArray();
    var opt = new Adam<float>(parameters, 1e-3);
    var x = Tensor.RandN<float>(rng, 1, steps, batch, input);
    var mask = Tensor.Ones<float>(steps, batch);
    for (int s = 0; s < steps; s += 10) for (int b = 0; b < batch; b++) mask[s, b] = 0;
    var h0 = gru.InitialState(batch);
    void Iteration()
    {
        opt.ZeroGrad();
        var hs = gru.Forward(x, h0, mask);
        var loss = Ops.Mean(Ops.Square(head.Forward(hs)));
        loss.Backward();
        opt.Step();
    }
    double t = Bench.Median(Iteration, seconds);
    Console.WriteLine($"GRU(10→128), 100 steps × batch 16, forward + backward + Adam step: {t * 1e3,8:F2} ms/iteration");
}

// ---------------------------------------------------------------- LSTM
foreach (bool fused in new[] { true, false })
{
    const int steps = 100, batch = 16, input = 10, hidden = 128;
    var rng = new Rng(2);
    var lstm = new Lstm<float>(input, hidden, rng) { Fused = fused };
    var head = new Linear<float>(hidden, 1, rng);
    var parameters = lstm.Parameters().Concat(head.Parameters()).ToArray();
    var opt = new Adam<float>(parameters, 1e-3);
    var x = Tensor.RandN<float>(rng, 1, steps, batch, input);
    var mask = Tensor.Ones<float>(steps, batch);
    for (int s = 0; s < steps; s += 10) for (int b = 0; b < batch; b++) mask[s, b] = 0;
    var (h0, c0) = lstm.InitialState(batch);
    void Iteration()
    {
        opt.ZeroGrad();
        var hs = lstm.Forward(x, h0, c0, mask).Output;
        var loss = Ops.Mean(Ops.Square(head.Forward(hs)));
        loss.Backward();
        opt.Step();
    }
    double t = Bench.Median(Iteration, seconds);
    Console.WriteLine($"LSTM(10→128), {(fused ? "fused" : "step-by-step graph")}, 100 steps × batch 16, forward + backward + Adam step: {t * 1e3,8:F2} ms/iteration");
}

// ---------------------------------------------------------------- MLP
{
    const int batch = 2000;
    var rng = new Rng(3);
    var mlp = new Mlp<float>([2, 64, 64, 2], rng, Activation.Tanh);
    var opt = new Adam<float>(mlp.Parameters(), 1e-3);
    var x = Tensor.RandN<float>(rng, 1, batch, 2);
    var y = Tensor.RandN<float>(rng, 1, batch, 2);
    void Iteration()
    {
        opt.ZeroGrad();
        var loss = Ops.Mean(Ops.Square(mlp.Forward(x) - y));
        loss.Backward();
        opt.Step();
    }
    double t = Bench.Median(Iteration, seconds);
    Console.WriteLine($"MLP 2→64→64→2 (tanh), batch 2000, forward + backward + Adam step:  {t * 1e3,8:F3} ms/iteration");
}
Gemm.MaxThreads = savedThreads;
if (savedThreads > 1)
{
    var rng = new Rng(1);
    var a = Tensor.RandN<float>(rng, 1, 256, 263).ToArray();
    var b = Tensor.RandN<float>(rng, 1, 263, 768).ToArray();
    var c = new float[256 * 768];
    double t1 = Bench.Median(() => Gemm.Multiply<float>(false, false, 256, 768, 263, a, 263, b, 768, c, 768, false), seconds);
    Console.WriteLine($"GEMM 256×263·263×768 (an RL² rollout step) on {savedThreads} threads: {2.0 * 256 * 768 * 263 / t1 / 1e9:F1} GFLOP/s");
}
Console.WriteLine();
}
}

internal static class Bench
{
    /// <summary>Median seconds per call, after a warm-up, over batches sized to ~10 ms.</summary>
    public static double Median(Action action, double seconds)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < Math.Min(0.5, seconds / 2)) action();
        int reps = 1;
        while (true)
        {
            sw.Restart();
            for (int i = 0; i < reps; i++) action();
            if (sw.Elapsed.TotalMilliseconds >= 10 || reps > 1 << 20) break;
            reps *= 2;
        }
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || samples.Count < 5)
        {
            sw.Restart();
            for (int i = 0; i < reps; i++) action();
            samples.Add(sw.Elapsed.TotalSeconds / reps);
        }
        samples.Sort();
        return samples[samples.Count / 2];
    }
}
