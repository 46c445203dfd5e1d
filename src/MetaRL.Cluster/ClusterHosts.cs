using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;

namespace MetaRL.Cluster;

/// <summary>
/// Where a cluster's members find each other. <c>HOST:PORT</c>: Orleans' development clustering, whose primary silo is the
/// learner, listening at that address (workers give the same address to join it). <c>redis://HOST:PORT</c>: membership
/// kept in a Redis server, for a real cluster (no member is special; the learner may restart anywhere).
/// </summary>
public sealed record ClusterAddress(IPEndPoint? Primary, string? Redis)
{
    /// <summary>Parses a <c>--cluster</c> value; a malformed one is refused with an example.</summary>
    public static ClusterAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase))
        {
            string rest = text["redis://".Length..];
            if (rest.Length == 0) throw new FormatException($"--cluster '{text}': give the Redis server, e.g. redis://10.0.0.5:6379.");
            return new ClusterAddress(null, rest);
        }
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new FormatException($"--cluster '{text}' is not HOST:PORT (e.g. 127.0.0.1:11111, the learner's address) or redis://HOST:PORT.");
        string host = text[..colon].Trim('[', ']');
        var ip = IPAddress.TryParse(host, out var parsed) ? parsed
            : Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
              ?? throw new FormatException($"--cluster '{text}': host '{host}' has no IPv4 address.");
        return new ClusterAddress(new IPEndPoint(ip, port), null);
    }

    public override string ToString() => Redis is not null ? $"redis://{Redis}" : Primary!.ToString();

    /// <summary>The machine members reach to join: the primary silo's, or the Redis server's (the first endpoint of its configuration).</summary>
    public IPAddress? Peer
    {
        get
        {
            if (Primary is not null) return Primary.Address;
            var endpoint = StackExchange.Redis.ConfigurationOptions.Parse(Redis!).EndPoints.FirstOrDefault();
            return endpoint switch
            {
                IPEndPoint ip => ip.Address,
                DnsEndPoint dns => Dns.GetHostAddresses(dns.Host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork),
                _ => null,
            };
        }
    }
}

/// <summary>Silos for the learner and for workers.</summary>
public static class ClusterHosts
{
    /// <summary>Worker silos are named this, then the machine and the process.</summary>
    public const string WorkerNamePrefix = "metarl-worker";

    /// <summary>The cluster's id: the learner and its workers must agree on it.</summary>
    public const string ClusterId = "metarl";

    /// <summary>
    /// The learner's silo: it hosts no work (workers are found by name) and, with development clustering, is the
    /// primary silo at the address itself. <paramref name="pieceTimeout"/> bounds how long Orleans waits for a call.
    /// </summary>
    public static async Task<IHost> StartLearnerAsync(ClusterAddress address, TimeSpan pieceTimeout, CancellationToken cancel = default)
    {
        int silo = address.Primary?.Port ?? FreePort();
        var advertised = address.Primary?.Address ?? LocalAddressTowards(address.Peer);
        return await StartAsync($"metarl-learner-{Environment.MachineName}-{Environment.ProcessId}", address, advertised, silo, pieceTimeout, cancel);
    }

    /// <summary>
    /// A worker silo joining the cluster at <paramref name="address"/>, on <paramref name="port"/> (0: any free port),
    /// advertising <paramref name="advertise"/> (null: this machine's address on the way to the learner).
    /// </summary>
    public static async Task<IHost> StartWorkerAsync(ClusterAddress address, int port = 0, IPAddress? advertise = null, CancellationToken cancel = default)
    {
        var ip = advertise ?? LocalAddressTowards(address.Peer);
        return await StartAsync($"{WorkerNamePrefix}-{Environment.MachineName}-{Environment.ProcessId}", address, ip, port == 0 ? FreePort() : port,
            TimeSpan.FromMinutes(30), cancel);
    }

    private static async Task<IHost> StartAsync(string name, ClusterAddress address, IPAddress advertised, int siloPort, TimeSpan responseTimeout, CancellationToken cancel)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        // A start cancelled by Ctrl+C is not an error worth a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.UseOrleans(silo =>
        {
            Configure(silo, name, address, advertised, siloPort);
            silo.Configure<SiloMessagingOptions>(o => { o.ResponseTimeout = responseTimeout; o.SystemResponseTimeout = TimeSpan.FromSeconds(30); });
        });
        var host = builder.Build();
        await host.StartAsync(cancel);
        return host;
    }

    /// <summary>The settings every MetaRL silo has: its name, membership, endpoints, the worker placement, quick failure detection.</summary>
    public static void Configure(ISiloBuilder silo, string name, ClusterAddress address, IPAddress advertised, int siloPort)
    {
        silo.Configure<SiloOptions>(o => o.SiloName = name);
        silo.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = ClusterId; });
        if (address.Redis is { } redis) silo.UseRedisClustering(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(redis));
        else silo.UseDevelopmentClustering(address.Primary!);
        silo.ConfigureEndpoints(advertised, siloPort, gatewayPort: FreePort(), listenOnAnyHostAddress: true);
        // A worker killed mid-iteration is declared dead within seconds, not the default minute.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        });
        AddWorkerPlacement(silo.Services);
    }

    /// <summary>Registers <see cref="WorkerPlacement"/> (every silo of a cluster that places workers needs it).</summary>
    public static void AddWorkerPlacement(IServiceCollection services)
        => services.AddPlacementDirector<WorkerPlacement, WorkerPlacementDirector>();

    /// <summary>A TCP port free on this machine now (for a silo of a local cluster).</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>This machine's address on the route to <paramref name="peer"/> (loopback for a local peer).</summary>
    private static IPAddress LocalAddressTowards(IPAddress? peer)
    {
        if (peer is null || IPAddress.IsLoopback(peer)) return IPAddress.Loopback;
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Connect(peer, 9);
        return ((IPEndPoint)s.LocalEndPoint!).Address;
    }

}
