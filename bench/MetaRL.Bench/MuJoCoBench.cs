using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using MetaRL.MuJoCo;

/// <summary>MuJoCo steps per second through the bindings (one call per step) against MuJoCo's own mujoco-testspeed.</summary>
internal static partial class MuJoCoBench
{
    // A seven-body articulated chain with a free base falling onto a plane: about 12 contacts per step.
    private const string Model = """
        <mujoco>
          <option timestep="0.002"/>
          <worldbody>
            <geom type="plane" size="10 10 0.1"/>
            <body name="b0" pos="0 0 1"><freejoint/><geom type="box" size="0.1 0.05 0.05" mass="1"/>
              <body name="b1" pos="0.2 0 0"><joint type="hinge" axis="0 1 0" damping="0.05"/><geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.04"/>
                <body name="b2" pos="0.2 0 0"><joint type="hinge" axis="0 1 0" damping="0.05"/><geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.04"/>
                  <body name="b3" pos="0.2 0 0"><joint type="hinge" axis="0 0 1" damping="0.05"/><geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.04"/></body>
                </body>
              </body>
              <body name="l1" pos="-0.2 0 0"><joint type="hinge" axis="0 1 0" damping="0.05"/><geom type="capsule" fromto="0 0 0 -0.2 0 0" size="0.04"/>
                <body name="l2" pos="-0.2 0 0"><joint type="hinge" axis="0 1 0" damping="0.05"/><geom type="capsule" fromto="0 0 0 -0.2 0 0" size="0.04"/></body>
              </body>
            </body>
          </worldbody>
        </mujoco>
        """;

    [GeneratedRegex(@"Steps per second\s*:\s*([0-9.]+)")]
    private static partial Regex StepsPerSecond();

    public static void Run()
    {
        Console.WriteLine("MuJoCo: articulated chain on a plane (11 dof, ~12 contacts), 20000 steps, one thread");
        if (!MuJoCo.IsAvailable)
        {
            Console.WriteLine($"  skipped: {MuJoCo.UnavailableReason}");
            Console.WriteLine();
            return;
        }
        const int steps = 20000, rounds = 7;
        using var model = MjModel.FromXml(Model);
        using var sim = new MjSimulation(model);
        var file = Path.Combine(Path.GetTempPath(), $"metarl-bench-{Environment.ProcessId}.xml");
        File.WriteAllText(file, Model);
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
                for (int i = 0; i < steps; i++) sim.Step([]);
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
