using System.Numerics;

namespace MetaRL.Engine.Nn;

/// <summary>
/// A building block with named, trainable parameters and child modules. Parameters are read through
/// <see cref="P"/>, so the same module can be evaluated with another set of weights
/// (<see cref="Functional.Call{T, TResult}(Module{T}, IReadOnlyList{Tensor{T}}, Func{TResult})"/>): an adapted
/// copy of the weights that is a differentiable function of the originals, as MAML needs.
/// </summary>
public abstract class Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<(string Name, Tensor<T> Value)> _parameters = [];
    private readonly List<(string Name, Module<T> Child)> _children = [];

    /// <summary>Registers a trainable parameter, initialised with <paramref name="init"/>.</summary>
    protected Tensor<T> RegisterParameter(string name, Tensor<T> init)
    {
        CheckName(name);
        var p = Tensor.Parameter(init, name);
        _parameters.Add((name, p));
        return p;
    }

    /// <summary>Registers a child module whose parameters become part of this one's, under <paramref name="name"/>.</summary>
    protected TModule RegisterModule<TModule>(string name, TModule child) where TModule : Module<T>
    {
        CheckName(name);
        _children.Add((name, child));
        return child;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('.'))
            throw new ArgumentException($"Invalid parameter or module name '{name}': it must be non-empty and contain no '.'.");
        if (_parameters.Any(p => p.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"Duplicate parameter or module name '{name}' in {GetType().Name}.");
    }

    /// <summary>The tensor in force for parameter <paramref name="parameter"/>: itself, or its replacement inside a functional call.</summary>
    protected static Tensor<T> P(Tensor<T> parameter) => Functional.Resolve(parameter);

    /// <summary>Every parameter with its dotted path ("encoder.0.weight"), in registration order.</summary>
    public IEnumerable<(string Name, Tensor<T> Parameter)> NamedParameters()
    {
        foreach (var (name, value) in _parameters) yield return (name, value);
        foreach (var (childName, child) in _children)
            foreach (var (name, value) in child.NamedParameters())
                yield return ($"{childName}.{name}", value);
    }

    /// <summary>Every parameter, in the order of <see cref="NamedParameters"/>.</summary>
    public IReadOnlyList<Tensor<T>> Parameters() => NamedParameters().Select(p => p.Parameter).ToArray();

    /// <summary>The number of trainable scalars.</summary>
    public int ParameterCount => NamedParameters().Sum(p => p.Parameter.Size);

    /// <summary>Clears the accumulated gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in NamedParameters()) p.Grad = null;
    }

    /// <summary>Copies parameter values from a module of the same architecture.</summary>
    public void CopyParametersFrom(Module<T> source)
    {
        var mine = NamedParameters().ToArray();
        var theirs = source.NamedParameters().ToArray();
        if (mine.Length != theirs.Length)
            throw new ArgumentException($"CopyParametersFrom: {theirs.Length} parameters offered for {mine.Length}.");
        for (int i = 0; i < mine.Length; i++)
        {
            if (mine[i].Name != theirs[i].Name)
                throw new ArgumentException($"CopyParametersFrom: parameter {i} is '{mine[i].Name}' here but '{theirs[i].Name}' in the source.");
            mine[i].Parameter.CopyFrom(theirs[i].Parameter);
        }
    }
}

/// <summary>Evaluates modules with a replacement set of parameters (the functional form of a module).</summary>
public static class Functional
{
    private static class Overrides<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic] public static Dictionary<Tensor<T>, Tensor<T>>? Map;
    }

    internal static Tensor<T> Resolve<T>(Tensor<T> parameter) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var map = Overrides<T>.Map;
        return map is not null && map.TryGetValue(parameter, out var replacement) ? replacement : parameter;
    }

    /// <summary>
    /// Runs <paramref name="body"/> with <paramref name="module"/>'s parameters replaced, in order, by
    /// <paramref name="parameters"/> (same shapes). Gradients flow to the replacements, so an adapted
    /// set of weights (θ − α∇L) stays a differentiable function of θ.
    /// </summary>
    public static TResult Call<T, TResult>(Module<T> module, IReadOnlyList<Tensor<T>> parameters, Func<TResult> body)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var originals = module.NamedParameters().ToArray();
        if (originals.Length != parameters.Count)
            throw new ArgumentException($"Functional.Call: the module has {originals.Length} parameters but {parameters.Count} were given.");
        var previous = Overrides<T>.Map;
        var map = previous is null ? new Dictionary<Tensor<T>, Tensor<T>>(ReferenceEqualityComparer.Instance)
                                   : new Dictionary<Tensor<T>, Tensor<T>>(previous, ReferenceEqualityComparer.Instance);
        for (int i = 0; i < originals.Length; i++)
        {
            var (name, p) = originals[i];
            if (!ShapeUtil.Same(p.Dims, parameters[i].Dims))
                throw new ShapeMismatchException($"Functional.Call: parameter '{name}' has shape {ShapeUtil.Format(p.Dims)} but its replacement has {ShapeUtil.Format(parameters[i].Dims)}.");
            map[p] = parameters[i];
        }
        Overrides<T>.Map = map;
        try
        {
            return body();
        }
        finally
        {
            Overrides<T>.Map = previous;
        }
    }
}
