using System.Numerics;

namespace MetaRL.Engine.Autodiff;

/// <summary>
/// Computes the gradients of an operation's inputs from the gradient of its output.
/// It is written with tensor operations, so when the backward pass records a graph
/// (create-graph mode) the gradients it returns are themselves differentiable.
/// Entries for inputs that do not require gradients may be null.
/// </summary>
internal delegate Tensor<T>?[] BackwardFn<T>(Tensor<T> gradOutput) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>The record of one operation in the graph: its inputs and its backward function.</summary>
internal sealed class Node<T>(string op, Tensor<T>[] inputs, BackwardFn<T> backward)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public readonly string Op = op;
    public readonly Tensor<T>[] Inputs = inputs;
    public readonly BackwardFn<T> Backward = backward;
}

/// <summary>Whether operations record a graph on this thread.</summary>
public static class GradMode
{
    [ThreadStatic] private static int _disabledDepth;

    /// <summary>True when operations on tensors that require gradients are recorded.</summary>
    public static bool IsEnabled => _disabledDepth == 0;

    /// <summary>Stops recording until the returned scope is disposed (for inference and optimiser steps).</summary>
    public static Scope NoGrad()
    {
        _disabledDepth++;
        return new Scope(false);
    }

    /// <summary>Records even inside a <see cref="NoGrad"/> scope, until disposed.</summary>
    public static Scope EnableGrad()
    {
        int saved = _disabledDepth;
        _disabledDepth = 0;
        return new Scope(true, saved);
    }

    public readonly struct Scope : IDisposable
    {
        private readonly bool _restore;
        private readonly int _saved;
        internal Scope(bool restore, int saved = 0)
        {
            _restore = restore;
            _saved = saved;
        }
        public void Dispose()
        {
            if (_restore) _disabledDepth = _saved;
            else _disabledDepth--;
        }
    }
}
