using System.Collections.Concurrent;
using System.Diagnostics;
using MetaRL.Algorithms.Rollouts;
using Orleans;
using Orleans.Runtime;

namespace MetaRL.Cluster;

/// <summary>How the learner uses its workers.</summary>
/// <param name="PiecesPerWorker">Pieces an iteration is cut into per live worker (more: finer balance and smaller re-runs after a failure, more calls).</param>
/// <param name="PieceTimeout">A piece not back after this long is played again elsewhere (its late result is dropped).</param>
/// <param name="WaitForWorkers">How long the learner waits for a worker when it has none, before it gives up.</param>
/// <param name="IsWorker">Which silos are workers (by default, those named metarl-worker…).</param>
/// <param name="FailureCooldown">How long a worker whose call failed is left out (unless the membership drops it first).</param>
public sealed record ClusterWorkerOptions(int PiecesPerWorker = 2, TimeSpan? PieceTimeout = null, TimeSpan? WaitForWorkers = null, Func<string, bool>? IsWorker = null,
    TimeSpan? FailureCooldown = null)
{
    public TimeSpan Cooldown => FailureCooldown ?? TimeSpan.FromSeconds(30);
    public TimeSpan Timeout => PieceTimeout ?? TimeSpan.FromMinutes(10);
    public TimeSpan Wait => WaitForWorkers ?? TimeSpan.FromMinutes(2);
    public bool Worker(string siloName) => IsWorker?.Invoke(siloName) ?? siloName.StartsWith(ClusterHosts.WorkerNamePrefix, StringComparison.Ordinal);
}

/// <summary>One worker's share of an iteration.</summary>
/// <param name="Name">The worker silo's name (with its address when another worker has the same name).</param>
/// <param name="Pieces">Pieces it played whose results were used.</param>
/// <param name="Seconds">Seconds it spent playing them (its own clock).</param>
public sealed record WorkerShare(string Name, int Pieces, double Seconds);

/// <summary>What the workers did in the last iteration: each one's share, the pieces played again, the bytes moved.</summary>
public sealed record ClusterRound(IReadOnlyList<WorkerShare> Workers, IReadOnlyList<string> Reassignments, long BytesSent, long BytesReceived, double Seconds);

/// <summary>
/// The learner's side of Orleans rollout workers (<see cref="IRolloutWorkers"/>): the pieces of an iteration go to the
/// live worker silos, one piece per worker at a time (a worker that finishes takes the next); the policy goes to each
/// worker once. A worker that fails or does not answer within <see cref="ClusterWorkerOptions.PieceTimeout"/> is
/// dropped and its piece played by another; a result that arrives twice is used once. Results are put back in the
/// pieces' order, so the iteration is the one a single process computes.
/// </summary>
public sealed class ClusterWorkers : IRolloutWorkers
{
    private readonly IGrainFactory _grains;
    private readonly ClusterWorkerOptions _options;
    // Workers whose calls failed, and when: left out until the membership drops them or the cooldown passes (a call can
    // fail for a live worker too, while the cluster reacts to another one's death).
    private readonly Dictionary<string, DateTime> _failed = new(StringComparer.Ordinal);
    private List<(string Key, string Name)> _live = [];

    public ClusterWorkers(IGrainFactory grains, ClusterWorkerOptions? options = null)
    {
        _grains = grains ?? throw new ArgumentNullException(nameof(grains));
        _options = options ?? new ClusterWorkerOptions();
    }

    /// <summary>Lines for the log: a worker joining, failing, a piece played again.</summary>
    public event Action<string>? Log;

    /// <summary>Called as a piece is sent to a worker, with the piece and the worker's name (before the call).</summary>
    public event Action<int, string>? PieceStarted;

    /// <summary>Called after each piece's result is in, with the piece and the worker that played it.</summary>
    public event Action<int, string>? PieceDone;

    /// <summary>The last iteration's round; null before the first.</summary>
    public ClusterRound? LastRound { get; private set; }

    /// <summary>Worker silos now live, by name.</summary>
    public IReadOnlyList<string> Workers => _live.Select(w => w.Name).ToArray();

    public int Pieces => Math.Max(1, _live.Count) * Math.Max(1, _options.PiecesPerWorker);

    /// <summary>Waits until at least <paramref name="count"/> workers are live (or <see cref="ClusterWorkerOptions.WaitForWorkers"/> passes).</summary>
    public async Task<int> WaitForWorkersAsync(int count, CancellationToken cancel = default)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            await RefreshAsync();
            if (_live.Count >= count) return _live.Count;
            if (deadline.Elapsed > _options.Wait)
                throw new TimeoutException($"{_live.Count} of {count} rollout workers joined the cluster within {_options.Wait.TotalSeconds:F0} s.");
            await Task.Delay(250, cancel);
        }
    }

    private bool Failed(string key)
    {
        lock (_failed) return _failed.TryGetValue(key, out var at) && DateTime.UtcNow - at < _options.Cooldown;
    }

    private async Task RefreshAsync()
    {
        MembershipEntry[] hosts;
        try
        {
            hosts = await _grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (IsWorkerFailure(e))
        {
            // The membership is changing (a silo died with the management grain on it): keep what is known, less the dead.
            _live = _live.Where(w => !Failed(w.Key)).ToList();
            return;
        }
        var live = hosts.Where(h => h.Status == SiloStatus.Active && _options.Worker(h.SiloName))
            .Select(h => (Key: h.SiloAddress.ToParsableString(), Name: h.SiloName))
            .Where(h => !Failed(h.Key))
            .OrderBy(h => h.Name, StringComparer.Ordinal).ThenBy(h => h.Key, StringComparer.Ordinal).ToList();
        foreach (var w in live.Where(w => !_live.Any(l => l.Key == w.Key))) Log?.Invoke($"worker {w.Name} joined");
        _live = live;
    }

    public IReadOnlyList<byte[]> Play(RolloutJob job, IReadOnlyList<byte[]> pieces, CancellationToken cancel = default)
        => PlayAsync(job, pieces, cancel).GetAwaiter().GetResult();

    /// <summary>See <see cref="IRolloutWorkers.Play"/>.</summary>
    public async Task<IReadOnlyList<byte[]>> PlayAsync(RolloutJob job, IReadOnlyList<byte[]> pieces, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(pieces);
        var watch = Stopwatch.StartNew();
        var header = JobHeader.Of(job);
        var results = new byte[]?[pieces.Count];
        var pending = new ConcurrentQueue<int>(Enumerable.Range(0, pieces.Count));
        var shares = new ConcurrentDictionary<(string Key, string Name), (int Pieces, double Seconds)>();
        var reassigned = new ConcurrentQueue<string>();
        var bytes = new long[2]; // sent, received
        var slow = new HashSet<string>(StringComparer.Ordinal); // timed out this iteration: not given more
        Exception? fatal = null;

        async Task Serve((string Key, string Name) worker)
        {
            var grain = _grains.GetGrain<IRolloutWorkerGrain>(worker.Key);
            bool hasPolicy = false;
            while (fatal is null && !cancel.IsCancellationRequested && pending.TryDequeue(out int p))
            {
                if (results[p] is not null) continue;
                try
                {
                    PieceStarted?.Invoke(p, worker.Name);
                    var reply = await Call(grain, header, hasPolicy ? null : job.Policy, pieces[p]);
                    if (reply.NeedsPolicy) reply = await Call(grain, header, job.Policy, pieces[p]);
                    if (reply.Error is { } error)
                    {
                        fatal ??= new InvalidOperationException($"Worker {worker.Name} could not play piece {p + 1} of {pieces.Count}: {error}");
                        return;
                    }
                    hasPolicy = true;
                    if (reply.Result is null) throw new InvalidDataException($"worker {worker.Name} returned no result for piece {p + 1}.");
                    Interlocked.Add(ref bytes[1], reply.Result.Length);
                    bool first;
                    lock (results)
                    {
                        first = results[p] is null;
                        if (first) results[p] = reply.Result;
                    }
                    if (!first) continue; // played twice (after a timeout): the first result stands
                    shares.AddOrUpdate(worker, (1, reply.Seconds), (_, s) => (s.Pieces + 1, s.Seconds + reply.Seconds));
                    PieceDone?.Invoke(p, worker.Name);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (IsWorkerFailure(e))
                {
                    pending.Enqueue(p);
                    string why = e is TimeoutException ? $"no answer within {_options.Timeout.TotalSeconds:F0} s" : e.GetType().Name;
                    reassigned.Enqueue($"worker {worker.Name} failed ({why}): piece {p + 1} of {pieces.Count} played again elsewhere");
                    lock (slow) slow.Add(worker.Key);
                    if (e is not TimeoutException) lock (_failed) _failed[worker.Key] = DateTime.UtcNow;
                    return;
                }
                catch (Exception e)
                {
                    // The same piece fails the same way anywhere (a bad setting, a family this worker lacks): stop the run.
                    fatal ??= new InvalidOperationException($"Worker {worker.Name} could not play piece {p + 1}: {e.Message}", e);
                    return;
                }
            }
        }

        async Task<PieceReply> Call(IRolloutWorkerGrain grain, JobHeader h, byte[]? policy, byte[] piece)
        {
            Interlocked.Add(ref bytes[0], piece.Length + (policy?.Length ?? 0));
            var call = grain.Play(h, policy, piece);
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var done = await Task.WhenAny(call, Task.Delay(_options.Timeout, timer.Token));
            timer.Cancel(); // the timer's work is done either way
            if (done != call)
            {
                _ = call.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                cancel.ThrowIfCancellationRequested();
                throw new TimeoutException();
            }
            return await call;
        }

        var idle = Stopwatch.StartNew();
        while (results.Any(r => r is null))
        {
            cancel.ThrowIfCancellationRequested();
            await RefreshAsync();
            List<(string Key, string Name)> usable;
            lock (slow) usable = _live.Where(w => !slow.Contains(w.Key)).ToList();
            if (usable.Count == 0)
            {
                if (idle.Elapsed > _options.Wait)
                    throw new InvalidOperationException($"No rollout worker left: {results.Count(r => r is null)} of {pieces.Count} pieces unplayed after waiting {_options.Wait.TotalSeconds:F0} s for one.");
                lock (slow) slow.Clear(); // a worker that was only slow may take pieces again
                await Task.Delay(250, cancel);
                continue;
            }
            idle.Restart();
            await Task.WhenAll(usable.Select(Serve));
            if (fatal is not null) throw fatal;
        }
        foreach (var line in reassigned) Log?.Invoke(line);
        var named = shares.OrderBy(s => s.Key.Name, StringComparer.Ordinal).ThenBy(s => s.Key.Key, StringComparer.Ordinal).ToArray();
        LastRound = new ClusterRound(named.Select(s => new WorkerShare(named.Count(o => o.Key.Name == s.Key.Name) > 1 ? $"{s.Key.Name}@{s.Key.Key}" : s.Key.Name,
                s.Value.Pieces, s.Value.Seconds)).ToArray(),
            reassigned.ToArray(), bytes[0], bytes[1], watch.Elapsed.TotalSeconds);
        return results!;
    }

    /// <summary>Failures of the worker or the way to it (it died, left, cannot be reached, did not answer), not of the piece.</summary>
    private static bool IsWorkerFailure(Exception e) => e is OrleansException or TimeoutException or System.Net.Sockets.SocketException or IOException
        && e is not InvalidDataException;
}
