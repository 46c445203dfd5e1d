using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Engine;

/// <summary>
/// A dense, row-major, n-dimensional array of <typeparamref name="T"/> (<see cref="float"/> for training,
/// <see cref="double"/> for gradient checks) that takes part in reverse-mode automatic differentiation.
/// Tensors produced by operations are immutable; leaves (parameters, inputs) may be written in place
/// by optimisers or by code that owns them.
/// </summary>
public sealed class Tensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal readonly T[] Buffer;
    internal readonly int[] Dims;
    internal Node<T>? Node;
    private bool _requiresGrad;

    internal Tensor(int[] shape, T[] buffer)
    {
        Dims = shape;
        Buffer = buffer;
        Size = buffer.Length;
    }

    /// <summary>The extents of each axis.</summary>
    public ReadOnlySpan<int> Shape => Dims;

    /// <summary>The number of axes.</summary>
    public int Rank => Dims.Length;

    /// <summary>The number of elements.</summary>
    public int Size { get; }

    /// <summary>The elements in row-major order. Write only to tensors you own and that are not in a graph.</summary>
    public Span<T> Data => Buffer;

    /// <summary>An optional name, used in error messages and checkpoints.</summary>
    public string? Name { get; set; }

    /// <summary>The gradient accumulated by <see cref="Backward"/> for a leaf that requires it.</summary>
    public Tensor<T>? Grad { get; set; }

    /// <summary>True when the tensor was produced by a recorded operation (it has a backward function).</summary>
    public bool IsLeaf => Node is null;

    /// <summary>The name of the operation that produced this tensor, or null for a leaf.</summary>
    public string? Operation => Node?.Op;

    /// <summary>Whether gradients flow to or through this tensor. Only leaves can be switched.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!IsLeaf && !value)
                throw new InvalidOperationException($"Cannot stop gradients of a non-leaf tensor ({Node!.Op}); use Detach() instead.");
            _requiresGrad = value;
        }
    }

    internal void MarkRequiresGrad() => _requiresGrad = true;

    /// <summary>The extent of an axis; negative axes count from the end.</summary>
    public int Dim(int axis) => Dims[ShapeUtil.Axis(axis, Rank, "Dim")];

    /// <summary>Element access by multi-index (slow; for tests and small tensors).</summary>
    public T this[params int[] index]
    {
        get => Buffer[FlatIndex(index)];
        set => Buffer[FlatIndex(index)] = value;
    }

    private int FlatIndex(int[] index)
    {
        if (index.Length != Rank)
            throw new ArgumentException($"Index of rank {index.Length} used on a tensor of shape {ShapeUtil.Format(Dims)}.");
        int flat = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Dims[i])
                throw new IndexOutOfRangeException($"Index {index[i]} is out of range for axis {i} of shape {ShapeUtil.Format(Dims)}.");
            flat = flat * Dims[i] + index[i];
        }
        return flat;
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public T ToScalar()
    {
        if (Size != 1) throw new InvalidOperationException($"ToScalar() needs a tensor with one element; this one has shape {ShapeUtil.Format(Dims)}.");
        return Buffer[0];
    }

    /// <summary>The single value as a double.</summary>
    public double ToDouble() => double.CreateChecked(ToScalar());

    /// <summary>A copy of the elements.</summary>
    public T[] ToArray() => (T[])Buffer.Clone();

    /// <summary>
    /// Accumulates the gradient of this one-element tensor into <see cref="Grad"/> of every leaf it depends on.
    /// With <paramref name="createGraph"/> the gradients are themselves differentiable.
    /// </summary>
    public void Backward(bool createGraph = false) => Autograd.Backward(this, null, createGraph);

    /// <summary>A tensor with the same values that is cut from the graph (no gradient flows through it).</summary>
    public Tensor<T> Detach() => new(Dims, Buffer) { Name = Name };

    /// <summary>A deep copy of the values, cut from the graph.</summary>
    public Tensor<T> Clone() => new((int[])Dims.Clone(), (T[])Buffer.Clone()) { Name = Name };

    /// <summary>Copies values from <paramref name="source"/> (same shape) into this tensor.</summary>
    public void CopyFrom(Tensor<T> source)
    {
        ShapeUtil.RequireSame("CopyFrom", Dims, source.Dims);
        source.Buffer.AsSpan().CopyTo(Buffer);
    }

    /// <summary>Converts the values to another element type (cut from the graph).</summary>
    public Tensor<TOther> Cast<TOther>() where TOther : unmanaged, IFloatingPointIeee754<TOther>
    {
        var result = new TOther[Size];
        for (int i = 0; i < result.Length; i++) result[i] = TOther.CreateChecked(Buffer[i]);
        return new Tensor<TOther>((int[])Dims.Clone(), result);
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor<").Append(typeof(T).Name).Append(">").Append(ShapeUtil.Format(Dims));
        if (Name is not null) sb.Append(" '").Append(Name).Append('\'');
        if (Node is not null) sb.Append(" op=").Append(Node.Op);
        sb.Append(" [");
        int n = Math.Min(Size, 8);
        for (int i = 0; i < n; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(double.CreateChecked(Buffer[i]).ToString("G6", CultureInfo.InvariantCulture));
        }
        if (Size > n) sb.Append(", …");
        sb.Append(']');
        return sb.ToString();
    }

    // ---- operators (all differentiable) ----
    public static Tensor<T> operator +(Tensor<T> a, Tensor<T> b) => Ops.Add(a, b);
    public static Tensor<T> operator -(Tensor<T> a, Tensor<T> b) => Ops.Sub(a, b);
    public static Tensor<T> operator *(Tensor<T> a, Tensor<T> b) => Ops.Mul(a, b);
    public static Tensor<T> operator /(Tensor<T> a, Tensor<T> b) => Ops.Div(a, b);
    public static Tensor<T> operator -(Tensor<T> a) => Ops.Neg(a);
    public static Tensor<T> operator +(Tensor<T> a, double s) => Ops.AddScalar(a, s);
    public static Tensor<T> operator +(double s, Tensor<T> a) => Ops.AddScalar(a, s);
    public static Tensor<T> operator -(Tensor<T> a, double s) => Ops.AddScalar(a, -s);
    public static Tensor<T> operator -(double s, Tensor<T> a) => Ops.AddScalar(Ops.Neg(a), s);
    public static Tensor<T> operator *(Tensor<T> a, double s) => Ops.Scale(a, s);
    public static Tensor<T> operator *(double s, Tensor<T> a) => Ops.Scale(a, s);
    public static Tensor<T> operator /(Tensor<T> a, double s) => Ops.Scale(a, 1.0 / s);
}

/// <summary>Factories for tensors.</summary>
public static class Tensor
{
    /// <summary>A tensor of zeros.</summary>
    public static Tensor<T> Zeros<T>(params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
        => new(ShapeUtil.Validate(shape), new T[ShapeUtil.Size(shape)]);

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor<T> Full<T>(double value, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Zeros<T>(shape);
        t.Buffer.AsSpan().Fill(T.CreateChecked(value));
        return t;
    }

    public static Tensor<T> Ones<T>(params int[] shape) where T : unmanaged, IFloatingPointIeee754<T> => Full<T>(1.0, shape);

    /// <summary>A one-element tensor of rank 0.</summary>
    public static Tensor<T> Scalar<T>(double value) where T : unmanaged, IFloatingPointIeee754<T>
        => new([], [T.CreateChecked(value)]);

    /// <summary>A tensor that takes ownership of <paramref name="data"/> (no copy).</summary>
    public static Tensor<T> FromArray<T>(T[] data, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        ShapeUtil.Validate(shape);
        if (ShapeUtil.Size(shape) != data.Length)
            throw new ArgumentException($"Shape {ShapeUtil.Format(shape)} needs {ShapeUtil.Size(shape)} elements but {data.Length} were given.");
        return new((int[])shape.Clone(), data);
    }

    /// <summary>A tensor with a copy of <paramref name="data"/>.</summary>
    public static Tensor<T> FromSpan<T>(ReadOnlySpan<T> data, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
        => FromArray(data.ToArray(), shape);

    /// <summary>A tensor from doubles, converted to <typeparamref name="T"/>.</summary>
    public static Tensor<T> From<T>(double[] data, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var converted = new T[data.Length];
        for (int i = 0; i < data.Length; i++) converted[i] = T.CreateChecked(data[i]);
        return FromArray(converted, shape);
    }

    /// <summary>Standard normal values scaled by <paramref name="std"/>.</summary>
    public static Tensor<T> RandN<T>(Rng rng, double std, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Zeros<T>(shape);
        var d = t.Buffer;
        for (int i = 0; i < d.Length; i++) d[i] = T.CreateChecked(rng.Normal() * std);
        return t;
    }

    /// <summary>Uniform values in [lo, hi).</summary>
    public static Tensor<T> RandU<T>(Rng rng, double lo, double hi, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Zeros<T>(shape);
        var d = t.Buffer;
        for (int i = 0; i < d.Length; i++) d[i] = T.CreateChecked(rng.Uniform(lo, hi));
        return t;
    }

    /// <summary>A leaf that requires gradients (a trainable parameter).</summary>
    public static Tensor<T> Parameter<T>(Tensor<T> init, string? name = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = new Tensor<T>(init.Dims, init.Buffer) { Name = name ?? init.Name };
        p.RequiresGrad = true;
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Tensor<T> Uninit<T>(int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
        => new(shape, GC.AllocateUninitializedArray<T>(ShapeUtil.Size(shape)));
}
