using MetaRL.Algorithms;
using MetaRL.Algorithms.Rollouts;
using MetaRL.Core.Learning;
using Orleans.TestingHost;

namespace MetaRL.Cluster.Tests;

/// <summary>
/// Training through Orleans workers (Orleans' in-process test cluster: silos and a client in this process) gives the
/// checkpoints of a single process, byte for byte, for any number of workers, and when a worker silo dies mid-iteration.
/// </summary>
public sealed class ClusterTrainingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-cluster-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    public static TheoryData<string, string, string[]> Runs => new()
    {
        { "rl2", "navigation-2d", ["hidden=8", "trials-per-iteration=9", "minibatches=1", "horizon=6", "episodes=2", "normalize-observations=true", "bptt=5"] },
        { "maml", "navigation-2d", ["hidden=8,8", "meta-batch=9", "trajectories=3", "horizon=6", "validate-every=0"] },
    };

    private static async Task<InProcessTestCluster> Cluster(int silos)
    {
        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.ConfigureSilo((_, silo) => ClusterHosts.AddWorkerPlacement(silo.Services));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    private byte[] Train(string algorithm, string task, string[] settings, IRolloutWorkers? workers, string name)
    {
        var values = settings.Select(s => s.Split('=')).ToDictionary(p => p[0], p => p[1]);
        values["iterations"] = "3";
        var learner = MetaLearners.Create(algorithm, task, values, seed: 21);
        ((IDistributableLearner)learner).Workers = workers;
        learner.Learn();
        var path = Path.Combine(_dir, name + ".mrla");
        learner.Save(path);
        return File.ReadAllBytes(path);
    }

    private static ClusterWorkers Workers(InProcessTestCluster cluster, int perWorker = 2)
        => new(cluster.Client, new ClusterWorkerOptions(perWorker, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(30), IsWorker: _ => true));

    [Theory]
    [MemberData(nameof(Runs))]
    public async Task One_two_and_three_workers_give_the_checkpoint_of_one_process(string algorithm, string task, string[] settings)
    {
        var single = Train(algorithm, task, settings, null, "single");
        foreach (int n in new[] { 1, 2, 3 })
        {
            await using var cluster = await Cluster(n);
            var workers = Workers(cluster);
            Assert.Equal(n, await workers.WaitForWorkersAsync(n));
            var distributed = await Task.Run(() => Train(algorithm, task, settings, workers, $"workers-{n}"));
            Assert.True(single.AsSpan().SequenceEqual(distributed), $"{n} worker(s): the checkpoint differs from the single process's");
            var round = workers.LastRound!;
            Assert.Equal(n, round.Workers.Count);
            Assert.All(round.Workers, w => Assert.True(w.Pieces >= 1));
            Assert.Equal(2 * n, round.Workers.Sum(w => w.Pieces));
            Assert.Empty(round.Reassignments);
            Assert.True(round.BytesSent > 0 && round.BytesReceived > 0);
        }
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public async Task A_worker_silo_killed_mid_iteration_changes_nothing(string algorithm, string task, string[] settings)
    {
        var single = Train(algorithm, task, settings, null, "single");
        await using var cluster = await Cluster(3);
        var workers = new ClusterWorkers(cluster.Client, new ClusterWorkerOptions(3, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(30), IsWorker: _ => true));
        await workers.WaitForWorkersAsync(3);
        var log = new List<string>();
        workers.Log += line => { lock (log) log.Add(line); };
        int pieces = 0;
        string? killed = null;
        workers.PieceStarted += (_, to) =>
        {
            // Iteration 2 is under way (its pieces are going out, some played already): kill the silo the next piece goes
            // to, before the call leaves (not the primary, which keeps the membership).
            if (Interlocked.Increment(ref pieces) <= 9 + 2 || killed is not null || to == cluster.Silos[0].Name) return;
            killed = to;
            cluster.KillSiloAsync(cluster.Silos.First(s => s.Name == to)).GetAwaiter().GetResult();
        };
        var distributed = await Task.Run(() => Train(algorithm, task, settings, workers, "killed"));
        Assert.NotNull(killed);
        Assert.True(single.AsSpan().SequenceEqual(distributed), "a worker killed mid-iteration changed the checkpoint");
        lock (log) Assert.Contains(log, l => l.StartsWith($"worker {killed} failed") && l.Contains("played again elsewhere"));
        Assert.DoesNotContain(killed, workers.Workers);
    }
}

/// <summary>A piece that fails the same way on any worker stops the iteration with the worker's message, at once.</summary>
public sealed class ClusterErrorTests
{
    [Fact]
    public async Task A_job_no_worker_can_play_stops_with_the_reason()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => ClusterHosts.AddWorkerPlacement(silo.Services));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var workers = new ClusterWorkers(cluster.Client, new ClusterWorkerOptions(2, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), IsWorker: _ => true));
        await workers.WaitForWorkersAsync(2);
        var job = new RolloutJob("rl2", "no-such-family", new Dictionary<string, string>(), new Dictionary<string, string>(), "", [1, 2, 3]);
        job = job with { PolicyId = RolloutJob.Digest(job.Algorithm, job.Task, job.TaskSettings, job.Settings, job.Policy) };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => workers.PlayAsync(job, [TrialSeed.Piece([])]));
        Assert.True(e.Message.Contains("no-such-family"), e.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(2, workers.Workers.Count); // nobody was taken for dead
    }
}
