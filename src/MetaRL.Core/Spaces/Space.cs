namespace MetaRL.Core.Spaces;

/// <summary>The set of valid observations or actions. Values travel as flat <c>float</c> vectors of <see cref="Size"/> entries.</summary>
public abstract class Space
{
    /// <summary>Entries in the flat vector that carries one value of this space.</summary>
    public abstract int Size { get; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the problem when <paramref name="value"/> is not in the space.</summary>
    public abstract void Validate(ReadOnlySpan<float> value, string what = "value");

    /// <summary>True when <paramref name="value"/> is in the space.</summary>
    public bool Contains(ReadOnlySpan<float> value)
    {
        try
        {
            Validate(value);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

/// <summary>The integers 0 … <see cref="N"/> − 1, carried as one float holding the index.</summary>
public sealed class Discrete : Space
{
    public Discrete(int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "A discrete space needs at least one element.");
        N = n;
    }

    public int N { get; }

    public override int Size => 1;

    public override void Validate(ReadOnlySpan<float> value, string what = "value")
    {
        if (value.Length != 1) throw new ArgumentException($"A {what} in Discrete({N}) is one number, got {value.Length}.");
        float v = value[0];
        if (!(v >= 0 && v < N) || v != MathF.Floor(v))
            throw new ArgumentException($"The {what} {v} is not in Discrete({N}): it must be an integer in [0, {N - 1}].");
    }

    public override string ToString() => $"Discrete({N})";
}

/// <summary>A box of real vectors with per-entry bounds (which may be infinite).</summary>
public sealed class Box : Space
{
    private readonly float[] _low, _high;

    public Box(float low, float high, int size) : this(Enumerable.Repeat(low, size).ToArray(), Enumerable.Repeat(high, size).ToArray()) { }

    public Box(float[] low, float[] high)
    {
        ArgumentNullException.ThrowIfNull(low);
        ArgumentNullException.ThrowIfNull(high);
        if (low.Length != high.Length) throw new ArgumentException($"Box bounds have different lengths: {low.Length} and {high.Length}.");
        if (low.Length == 0) throw new ArgumentException("A box needs at least one dimension.");
        for (int i = 0; i < low.Length; i++)
            if (float.IsNaN(low[i]) || float.IsNaN(high[i]) || low[i] > high[i])
                throw new ArgumentException($"Box bound {i} is invalid: [{low[i]}, {high[i]}].");
        (_low, _high) = ((float[])low.Clone(), (float[])high.Clone());
    }

    public override int Size => _low.Length;

    public ReadOnlySpan<float> Low => _low;

    public ReadOnlySpan<float> High => _high;

    public override void Validate(ReadOnlySpan<float> value, string what = "value")
    {
        if (value.Length != Size) throw new ArgumentException($"A {what} in {this} has {Size} entries, got {value.Length}.");
        for (int i = 0; i < value.Length; i++)
            if (!float.IsFinite(value[i])) throw new ArgumentException($"Entry {i} of the {what} is {value[i]}; it must be finite.");
    }

    /// <summary>Clips <paramref name="value"/> into the bounds in place.</summary>
    public void Clip(Span<float> value)
    {
        for (int i = 0; i < value.Length; i++) value[i] = Math.Clamp(value[i], _low[i], _high[i]);
    }

    public override string ToString() => $"Box({Size}, [{_low.Min()}, {_high.Max()}])";
}
