using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
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
        // alternation, round by round, and each keeps its best round.
        double ours = 0, reference = 0;
        bool haveReference = true;
        try
        {
            for (int round = 0; round < rounds; round++)
            {
                sim.Reset();
                var watch = Stopwatch.StartNew();
                var zero = new double[model.Nu];
                for (int i = 0; i < steps; i++) sim.Step(zero);
                ours = Math.Max(ours, steps / watch.Elapsed.TotalSeconds);
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
                    if (m.Success) reference = Math.Max(reference, double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                }
                catch (System.ComponentModel.Win32Exception) { haveReference = false; }
            }
        }
        finally { File.Delete(file); }
        Console.WriteLine($"  MetaRL (MjSimulation.Step per step): {ours,12:N0} steps/s (best of {rounds})");
        if (haveReference && reference > 0)
        {
            Console.WriteLine($"  mujoco-testspeed (same model):       {reference,12:N0} steps/s (best of {rounds}, alternating)");
            Console.WriteLine($"  ratio: {ours / reference:P1}");
        }
        else Console.WriteLine("  mujoco-testspeed not found (apt-get install libmujoco-samples): no reference figure.");
        Console.WriteLine();
    }
}
