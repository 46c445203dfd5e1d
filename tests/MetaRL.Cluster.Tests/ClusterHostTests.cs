using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MetaRL.Algorithms;
using MetaRL.Algorithms.Rollouts;
using MetaRL.Core.Learning;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans;

namespace MetaRL.Cluster.Tests;

/// <summary>Runs only where Debian's redis-server is installed; elsewhere skipped with the install command.</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public const string Server = "/usr/bin/redis-server";

    public RedisFactAttribute()
    {
        if (!File.Exists(Server)) Skip = "redis-server is not installed: sudo apt-get install redis-server";
    }
}

/// <summary>
/// The silos <c>metarl train --cluster</c> and <c>metarl worker</c> start (<see cref="ClusterHosts"/>), over real TCP on
/// loopback: development clustering with the learner as primary, and membership in a Redis server. Both train exactly
/// as one process does.
/// </summary>
public sealed class ClusterHostTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-hosts-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private static readonly Dictionary<string, string> Maml = new()
    {
        ["hidden"] = "8", ["meta-batch"] = "6", ["trajectories"] = "2", ["horizon"] = "5", ["validate-every"] = "0", ["iterations"] = "2",
    };

    private byte[] Train(IRolloutWorkers? workers, string name)
    {
        var learner = MetaLearners.Create("maml", "navigation-2d", Maml, seed: 4);
        ((IDistributableLearner)learner).Workers = workers;
        learner.Learn();
        var path = Path.Combine(_dir, name + ".mrla");
        learner.Save(path);
        return File.ReadAllBytes(path);
    }

    private async Task TrainThrough(ClusterAddress address)
    {
        var single = Train(null, "single");
        var hosts = new List<IHost>();
        try
        {
            hosts.Add(await ClusterHosts.StartLearnerAsync(address, TimeSpan.FromSeconds(60)));
            hosts.Add(await ClusterHosts.StartWorkerAsync(address));
            hosts.Add(await ClusterHosts.StartWorkerAsync(address));
            var workers = new ClusterWorkers(hosts[0].Services.GetRequiredService<IGrainFactory>());
            // The three silos of this process share one name; the workers differ by address.
            Assert.Equal(2, await workers.WaitForWorkersAsync(2));
            var distributed = await Task.Run(() => Train(workers, "cluster"));
            Assert.True(single.AsSpan().SequenceEqual(distributed), $"through {address}: the checkpoint differs from the single process's");
            Assert.Equal(2, workers.LastRound!.Workers.Count);
        }
        finally
        {
            foreach (var h in Enumerable.Reverse(hosts))
            {
                await h.StopAsync(TimeSpan.FromSeconds(5));
                h.Dispose();
            }
        }
    }

    [Fact]
    public Task Development_clustering_with_the_learner_as_primary() => TrainThrough(ClusterAddress.Parse($"127.0.0.1:{ClusterHosts.FreePort()}"));

    [RedisFact]
    public async Task Membership_in_redis()
    {
        int port = ClusterHosts.FreePort();
        using var redis = Process.Start(new ProcessStartInfo(RedisFactAttribute.Server, ["--port", port.ToString(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            { RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            var until = DateTime.UtcNow.AddSeconds(10);
            while (!Listening(port) && DateTime.UtcNow < until) await Task.Delay(50);
            await TrainThrough(ClusterAddress.Parse($"redis://127.0.0.1:{port}"));
        }
        finally
        {
            redis.Kill();
            redis.WaitForExit();
        }
    }

    [Fact]
    public void Malformed_addresses_are_refused_with_an_example()
    {
        foreach (var bad in new[] { "nowhere", "127.0.0.1:0", "127.0.0.1:70000", ":11111", "redis://" })
        {
            var e = Assert.Throws<FormatException>(() => ClusterAddress.Parse(bad));
            Assert.Contains("e.g.", e.Message);
        }
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 11111), ClusterAddress.Parse("127.0.0.1:11111").Primary);
        Assert.Equal("127.0.0.1:6379", ClusterAddress.Parse("redis://127.0.0.1:6379").Redis);
    }

    private static bool Listening(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException) { return false; }
    }
}
