using System.Numerics;

namespace MetaRL.Engine.Autodiff;

/// <summary>Reverse-mode differentiation over the recorded graph.</summary>
public static class Autograd
{
    /// <summary>
    /// Gradients of the sum of <paramref name="outputs"/> (each weighted by its entry in
    /// <paramref name="gradOutputs"/>, ones by default) with respect to <paramref name="inputs"/>.
    /// With <paramref name="createGraph"/> the backward pass is itself recorded, so the returned
    /// gradients can be differentiated again (second-order methods: MAML, Hessian-vector products).
    /// An input the outputs do not depend on gets null when <paramref name="allowUnused"/> is set,
    /// and an error otherwise.
    /// </summary>
    public static Tensor<T>?[] Grad<T>(
        IReadOnlyList<Tensor<T>> outputs,
        IReadOnlyList<Tensor<T>> inputs,
        IReadOnlyList<Tensor<T>?>? gradOutputs = null,
        bool createGraph = false,
        bool allowUnused = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Grad(outputs, inputs, gradOutputs, createGraph, allowUnused, inputsAreBoundaries: false);

    // inputsAreBoundaries: do not look past the inputs; what they depend on is not differentiated
    // (used by fused operations that differentiate their own reference graph).
    internal static Tensor<T>?[] Grad<T>(
        IReadOnlyList<Tensor<T>> outputs,
        IReadOnlyList<Tensor<T>> inputs,
        IReadOnlyList<Tensor<T>?>? gradOutputs,
        bool createGraph,
        bool allowUnused,
        bool inputsAreBoundaries)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var wanted = new HashSet<Tensor<T>>(ReferenceEqualityComparer.Instance);
        foreach (var input in inputs)
        {
            if (!input.RequiresGrad)
                throw new ArgumentException($"Grad: input {Describe(input)} does not require gradients.");
            wanted.Add(input);
        }
        var grads = Run(outputs, gradOutputs, createGraph, t => wanted.Contains(t), stopAtWanted: inputsAreBoundaries);
        var result = new Tensor<T>?[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            if (grads.TryGetValue(inputs[i], out var g)) result[i] = g;
            else if (!allowUnused)
                throw new InvalidOperationException($"Grad: the outputs do not depend on input {i} {Describe(inputs[i])}; pass allowUnused: true to get null.");
        }
        return result;
    }

    /// <summary>Single-output, single-input form of <see cref="Grad{T}(IReadOnlyList{Tensor{T}}, IReadOnlyList{Tensor{T}}, IReadOnlyList{Tensor{T}?}?, bool, bool)"/>.</summary>
    public static Tensor<T> Grad<T>(Tensor<T> output, Tensor<T> input, bool createGraph = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Grad([output], [input], null, createGraph)[0]!;

    /// <summary>
    /// Accumulates d(output)/d(leaf) into <see cref="Tensor{T}.Grad"/> of every leaf that requires gradients.
    /// </summary>
    public static void Backward<T>(Tensor<T> output, Tensor<T>? gradOutput = null, bool createGraph = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!output.RequiresGrad)
            throw new InvalidOperationException($"Backward: {Describe(output)} does not require gradients; nothing it depends on is trainable, or it was computed under NoGrad.");
        var grads = Run([output], [gradOutput], createGraph, t => t.IsLeaf, stopAtWanted: false);
        foreach (var (tensor, g) in grads)
        {
            if (!tensor.IsLeaf) continue;
            if (tensor.Grad is null) tensor.Grad = createGraph ? g : g.Clone(); // own buffer: g may be shared with other gradients
            else if (createGraph) tensor.Grad = Ops.Add(tensor.Grad, g);
            else
            {
                using var _ = GradMode.NoGrad();
                Kernels.Elementwise.AddInPlace(tensor.Grad.Buffer, g.Buffer);
            }
        }
    }

    private static Dictionary<Tensor<T>, Tensor<T>> Run<T>(
        IReadOnlyList<Tensor<T>> outputs,
        IReadOnlyList<Tensor<T>?>? gradOutputs,
        bool createGraph,
        Func<Tensor<T>, bool> isWanted,
        bool stopAtWanted)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (gradOutputs is not null && gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"Grad: {outputs.Count} outputs but {gradOutputs.Count} output gradients.");

        // Topological order (inputs before users) of the tensors from which a wanted tensor is reachable.
        var order = new List<Tensor<T>>();
        var state = new Dictionary<Tensor<T>, bool>(ReferenceEqualityComparer.Instance); // value: leads to a wanted tensor
        var stack = new Stack<(Tensor<T> t, int next)>();
        foreach (var output in outputs)
        {
            if (state.ContainsKey(output)) continue;
            stack.Push((output, 0));
            state[output] = false;
            while (stack.Count > 0)
            {
                var (t, next) = stack.Pop();
                var node = t.Node;
                bool expand = node is not null && !(stopAtWanted && isWanted(t));
                if (expand && next < node!.Inputs.Length)
                {
                    stack.Push((t, next + 1));
                    var child = node.Inputs[next];
                    if (child.RequiresGrad && !state.ContainsKey(child))
                    {
                        state[child] = false;
                        stack.Push((child, 0));
                    }
                    continue;
                }
                bool leads = isWanted(t);
                if (expand)
                    foreach (var child in node!.Inputs)
                        if (child.RequiresGrad && state.TryGetValue(child, out bool l) && l) leads = true;
                state[t] = leads;
                if (leads) order.Add(t);
            }
        }

        var grads = new Dictionary<Tensor<T>, Tensor<T>>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < outputs.Count; i++)
        {
            var output = outputs[i];
            var seed = gradOutputs?[i];
            if (seed is null)
            {
                if (output.Size != 1)
                    throw new ArgumentException($"Grad: output {Describe(output)} is not a scalar; pass its gradient explicitly.");
                seed = Tensor.Ones<T>(output.Dims.ToArray());
            }
            else ShapeUtil.RequireSame("Grad (output gradient)", output.Dims, seed.Dims);
            Accumulate(grads, output, seed, createGraph);
        }

        using var scope = createGraph ? GradMode.EnableGrad() : GradMode.NoGrad();
        for (int k = order.Count - 1; k >= 0; k--)
        {
            var t = order[k];
            if (t.Node is null || !grads.TryGetValue(t, out var g)) continue;
            if (stopAtWanted && isWanted(t)) continue;
            var inputGrads = t.Node.Backward(g);
            var inputs = t.Node.Inputs;
            for (int j = 0; j < inputs.Length; j++)
            {
                var ig = inputGrads[j];
                if (ig is null || !inputs[j].RequiresGrad) continue;
                if (!state.TryGetValue(inputs[j], out bool leads) || !leads) continue;
                if (!ShapeUtil.Same(ig.Dims, inputs[j].Dims))
                    throw new InvalidOperationException($"Internal error: backward of {t.Node.Op} gave a gradient of shape {ShapeUtil.Format(ig.Dims)} for an input of shape {ShapeUtil.Format(inputs[j].Dims)}.");
                Accumulate(grads, inputs[j], ig, createGraph);
            }
            if (!isWanted(t)) grads.Remove(t); // free intermediate gradients early
        }
        return grads;
    }

    private static void Accumulate<T>(Dictionary<Tensor<T>, Tensor<T>> grads, Tensor<T> t, Tensor<T> g, bool createGraph)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!grads.TryGetValue(t, out var existing)) grads[t] = g;
        else if (createGraph) grads[t] = Ops.Add(existing, g);
        else
        {
            // Fresh buffer: g or existing may alias tensors held elsewhere.
            var sum = Tensor.Uninit<T>(existing.Dims);
            Kernels.Elementwise.Add(existing.Buffer, g.Buffer, sum.Buffer);
            grads[t] = sum;
        }
    }

    private static string Describe<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
        => $"{(t.Name is null ? "" : $"'{t.Name}' ")}{ShapeUtil.Format(t.Dims)}{(t.Node is null ? "" : $" (from {t.Node.Op})")}";
}
