using System.Diagnostics;
using System.Globalization;
using MetaRL.Algorithms.Rollouts;
using MetaRL.Cluster;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans;
using Spectre.Console;

namespace MetaRL.Cli.Commands;

/// <summary>
/// Rollout workers for <c>metarl train</c>: <c>metarl worker --cluster ADDRESS</c> (a silo that plays pieces of
/// iterations), and the learner's side: its own silo, the local worker processes of <c>--workers N</c>, and the
/// <see cref="ClusterWorkers"/> the learner plays its rollouts through.
/// </summary>
internal static class Workers
{
    /// <summary>Refuses <c>--workers</c>/<c>--cluster</c> given together, out of range, malformed, or for an algorithm that trains in one process.</summary>
    public static void Check(int? local, string? cluster, MetaRL.Algorithms.MetaAlgorithm? algorithm)
    {
        if (cluster is not null && local is not null) throw new SettingException("Give --workers N (local worker processes) or --cluster ADDRESS (a cluster of your own), not both.");
        if (local is < 1 or > 64) throw new SettingException($"--workers must be in [1, 64], got {local}.");
        if (cluster is not null) ParseAddress(cluster);
        if (algorithm is { PlaysOnWorkers: false })
            throw new SettingException($"{algorithm.Name} trains in one process; --workers and --cluster apply to {string.Join(" and ", MetaRL.Algorithms.MetaLearners.Catalogue.Where(a => a.PlaysOnWorkers).Select(a => a.Name))} runs.");
    }

    /// <summary><c>metarl worker</c>: joins the cluster and plays pieces until stopped (or until <paramref name="parent"/> exits).</summary>
    public static int Run(string cluster, int port, string? advertise, int? threads, int? parent)
    {
        var address = ParseAddress(cluster);
        if (port is < 0 or > 65535) throw new SettingException($"--port must be in [0, 65535] (0: any free port), got {port}.");
        System.Net.IPAddress? ip = null;
        if (advertise is not null && !System.Net.IPAddress.TryParse(advertise, out ip))
            throw new SettingException($"--advertise must be this machine's IP address as the learner reaches it, got '{advertise}'.");
        if (threads is { } t)
        {
            if (t < 1) throw new SettingException($"--threads must be at least 1, got {t}.");
            MetaRL.Core.Compute.MaxThreads = t;
        }
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        bool Done() => stop.IsCancellationRequested || (parent is { } pid && !Alive(pid));
        // With development clustering the learner holds the membership: when it goes, this worker leaves and waits for
        // the next learner at the same address (a silo that outlived its primary could not join the next one).
        while (!Done())
        {
            IHost host;
            try { host = ClusterHosts.StartWorkerAsync(address, port, ip, stop.Token).GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { break; }
            catch (Exception e)
            {
                Console.Error.WriteLine($"could not join the cluster at {address}: {e.Message}; trying again in 5 s.");
                stop.Token.WaitHandle.WaitOne(5000);
                continue;
            }
            var name = host.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().Name;
            Console.WriteLine($"{name} joined the cluster at {address} ({MetaRL.Core.Compute.MaxThreads} thread{(MetaRL.Core.Compute.MaxThreads == 1 ? "" : "s")}); playing rollout pieces until stopped.");
            bool learnerGone = false;
            int unreachable = 0;
            while (!Done())
            {
                stop.Token.WaitHandle.WaitOne(500);
                if (address.Primary is { } primary) unreachable = Reachable(primary) ? 0 : unreachable + 1;
                if (unreachable >= 2) { learnerGone = true; break; }
            }
            try { host.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult(); } catch (Exception) { }
            host.Dispose();
            if (!learnerGone) { Console.WriteLine($"{name} left the cluster."); break; }
            Console.WriteLine($"The learner at {address} has gone; {name} left the cluster and waits for the next learner there.");
        }
        return 0;
    }

    private static bool Reachable(System.Net.IPEndPoint endpoint)
    {
        try
        {
            using var c = new System.Net.Sockets.TcpClient();
            return c.ConnectAsync(endpoint.Address, endpoint.Port).Wait(1000) && c.Connected;
        }
        catch (AggregateException) { return false; }
        catch (System.Net.Sockets.SocketException) { return false; }
    }

    private static bool Alive(int pid)
    {
        try { return !Process.GetProcessById(pid).HasExited; }
        catch (ArgumentException) { return false; }
    }

    private static ClusterAddress ParseAddress(string text)
    {
        try { return ClusterAddress.Parse(text); }
        catch (FormatException e) { throw new SettingException(e.Message); }
        catch (System.Net.Sockets.SocketException e) { throw new SettingException($"--cluster '{text}': {e.Message}."); }
    }

    /// <summary>
    /// The learner's cluster for one <c>metarl train</c>: its silo, the local workers it started, and the rollout
    /// workers the learner uses. Disposing stops the workers it started and leaves the cluster.
    /// </summary>
    public sealed class LearnerCluster : IDisposable
    {
        private readonly IHost _host;
        private readonly List<Process> _children = [];
        private readonly string? _logDir;

        public ClusterWorkers Workers { get; }
        public ClusterAddress Address { get; }

        /// <summary>Per iteration: what each worker did (workers.csv in the run directory).</summary>
        public string? CsvPath => _logDir is null ? null : Path.Combine(_logDir, "workers.csv");

        private LearnerCluster(IHost host, ClusterAddress address, ClusterWorkers workers, string? logDir)
            => (_host, Address, Workers, _logDir) = (host, address, workers, logDir);

        /// <summary>
        /// Joins (<paramref name="cluster"/>) or makes (<paramref name="local"/> worker processes on this machine) the
        /// cluster and waits for its workers: all <paramref name="local"/> of them, or at least one.
        /// </summary>
        public static LearnerCluster Start(IMetaLearner learner, string? cluster, int? local, TimeSpan timeout, string runPath, IReadOnlyList<string> taskPacks)
        {
            Check(local, cluster, MetaRL.Algorithms.MetaLearners.Get(learner.Algorithm));
            var address = cluster is not null ? ParseAddress(cluster) : ClusterAddress.Parse($"127.0.0.1:{ClusterHosts.FreePort()}");
            IHost host;
            try { host = ClusterHosts.StartLearnerAsync(address, timeout).GetAwaiter().GetResult(); }
            catch (Exception e) when (e is not SettingException)
            {
                throw new SettingException($"Could not start the learner's silo at {address}: {e.Message}");
            }
            var workers = new ClusterWorkers(host.Services.GetRequiredService<IGrainFactory>(), new ClusterWorkerOptions(PieceTimeout: timeout));
            var lc = new LearnerCluster(host, address, workers, runPath);
            lc.ForgetIterationsAfter(learner.Iteration);
            try
            {
                if (local is { } n)
                {
                    int threads = Math.Max(1, Environment.ProcessorCount / n);
                    for (int i = 1; i <= n; i++) lc._children.Add(StartLocalWorker(address, threads, Path.Combine(runPath, $"worker-{i}.log"), taskPacks));
                    // Within 80 columns for any loopback port.
                    AnsiConsole.MarkupLine($"Started {n} worker{(n == 1 ? "" : "s")}, {threads} thread{(threads == 1 ? "" : "s")} each, cluster {address} (logs: worker-N.log).");
                }
                else AnsiConsole.MarkupLine($"Waiting for workers at {Markup.Escape(address.ToString())} ('metarl worker --cluster {Markup.Escape(address.ToString())}' on each machine).");
                int joined;
                try { joined = workers.WaitForWorkersAsync(local ?? 1).GetAwaiter().GetResult(); }
                catch (TimeoutException e)
                {
                    throw new InvalidOperationException($"{e.Message} {(local is null ? $"Start them with 'metarl worker --cluster {address}'." : $"See {Path.Combine(runPath, "worker-1.log")}.")}");
                }
                AnsiConsole.MarkupLine($"{joined} worker{(joined == 1 ? "" : "s")} in the cluster: {Markup.Escape(string.Join(", ", workers.Workers))}.");
                return lc;
            }
            catch
            {
                lc.Dispose();
                throw;
            }
        }

        /// <summary>After a resume: workers.csv keeps the rows of the iterations the checkpoint holds (the later ones are trained again).</summary>
        private void ForgetIterationsAfter(int iteration)
        {
            if (CsvPath is not { } csv || !File.Exists(csv)) return;
            var lines = File.ReadAllLines(csv);
            var kept = lines.Take(1).Concat(lines.Skip(1).Where(l =>
                int.TryParse(l.Split(',')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i <= iteration)).ToArray();
            if (kept.Length != lines.Length) File.WriteAllLines(csv, kept);
        }

        /// <summary>Appends the last iteration's round to workers.csv and returns the progress line's part about the workers.</summary>
        public string Record(int iteration)
        {
            var round = Workers.LastRound;
            if (round is null) return "";
            if (CsvPath is { } csv)
            {
                bool header = !File.Exists(csv);
                using var w = new StreamWriter(csv, append: true);
                if (header) w.WriteLine("iteration,worker,pieces,busy_seconds,rollout_seconds,reassigned,bytes_sent,bytes_received");
                foreach (var s in round.Workers)
                    w.WriteLine(string.Join(',', iteration.ToString(CultureInfo.InvariantCulture), s.Name, s.Pieces.ToString(CultureInfo.InvariantCulture),
                        s.Seconds.ToString("F3", CultureInfo.InvariantCulture), round.Seconds.ToString("F3", CultureInfo.InvariantCulture),
                        round.Reassignments.Count.ToString(CultureInfo.InvariantCulture), round.BytesSent.ToString(CultureInfo.InvariantCulture),
                        round.BytesReceived.ToString(CultureInfo.InvariantCulture)));
            }
            double busy = round.Workers.Sum(s => s.Seconds) / Math.Max(1e-9, round.Workers.Count * round.Seconds);
            return $"{round.Workers.Count} worker{(round.Workers.Count == 1 ? "" : "s")} {100 * busy:F0}% busy" + (round.Reassignments.Count > 0 ? $", {round.Reassignments.Count} re-run" : "");
        }

        private static Process StartLocalWorker(ClusterAddress address, int threads, string log, IReadOnlyList<string> taskPacks)
        {
            var exe = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
            var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            // Run as 'dotnet metarl.dll' (a build) or as the metarl executable (the tool).
            if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(typeof(Program).Assembly.Location);
            foreach (var a in new[] { "worker", "--cluster", address.ToString(), "--threads", threads.ToString(CultureInfo.InvariantCulture),
                         "--parent", Environment.ProcessId.ToString(CultureInfo.InvariantCulture) })
                psi.ArgumentList.Add(a);
            foreach (var pack in taskPacks) { psi.ArgumentList.Add("--tasks-from"); psi.ArgumentList.Add(pack); }
            var p = Process.Start(psi) ?? throw new InvalidOperationException("Could not start a worker process.");
            var writer = new StreamWriter(log, append: true) { AutoFlush = true };
            p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
            p.Exited += (_, _) => { lock (writer) writer.Dispose(); };
            p.EnableRaisingEvents = true;
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            return p;
        }

        public void Dispose()
        {
            try { _host.StopAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult(); } catch (Exception) { }
            _host.Dispose();
            foreach (var p in _children)
            {
                try
                {
                    if (!p.HasExited) p.Kill(entireProcessTree: true);
                    p.WaitForExit(5000);
                }
                catch (InvalidOperationException) { }
                p.Dispose();
            }
        }
    }
}
