using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using MetaRL.Engine.Nn;

namespace MetaRL.Engine.IO;

/// <summary>Thrown when a checkpoint file is missing, damaged, or does not fit what it is loaded into.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Named tensors and string metadata in one file, in a versioned little-endian binary format ending in a
/// SHA-256 of everything before it. Writing goes to a temporary file that replaces the target only when
/// complete, so an interrupted save never damages the previous file. Reading checks the magic, version,
/// sizes and checksum before anything is returned.
/// </summary>
/// <remarks>
/// Layout (version 1): "MRLA" · u16 version · u16 reserved · i32 metadata count · (string key, string value)* ·
/// i32 tensor count · (string name · u8 dtype (1 = float32, 2 = float64) · u8 rank · i32 dims[rank] · data)* ·
/// 32-byte SHA-256. Strings are i32 byte length + UTF-8.
/// </remarks>
public sealed class TensorArchive
{
    private static ReadOnlySpan<byte> Magic => "MRLA"u8;
    public const int FormatVersion = 1;
    private const int MaxRank = 16;

    private readonly Dictionary<string, (int[] Shape, Array Data)> _tensors = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    /// <summary>Free-form string metadata (configuration, counters).</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The SHA-256 of the stored archive's body (its last 32 bytes, lower-case hex) when it was read from bytes, which
    /// names the exact content read; null for an archive built in memory.
    /// </summary>
    public string? Checksum { get; private set; }

    /// <summary>The tensor names, in the order they were added or stored.</summary>
    public IReadOnlyList<string> Names => _order;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>Adds a copy of a tensor's values under a unique name.</summary>
    public void Add<T>(string name, Tensor<T> tensor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Archives store float and double tensors, not {typeof(T).Name}.");
        if (tensor.Rank > MaxRank) throw new ArgumentException($"Tensor '{name}' has rank {tensor.Rank}; at most {MaxRank} is stored.");
        if (!_tensors.TryAdd(name, (tensor.Shape.ToArray(), tensor.ToArray())))
            throw new ArgumentException($"The archive already holds a tensor named '{name}'.");
        _order.Add(name);
    }

    /// <summary>The tensor stored under <paramref name="name"/>, converted to <typeparamref name="T"/> if stored in the other precision.</summary>
    public Tensor<T> Get<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!_tensors.TryGetValue(name, out var entry))
            throw new CheckpointException($"The checkpoint has no tensor '{name}'. It holds: {Summarise(_order)}.");
        if (entry.Data is T[] same) return Tensor.FromArray((T[])same.Clone(), entry.Shape);
        var converted = new T[entry.Data.Length];
        switch (entry.Data)
        {
            case float[] f: for (int i = 0; i < f.Length; i++) converted[i] = T.CreateChecked(f[i]); break;
            case double[] d: for (int i = 0; i < d.Length; i++) converted[i] = T.CreateChecked(d[i]); break;
        }
        return Tensor.FromArray(converted, entry.Shape);
    }

    /// <summary>The stored shape of <paramref name="name"/>.</summary>
    public int[] ShapeOf(string name) => _tensors.TryGetValue(name, out var e) ? (int[])e.Shape.Clone()
        : throw new CheckpointException($"The checkpoint has no tensor '{name}'.");

    private static string Summarise(IReadOnlyList<string> names)
        => names.Count == 0 ? "nothing" : string.Join(", ", names.Take(12)) + (names.Count > 12 ? $", … ({names.Count} in all)" : "");

    // ------------------------------------------------------------------ writing

    /// <summary>Writes the archive atomically: a temporary file in the same folder replaces <paramref name="path"/> when complete.</summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                var bytes = Serialise();
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>The archive as <see cref="Save"/> writes it (checksum included), for sending; <see cref="Parse"/> reads it back.</summary>
    public byte[] ToBytes() => Serialise();

    private byte[] Serialise()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write((ushort)FormatVersion);
            w.Write((ushort)0);
            w.Write(Metadata.Count);
            foreach (var (k, v) in Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                WriteString(w, k);
                WriteString(w, v);
            }
            w.Write(_order.Count);
            foreach (var name in _order)
            {
                var (shape, data) = _tensors[name];
                WriteString(w, name);
                w.Write((byte)(data is float[] ? 1 : 2));
                w.Write((byte)shape.Length);
                foreach (int d in shape) w.Write(d);
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Archives are written on little-endian machines only.");
                w.Write(data is float[] f ? MemoryMarshal.AsBytes(f.AsSpan()) : MemoryMarshal.AsBytes(((double[])data).AsSpan()));
            }
        }
        var body = ms.ToArray();
        var result = new byte[body.Length + 32];
        body.CopyTo(result, 0);
        SHA256.HashData(body, result.AsSpan(body.Length));
        return result;
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    // ------------------------------------------------------------------ reading

    /// <summary>Reads and verifies an archive; any damage is a <see cref="CheckpointException"/> naming the file and the problem.</summary>
    public static TensorArchive Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"Cannot read checkpoint '{path}': {e.Message}", e);
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses archive bytes (see <see cref="Load"/>).</summary>
    public static TensorArchive Parse(ReadOnlySpan<byte> bytes, string source = "<memory>")
    {
        if (bytes.Length < Magic.Length + 4 + 32 || !bytes[..4].SequenceEqual(Magic))
            throw new CheckpointException($"'{source}' is not a MetaRL checkpoint (bad magic or too short: {bytes.Length} bytes).");
        int version = BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]);
        if (version != FormatVersion)
            throw new CheckpointException($"'{source}' has checkpoint format version {version}; this build reads version {FormatVersion}.");
        var body = bytes[..^32];
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(body, hash);
        if (!hash.SequenceEqual(bytes[^32..]))
            throw new CheckpointException($"'{source}' is damaged: its checksum does not match (truncated or corrupted file).");

        var archive = new TensorArchive { Checksum = Convert.ToHexStringLower(hash) };
        var r = new Reader(body, source) { Position = 8 };
        int metaCount = r.Count("metadata entries");
        for (int i = 0; i < metaCount; i++)
        {
            string k = r.String();
            archive.Metadata[k] = r.String();
        }
        int count = r.Count("tensors");
        for (int i = 0; i < count; i++)
        {
            string name = r.String();
            byte dtype = r.Byte();
            if (dtype is not (1 or 2)) throw r.Fail($"tensor '{name}' has unknown element type code {dtype}");
            int rank = r.Byte();
            if (rank > MaxRank) throw r.Fail($"tensor '{name}' has rank {rank}");
            var shape = new int[rank];
            long size = 1;
            for (int d = 0; d < rank; d++)
            {
                shape[d] = r.Int();
                if (shape[d] < 0) throw r.Fail($"tensor '{name}' has a negative extent");
                size *= shape[d];
            }
            int elem = dtype == 1 ? 4 : 8;
            if (size * elem > r.Remaining) throw r.Fail($"tensor '{name}' of shape {ShapeUtil.Format(shape)} runs past the end");
            var raw = r.Bytes((int)(size * elem));
            Array data = dtype == 1 ? MemoryMarshal.Cast<byte, float>(raw).ToArray() : MemoryMarshal.Cast<byte, double>(raw).ToArray();
            if (!archive._tensors.TryAdd(name, (shape, data))) throw r.Fail($"tensor '{name}' appears twice");
            archive._order.Add(name);
        }
        if (r.Remaining != 0) throw r.Fail($"{r.Remaining} unexpected bytes after the last tensor");
        return archive;
    }

    private ref struct Reader(ReadOnlySpan<byte> data, string source)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        public int Position;
        public readonly int Remaining => _data.Length - Position;

        public readonly CheckpointException Fail(string what) => new($"'{source}' is malformed: {what} (at byte {Position}).");

        private readonly void Need(int n)
        {
            if (n < 0 || n > Remaining) throw Fail($"needs {n} more bytes, {Remaining} left");
        }

        public byte Byte()
        {
            Need(1);
            return _data[Position++];
        }

        public int Int()
        {
            Need(4);
            int v = BinaryPrimitives.ReadInt32LittleEndian(_data[Position..]);
            Position += 4;
            return v;
        }

        public int Count(string what)
        {
            int n = Int();
            if (n < 0) throw Fail($"negative number of {what}");
            return n;
        }

        public ReadOnlySpan<byte> Bytes(int n)
        {
            Need(n);
            var s = _data.Slice(Position, n);
            Position += n;
            return s;
        }

        public string String() => Encoding.UTF8.GetString(Bytes(Count("string bytes")));
    }
}

/// <summary>Saving and loading module parameters.</summary>
public static class ModuleSerialization
{
    /// <summary>Adds every parameter of <paramref name="module"/> to <paramref name="archive"/>, prefixed.</summary>
    public static void AddTo<T>(this Module<T> module, TensorArchive archive, string prefix = "") where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (name, p) in module.NamedParameters()) archive.Add(prefix + name, p);
    }

    /// <summary>
    /// Copies parameters from <paramref name="archive"/>. Every name and shape is checked before any value is
    /// written, so a mismatch leaves the module as it was.
    /// </summary>
    public static void LoadFrom<T>(this Module<T> module, TensorArchive archive, string prefix = "") where T : unmanaged, IFloatingPointIeee754<T>
    {
        var parameters = module.NamedParameters().ToArray();
        var problems = new List<string>();
        foreach (var (name, p) in parameters)
        {
            if (!archive.Contains(prefix + name)) problems.Add($"parameter '{prefix + name}' is missing");
            else if (!ShapeUtil.Same(archive.ShapeOf(prefix + name), p.Shape))
                problems.Add($"parameter '{prefix + name}' has shape {ShapeUtil.Format(archive.ShapeOf(prefix + name))} in the checkpoint but {ShapeUtil.Format(p.Shape)} in the model");
        }
        var expected = parameters.Select(p => prefix + p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in archive.Names)
            if (name.StartsWith(prefix, StringComparison.Ordinal) && !expected.Contains(name))
                problems.Add($"the checkpoint has '{name}', which the model does not");
        if (problems.Count > 0)
            throw new CheckpointException($"The checkpoint does not fit this {module.GetType().Name.Split('`')[0]}: {string.Join("; ", problems)}.");
        foreach (var (name, p) in parameters) p.CopyFrom(archive.Get<T>(prefix + name));
    }

    /// <summary>Writes the parameters to <paramref name="path"/> (atomically).</summary>
    public static void Save<T>(this Module<T> module, string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var archive = new TensorArchive();
        archive.Metadata["kind"] = "module-parameters";
        archive.Metadata["module"] = module.GetType().Name.Split('`')[0];
        module.AddTo(archive);
        archive.Save(path);
    }

    /// <summary>Reads parameters saved by <see cref="Save{T}"/>; a damaged or mismatched file changes nothing.</summary>
    public static void Load<T>(this Module<T> module, string path) where T : unmanaged, IFloatingPointIeee754<T>
        => module.LoadFrom(TensorArchive.Load(path));
}
