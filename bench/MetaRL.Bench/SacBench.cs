using System.Diagnostics;
using MetaRL.Algorithms.Sac;
using MetaRL.Engine;

/// <summary>
/// Soft actor-critic updates per second (twin critics, target critics, tuned temperature) on random transitions of a
/// half-cheetah's sizes (17 observations, 6 actions), both cores, median of 5 windows; and the same with PEARL's latent
/// of 5 joined to every input, its gradient flowing back.
/// </summary>
internal static class SacBench
{
    public static void Run(double seconds, int[] hidden, int batch)
    {
        Console.WriteLine($"SAC updates, batch {batch}, MLP [{string.Join(", ", hidden)}], 17 observations, 6 actions; median of 5 windows");
        Console.WriteLine($"{"variant",-34}{"updates/s",12}{"ms/update",12}{"MB/update",12}");
        foreach (int latent in new[] { 0, 5 })
        {
            var rng = new Rng(1);
            var sac = new SoftActorCritic(17, 6, latent, new SacSettings(hidden), rng);
            var b = new SacBatch(batch, 17, 6);
            for (int i = 0; i < b.Observations.Length; i++) { b.Observations[i] = (float)rng.Normal(0, 1); b.Next[i] = (float)rng.Normal(0, 1); }
            for (int i = 0; i < b.Actions.Length; i++) b.Actions[i] = (float)rng.Uniform(-1, 1);
            for (int i = 0; i < batch; i++) b.Rewards[i] = (float)rng.Normal(0, 1);
            var z = new float[batch * latent];
            for (int i = 0; i < z.Length; i++) z[i] = (float)rng.Normal(0, 1);
            var zGrad = new float[z.Length];
            void Update() => sac.Update(b, rng, z, zGrad);
            for (int i = 0; i < 5; i++) Update();
            int n = 1;
            var w = Stopwatch.StartNew();
            while (w.Elapsed.TotalSeconds < seconds / 5) { Update(); n++; }
            var times = new List<double>();
            var bytes = new List<double>();
            for (int r = 0; r < 5; r++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                w.Restart();
                for (int i = 0; i < n; i++) Update();
                times.Add(w.Elapsed.TotalMilliseconds / n);
                bytes.Add((GC.GetTotalAllocatedBytes(precise: true) - before) / (double)n / 1e6);
            }
            times.Sort();
            bytes.Sort();
            Console.WriteLine($"{(latent == 0 ? "SAC" : $"SAC with a latent of {latent} (PEARL)"),-34}{1000 / times[2],12:F1}{times[2],12:F2}{bytes[2],12:F1}");
        }
        Console.WriteLine();
    }
}
