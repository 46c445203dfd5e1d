using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.MuJoCo;

/// <summary>MuJoCo steps per second through the bindings (one call per step) against MuJoCo's own mujoco-testspeed.</summary>
internal static partial class MuJoCoBench
{
    // Our models, controls held at zero in both programs.
    private static readonly (string Name, string Xml)[] Models =
    [
        ("half-cheetah (9 dof, 6 motors, ground contacts, Euler)", MetaRL.MuJoCo.Locomotion.HalfCheetahModel.Xml),
        ("hopper (6 dof, 3 motors, RK4)", MetaRL.MuJoCo.Locomotion.HopperModel.Xml),
        ("walker2d (9 dof, 6 motors, RK4)", MetaRL.MuJoCo.Locomotion.Walker2dModel.Xml),
        ("ant (14 dof, 8 motors, free joint, RK4)", MetaRL.MuJoCo.Locomotion.AntModel.Xml),
        ("payload arm (3 dof, 3 motors, no contacts)", MetaRL.MuJoCo.Manipulation.ArmModel.Xml),
    ];

    [GeneratedRegex(@"Steps per second\s*:\s*([0-9.]+)")]
    private static partial Regex StepsPerSecond();

    public static void Run()
    {
        if (!MuJoCo.IsAvailable)
        {
            Console.WriteLine($"MuJoCo: skipped: {MuJoCo.UnavailableReason}");
            Console.WriteLine();
            return;
        }
        foreach (var (name, xml) in Models) Run(name, xml);
        Batched("cheetah-vel", new MetaRL.MuJoCo.Locomotion.CheetahVelDistribution());
        Batched("hopper-params", MetaRL.MuJoCo.Locomotion.PlanarWalkerParamsDistribution.FromSettings(MetaRL.MuJoCo.Locomotion.PlanarWalkerSpec.Hopper, null));
    }

    /// <summary>
    /// Environment steps per second for a batch of 32 tasks (an RL² iteration's rollout) stepped by
    /// <see cref="EnvBatchStepper"/> on one thread and on every core, with random actions held fixed per
    /// round; both must leave the same observations.
    /// </summary>
    private static void Batched(string name, TaskDistribution tasks)
    {
        const int envCount = 32, steps = 400, rounds = 5;
        Console.WriteLine($"Batched stepping: {name}, {envCount} tasks × {steps} steps, EnvBatchStepper");
        var rates = new Dictionary<StepParallelism, List<double>> { [StepParallelism.Never] = [], [StepParallelism.Always] = [] };
        var finals = new Dictionary<StepParallelism, float[]>();
        foreach (var mode in new[] { StepParallelism.Never, StepParallelism.Always, StepParallelism.Never, StepParallelism.Always })
        {
            for (int round = 0; round < rounds; round++)
            {
                var taskRng = new MetaRL.Engine.Rng(7);
                var envs = new IEnv[envCount];
                var rngs = new MetaRL.Engine.Rng[envCount];
                int obs = tasks.ObservationSpace.Size, act = tasks.ActionSpace.Size;
                var o = new float[envCount * obs];
                for (int i = 0; i < envCount; i++)
                {
                    envs[i] = tasks.CreateEnv();
                    envs[i].SetTask(tasks.SampleTask(taskRng, TaskSplit.Train));
                    rngs[i] = new MetaRL.Engine.Rng(100 + (ulong)i);
                    envs[i].Reset(rngs[i], o.AsSpan(i * obs, obs));
                }
                var stepper = new EnvBatchStepper(envs, rngs, obs, act, mode);
                var active = Enumerable.Repeat(true, envCount).ToArray();
                var actions = new float[envCount * act];
                var actionRng = new MetaRL.Engine.Rng(3);
                var watch = Stopwatch.StartNew();
                for (int t = 0; t < steps; t++)
                {
                    for (int j = 0; j < actions.Length; j++) actions[j] = (float)actionRng.Uniform(-1, 1);
                    stepper.Step(actions, active, o);
                    for (int i = 0; i < envCount; i++)
                        if (stepper.Results[i].Done) envs[i].Reset(rngs[i], o.AsSpan(i * obs, obs));
                }
                rates[mode].Add(envCount * steps / watch.Elapsed.TotalSeconds);
                finals[mode] = o;
            }
        }
        double one = Bench.Median(rates[StepParallelism.Never]), all = Bench.Median(rates[StepParallelism.Always]);
        Console.WriteLine($"  one thread:                   {one,12:N0} env steps/s (median of {2 * rounds})");
        Console.WriteLine($"  {Environment.ProcessorCount} cores:                      {all,12:N0} env steps/s (median of {2 * rounds}), ×{all / one:F2}");
        Console.WriteLine($"  same observations after {steps} steps: {(finals[StepParallelism.Never].AsSpan().SequenceEqual(finals[StepParallelism.Always]) ? "yes" : "NO")}");
        Console.WriteLine();
    }

    private static void Run(string name, string xml)
    {
        const int steps = 20000, rounds = 7;
        Console.WriteLine($"MuJoCo: {name}, {steps} physics steps, one thread");
        using var model = MjModel.FromXml(xml);
        using var sim = new MjSimulation(model);
        var file = Path.Combine(Path.GetTempPath(), $"metarl-bench-{Environment.ProcessId}.xml");
        File.WriteAllText(file, xml);
        // This machine's speed drifts by tens of percent from second to second, so the two are measured in
        // alternation, round by round, and each reports its median round.
        var ours = new List<double>();
        var reference = new List<double>();
        bool haveReference = true;
        try
        {
            for (int round = 0; round < rounds; round++)
            {
                sim.Reset();
                var watch = Stopwatch.StartNew();
                var zero = new double[model.Nu];
                for (int i = 0; i < steps; i++) sim.Step(zero);
                ours.Add(steps / watch.Elapsed.TotalSeconds);
                if (!haveReference) continue;
                try
                {
                    var psi = new ProcessStartInfo("mujoco-testspeed", [file, steps.ToString(CultureInfo.InvariantCulture), "1", "0"])
                    {
                        RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                    };
                    using var p = Process.Start(psi)!;
                    string output = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    var m = StepsPerSecond().Match(output);
                    if (m.Success) reference.Add(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                }
                catch (System.ComponentModel.Win32Exception) { haveReference = false; }
            }
        }
        finally { File.Delete(file); }
        double oursMedian = Bench.Median(ours);
        Console.WriteLine($"  MetaRL (MjSimulation.Step per step): {oursMedian,12:N0} steps/s (median of {rounds})");
        if (haveReference && reference.Count > 0)
        {
            double referenceMedian = Bench.Median(reference);
            Console.WriteLine($"  mujoco-testspeed (same model):       {referenceMedian,12:N0} steps/s (median of {reference.Count}, alternating)");
            Console.WriteLine($"  ratio: {oursMedian / referenceMedian:P1}");
        }
        else Console.WriteLine("  mujoco-testspeed not found (apt-get install libmujoco-samples): no reference figure.");
        Console.WriteLine();
    }
}
