using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Rollouts;

/// <summary>
/// What a rollout worker needs to play pieces of one iteration of a learner: the algorithm, the task family and both
/// sets of settings (as the learner resolved them), and the policy as it is this iteration.
/// </summary>
/// <param name="Algorithm">The catalogue name ("rl2").</param>
/// <param name="Task">The task family's name.</param>
/// <param name="TaskSettings">The family's settings.</param>
/// <param name="Settings">The algorithm's resolved settings.</param>
/// <param name="PolicyId">Names this policy for caches (the run's seed and the iteration); two jobs with one id carry the same policy.</param>
/// <param name="Policy">The policy's parameters and statistics, as the algorithm writes them (a <see cref="Engine.IO.TensorArchive"/>'s bytes).</param>
public sealed record RolloutJob(string Algorithm, string Task, IReadOnlyDictionary<string, string> TaskSettings, IReadOnlyDictionary<string, string> Settings,
    string PolicyId, byte[] Policy)
{
    /// <summary>A job whose <see cref="PolicyId"/> is a digest of everything in it, so a worker's cache can never mix two jobs up.</summary>
    public static RolloutJob Create(IMetaLearner learner, byte[] policy)
    {
        ArgumentNullException.ThrowIfNull(learner);
        ArgumentNullException.ThrowIfNull(policy);
        return new RolloutJob(learner.Algorithm, learner.Tasks.Name, learner.TaskSettings, learner.Settings,
            Digest(learner.Algorithm, learner.Tasks.Name, learner.TaskSettings, learner.Settings, policy), policy);
    }

    /// <summary>The digest <see cref="Create"/> names a job by (a worker checks what it received against it).</summary>
    public static string Digest(string algorithm, string task, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, byte[] policy)
    {
        var text = string.Join('\n', algorithm, task, LearnerCheckpoint.ToJson(taskSettings), LearnerCheckpoint.ToJson(settings));
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(text));
        hash.AppendData(policy);
        return Convert.ToHexString(hash.GetHashAndReset())[..32];
    }
}

/// <summary>
/// Plays pieces of a learner's rollout elsewhere (MetaRL.Cluster's Orleans workers). A piece is a list of trials, each
/// named by its seeds (<see cref="TrialSeed"/>); its result depends on nothing else, so where it runs and how the trials
/// are grouped never changes what the learner assembles.
/// </summary>
public interface IRolloutWorkers
{
    /// <summary>How many pieces the learner should cut an iteration's trials into (it never cuts more pieces than trials).</summary>
    int Pieces { get; }

    /// <summary>
    /// Plays every piece exactly once and returns each result at its piece's position, whatever happens to the workers
    /// meanwhile (a piece whose worker fails is played again elsewhere; a late duplicate is dropped).
    /// </summary>
    IReadOnlyList<byte[]> Play(RolloutJob job, IReadOnlyList<byte[]> pieces, CancellationToken cancel = default);
}

/// <summary>A learner whose rollouts may be played by <see cref="IRolloutWorkers"/> (RL², MAML); null: in this process.</summary>
public interface IDistributableLearner
{
    /// <summary>Where rollouts are played; null (the default) plays them here. The results are the same either way.</summary>
    IRolloutWorkers? Workers { get; set; }
}

/// <summary>A worker's side of one <see cref="RolloutJob"/>: the policy loaded once, then any number of pieces.</summary>
public interface IPiecePlayer
{
    /// <summary>Plays one piece and returns its result; the same piece always gives the same bytes.</summary>
    byte[] Play(byte[] piece);
}

/// <summary>The seeds that fix one trial: the task generator's state before the task is drawn, and the trial's own streams.</summary>
/// <param name="Index">The trial's position in the iteration.</param>
/// <param name="Task">The task generator's state (<see cref="Rng.GetState"/>); the task is the family's draw from it.</param>
/// <param name="Streams">The trial's streams' states (environment, actions, … as the algorithm uses them).</param>
public sealed record TrialSeed(int Index, ulong[] Task, ulong[][] Streams)
{
    /// <summary>
    /// The seeds of <paramref name="count"/> trials, in order: each one's task generator state (then the task drawn from
    /// <paramref name="taskRng"/>, to move it on) and <paramref name="streams"/> streams split from <paramref name="rng"/>.
    /// </summary>
    public static TrialSeed[] Draw(int count, TaskDistribution tasks, Rng taskRng, Rng rng, int streams) => Draw(count, tasks, taskRng, rng, streams, null);

    /// <summary>
    /// As the public overload; with <paramref name="priority"/>, a trial it draws for a group gets the state from which the
    /// family's draw is that group's task (<see cref="GroupPriority.DrawFor"/>), so a worker redraws the same task from it.
    /// </summary>
    internal static TrialSeed[] Draw(int count, TaskDistribution tasks, Rng taskRng, Rng rng, int streams, GroupPriority? priority)
    {
        var seeds = new TrialSeed[count];
        for (int i = 0; i < count; i++)
        {
            ulong[] taskState;
            if (priority?.Target(taskRng) is { } group) priority.DrawFor(group, taskRng, out taskState);
            else
            {
                taskState = taskRng.GetState();
                tasks.SampleTask(taskRng, TaskSplit.Train);
            }
            var own = new ulong[streams][];
            for (int k = 0; k < streams; k++) own[k] = rng.Split().GetState();
            seeds[i] = new TrialSeed(i, taskState, own);
        }
        return seeds;
    }

    /// <summary>Draws the task from a copy of <see cref="Task"/>.</summary>
    public ITask DrawTask(TaskDistribution tasks) => tasks.SampleTask(Generator(Task), TaskSplit.Train);

    /// <summary>A generator in state <paramref name="state"/>.</summary>
    public static Rng Generator(ulong[] state)
    {
        var rng = new Rng(1);
        rng.SetState(state);
        return rng;
    }

    /// <summary>Writes a list of seeds as a piece.</summary>
    public static byte[] Piece(IEnumerable<TrialSeed> seeds)
    {
        var w = new BlobWriter();
        var list = seeds.ToArray();
        w.Int(list.Length);
        foreach (var s in list)
        {
            w.Int(s.Index);
            w.ULongs(s.Task);
            w.Int(s.Streams.Length);
            foreach (var stream in s.Streams) w.ULongs(stream);
        }
        return w.ToArray();
    }

    /// <summary>Reads a piece written by <see cref="Piece"/>.</summary>
    public static TrialSeed[] ReadPiece(byte[] piece)
    {
        var r = new BlobReader(piece, "rollout piece");
        var seeds = new TrialSeed[r.Count(1 << 20)];
        for (int i = 0; i < seeds.Length; i++)
        {
            int index = r.Int();
            var task = r.ULongs();
            var streams = new ulong[r.Count(64)][];
            for (int k = 0; k < streams.Length; k++) streams[k] = r.ULongs();
            seeds[i] = new TrialSeed(index, task, streams);
        }
        r.End();
        return seeds;
    }

    /// <summary>Cuts <paramref name="count"/> items into <paramref name="pieces"/> contiguous ranges as even as can be (none empty).</summary>
    public static IEnumerable<Range> Ranges(int count, int pieces)
    {
        pieces = Math.Clamp(pieces, 1, Math.Max(1, count));
        for (int p = 0; p < pieces; p++) yield return new Range(count * p / pieces, count * (p + 1) / pieces);
    }
}

/// <summary>How a learner hands its trials to <see cref="IRolloutWorkers"/>.</summary>
public static class RolloutPieces
{
    /// <summary>
    /// Cuts <paramref name="seeds"/> into <see cref="IRolloutWorkers.Pieces"/> contiguous pieces, has them played, and
    /// returns each piece's trials (a range of <paramref name="seeds"/>) with its result, in order.
    /// </summary>
    public static (Range Trials, byte[] Result)[] PlayPieces(this IRolloutWorkers workers, RolloutJob job, TrialSeed[] seeds)
    {
        ArgumentNullException.ThrowIfNull(workers);
        var ranges = TrialSeed.Ranges(seeds.Length, workers.Pieces).ToArray();
        var results = workers.Play(job, ranges.Select(r => TrialSeed.Piece(seeds[r])).ToArray());
        if (results.Count != ranges.Length) throw new InvalidDataException($"{ranges.Length} pieces were sent and {results.Count} results came back.");
        return ranges.Select((r, p) => (r, results[p])).ToArray();
    }
}

/// <summary>Builds the worker's side of a job from the catalogue (<see cref="MetaAlgorithm.PiecePlayer"/>).</summary>
public static class RolloutPlayers
{
    /// <summary>The piece player for <paramref name="job"/>; an algorithm without distributed rollouts is refused by name.</summary>
    public static IPiecePlayer Create(RolloutJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var algorithm = MetaLearners.Get(job.Algorithm);
        var tasks = TaskRegistry.Create(job.Task, job.TaskSettings);
        return algorithm.PiecePlayer(tasks, job.Settings, job.Policy)
            ?? throw new NotSupportedException($"{job.Algorithm}'s rollouts cannot be played by workers; train it in one process.");
    }
}
