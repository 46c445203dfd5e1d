using System.Runtime.InteropServices;

namespace MetaRL.Algorithms.Rollouts;

/// <summary>
/// Little-endian binary blocks for rollout pieces and results: counts, then whole arrays copied as bytes (a policy's or a
/// batch's millions of numbers move as one block, never element by element).
/// </summary>
public sealed class BlobWriter
{
    private readonly MemoryStream _stream = new();

    public void Int(int v) => Write(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(ref v)));
    public void Long(long v) => Write(MemoryMarshal.AsBytes(new ReadOnlySpan<long>(ref v)));
    public void Double(double v) => Write(MemoryMarshal.AsBytes(new ReadOnlySpan<double>(ref v)));
    public void Floats(ReadOnlySpan<float> v) { Int(v.Length); Write(MemoryMarshal.AsBytes(v)); }
    public void Doubles(ReadOnlySpan<double> v) { Int(v.Length); Write(MemoryMarshal.AsBytes(v)); }
    public void Ints(ReadOnlySpan<int> v) { Int(v.Length); Write(MemoryMarshal.AsBytes(v)); }
    public void ULongs(ReadOnlySpan<ulong> v) { Int(v.Length); Write(MemoryMarshal.AsBytes(v)); }
    public void Bytes(ReadOnlySpan<byte> v) { Int(v.Length); Write(v); }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Rollout blocks are written on little-endian machines only.");
        _stream.Write(bytes);
    }

    public byte[] ToArray() => _stream.ToArray();
}

/// <summary>Reads what <see cref="BlobWriter"/> wrote; a short or malformed block is an <see cref="InvalidDataException"/> naming what it holds.</summary>
public sealed class BlobReader(byte[] data, string what)
{
    private int _at;

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > data.Length - _at) throw new InvalidDataException($"The {what} is malformed: it ends at byte {data.Length}, {n} more bytes wanted at byte {_at}.");
        var span = data.AsSpan(_at, (int)n);
        _at += (int)n;
        return span;
    }

    public int Int() => MemoryMarshal.Read<int>(Take(4));
    public long Long() => MemoryMarshal.Read<long>(Take(8));
    public double Double() => MemoryMarshal.Read<double>(Take(8));

    /// <summary>A count in [0, <paramref name="max"/>].</summary>
    public int Count(int max)
    {
        int n = Int();
        if (n < 0 || n > max) throw new InvalidDataException($"The {what} is malformed: a count of {n} at byte {_at - 4}.");
        return n;
    }

    public float[] Floats() => MemoryMarshal.Cast<byte, float>(Take(4L * Count(int.MaxValue / 4))).ToArray();
    public double[] Doubles() => MemoryMarshal.Cast<byte, double>(Take(8L * Count(int.MaxValue / 8))).ToArray();
    public int[] Ints() => MemoryMarshal.Cast<byte, int>(Take(4L * Count(int.MaxValue / 4))).ToArray();
    public ulong[] ULongs() => MemoryMarshal.Cast<byte, ulong>(Take(8L * Count(int.MaxValue / 8))).ToArray();
    public byte[] Bytes() => Take(Count(int.MaxValue)).ToArray();

    /// <summary>Reads an array that must have <paramref name="length"/> elements.</summary>
    public float[] Floats(int length, string name) => Check(Floats(), length, name);
    public int[] Ints(int length, string name) => Check(Ints(), length, name);
    public byte[] Bytes(int length, string name) => Check(Bytes(), length, name);
    public double[] Doubles(int length, string name) => Check(Doubles(), length, name);

    private T[] Check<T>(T[] array, int length, string name)
        => array.Length == length ? array : throw new InvalidDataException($"The {what} is malformed: {name} has {array.Length} numbers, {length} expected.");

    /// <summary>Throws unless every byte was read.</summary>
    public void End()
    {
        if (_at != data.Length) throw new InvalidDataException($"The {what} is malformed: {data.Length - _at} bytes left over.");
    }
}
