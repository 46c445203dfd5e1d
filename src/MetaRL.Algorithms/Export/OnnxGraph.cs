using System.Text;

namespace MetaRL.Algorithms.Export;

/// <summary>
/// Protocol-buffer encoding of the part of the ONNX schema (onnx.proto, IR version 7) that an exported policy needs:
/// models, graphs, nodes with int, float and int-list attributes, initializers, typed inputs and outputs with
/// symbolic batch dimensions, and metadata. Field numbers are the schema's; messages are written depth-first into
/// byte arrays, so no generated code or protobuf runtime is needed.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _bytes = new();

    public byte[] ToArray() => _bytes.ToArray();

    private void Varint(ulong v)
    {
        while (v >= 0x80)
        {
            _bytes.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _bytes.WriteByte((byte)v);
    }

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    public ProtoWriter Int(int field, long value)
    {
        Tag(field, 0);
        Varint((ulong)value);
        return this;
    }

    public ProtoWriter Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BitConverter.TryWriteBytes(b, value);
        if (!BitConverter.IsLittleEndian) b.Reverse();
        _bytes.Write(b);
        return this;
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        Varint((ulong)value.Length);
        _bytes.Write(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int field, Action<ProtoWriter> body)
    {
        var inner = new ProtoWriter();
        body(inner);
        return Bytes(field, inner.ToArray());
    }

    public ProtoWriter PackedInts(int field, IEnumerable<long> values)
    {
        var inner = new ProtoWriter();
        foreach (var v in values) inner.Varint((ulong)v);
        return Bytes(field, inner.ToArray());
    }
}

/// <summary>ONNX element types used here (TensorProto.DataType).</summary>
internal enum OnnxType { Float = 1, Int64 = 7 }

/// <summary>
/// Builds one ONNX graph: declared inputs and outputs, constant initializers and nodes, each value named, written in
/// the order added (which is a topological order, since a node can only read values that exist).
/// </summary>
internal sealed class OnnxGraph
{
    private readonly List<Action<ProtoWriter>> _nodes = [], _initializers = [], _inputs = [], _outputs = [];
    private readonly HashSet<string> _names = [];
    private int _next;

    /// <summary>The graph's declared inputs and outputs, in order.</summary>
    public List<OnnxTensor> Inputs { get; } = [];
    public List<OnnxTensor> Outputs { get; } = [];

    private static OnnxTensor Describe(string name, OnnxType type, object[] dims)
        => new(name, type == OnnxType.Float ? "float" : "int64", dims.Select(d => d.ToString()!).ToArray());

    /// <summary>A dimension: an int is fixed, a string is symbolic (the batch).</summary>
    public static Action<ProtoWriter> Type(OnnxType type, object[] dims) => t => t.Message(1, tensor =>
    {
        tensor.Int(1, (int)type);
        tensor.Message(2, shape =>
        {
            foreach (var d in dims)
                shape.Message(1, dim =>
                {
                    if (d is string symbol) dim.String(2, symbol);
                    else dim.Int(1, Convert.ToInt64(d));
                });
        });
    });

    private string Claim(string name)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"The ONNX graph already has a value named '{name}'.");
        return name;
    }

    private string Fresh(string hint) => Claim($"{hint}_{_next++}");

    public string Input(string name, OnnxType type, params object[] dims)
    {
        Claim(name);
        _inputs.Add(v => v.String(1, name).Message(2, Type(type, dims)));
        Inputs.Add(Describe(name, type, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as the graph output <paramref name="name"/> (through an Identity node, so constants and inputs can be outputs too).</summary>
    public void Output(string name, string value, OnnxType type, params object[] dims)
    {
        Node("Identity", [value], [Claim(name)]);
        _outputs.Add(v => v.String(1, name).Message(2, Type(type, dims)));
        Outputs.Add(Describe(name, type, dims));
    }

    public string Constant(string hint, float[] data, params long[] dims)
    {
        if (data.Length != dims.Aggregate(1L, (a, b) => a * b))
            throw new ArgumentException($"Constant '{hint}' has {data.Length} values for dimensions [{string.Join(", ", dims)}].");
        string name = Fresh(hint);
        var raw = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++) BitConverter.TryWriteBytes(raw.AsSpan(4 * i), data[i]);
        _initializers.Add(t =>
        {
            t.PackedInts(1, dims);
            t.Int(2, (int)OnnxType.Float);
            t.String(8, name);
            t.Bytes(9, raw);
        });
        return name;
    }

    public string Scalar(string hint, float value) => Constant(hint, [value], 1);

    public string Int64s(string hint, params long[] data)
    {
        string name = Fresh(hint);
        _initializers.Add(t =>
        {
            t.PackedInts(1, [data.Length]);
            t.Int(2, (int)OnnxType.Int64);
            t.String(8, name);
            t.PackedInts(7, data);
        });
        return name;
    }

    /// <summary>An attribute: a long, a float or a long[].</summary>
    public readonly record struct Attribute(string Name, object Value);

    /// <summary>An attribute (shorthand).</summary>
    public static Attribute A(string name, object value) => new(name, value);

    /// <summary>Adds a node; its outputs get fresh names unless given.</summary>
    public string[] Node(string op, string[] inputs, string[]? outputs = null, int outputCount = 1, params Attribute[] attributes)
    {
        foreach (var i in inputs)
            if (i.Length > 0 && !_names.Contains(i)) throw new InvalidOperationException($"Node {op} reads '{i}', which the graph does not have yet.");
        outputs ??= Enumerable.Range(0, outputCount).Select(_ => Fresh(op.ToLowerInvariant())).ToArray();
        var outs = outputs;
        _nodes.Add(n =>
        {
            foreach (var i in inputs) n.String(1, i);
            foreach (var o in outs) n.String(2, o);
            n.String(3, outs[0]);
            n.String(4, op);
            foreach (var a in attributes)
                n.Message(5, at =>
                {
                    at.String(1, a.Name);
                    switch (a.Value)
                    {
                        case long l: at.Int(3, l).Int(20, 2); break;
                        case int i: at.Int(3, i).Int(20, 2); break;
                        case float f: at.Float(2, f).Int(20, 1); break;
                        case long[] ls: at.PackedInts(8, ls).Int(20, 7); break;
                        default: throw new ArgumentException($"Unsupported attribute value {a.Value.GetType().Name}.");
                    }
                });
        });
        return outs;
    }

    /// <summary>A one-output node.</summary>
    public string Op(string op, params string[] inputs) => Node(op, inputs)[0];

    public string Op(string op, string[] inputs, params Attribute[] attributes) => Node(op, inputs, null, 1, attributes)[0];

    /// <summary>The model: IR version 7, the default domain's operator set <paramref name="opset"/>, and the metadata.</summary>
    public byte[] ToModel(string graphName, int opset, string producerVersion, IReadOnlyDictionary<string, string> metadata, string doc)
    {
        var model = new ProtoWriter();
        model.Int(1, 7);
        model.String(2, "metarl");
        model.String(3, producerVersion);
        model.String(6, doc);
        model.Message(7, g =>
        {
            foreach (var n in _nodes) g.Message(1, n);
            g.String(2, graphName);
            foreach (var i in _initializers) g.Message(5, i);
            foreach (var i in _inputs) g.Message(11, i);
            foreach (var o in _outputs) g.Message(12, o);
        });
        model.Message(8, o => o.String(1, "").Int(2, opset));
        foreach (var (k, v) in metadata) model.Message(14, e => e.String(1, k).String(2, v));
        return model.ToArray();
    }
}
