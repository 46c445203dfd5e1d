using System.Diagnostics;
using System.Globalization;
using MetaRL.Algorithms;
using MetaRL.Algorithms.Rollouts;
using MetaRL.Cluster;
using MetaRL.Core.Learning;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans;

/// <summary>
/// What rollout workers cost and save on a MuJoCo family: iterations trained in this process, then through worker
/// processes on this machine (this program started again as a worker), with the learner's update time, the workers' busy
/// time, the bytes moved and the wall time of the rollouts; the inputs of docs/cluster.md's scaling model.
/// </summary>
internal static class ClusterBench
{
    /// <summary>The worker side: <c>metarl-bench cluster-worker ADDRESS THREADS PARENT</c>.</summary>
    public static int Worker(string address, int threads, int parent)
    {
        MetaRL.Core.Compute.MaxThreads = threads;
        using var host = ClusterHosts.StartWorkerAsync(ClusterAddress.Parse(address)).GetAwaiter().GetResult();
        while (true)
        {
            try { if (Process.GetProcessById(parent).HasExited) break; }
            catch (ArgumentException) { break; }
            Thread.Sleep(500);
        }
        return 0;
    }

    public static void Run(int iterations, int workers)
    {
        if (!MetaRL.MuJoCo.MuJoCo.IsAvailable)
        {
            Console.WriteLine($"cluster: skipped: {MetaRL.MuJoCo.MuJoCo.UnavailableReason}");
            return;
        }
        Console.WriteLine($"Rollout workers: {iterations} iterations after one to warm up, medians; {workers} worker processes of {Math.Max(1, Environment.ProcessorCount / workers)} thread(s) on this machine against this process on {Environment.ProcessorCount}");
        Console.WriteLine();
        Measure("rl2", "hopper-params", new Dictionary<string, string>(), iterations, workers);
        Measure("maml", "cheetah-vel", new Dictionary<string, string> { ["meta-batch"] = "20", ["trajectories"] = "10" }, iterations, workers);
    }

    private static void Measure(string algorithm, string task, Dictionary<string, string> settings, int iterations, int workers)
    {
        settings["iterations"] = (iterations + 1).ToString(CultureInfo.InvariantCulture);
        settings["validate-every"] = "0";
        string label = $"{algorithm} {task}{string.Concat(settings.Where(s => s.Key is not ("iterations" or "validate-every")).Select(s => $" {s.Key}={s.Value}"))}";

        // In this process.
        var here = MetaLearners.Create(algorithm, task, settings, seed: 1);
        var (hereTotal, hereRollout) = Iterate(here, iterations, null);

        // Through worker processes.
        var address = ClusterAddress.Parse($"127.0.0.1:{ClusterHosts.FreePort()}");
        using var host = ClusterHosts.StartLearnerAsync(address, TimeSpan.FromMinutes(10)).GetAwaiter().GetResult();
        var cluster = new ClusterWorkers(host.Services.GetRequiredService<IGrainFactory>());
        var children = new List<Process>();
        try
        {
            int threads = Math.Max(1, Environment.ProcessorCount / workers);
            for (int i = 0; i < workers; i++)
            {
                var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(typeof(ClusterBench).Assembly.Location);
                foreach (var a in new[] { "cluster-worker", address.ToString(), threads.ToString(CultureInfo.InvariantCulture), Environment.ProcessId.ToString(CultureInfo.InvariantCulture) })
                    psi.ArgumentList.Add(a);
                children.Add(Process.Start(psi)!);
            }
            cluster.WaitForWorkersAsync(workers).GetAwaiter().GetResult();
            var there = MetaLearners.Create(algorithm, task, settings, seed: 1);
            ((IDistributableLearner)there).Workers = cluster;
            var rounds = new List<ClusterRound>();
            var (thereTotal, thereRollout) = Iterate(there, iterations, () => rounds.Add(cluster.LastRound!));
            var measured = rounds.Skip(1).ToArray();
            double busy = Bench.Median(measured.Select(r => r.Workers.Sum(w => w.Seconds)));
            double slowest = Bench.Median(measured.Select(r => r.Workers.Max(w => w.Seconds)));
            double sent = Bench.Median(measured.Select(r => (double)r.BytesSent)) / 1e6, received = Bench.Median(measured.Select(r => (double)r.BytesReceived)) / 1e6;
            int pieces = measured[0].Workers.Sum(w => w.Pieces);
            Console.WriteLine(label);
            Console.WriteLine($"  in this process          iteration {hereTotal,7:F2} s   rollout {hereRollout,6:F2} s   update {hereTotal - hereRollout,6:F2} s");
            Console.WriteLine($"  {workers} worker processes       iteration {thereTotal,7:F2} s   rollout {thereRollout,6:F2} s   update {thereTotal - thereRollout,6:F2} s");
            Console.WriteLine($"    workers busy {busy:F2} s in all (slowest {slowest:F2} s), {pieces} pieces; sent {sent:F2} MB (policy and seeds), received {received:F2} MB (batches)");
            Console.WriteLine($"    rollout wall time beyond the slowest worker (transfer, (de)serialisation, waiting): {thereRollout - slowest:F2} s");
            Console.WriteLine($"    same checkpoint as in this process: {SameCheckpoint(here, there)}");
            Console.WriteLine();
        }
        finally
        {
            foreach (var p in children)
            {
                try { if (!p.HasExited) p.Kill(entireProcessTree: true); p.WaitForExit(5000); } catch (InvalidOperationException) { }
                p.Dispose();
            }
            host.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
        }
    }

    /// <summary>One warm-up iteration, then the medians of <paramref name="iterations"/> iterations' total and rollout seconds.</summary>
    private static (double Total, double Rollout) Iterate(IMetaLearner learner, int iterations, Action? after)
    {
        var totals = new List<double>();
        var rollouts = new List<double>();
        int rollout = learner.MetricNames.ToList().IndexOf("rollout_seconds");
        for (int i = 0; i <= iterations; i++)
        {
            var watch = Stopwatch.StartNew();
            double sampling;
            // MAML's report has no sampling time: its trainer's statistics do.
            if (learner is MetaRL.Algorithms.Maml.MamlLearner maml) sampling = maml.Trainer.RunIteration().SamplingSeconds;
            else sampling = learner.RunIteration().Metrics[rollout];
            double total = watch.Elapsed.TotalSeconds;
            after?.Invoke();
            if (i == 0) continue;
            totals.Add(total);
            rollouts.Add(sampling);
        }
        return (Bench.Median(totals), Bench.Median(rollouts));
    }

    private static bool SameCheckpoint(IMetaLearner a, IMetaLearner b)
    {
        var pa = Path.GetTempFileName();
        var pb = Path.GetTempFileName();
        try
        {
            a.Save(pa);
            b.Save(pb);
            return File.ReadAllBytes(pa).AsSpan().SequenceEqual(File.ReadAllBytes(pb));
        }
        finally
        {
            File.Delete(pa);
            File.Delete(pb);
        }
    }
}
