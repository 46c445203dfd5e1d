using System.Numerics;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Engine.Nn;

/// <summary>
/// Fast weights for gradient-based meta-learning (MAML's inner loop, in the manner of learn2learn's <c>clone()</c> /
/// <c>adapt()</c>): a module evaluated with a set of weights of its own, which <see cref="Adapt"/> moves by plain
/// gradient steps θ ← θ − α∇L. The module's own parameters are never changed.
/// <para>
/// Made by <see cref="Clone"/> from the module's parameters (or any weights of the same shapes) the clone's weights stay
/// differentiable functions of them: with <c>createGraph</c> the steps are part of the graph, so a loss of the adapted
/// weights can be differentiated back to the originals (the exact second-order meta-gradient). Made by
/// <see cref="Detached"/>, the clone holds copies that no gradient leaves (evaluation, fine-tuning).
/// </para>
/// </summary>
public sealed class FastWeights<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>[] _weights;

    private FastWeights(Module<T> module, Tensor<T>[] weights, bool detached)
    {
        int count = module.Parameters().Count;
        if (weights.Length != count)
            throw new ArgumentException($"The module has {count} parameters but {weights.Length} weights were given.", nameof(weights));
        (Module, _weights, IsDetached) = (module, weights, detached);
    }

    /// <summary>The weights of <paramref name="module"/> (its own parameters when <paramref name="weights"/> is null), still in the graph.</summary>
    public static FastWeights<T> Clone(Module<T> module, IReadOnlyList<Tensor<T>>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        return new(module, (weights ?? module.Parameters()).ToArray(), detached: false);
    }

    /// <summary>Copies of the given weights (the module's own by default) that no gradient leaves: adapting them never touches the originals.</summary>
    public static FastWeights<T> Detached(Module<T> module, IReadOnlyList<Tensor<T>>? weights = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        return new(module, (weights ?? module.Parameters()).Select(p => Tensor.Parameter(p.Detach().Clone())).ToArray(), detached: true);
    }

    public Module<T> Module { get; }

    /// <summary>Whether the weights were cut from the graph (<see cref="Detached"/>); every step then keeps them cut.</summary>
    public bool IsDetached { get; }

    /// <summary>The current weights, in the order of <see cref="Module{T}.Parameters"/>.</summary>
    public IReadOnlyList<Tensor<T>> Weights => _weights;

    /// <summary>Evaluates <paramref name="body"/> with the module reading these weights.</summary>
    public TResult Call<TResult>(Func<TResult> body) => Functional.Call(Module, _weights, body);

    /// <summary>
    /// One gradient step of size <paramref name="learningRate"/> on <paramref name="loss"/>, which must have been computed
    /// from these weights (through <see cref="Call{TResult}"/>). A weight the loss does not depend on stays as it is. With
    /// <paramref name="createGraph"/> the step is recorded, so later losses differentiate through it.
    /// </summary>
    /// <exception cref="ArgumentException">The loss is not a finite scalar.</exception>
    public void Adapt(Tensor<T> loss, double learningRate, bool createGraph = false)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (loss.Size != 1) throw new ArgumentException($"The loss must be a scalar; it has shape [{string.Join(", ", loss.Shape.ToArray())}].", nameof(loss));
        if (!double.IsFinite(learningRate)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The step size must be finite.");
        bool graph = createGraph && !IsDetached;
        var grads = Autograd.Grad([loss], _weights, createGraph: graph, allowUnused: true);
        var next = new Tensor<T>[_weights.Length];
        for (int i = 0; i < next.Length; i++)
        {
            if (grads[i] is not { } g) { next[i] = _weights[i]; continue; }
            var moved = _weights[i] - learningRate * g;
            next[i] = IsDetached ? Tensor.Parameter(moved.Detach()) : moved;
        }
        _weights = next;
    }
}
