using System.Diagnostics;
using MetaRL.Tasks.Glucose;

/// <summary>
/// The UVA/Padova simulator's speed: simulated patient-days (1440 one-minute steps with the day's meals and boluses)
/// per second on one core and per core with every core busy, over all 30 virtual patients.
/// </summary>
internal static class GlucoseBench
{
    public static void Run(double seconds)
    {
        Console.WriteLine($"UVA/Padova simulator: patient-days (1440 one-minute steps, three meals with boluses), all 30 patients; median of 5 windows of {seconds:0.##} s");
        double one = Rate(1, seconds);
        int cores = Environment.ProcessorCount;
        double all = Rate(cores, seconds);
        Console.WriteLine($"{"1 core, days/s",20}{$"{cores} cores, days/s",20}{"per core",12}{"µs of CPU per day",20}");
        Console.WriteLine($"{one,20:F0}{all,20:F0}{all / cores,12:F0}{1e6 / (all / cores),20:F1}");
        Console.WriteLine();
    }

    private static double Rate(int threads, double seconds)
    {
        var patients = VirtualPatient.All;
        var sims = Enumerable.Range(0, threads).Select(_ => patients.Select(p => new PatientSimulator(p)).ToArray()).ToArray();
        const int windows = 5;
        var rates = new double[windows];
        for (int w = -1; w < windows; w++)
        {
            long days = 0;
            var watch = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var local = Stopwatch.StartNew();
                long n = 0;
                double length = w < 0 ? Math.Min(0.2, seconds) : seconds;
                while (local.Elapsed.TotalSeconds < length)
                {
                    foreach (var sim in sims[t])
                    {
                        Day(sim);
                        n++;
                    }
                }
                Interlocked.Add(ref days, n);
            });
            if (w >= 0) rates[w] = days / watch.Elapsed.TotalSeconds;
        }
        Array.Sort(rates);
        return rates[windows / 2];
    }

    // Meals of 45, 70 and 80 g at 7:00, 12:00 and 18:00 with the patient's own boluses, basal otherwise.
    private static void Day(PatientSimulator sim)
    {
        var p = sim.Patient;
        sim.Reset();
        for (int m = 0; m < 1440; m++)
        {
            double meal = m switch { 420 => 45, 720 => 70, 1080 => 80, _ => 0 };
            sim.Step(meal, p.BasalRate + meal / p.CarbRatio);
        }
    }
}
