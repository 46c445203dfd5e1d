using System.Diagnostics;
using System.Globalization;
using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;
using MetaRL.Engine.Optim;

// Benchmarks: warmed up, median of repeated timed batches.
// Usage: metarl-bench [engine|act|envs|rl2|rl2-iteration|maml|mujoco|glucose|arena|sac|cluster|all] [--seconds S]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
double seconds = 1.0;
int? iterations = null;
int[] hiddenSizes = [64, 128, 256], metaBatches = [10, 20, 40];
int[]? sacHidden = null;
int sacBatch = 256;
double[] subsamples = [1];
bool verbose = false;
static int[] ParseList(string text) => text.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
var sections = new HashSet<string>();
int workers = 2;
// The cluster section starts this program again as its worker processes.
if (args is ["cluster-worker", var clusterAddress, var workerThreads, var parentPid])
    return ClusterBench.Worker(clusterAddress, int.Parse(workerThreads, CultureInfo.InvariantCulture), int.Parse(parentPid, CultureInfo.InvariantCulture));
string[] known = ["engine", "act", "envs", "rl2", "rl2-iteration", "maml", "mujoco", "glucose", "arena", "sac", "cluster", "all"];
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--seconds" && i + 1 < args.Length) seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--iterations" && i + 1 < args.Length) iterations = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--hidden" && i + 1 < args.Length) hiddenSizes = ParseList(args[++i]);
    else if (args[i] == "--meta-batch" && i + 1 < args.Length) metaBatches = ParseList(args[++i]);
    else if (args[i] == "--subsample" && i + 1 < args.Length) subsamples = args[++i].Split(',').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
    else if (args[i] == "--verbose") verbose = true;
    else if (args[i] == "--workers" && i + 1 < args.Length) workers = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--sac-hidden" && i + 1 < args.Length) sacHidden = ParseList(args[++i]);
    else if (args[i] == "--batch" && i + 1 < args.Length) sacBatch = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] is "-h" or "--help")
    {
        Console.WriteLine("metarl-bench [engine|act|envs|rl2|rl2-iteration|maml|mujoco|glucose|arena|sac|cluster|all] [--seconds S]");
        Console.WriteLine("             [--iterations N] [--hidden 64,128,256] [--meta-batch 10,20,40] [--subsample 1,0.2] [--verbose]   (maml)");
        Console.WriteLine("  engine  GEMM, GRU, LSTM and MLP kernels, single thread (default)");
        Console.WriteLine("  act     batch-1 decisions of RL² and MAML agents: first-step cost, µs per step, bytes allocated per step");
        Console.WriteLine("  envs    vectorised environment throughput, steps per second per core");
        Console.WriteLine("  rl2     wall time for RL² to reach 6.60 on bandit arms=5 episodes=10 (both cores)");
        Console.WriteLine("  rl2-iteration  an RL² training iteration on navigation-2d by hidden size (--hidden, --iterations)");
        Console.WriteLine("  maml    MAML-TRPO meta-iteration on navigation-2d by hidden size and meta-batch (both cores), and its curvature products");
        Console.WriteLine("  mujoco  MuJoCo steps per second through MetaRL against mujoco-testspeed on the same model");
        Console.WriteLine("  glucose UVA/Padova patient-days per second per core");
        Console.WriteLine("  sac     soft actor-critic updates per second, plain and with PEARL's latent [--sac-hidden 300,300,300] [--batch 256]");
        Console.WriteLine("  arena   an arena NPC's decision in a game loop (RL² at batch 1) and the world's step, one core");
        Console.WriteLine("  cluster RL² hopper-params and MAML cheetah-vel iterations here and through worker processes [--workers 2] [--iterations N]: update, rollout, bytes moved");
        return 0;
    }
    else if (known.Contains(args[i])) sections.Add(args[i]);
    else
    {
        Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: metarl-bench [engine|act|envs|rl2|rl2-iteration|maml|mujoco|glucose|arena|sac|cluster|all] [--seconds S]");
        return 2;
    }
}
if (sections.Count == 0) sections.Add("engine");
if (sections.Contains("all")) sections.UnionWith(["engine", "act", "envs", "rl2", "rl2-iteration", "maml", "mujoco", "glucose", "arena", "sac"]);
Console.WriteLine($".NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical cores, best SIMD path: {Simd.Best}");
Console.WriteLine();
if (sections.Contains("engine")) EngineBench.Run(seconds);
if (sections.Contains("act")) ActBench.Run(seconds);
if (sections.Contains("envs")) EnvBench.Run(seconds);
if (sections.Contains("rl2")) Rl2Bench.Run();
if (sections.Contains("rl2-iteration")) Rl2IterationBench.Run(iterations ?? 4, hiddenSizes);
if (sections.Contains("maml")) MamlBench.Run(iterations ?? 4, hiddenSizes, metaBatches, subsamples, verbose);
if (sections.Contains("mujoco")) MuJoCoBench.Run();
if (sections.Contains("glucose")) GlucoseBench.Run(seconds);
if (sections.Contains("arena")) ArenaBench.Run(seconds);

if (sections.Contains("sac")) SacBench.Run(seconds * 5, sacHidden ?? [300, 300, 300], sacBatch);
if (sections.Contains("cluster")) ClusterBench.Run(iterations ?? 3, workers);
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
// RL² rollout and training products, a policy head, one step at batch 1, and MAML's curvature products at hidden 256
// (2000 rows: forward H·W, weight gradient Hᵀ·Δ, backward signal Δ·Wᵀ, and the narrow output layer's three).
(int M, int K, int N, bool TA, bool TB)[] shapes = [(64, 138, 384, false, false), (1, 138, 384, false, false), (2000, 64, 64, false, false),
    (64, 384, 6, false, false), (16, 128, 384, false, false), (2000, 256, 256, false, false), (256, 2000, 256, true, false),
    (2000, 256, 256, false, true), (2000, 256, 2, false, false), (256, 2000, 2, true, false), (2000, 2, 256, false, true)];
var levels = Simd.Supported.Reverse().ToArray();
double peak = Bench.FmaPeak(levels[0], seconds);
Console.WriteLine($"FMA peak of one core ({levels[0]}, independent multiply-adds on registers): {peak:F1} GFLOP/s");
Console.WriteLine("GEMM, float32, GFLOP/s (C = op(A)·op(B), op(A): M×K, op(B): K×N; ᵀ: stored transposed)");
Console.WriteLine(OpenBlas.Available
    ? "MetaRL's best path and OpenBLAS (one thread) timed interleaved, median of paired batches; the other paths after"
    : "OpenBLAS is not installed (apt-get install libopenblas0-pthread), so there is no peer column");
Console.Write($"{"shape",-24}{levels[0],12}{"OpenBLAS",10}{"ratio",8}{"% of peak",11}");
foreach (var l in levels.Skip(1)) Console.Write($"{l,12}");
Console.WriteLine();
foreach (var (m, k, n, ta, tb) in shapes)
{
    var rng = new Rng(1);
    var a = Tensor.RandN<float>(rng, 1, m, k).ToArray();
    var b = Tensor.RandN<float>(rng, 1, k, n).ToArray();
    var c = new float[m * n];
    var c2 = new float[m * n];
    int lda = ta ? m : k, ldb = tb ? k : n;
    double flop = 2.0 * m * n * k;
    Console.Write($"{$"{m}×{k}{(ta ? "ᵀ" : "")}·{k}×{n}{(tb ? "ᵀ" : "")}",-24}");
    void Ours() => Gemm.Multiply<float>(levels[0], ta, tb, m, n, k, a, lda, b, ldb, c, n, false);
    if (OpenBlas.Available)
    {
        var (tOurs, tPeer) = Bench.Paired(Ours, () => OpenBlas.Multiply(ta, tb, m, n, k, a, lda, b, ldb, c2, n), seconds);
        double gap = 0;
        for (int i = 0; i < c.Length; i++) gap = Math.Max(gap, Math.Abs(c[i] - c2[i]) / (1 + Math.Abs(c2[i])));
        if (gap > 1e-3) throw new InvalidOperationException($"GEMM {m}×{k}·{k}×{n} differs from OpenBLAS by {gap:E2}");
        Console.Write($"{flop / tOurs / 1e9,12:F1}{flop / tPeer / 1e9,10:F1}{tPeer / tOurs,8:F2}{100 * flop / tOurs / 1e9 / peak,10:F0}%");
    }
    else
    {
        double t = Bench.Median(Ours, seconds);
        Console.Write($"{flop / t / 1e9,12:F1}{"",10}{"",8}{100 * flop / t / 1e9 / peak,10:F0}%");
    }
    foreach (var level in levels.Skip(1))
        Console.Write($"{flop / Bench.Median(() => Gemm.Multiply<float>(level, ta, tb, m, n, k, a, lda, b, ldb, c, n, false), seconds / 2) / 1e9,12:F1}");
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
    private const int PeakReps = 1 << 14;

    /// <summary>
    /// The core's measured float32 multiply-add rate at a SIMD level: 12 independent accumulator chains on registers,
    /// enough to hide the FMA latency on current cores, so the loop runs at the issue rate.
    /// </summary>
    public static double FmaPeak(SimdLevel level, double seconds)
    {
        float sink = 0;
        var (lanes, t) = level switch
        {
            SimdLevel.Vector512 => (V512<float>.Lanes, Median(() => sink += PeakLoop<V512<float>, System.Runtime.Intrinsics.Vector512<float>>(sink), seconds)),
            SimdLevel.Vector256 => (V256<float>.Lanes, Median(() => sink += PeakLoop<V256<float>, System.Runtime.Intrinsics.Vector256<float>>(sink), seconds)),
            _ => (V128<float>.Lanes, Median(() => sink += PeakLoop<V128<float>, System.Runtime.Intrinsics.Vector128<float>>(sink), seconds)),
        };
        GC.KeepAlive(sink);
        return 2.0 * 12 * lanes * PeakReps / t / 1e9;
    }

    // The peak loop once, over the engine's vector operations of each width.
    private static float PeakLoop<TOps, TV>(float seed) where TOps : struct, IVecOps<TV, float> where TV : struct
    {
        TV x = TOps.Splat(seed), m = TOps.Splat(0.999999f), a = TOps.Splat(1e-7f);
        TV c0 = x, c1 = x, c2 = x, c3 = x, c4 = x, c5 = x, c6 = x, c7 = x, c8 = x, c9 = x, c10 = x, c11 = x;
        for (int i = 0; i < PeakReps; i++)
        {
            c0 = TOps.Fma(c0, m, a); c1 = TOps.Fma(c1, m, a); c2 = TOps.Fma(c2, m, a); c3 = TOps.Fma(c3, m, a);
            c4 = TOps.Fma(c4, m, a); c5 = TOps.Fma(c5, m, a); c6 = TOps.Fma(c6, m, a); c7 = TOps.Fma(c7, m, a);
            c8 = TOps.Fma(c8, m, a); c9 = TOps.Fma(c9, m, a); c10 = TOps.Fma(c10, m, a); c11 = TOps.Fma(c11, m, a);
        }
        return TOps.Sum(TOps.Add(TOps.Add(c0, c1), TOps.Add(c2, c3))) + TOps.Sum(TOps.Add(TOps.Add(c4, c5), TOps.Add(c6, c7)))
            + TOps.Sum(TOps.Add(TOps.Add(c8, c9), TOps.Add(c10, c11)));
    }

    /// <summary>
    /// Median seconds per call of two actions timed in alternating batches of ~10 ms after a warm-up, so a machine
    /// whose speed drifts (a shared host) slows both alike.
    /// </summary>
    public static (double A, double B) Paired(Action a, Action b, double seconds)
    {
        int ra = Reps(a, seconds), rb = Reps(b, seconds);
        var sa = new List<double>();
        var sb = new List<double>();
        var sw = new Stopwatch();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < 2 * seconds || sa.Count < 7)
        {
            sw.Restart();
            for (int i = 0; i < ra; i++) a();
            sa.Add(sw.Elapsed.TotalSeconds / ra);
            sw.Restart();
            for (int i = 0; i < rb; i++) b();
            sb.Add(sw.Elapsed.TotalSeconds / rb);
        }
        sa.Sort();
        sb.Sort();
        return (sa[sa.Count / 2], sb[sb.Count / 2]);
    }

    // Warms an action up and returns how many calls take about 10 ms.
    private static int Reps(Action action, double seconds)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < Math.Min(0.25, seconds / 4)) action();
        int reps = 1;
        while (true)
        {
            sw.Restart();
            for (int i = 0; i < reps; i++) action();
            if (sw.Elapsed.TotalMilliseconds >= 10 || reps > 1 << 20) return reps;
            reps *= 2;
        }
    }

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
        return Median(samples);
    }

    /// <summary>The median of some measurements (the mean of the middle two for an even count; NaN for none).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
