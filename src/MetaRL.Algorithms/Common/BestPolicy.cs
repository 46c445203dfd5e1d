using System.Globalization;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Common;

/// <summary>
/// The best score a learner's policy has reached so far and when, kept in its checkpoints so that a resumed run keeps
/// its record; a policy is the new best only when it scores strictly higher.
/// </summary>
public sealed class BestPolicy
{
    public double Score { get; private set; } = double.NegativeInfinity;

    /// <summary>The iteration of the best policy (0 before the first).</summary>
    public int Iteration { get; private set; }

    /// <summary>Whether iteration <paramref name="iteration"/> of <paramref name="last"/> is scored when scoring every <paramref name="every"/> (and after the last).</summary>
    public static bool Due(int iteration, int every, int last) => every > 0 && (iteration % every == 0 || iteration == last);

    /// <summary>Records <paramref name="score"/> if it beats the best; returns whether it did.</summary>
    public bool Offer(double score, int iteration)
    {
        if (!(score > Score)) return false;
        (Score, Iteration) = (score, iteration);
        return true;
    }

    public void WriteTo(TensorArchive archive)
    {
        CheckpointMetadata.WriteDoubles(archive, "best-score", [Score]);
        archive.Metadata["best-iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Reads the record from a checkpoint (none there: no best yet); call <see cref="Apply"/> once everything else has been read.</summary>
    public static (double Score, int Iteration) Read(TensorArchive archive)
    {
        var best = CheckpointMetadata.ReadDoubles(archive, "best-score", [double.NegativeInfinity]);
        if (best.Length != 1) throw new CheckpointException("The checkpoint's 'best-score' must hold one number.");
        int iteration = archive.Metadata.ContainsKey("best-iteration") ? CheckpointMetadata.ReadInt(archive, "best-iteration") : 0;
        return (best[0], iteration);
    }

    public void Apply((double Score, int Iteration) record) => (Score, Iteration) = record;
}
