using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace MetaRL.Algorithms.Runs;

/// <summary>
/// Writes TensorBoard's event files (<c>events.out.tfevents.*</c>): TFRecord framing (little-endian length, masked
/// CRC-32C of the length, the payload, masked CRC-32C of the payload) around <c>Event</c> protocol-buffer messages, the
/// first holding the file version, the others one <c>Summary</c> of scalar values at a step. Only the fields scalars
/// need are encoded, by hand: Event.wall_time (1, double), Event.step (2, int64), Event.file_version (3, string),
/// Event.summary (5), Summary.value (1), Summary.Value.tag (1, string), Summary.Value.simple_value (2, float).
/// </summary>
public sealed class TensorBoardEvents : IDisposable
{
    /// <summary>The prefix TensorBoard looks for in file names.</summary>
    public const string FilePrefix = "events.out.tfevents.";

    private readonly FileStream _file;
    private readonly MemoryStream _message = new();

    private TensorBoardEvents(FileStream file) => _file = file;

    /// <summary>The event file's path.</summary>
    public string Path => _file.Name;

    /// <summary>Creates (or replaces) the event file <paramref name="path"/> and writes its version record.</summary>
    public static TensorBoardEvents Create(string path)
    {
        var writer = new TensorBoardEvents(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read));
        writer.Record(m =>
        {
            WallTime(m);
            m.WriteByte(0x1A);
            WriteBytes(m, Encoding.UTF8.GetBytes("brain.Event:2"));
        });
        return writer;
    }

    /// <summary>A file name TensorBoard reads: the prefix, the creation time in seconds since 1970 and a suffix.</summary>
    public static string FileName(string suffix) => $"{FilePrefix}{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.{suffix}";

    /// <summary>Writes the scalars (tag, value) at <paramref name="step"/> as one event; NaN values are left out (not measured).</summary>
    public void Scalars(long step, IEnumerable<(string Tag, double Value)> scalars)
    {
        var values = scalars.Where(s => !double.IsNaN(s.Value)).ToArray();
        if (values.Length == 0) return;
        using var summary = new MemoryStream();
        using var value = new MemoryStream();
        Span<byte> f = stackalloc byte[4];
        foreach (var (tag, v) in values)
        {
            value.SetLength(0);
            value.WriteByte(0x0A);
            WriteBytes(value, Encoding.UTF8.GetBytes(tag));
            value.WriteByte(0x15);
            BinaryPrimitives.WriteSingleLittleEndian(f, (float)v);
            value.Write(f);
            summary.WriteByte(0x0A);
            WriteBytes(summary, value.ToArray());
        }
        Record(m =>
        {
            WallTime(m);
            m.WriteByte(0x10);
            WriteVarint(m, (ulong)step);
            m.WriteByte(0x2A);
            WriteBytes(m, summary.ToArray());
        });
    }

    /// <summary>Pushes what is written to the operating system, so that TensorBoard sees it while training runs.</summary>
    public void Flush() => _file.Flush();

    public void Dispose()
    {
        _file.Dispose();
        _message.Dispose();
    }

    private void Record(Action<Stream> write)
    {
        _message.SetLength(0);
        write(_message);
        var payload = _message.GetBuffer().AsSpan(0, (int)_message.Length);
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc(header[..8]));
        _file.Write(header);
        _file.Write(payload);
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc(payload));
        _file.Write(footer);
    }

    private static void WallTime(Stream m)
    {
        m.WriteByte(0x09);
        Span<byte> d = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(d, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        m.Write(d);
    }

    private static void WriteBytes(Stream m, ReadOnlySpan<byte> bytes)
    {
        WriteVarint(m, (ulong)bytes.Length);
        m.Write(bytes);
    }

    private static void WriteVarint(Stream m, ulong v)
    {
        while (v >= 0x80)
        {
            m.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        m.WriteByte((byte)v);
    }

    /// <summary>TFRecord's masked CRC-32C (Castagnoli): the CRC rotated right by 15 bits plus 0xA282EAD8.</summary>
    internal static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) crc = BitOperations.Crc32C(crc, data[i]);
        crc = ~crc;
        return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
    }
}
