using System.Globalization;
using MetaRL.Engine;
using MetaRL.Engine.IO;

namespace MetaRL.Meta;

/// <summary>Reading and writing the scalar parts of training checkpoints (counters, random streams) in archive metadata.</summary>
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
}
