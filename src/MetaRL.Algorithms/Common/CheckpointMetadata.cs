using System.Globalization;
using MetaRL.Engine;
using MetaRL.Engine.IO;
using MetaRL.Engine.Optim;

namespace MetaRL.Algorithms.Common;

/// <summary>
/// Reading and writing the parts of training checkpoints every trainer has: counters and random streams (in archive
/// metadata) and optimiser state (tensors under "optim.").
/// </summary>
internal static class CheckpointMetadata
{
    public static void WriteRng(TensorArchive archive, string key, Rng rng) => archive.Metadata[key] = string.Join(',', rng.GetState());

    /// <summary>The six state words of a random stream written by <see cref="WriteRng"/>.</summary>
    public static ulong[] ReadRngState(TensorArchive archive, string key)
    {
        if (!archive.Metadata.TryGetValue(key, out var s)) throw new CheckpointException($"The checkpoint lacks '{key}'.");
        var parts = s.Split(',');
        var r = new ulong[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!ulong.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out r[i]))
                throw new CheckpointException($"The checkpoint's '{key}' is malformed.");
        if (r.Length != 6) throw new CheckpointException($"The checkpoint's '{key}' has {r.Length} words, not 6.");
        return r;
    }

    public static int ReadInt(TensorArchive archive, string key)
        => archive.Metadata.TryGetValue(key, out var s) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v : throw new CheckpointException($"The checkpoint's '{key}' is missing or malformed.");

    public static long ReadLong(TensorArchive archive, string key)
        => archive.Metadata.TryGetValue(key, out var s) && long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v)
            ? v : throw new CheckpointException($"The checkpoint's '{key}' is missing or malformed.");

    /// <summary>Refuses an archive whose "kind" is not <paramref name="kind"/>: "{source} is not {what} training checkpoint".</summary>
    public static void RequireKind(TensorArchive archive, string kind, string what, string source = "The checkpoint")
    {
        if (!archive.Metadata.TryGetValue("kind", out var found) || found != kind)
            throw new CheckpointException($"{source} is not {what} training checkpoint (kind '{found ?? "missing"}').");
    }

    public static void WriteDoubles(TensorArchive archive, string key, IEnumerable<double> values)
        => archive.Metadata[key] = string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Numbers written by <see cref="WriteDoubles"/>; an absent key gives <paramref name="missing"/> (older checkpoints).</summary>
    public static double[] ReadDoubles(TensorArchive archive, string key, double[] missing)
    {
        if (!archive.Metadata.TryGetValue(key, out var s)) return missing;
        if (s.Length == 0) return [];
        var parts = s.Split(',');
        var r = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out r[i]))
                throw new CheckpointException($"The checkpoint's '{key}' is malformed.");
        return r;
    }

    private const string OptimizerPrefix = "optim.";

    public static void WriteOptimizer(TensorArchive archive, Optimizer<float> optimizer, string prefix = OptimizerPrefix)
    {
        foreach (var (name, value) in optimizer.State()) archive.Add(prefix + name, value);
    }

    /// <summary>
    /// The optimiser state written by <see cref="WriteOptimizer"/>, read without touching <paramref name="optimizer"/>
    /// (callers apply it with <see cref="Optimizer{T}.LoadState"/> once everything else has been validated).
    /// </summary>
    public static Dictionary<string, Tensor<float>> ReadOptimizerState(TensorArchive archive, Optimizer<float> optimizer, string prefix = OptimizerPrefix)
    {
        var state = new Dictionary<string, Tensor<float>>(StringComparer.Ordinal);
        foreach (var (name, mine) in optimizer.State())
        {
            if (!archive.Contains(prefix + name)) throw new CheckpointException($"The checkpoint lacks optimiser state '{prefix + name}'.");
            var saved = archive.Get<float>(prefix + name);
            if (!saved.Shape.SequenceEqual(mine.Shape))
                throw new CheckpointException($"The checkpoint's optimiser state '{prefix + name}' does not fit this network ({saved.Size} numbers for {mine.Size}).");
            state[name] = saved;
        }
        return state;
    }
}
