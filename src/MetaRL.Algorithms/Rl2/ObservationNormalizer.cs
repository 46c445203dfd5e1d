using System.Globalization;
using MetaRL.Engine;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Rl2;

/// <summary>
/// Running mean and variance of each observation component (Chan et al.'s parallel merge), used to feed the
/// network (x − mean) / √(var + 1e-8) clipped to ±10, as PPO implementations do for MuJoCo observations. The trainer
/// updates the statistics after each rollout, so every input of one iteration is scaled the same way and the PPO
/// update sees exactly what the policy saw; evaluation uses the statistics stored with the checkpoint.
/// </summary>
public sealed class ObservationNormalizer
{
    private const double Clip = 10, Epsilon = 1e-8;
    private readonly double[] _mean, _m2;

    public ObservationNormalizer(int size)
    {
        _mean = new double[size];
        _m2 = new double[size];
    }

    public int Size => _mean.Length;
    /// <summary>Observations merged so far; with none, observations pass through unchanged.</summary>
    public double Count { get; private set; }
    public double Mean(int i) => _mean[i];
    public double Variance(int i) => Count > 0 ? _m2[i] / Count : 1;

    /// <summary>Writes the scaled observation into <paramref name="destination"/>.</summary>
    public void Normalize(ReadOnlySpan<float> observation, Span<float> destination)
    {
        if (Count == 0)
        {
            observation.CopyTo(destination);
            return;
        }
        for (int i = 0; i < _mean.Length; i++)
            destination[i] = (float)Math.Clamp((observation[i] - _mean[i]) / Math.Sqrt(_m2[i] / Count + Epsilon), -Clip, Clip);
    }

    /// <summary>Merges <paramref name="rows"/> (whole observations, one after another) into the statistics.</summary>
    public void Update(ReadOnlySpan<float> rows)
    {
        int d = _mean.Length;
        if (rows.Length % d != 0) throw new ArgumentException($"Expected whole observations of {d} values; got {rows.Length} values.", nameof(rows));
        int n = rows.Length / d;
        if (n == 0) return;
        for (int i = 0; i < d; i++)
        {
            double mean = 0, m2 = 0;
            for (int r = 0; r < n; r++) mean += rows[r * d + i];
            mean /= n;
            for (int r = 0; r < n; r++)
            {
                double e = rows[r * d + i] - mean;
                m2 += e * e;
            }
            double total = Count + n, delta = mean - _mean[i];
            _m2[i] += m2 + delta * delta * Count * n / total;
            _mean[i] += delta * n / total;
        }
        Count += n;
    }

    public void AddTo(TensorArchive archive, string prefix)
    {
        archive.Add(prefix + "mean", Tensor.FromArray((double[])_mean.Clone(), _mean.Length));
        archive.Add(prefix + "m2", Tensor.FromArray((double[])_m2.Clone(), _m2.Length));
        archive.Metadata[prefix + "count"] = Count.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Reads statistics written by <see cref="AddTo"/>; a missing or malformed entry is a <see cref="CheckpointException"/> and changes nothing.</summary>
    public void LoadFrom(TensorArchive archive, string prefix)
    {
        if (!archive.Contains(prefix + "mean") || !archive.Contains(prefix + "m2")
            || !archive.Metadata.TryGetValue(prefix + "count", out var c))
            throw new CheckpointException("The checkpoint lacks the observation statistics this configuration (normalize-observations=true) needs.");
        var mean = archive.Get<double>(prefix + "mean").ToArray();
        var m2 = archive.Get<double>(prefix + "m2").ToArray();
        if (mean.Length != Size || m2.Length != Size)
            throw new CheckpointException($"The checkpoint's observation statistics have {mean.Length} components; this task's observations have {Size}.");
        if (!double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out double count) || !(count >= 0) || !double.IsFinite(count)
            || mean.Any(v => !double.IsFinite(v)) || m2.Any(v => !double.IsFinite(v) || v < 0))
            throw new CheckpointException("The checkpoint's observation statistics are malformed.");
        mean.CopyTo(_mean, 0);
        m2.CopyTo(_m2, 0);
        Count = count;
    }
}
