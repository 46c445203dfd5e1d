using System.Diagnostics;
using MetaRL.Algorithms.Rollouts;
using Orleans;

namespace MetaRL.Cluster;

/// <summary>What names a job on the wire: everything in <see cref="RolloutJob"/> but the policy, which goes only where it is missing.</summary>
[GenerateSerializer, Immutable]
public sealed record JobHeader(
    [property: Id(0)] string Algorithm,
    [property: Id(1)] string Task,
    [property: Id(2)] Dictionary<string, string> TaskSettings,
    [property: Id(3)] Dictionary<string, string> Settings,
    [property: Id(4)] string PolicyId)
{
    public static JobHeader Of(RolloutJob job) => new(job.Algorithm, job.Task, new(job.TaskSettings, StringComparer.Ordinal),
        new(job.Settings, StringComparer.Ordinal), job.PolicyId);

    public RolloutJob With(byte[] policy) => new(Algorithm, Task, TaskSettings, Settings, PolicyId, policy);
}

/// <summary>
/// A worker's answer: the piece's result, a request for the policy it does not have, or why it could not play the piece
/// (an error of the piece, not of the worker: any worker would fail alike, so the learner stops).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PieceReply(
    [property: Id(0)] bool NeedsPolicy,
    [property: Id(1)] byte[]? Result,
    [property: Id(2)] double Seconds,
    [property: Id(3)] string? Error = null);

/// <summary>
/// A rollout worker: one per worker silo (keyed by the silo's address, placed there by <see cref="WorkerPlacement"/>),
/// playing one piece at a time with the policy of the job it was last given.
/// </summary>
public interface IRolloutWorkerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Plays piece <paramref name="data"/> of <paramref name="job"/>. <paramref name="policy"/> may be null when this
    /// worker already holds the job's policy; if it does not, the reply says so and nothing is played.
    /// </summary>
    Task<PieceReply> Play(JobHeader job, byte[]? policy, byte[] data);
}

/// <summary>The worker grain: the last job's piece player is kept, so a policy crosses the network once per worker and iteration.</summary>
[WorkerPlacement]
internal sealed class RolloutWorkerGrain : Grain, IRolloutWorkerGrain
{
    private string? _jobId;
    private IPiecePlayer? _player;

    public async Task<PieceReply> Play(JobHeader job, byte[]? policy, byte[] data)
    {
        try
        {
            if (_jobId != job.PolicyId || _player is null)
            {
                if (policy is null) return new PieceReply(true, null, 0);
                _player = null;
                var full = job.With(policy);
                string digest = RolloutJob.Digest(full.Algorithm, full.Task, full.TaskSettings, full.Settings, policy);
                if (digest != job.PolicyId)
                    throw new InvalidDataException($"the policy received for job {job.PolicyId} does not match its digest ({digest}): it was damaged on the way.");
                // Off Orleans' scheduler: loading and playing are long computations.
                _player = await Task.Run(() => RolloutPlayers.Create(full));
                _jobId = job.PolicyId;
            }
            var watch = Stopwatch.StartNew();
            var player = _player;
            var result = await Task.Run(() => player.Play(data));
            return new PieceReply(false, result, watch.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Errors travel as text: the learner may not know this exception's type (a task pack's own).
            return new PieceReply(false, null, 0, $"{e.GetType().Name}: {e.Message}");
        }
    }
}
