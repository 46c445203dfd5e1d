using System.Numerics;
using System.Numerics.Tensors;
using System.Buffers;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Kernels;

namespace MetaRL.Engine;

public static partial class Ops
{
    /// <summary>
    /// One GRU step (gate order r, z, n as in PyTorch), from primitive operations:
    /// r = σ(x·Wir + bir + h·Whr + bhr), z = σ(…), n = tanh(x·Win + bin + r ⊙ (h·Whn + bhn)), h' = (1 − z) ⊙ n + z ⊙ h.
    /// Weights are laid out [in, 3H] and [H, 3H].
    /// </summary>
    public static Tensor<T> GruCell<T>(Tensor<T> x, Tensor<T> h, Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = h.Dims[^1];
        var gx = Linear(x, wih, bih);
        var gh = Linear(h, whh, bhh);
        var r = Sigmoid(Add(Slice(gx, -1, 0, hs), Slice(gh, -1, 0, hs)));
        var z = Sigmoid(Add(Slice(gx, -1, hs, hs), Slice(gh, -1, hs, hs)));
        var n = Tanh(Add(Slice(gx, -1, 2 * hs, hs), Mul(r, Slice(gh, -1, 2 * hs, hs))));
        return Add(n, Mul(z, Sub(h, n)));
    }

    /// <summary>
    /// One LSTM step (gate order i, f, g, o as in PyTorch): c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c').
    /// Weights are laid out [in, 4H] and [H, 4H]. Returns (h', c').
    /// </summary>
    public static (Tensor<T> H, Tensor<T> C) LstmCell<T>(Tensor<T> x, Tensor<T> h, Tensor<T> c, Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hs = h.Dims[^1];
        var gates = Add(Linear(x, wih, bih), Linear(h, whh, bhh));
        var i = Sigmoid(Slice(gates, -1, 0, hs));
        var f = Sigmoid(Slice(gates, -1, hs, hs));
        var g = Tanh(Slice(gates, -1, 2 * hs, hs));
        var o = Sigmoid(Slice(gates, -1, 3 * hs, hs));
        var c2 = Add(Mul(f, c), Mul(i, g));
        return (Mul(o, Tanh(c2)), c2);
    }

    /// <summary>
    /// An LSTM over a sequence built from <see cref="LstmCell{T}"/> (the reference for <see cref="LstmSequence{T}"/>).
    /// </summary>
    public static (Tensor<T> Output, Tensor<T> H, Tensor<T> C) LstmSequenceComposite<T>(Tensor<T> x, Tensor<T> h0, Tensor<T> c0,
        Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? resetMask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (steps, batch, _, hs) = CheckLstm(x, h0, c0, wih, whh, bih, bhh, resetMask);
        return SplitLstmStates(LstmStatesComposite(x, h0, c0, wih, whh, bih, bhh, resetMask), h0, c0, steps, batch, hs);
    }

    /// <summary>
    /// An LSTM over a sequence x [T, B, in] from (h0, c0) [B, H], as one fused operation (as <see cref="GruSequence{T}"/>):
    /// the input projection of all steps is one matrix product, each step one [B, H]·[H, 4H] product, and the backward
    /// pass accumulates the weight gradients of all steps in single products. Before step t each row's state is
    /// multiplied by resetMask[t, b] (0 clears it at an episode or trial boundary). Returns all hidden states
    /// [T, B, H] and the final (h, c). Its gradients are differentiable too: in create-graph mode the backward pass
    /// differentiates <see cref="LstmSequenceComposite{T}"/>.
    /// </summary>
    public static (Tensor<T> Output, Tensor<T> H, Tensor<T> C) LstmSequence<T>(Tensor<T> x, Tensor<T> h0, Tensor<T> c0,
        Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? resetMask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (steps, batch, input, hs) = CheckLstm(x, h0, c0, wih, whh, bih, bhh, resetMask);
        if (steps == 0) return SplitLstmStates(Tensor.Zeros<T>(0, batch, 2 * hs), h0, c0, steps, batch, hs);
        var cache = LstmFused<T>.Forward(x.Buffer, h0.Buffer, c0.Buffer, wih.Buffer, whh.Buffer, bih.Buffer, bhh.Buffer, resetMask?.Buffer, steps, batch, input, hs);
        Tensor<T>[] inputs = [x, h0, c0, wih, whh, bih, bhh];
        var states = Record(Tensor.FromArray(cache.States, steps, batch, 2 * hs), "LstmSequence", inputs, g =>
        {
            if (GradMode.IsEnabled)
            {
                // Create-graph mode: differentiate the reference graph so the gradients carry their own graph.
                var needed = inputs.Where(i => i.RequiresGrad).ToArray();
                var reference = LstmStatesComposite(x, h0, c0, wih, whh, bih, bhh, resetMask);
                var sub = Autograd.Grad([reference], needed, [g], createGraph: true, allowUnused: true, inputsAreBoundaries: true);
                var all = new Tensor<T>?[inputs.Length];
                for (int i = 0, j = 0; i < inputs.Length; i++)
                    if (inputs[i].RequiresGrad) all[i] = sub[j++] ?? Tensor.Zeros<T>(inputs[i].Dims.ToArray());
                return all;
            }
            var grads = LstmFused<T>.Backward(cache, g.Buffer, x.Buffer, wih.Buffer, whh.Buffer, resetMask?.Buffer, steps, batch, input, hs,
                x.RequiresGrad, wih.RequiresGrad || bih.RequiresGrad, whh.RequiresGrad || bhh.RequiresGrad);
            return [
                x.RequiresGrad ? Tensor.FromArray(grads.Dx!, steps, batch, input) : null,
                h0.RequiresGrad ? Tensor.FromArray(grads.Dh0, batch, hs) : null,
                c0.RequiresGrad ? Tensor.FromArray(grads.Dc0, batch, hs) : null,
                wih.RequiresGrad ? Tensor.FromArray(grads.DWih!, input, 4 * hs) : null,
                whh.RequiresGrad ? Tensor.FromArray(grads.DWhh!, hs, 4 * hs) : null,
                bih.RequiresGrad ? Tensor.FromArray(grads.DBias!, 4 * hs) : null,
                bhh.RequiresGrad ? Tensor.FromArray(grads.DBias!.ToArray(), 4 * hs) : null];
        });
        return SplitLstmStates(states, h0, c0, steps, batch, hs);
    }

    private static (int steps, int batch, int input, int hidden) CheckLstm<T>(Tensor<T> x, Tensor<T> h0, Tensor<T> c0,
        Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? mask) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dims = CheckRecurrent("LstmSequence", x, h0, wih, whh, bih, bhh, mask, 4);
        ShapeUtil.RequireSame("LstmSequence (c0 vs h0)", c0.Dims, h0.Dims);
        return dims;
    }

    /// <summary>Every step's state as [T, B, 2H]: h_t then c_t in each row, from <see cref="LstmCell{T}"/>.</summary>
    private static Tensor<T> LstmStatesComposite<T>(Tensor<T> x, Tensor<T> h0, Tensor<T> c0,
        Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? resetMask) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int steps = x.Dims[0], batch = x.Dims[1], hs = h0.Dims[1];
        if (steps == 0) return Tensor.Zeros<T>(0, batch, 2 * hs);
        var h = h0;
        var c = c0;
        var states = new Tensor<T>[steps];
        for (int t = 0; t < steps; t++)
        {
            var xt = Reshape(Slice(x, 0, t, 1), batch, x.Dims[2]);
            if (resetMask is not null)
            {
                var m = MaskColumn(resetMask, t, batch);
                h = Mul(h, m);
                c = Mul(c, m);
            }
            (h, c) = LstmCell(xt, h, c, wih, whh, bih, bhh);
            states[t] = Reshape(Concat([h, c], 1), 1, batch, 2 * hs);
        }
        return Concat(states, 0);
    }

    /// <summary>[T, B, 2H] states → every h [T, B, H] and the final (h, c); (h0, c0) when there are no steps.</summary>
    private static (Tensor<T> Output, Tensor<T> H, Tensor<T> C) SplitLstmStates<T>(Tensor<T> states, Tensor<T> h0, Tensor<T> c0, int steps, int batch, int hs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (steps == 0) return (Tensor.Zeros<T>(0, batch, hs), h0, c0);
        var last = Reshape(Slice(states, 0, steps - 1, 1), batch, 2 * hs);
        return (Slice(states, 2, 0, hs), Slice(last, 1, 0, hs), Slice(last, 1, hs, hs));
    }

    private static Tensor<T> MaskColumn<T>(Tensor<T> mask, int t, int batch) where T : unmanaged, IFloatingPointIeee754<T>
        => Tensor.FromArray(mask.Buffer.AsSpan(t * batch, batch).ToArray(), batch, 1);

    private static (int steps, int batch, int input, int hidden) CheckRecurrent<T>(string op, Tensor<T> x, Tensor<T> h0,
        Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? mask, int gates)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank != 3) throw new ShapeMismatchException($"{op}: input must be [steps, batch, features], got {ShapeUtil.Format(x.Dims)}.");
        if (h0.Rank != 2 || h0.Dims[0] != x.Dims[1])
            throw new ShapeMismatchException($"{op}: initial state {ShapeUtil.Format(h0.Dims)} does not match input {ShapeUtil.Format(x.Dims)} (expected [batch, hidden]).");
        int hs = h0.Dims[1], g = gates * hs;
        if (wih.Rank != 2 || wih.Dims[0] != x.Dims[2] || wih.Dims[1] != g)
            throw new ShapeMismatchException($"{op}: input weight {ShapeUtil.Format(wih.Dims)} should be [{x.Dims[2]}, {g}].");
        if (whh.Rank != 2 || whh.Dims[0] != hs || whh.Dims[1] != g)
            throw new ShapeMismatchException($"{op}: recurrent weight {ShapeUtil.Format(whh.Dims)} should be [{hs}, {g}].");
        if (bih.Rank != 1 || bih.Dims[0] != g || bhh.Rank != 1 || bhh.Dims[0] != g)
            throw new ShapeMismatchException($"{op}: biases {ShapeUtil.Format(bih.Dims)} and {ShapeUtil.Format(bhh.Dims)} should be [{g}].");
        if (mask is not null)
        {
            if (mask.Rank != 2 || mask.Dims[0] != x.Dims[0] || mask.Dims[1] != x.Dims[1])
                throw new ShapeMismatchException($"{op}: reset mask {ShapeUtil.Format(mask.Dims)} should be [{x.Dims[0]}, {x.Dims[1]}].");
            if (mask.RequiresGrad) throw new ArgumentException($"{op}: the reset mask is a constant and must not require gradients.");
        }
        return (x.Dims[0], x.Dims[1], x.Dims[2], hs);
    }

    /// <summary>
    /// A GRU over a sequence built from <see cref="GruCell{T}"/> (the reference for <see cref="GruSequence{T}"/>).
    /// </summary>
    public static Tensor<T> GruSequenceComposite<T>(Tensor<T> x, Tensor<T> h0, Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? resetMask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (steps, batch, input, hs) = CheckRecurrent("GruSequence", x, h0, wih, whh, bih, bhh, resetMask, 3);
        var h = h0;
        var outputs = new Tensor<T>[steps];
        for (int t = 0; t < steps; t++)
        {
            var xt = Reshape(Slice(x, 0, t, 1), batch, input);
            if (resetMask is not null) h = Mul(h, MaskColumn(resetMask, t, batch));
            h = GruCell(xt, h, wih, whh, bih, bhh);
            outputs[t] = Reshape(h, 1, batch, hs);
        }
        return steps == 0 ? Tensor.Zeros<T>(0, batch, hs) : Concat(outputs, 0);
    }

    /// <summary>
    /// A GRU over a sequence x [T, B, in] from h0 [B, H], as one fused operation: the input projection
    /// of all steps is one matrix product, each step one [B, H]·[H, 3H] product, and the backward pass
    /// accumulates the weight gradients of all steps in single products. Before step t each row's state
    /// is multiplied by resetMask[t, b] (0 clears it). Returns every hidden state, [T, B, H]; the last
    /// step is the final state. Its gradients are differentiable too: in create-graph mode the backward
    /// pass differentiates <see cref="GruSequenceComposite{T}"/>.
    /// </summary>
    public static Tensor<T> GruSequence<T>(Tensor<T> x, Tensor<T> h0, Tensor<T> wih, Tensor<T> whh, Tensor<T> bih, Tensor<T> bhh, Tensor<T>? resetMask = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (steps, batch, input, hs) = CheckRecurrent("GruSequence", x, h0, wih, whh, bih, bhh, resetMask, 3);
        var cache = GruFused<T>.Forward(x.Buffer, h0.Buffer, wih.Buffer, whh.Buffer, bih.Buffer, bhh.Buffer, resetMask?.Buffer, steps, batch, input, hs);
        var r = Tensor.FromArray(cache.Output, steps, batch, hs);
        Tensor<T>[] inputs = [x, h0, wih, whh, bih, bhh];
        return Record(r, "GruSequence", inputs, g =>
        {
            if (GradMode.IsEnabled)
            {
                // Create-graph mode: differentiate the reference graph so the gradients carry their own graph.
                var needed = inputs.Where(i => i.RequiresGrad).ToArray();
                var reference = GruSequenceComposite(x, h0, wih, whh, bih, bhh, resetMask);
                var sub = Autograd.Grad([reference], needed, [g], createGraph: true, allowUnused: true, inputsAreBoundaries: true);
                var all = new Tensor<T>?[inputs.Length];
                for (int i = 0, j = 0; i < inputs.Length; i++)
                    if (inputs[i].RequiresGrad) all[i] = sub[j++] ?? Tensor.Zeros<T>(inputs[i].Dims.ToArray());
                return all;
            }
            var grads = GruFused<T>.Backward(cache, g.Buffer, x.Buffer, wih.Buffer, whh.Buffer, resetMask?.Buffer, steps, batch, input, hs,
                x.RequiresGrad, h0.RequiresGrad, wih.RequiresGrad || bih.RequiresGrad, whh.RequiresGrad || bhh.RequiresGrad);
            return [
                x.RequiresGrad ? Tensor.FromArray(grads.Dx!, steps, batch, input) : null,
                h0.RequiresGrad ? Tensor.FromArray(grads.Dh0!, batch, hs) : null,
                wih.RequiresGrad ? Tensor.FromArray(grads.DWih!, input, 3 * hs) : null,
                whh.RequiresGrad ? Tensor.FromArray(grads.DWhh!, hs, 3 * hs) : null,
                bih.RequiresGrad ? Tensor.FromArray(grads.DBih!, 3 * hs) : null,
                bhh.RequiresGrad ? Tensor.FromArray(grads.DBhh!, 3 * hs) : null];
        });
    }
}

/// <summary>Numeric forward and backward of the fused GRU sequence.</summary>
internal static class GruFused<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal sealed class Cache
    {
        public required T[] Output;  // [T, B, H]
        public required T[] Hp;      // state entering each step, after the reset mask [T, B, H]
        public required T[] R, Z, N; // gates [T, B, H]
        public required T[] GhN;     // h·Whn + bhn [T, B, H]
    }

    internal sealed class Grads
    {
        public T[]? Dx, Dh0, DWih, DWhh, DBih, DBhh;
    }

    public static Cache Forward(T[] x, T[] h0, T[] wih, T[] whh, T[] bih, T[] bhh, T[]? mask, int steps, int batch, int input, int hs)
    {
        int g3 = 3 * hs, bh = batch * hs, rows = steps * batch;
        // The input projection of every step is a temporary: rented, and returned before leaving.
        var gx = ArrayPool<T>.Shared.Rent(rows * g3);
        try
        {
            return ForwardCore(gx, x, h0, wih, whh, bih, bhh, mask, steps, batch, input, hs);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(gx);
        }
    }

    private static Cache ForwardCore(T[] gx, T[] x, T[] h0, T[] wih, T[] whh, T[] bih, T[] bhh, T[]? mask, int steps, int batch, int input, int hs)
    {
        int g3 = 3 * hs, bh = batch * hs, rows = steps * batch;
        for (int i = 0; i < rows; i++) bih.AsSpan().CopyTo(gx.AsSpan(i * g3, g3));
        Gemm.Multiply<T>(false, false, rows, g3, input, x, Math.Max(1, input), wih, g3, gx, g3, accumulate: true);

        var cache = new Cache
        {
            Output = GC.AllocateUninitializedArray<T>(steps * bh),
            Hp = GC.AllocateUninitializedArray<T>(steps * bh),
            R = GC.AllocateUninitializedArray<T>(steps * bh),
            Z = GC.AllocateUninitializedArray<T>(steps * bh),
            N = GC.AllocateUninitializedArray<T>(steps * bh),
            GhN = GC.AllocateUninitializedArray<T>(steps * bh),
        };
        var gh = new T[batch * g3];
        ReadOnlySpan<T> hPrev = h0;
        for (int t = 0; t < steps; t++)
        {
            var hp = cache.Hp.AsSpan(t * bh, bh);
            if (mask is null) hPrev.CopyTo(hp);
            else
                for (int b = 0; b < batch; b++)
                    TensorPrimitives.Multiply(hPrev.Slice(b * hs, hs), mask[t * batch + b], hp.Slice(b * hs, hs));
            for (int b = 0; b < batch; b++) bhh.AsSpan().CopyTo(gh.AsSpan(b * g3, g3));
            Gemm.Multiply<T>(false, false, batch, g3, hs, hp, hs, whh, g3, gh, g3, accumulate: true);
            for (int b = 0; b < batch; b++)
            {
                int o = t * bh + b * hs;
                GruKernels.ForwardRow<T>(gx.AsSpan((t * batch + b) * g3, g3), gh.AsSpan(b * g3, g3), hp.Slice(b * hs, hs),
                    cache.R.AsSpan(o, hs), cache.Z.AsSpan(o, hs), cache.N.AsSpan(o, hs), cache.GhN.AsSpan(o, hs), cache.Output.AsSpan(o, hs));
            }
            hPrev = cache.Output.AsSpan(t * bh, bh);
        }
        return cache;
    }

    public static Grads Backward(Cache cache, T[] gOut, T[] x, T[] wih, T[] whh, T[]? mask, int steps, int batch, int input, int hs,
        bool needX, bool needH0, bool needIh, bool needHh)
    {
        int g3 = 3 * hs, rows = steps * batch;
        // Temporaries are rented and returned; only the gradients themselves are new arrays.
        var dGx = ArrayPool<T>.Shared.Rent(rows * g3); // gate pre-activation gradients; also dGh's r and z parts
        var dGhN = ArrayPool<T>.Shared.Rent(rows * hs);
        var whhT = ArrayPool<T>.Shared.Rent(g3 * hs);
        try
        {
            return BackwardCore(dGx, dGhN, whhT, cache, gOut, x, wih, whh, mask, steps, batch, input, hs, needX, needH0, needIh, needHh);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(dGx);
            ArrayPool<T>.Shared.Return(dGhN);
            ArrayPool<T>.Shared.Return(whhT);
        }
    }

    private static Grads BackwardCore(T[] dGx, T[] dGhN, T[] whhT, Cache cache, T[] gOut, T[] x, T[] wih, T[] whh, T[]? mask,
        int steps, int batch, int input, int hs, bool needX, bool needH0, bool needIh, bool needHh)
    {
        int g3 = 3 * hs, bh = batch * hs, rows = steps * batch;
        var dGh = new T[batch * g3];
        for (int i = 0; i < hs; i++)
            for (int j = 0; j < g3; j++) whhT[j * hs + i] = whh[i * g3 + j];

        var dh = new T[bh];
        for (int t = steps - 1; t >= 0; t--)
        {
            TensorPrimitives.Add<T>(dh, gOut.AsSpan(t * bh, bh), dh);
            for (int b = 0; b < batch; b++)
            {
                int o = t * bh + b * hs;
                var dghRow = dGh.AsSpan(b * g3, g3);
                GruKernels.BackwardRow<T>(dh.AsSpan(b * hs, hs), cache.R.AsSpan(o, hs), cache.Z.AsSpan(o, hs), cache.N.AsSpan(o, hs),
                    cache.Hp.AsSpan(o, hs), cache.GhN.AsSpan(o, hs), dGx.AsSpan((t * batch + b) * g3, g3), dghRow);
                dghRow.Slice(2 * hs, hs).CopyTo(dGhN.AsSpan(o, hs));
            }
            // dh_prev = dh ⊙ z (done by the row kernel) + dGh·Whhᵀ, then through the reset mask.
            Gemm.Multiply<T>(false, false, batch, hs, g3, dGh, g3, whhT, hs, dh, hs, accumulate: true);
            if (mask is not null)
                for (int b = 0; b < batch; b++)
                    TensorPrimitives.Multiply<T>(dh.AsSpan(b * hs, hs), mask[t * batch + b], dh.AsSpan(b * hs, hs));
        }

        var grads = new Grads();
        if (needH0) grads.Dh0 = dh;
        if (needHh)
        {
            // dGh of all steps: its r and z parts are dGx's, its n part is dGhN; one product for each.
            grads.DWhh = new T[hs * g3];
            Gemm.Multiply<T>(true, false, hs, 2 * hs, rows, cache.Hp, hs, dGx, g3, grads.DWhh, g3, accumulate: false);
            Gemm.Multiply<T>(true, false, hs, hs, rows, cache.Hp, hs, dGhN, hs, grads.DWhh.AsSpan(2 * hs), g3, accumulate: false);
            grads.DBhh = new T[g3];
            var biasRz = new T[2 * hs];
            var biasN = new T[hs];
            for (int i = 0; i < rows; i++) Elementwise.AddInPlace<T>(biasRz, dGx.AsSpan(i * g3, 2 * hs));
            Elementwise.SumRowsInto<T>(dGhN.AsSpan(0, rows * hs), rows, hs, biasN);
            biasRz.CopyTo(grads.DBhh, 0);
            biasN.CopyTo(grads.DBhh, 2 * hs);
        }
        if (needIh)
        {
            grads.DWih = new T[input * g3];
            Gemm.Multiply<T>(true, false, input, g3, rows, x, Math.Max(1, input), dGx, g3, grads.DWih, g3, accumulate: false);
            grads.DBih = new T[g3];
            Elementwise.SumRowsInto<T>(dGx.AsSpan(0, rows * g3), rows, g3, grads.DBih);
        }
        if (needX)
        {
            grads.Dx = new T[rows * input];
            Gemm.Multiply<T>(false, true, rows, input, g3, dGx, g3, wih, g3, grads.Dx, Math.Max(1, input), accumulate: false);
        }
        return grads;
    }
}

/// <summary>Numeric forward and backward of the fused LSTM sequence.</summary>
internal static class LstmFused<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal sealed class Cache
    {
        public required T[] States;        // [T, B, 2H]: h_t then c_t in each row (the operation's output)
        public required T[] Hp, Cp;        // state entering each step, after the reset mask [T, B, H]
        public required T[] I, F, G, O, Tc; // gates and tanh(c_t) [T, B, H]
    }

    internal sealed class Grads
    {
        public required T[] Dh0, Dc0;
        public T[]? Dx, DWih, DWhh, DBias; // the two biases have the same gradient
    }

    public static Cache Forward(T[] x, T[] h0, T[] c0, T[] wih, T[] whh, T[] bih, T[] bhh, T[]? mask, int steps, int batch, int input, int hs)
    {
        int g4 = 4 * hs, bh = batch * hs, rows = steps * batch;
        // The input projection of every step is a temporary: rented, and returned before leaving.
        var gx = ArrayPool<T>.Shared.Rent(rows * g4);
        try
        {
            for (int i = 0; i < rows; i++) bih.AsSpan().CopyTo(gx.AsSpan(i * g4, g4));
            Gemm.Multiply<T>(false, false, rows, g4, input, x, Math.Max(1, input), wih, g4, gx, g4, accumulate: true);
            var cache = new Cache
            {
                States = GC.AllocateUninitializedArray<T>(2 * steps * bh),
                Hp = GC.AllocateUninitializedArray<T>(steps * bh),
                Cp = GC.AllocateUninitializedArray<T>(steps * bh),
                I = GC.AllocateUninitializedArray<T>(steps * bh),
                F = GC.AllocateUninitializedArray<T>(steps * bh),
                G = GC.AllocateUninitializedArray<T>(steps * bh),
                O = GC.AllocateUninitializedArray<T>(steps * bh),
                Tc = GC.AllocateUninitializedArray<T>(steps * bh),
            };
            var gh = new T[batch * g4];
            for (int t = 0; t < steps; t++)
            {
                // The state entering step t: (h0, c0) or the previous step's, each row scaled by its mask entry.
                for (int b = 0; b < batch; b++)
                {
                    int o = t * bh + b * hs;
                    ReadOnlySpan<T> hIn = t == 0 ? h0.AsSpan(b * hs, hs) : cache.States.AsSpan(((t - 1) * batch + b) * 2 * hs, hs);
                    ReadOnlySpan<T> cIn = t == 0 ? c0.AsSpan(b * hs, hs) : cache.States.AsSpan(((t - 1) * batch + b) * 2 * hs + hs, hs);
                    T m = mask is null ? T.One : mask[t * batch + b];
                    TensorPrimitives.Multiply(hIn, m, cache.Hp.AsSpan(o, hs));
                    TensorPrimitives.Multiply(cIn, m, cache.Cp.AsSpan(o, hs));
                }
                for (int b = 0; b < batch; b++) bhh.AsSpan().CopyTo(gh.AsSpan(b * g4, g4));
                Gemm.Multiply<T>(false, false, batch, g4, hs, cache.Hp.AsSpan(t * bh, bh), hs, whh, g4, gh, g4, accumulate: true);
                for (int b = 0; b < batch; b++)
                {
                    int o = t * bh + b * hs, s = (t * batch + b) * 2 * hs;
                    LstmKernels.ForwardRow<T>(gx.AsSpan((t * batch + b) * g4, g4), gh.AsSpan(b * g4, g4), cache.Cp.AsSpan(o, hs),
                        cache.I.AsSpan(o, hs), cache.F.AsSpan(o, hs), cache.G.AsSpan(o, hs), cache.O.AsSpan(o, hs),
                        cache.States.AsSpan(s + hs, hs), cache.Tc.AsSpan(o, hs), cache.States.AsSpan(s, hs));
                }
            }
            return cache;
        }
        finally
        {
            ArrayPool<T>.Shared.Return(gx);
        }
    }

    /// <summary>Gradients from <paramref name="gStates"/>, the gradient of the [T, B, 2H] states (h_t then c_t per row).</summary>
    public static Grads Backward(Cache cache, T[] gStates, T[] x, T[] wih, T[] whh, T[]? mask, int steps, int batch, int input, int hs,
        bool needX, bool needIh, bool needHh)
    {
        int g4 = 4 * hs, bh = batch * hs, rows = steps * batch;
        // Temporaries are rented and returned; only the gradients themselves are new arrays.
        var dGates = ArrayPool<T>.Shared.Rent(rows * g4);
        var whhT = ArrayPool<T>.Shared.Rent(g4 * hs);
        try
        {
            for (int i = 0; i < hs; i++)
                for (int j = 0; j < g4; j++) whhT[j * hs + i] = whh[i * g4 + j];
            var dh = new T[bh]; // gradient reaching the state entering the current step (h part)
            var dc = new T[bh]; // and its c part
            for (int t = steps - 1; t >= 0; t--)
            {
                for (int b = 0; b < batch; b++)
                {
                    int o = t * bh + b * hs, s = (t * batch + b) * 2 * hs;
                    TensorPrimitives.Add<T>(dh.AsSpan(b * hs, hs), gStates.AsSpan(s, hs), dh.AsSpan(b * hs, hs));
                    TensorPrimitives.Add<T>(dc.AsSpan(b * hs, hs), gStates.AsSpan(s + hs, hs), dc.AsSpan(b * hs, hs));
                    LstmKernels.BackwardRow<T>(dh.AsSpan(b * hs, hs), dc.AsSpan(b * hs, hs), cache.I.AsSpan(o, hs), cache.F.AsSpan(o, hs),
                        cache.G.AsSpan(o, hs), cache.O.AsSpan(o, hs), cache.Tc.AsSpan(o, hs), cache.Cp.AsSpan(o, hs), dGates.AsSpan((t * batch + b) * g4, g4));
                }
                // The hidden state entering step t reaches the gates only through h·Whh: dh_prev = dGates·Whhᵀ; then the mask.
                Gemm.Multiply<T>(false, false, batch, hs, g4, dGates.AsSpan(t * batch * g4, batch * g4), g4, whhT, hs, dh, hs, accumulate: false);
                if (mask is not null)
                    for (int b = 0; b < batch; b++)
                    {
                        T m = mask[t * batch + b];
                        TensorPrimitives.Multiply<T>(dh.AsSpan(b * hs, hs), m, dh.AsSpan(b * hs, hs));
                        TensorPrimitives.Multiply<T>(dc.AsSpan(b * hs, hs), m, dc.AsSpan(b * hs, hs));
                    }
            }
            var grads = new Grads { Dh0 = dh, Dc0 = dc };
            if (needIh || needHh)
            {
                grads.DBias = new T[g4];
                Elementwise.SumRowsInto<T>(dGates.AsSpan(0, rows * g4), rows, g4, grads.DBias);
            }
            if (needHh)
            {
                grads.DWhh = new T[hs * g4];
                Gemm.Multiply<T>(true, false, hs, g4, rows, cache.Hp, hs, dGates, g4, grads.DWhh, g4, accumulate: false);
            }
            if (needIh)
            {
                grads.DWih = new T[input * g4];
                Gemm.Multiply<T>(true, false, input, g4, rows, x, Math.Max(1, input), dGates, g4, grads.DWih, g4, accumulate: false);
            }
            if (needX)
            {
                grads.Dx = new T[rows * input];
                Gemm.Multiply<T>(false, true, rows, input, g4, dGates, g4, wih, g4, grads.Dx, Math.Max(1, input), accumulate: false);
            }
            return grads;
        }
        finally
        {
            ArrayPool<T>.Shared.Return(dGates);
            ArrayPool<T>.Shared.Return(whhT);
        }
    }
}
