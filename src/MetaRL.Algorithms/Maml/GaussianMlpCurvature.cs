using System.Numerics;
using MetaRL.Algorithms.Common;
using MetaRL.Engine;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// Hand-derived second-order products for a tanh MLP Gaussian policy (state-independent log σ), the policy
/// MAML uses on continuous control, without building autodiff graphs:
/// <list type="bullet">
/// <item>the Hessian of the inner loss L(θ) = −Σₙ cₙ log π(aₙ|sₙ) times a vector, by Pearlmutter's R-operator
/// (a directional forward pass, then the backward pass differentiated along the same direction), or of its
/// low-variance-curvature form −Σₙ cₙ π/⊥π, whose Hessian adds −Σₙ cₙ ∇log πₙ ∇log πₙᵀ;</item>
/// <item>the Hessian of the mean KL between an old policy and this one, where they coincide, times a vector:
/// Jᵀ diag(1/σ²) J u for the mean network plus 2u for log σ (the Fisher information of a diagonal Gaussian).</item>
/// </list>
/// Activations and backward signals at the expansion point are computed once and reused by every product.
/// Results are checked against the autodiff products in the tests.
/// </summary>
internal sealed class GaussianMlpCurvature<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _n, _layers, _actions;
    private readonly int[] _dims;               // d₀ … d_L
    private readonly bool _inner, _lvc;
    private readonly T[][] _w;                  // W_l [d_{l−1}, d_l]
    private readonly T[] _invStd, _logStd;
    private readonly int[][] _shapes;           // every parameter's shape, in the policy's order
    private readonly T[][] _h;                  // H_0 = X, H_l = tanh(Z_l) for hidden layers [N, d_l]
    private readonly T[] _c, _mu, _actionsBuffer;
    private readonly T[]? _z;                   // standardised actions (a − μ)/σ [N, A] (inner loss only)
    private readonly T[][]? _delta;             // backward signal ∂L/∂Z_l [N, d_l] (inner loss only)
    private readonly T[][]? _g;                 // ∂L/∂H_l = Δ_l W_lᵀ [N, d_l] for l ≥ 1 (inner loss only)
    private readonly int[] _weightIndex, _biasIndex;
    private readonly int _logStdIndex, _count;
    // Work buffers reused by every product (an instance serves one thread at a time).
    private readonly T[][] _rz, _rg;
    private readonly T[] _re;

    /// <summary>The batch size (steps) this workspace holds.</summary>
    public int Rows => _n;

    /// <summary>Whether the policy has the structure these formulas assume.</summary>
    public static bool Supports(MlpPolicy<T> policy)
        => !policy.Discrete && policy.Network.Hidden == Activation.Tanh && policy.Network.Output == Activation.Identity
           && policy.Network.Layers.All(l => l.Bias is not null);

    /// <summary>
    /// A workspace for batches of <paramref name="rows"/> steps: the inner loss's Hessian (<paramref name="innerLoss"/>;
    /// its low-variance-curvature form with <paramref name="lowVarianceCurvature"/>) or the KL's. Every buffer is
    /// allocated here once; <see cref="Load"/> fills them for a point and a batch, so a trainer reuses workspaces
    /// across iterations instead of producing hundreds of megabytes of garbage.
    /// </summary>
    public GaussianMlpCurvature(MlpPolicy<T> policy, int rows, bool innerLoss, bool lowVarianceCurvature = false)
    {
        if (lowVarianceCurvature && !innerLoss) throw new ArgumentException("The low-variance curvature is a form of the inner loss.", nameof(lowVarianceCurvature));
        _lvc = lowVarianceCurvature;
        if (!Supports(policy)) throw new ArgumentException("GaussianMlpCurvature needs a Gaussian policy with a tanh MLP.");
        var names = policy.NamedParameters().Select(p => p.Name).ToList();
        _count = names.Count;
        _shapes = policy.Parameters().Select(p => p.Shape.ToArray()).ToArray();
        _layers = policy.Network.Layers.Count;
        _dims = new int[_layers + 1];
        _dims[0] = policy.ObservationSize;
        for (int l = 0; l < _layers; l++) _dims[l + 1] = policy.Network.Layers[l].OutFeatures;
        _actions = policy.ActionSize;
        _n = rows;
        _inner = innerLoss;
        _weightIndex = new int[_layers];
        _biasIndex = new int[_layers];
        for (int l = 0; l < _layers; l++)
        {
            _weightIndex[l] = names.IndexOf($"mlp.{l}.weight");
            _biasIndex[l] = names.IndexOf($"mlp.{l}.bias");
            if (_weightIndex[l] < 0 || _biasIndex[l] < 0) throw new ArgumentException($"The policy has no parameters mlp.{l}.weight/bias.");
        }
        _logStdIndex = names.IndexOf("log_std");
        if (_logStdIndex < 0) throw new ArgumentException("The policy has no log_std parameter.");
        _w = new T[_layers][];
        for (int l = 0; l < _layers; l++) _w[l] = new T[_dims[l] * _dims[l + 1]];
        _invStd = new T[_actions];
        _logStd = new T[_actions];
        _h = new T[_layers][];
        for (int l = 0; l < _layers; l++) _h[l] = new T[_n * _dims[l]];
        _c = new T[_n];
        _mu = new T[_n * _actions];
        _actionsBuffer = new T[_n * _actions];
        _rz = new T[_layers][];
        _rg = new T[_layers][];
        for (int l = 0; l < _layers; l++)
        {
            _rz[l] = new T[_n * _dims[l + 1]];
            _rg[l] = new T[_n * _dims[l]];
        }
        _re = new T[_n * _actions];
        if (!innerLoss) return;
        _z = new T[_n * _actions];
        _delta = new T[_layers][];
        _g = new T[_layers][];
        for (int l = 0; l < _layers; l++)
        {
            _delta[l] = new T[_n * _dims[l + 1]];
            _g[l] = new T[_n * _dims[l]];
        }
    }

    /// <summary>
    /// Expands at <paramref name="parameters"/> on batch <paramref name="b"/>: the inner loss −Σ mask·A·log π / Σ mask,
    /// or the mean KL over the valid steps where old and new policies coincide.
    /// </summary>
    public GaussianMlpCurvature<T> Load(IReadOnlyList<Tensor<T>> parameters, TrajectoryBatch b)
    {
        if (parameters.Count != _count) throw new ArgumentException($"Expected {_count} parameters, got {parameters.Count}.");
        if (b.Steps != _n || b.ObservationSize != _dims[0] || b.ActionSize != _actions)
            throw new ArgumentException($"This workspace holds {_n} steps of {_dims[0]} observations and {_actions} actions; the batch has {b.Steps}, {b.ObservationSize} and {b.ActionSize}.");
        for (int l = 0; l < _layers; l++) parameters[_weightIndex[l]].Data.CopyTo(_w[l]);
        var logStd = parameters[_logStdIndex].Data;
        for (int j = 0; j < _actions; j++) (_logStd[j], _invStd[j]) = (logStd[j], T.Exp(-logStd[j]));
        double valid = Math.Max(1, b.Mask.Sum());
        for (int r = 0; r < _n; r++) _c[r] = T.CreateChecked((_inner ? b.Advantages[r] : b.Mask[r]) / valid);
        Copy(b.Observations, _h[0]);
        Copy(b.Actions, _actionsBuffer);

        // Forward pass, keeping every layer's input.
        for (int l = 0; l < _layers; l++)
        {
            int din = _dims[l], dout = _dims[l + 1];
            var z = l == _layers - 1 ? _mu : _h[l + 1];
            var bias = parameters[_biasIndex[l]].Data;
            for (int r = 0; r < _n; r++) bias.CopyTo(z.AsSpan(r * dout, dout));
            Gemm.Multiply(false, false, _n, dout, din, _h[l], din, _w[l], dout, z, dout, accumulate: true);
            if (l < _layers - 1) System.Numerics.Tensors.TensorPrimitives.Tanh<T>(z, z); // vectorised, as the autodiff Tanh op
        }
        if (!_inner) return this;

        // Inner loss: ∂L/∂μ = −c z/σ, then the backward signals of every layer.
        var e = _delta![_layers - 1];
        for (int r = 0; r < _n; r++)
            for (int j = 0; j < _actions; j++)
            {
                int i = r * _actions + j;
                _z![i] = (_actionsBuffer[i] - _mu[i]) * _invStd[j];
                e[i] = -_c[r] * _z[i] * _invStd[j];
            }
        for (int l = _layers - 1; l >= 1; l--)
        {
            int din = _dims[l], dout = _dims[l + 1];
            var g = _g![l];
            Gemm.Multiply(false, true, _n, din, dout, _delta[l], dout, _w[l], dout, g, din, accumulate: false);
            var d = _delta[l - 1];
            var h = _h[l];
            for (int i = 0; i < d.Length; i++) d[i] = g[i] * (T.One - h[i] * h[i]);
        }
        return this;
    }

    /// <summary>The inner (policy-gradient) loss −Σ mask·A·log π / Σ mask of a batch, at <paramref name="theta"/>.</summary>
    public static GaussianMlpCurvature<T> ForInnerLoss(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> theta, TrajectoryBatch b, bool lowVarianceCurvature = false)
        => new GaussianMlpCurvature<T>(policy, b.Steps, innerLoss: true, lowVarianceCurvature).Load(theta, b);

    /// <summary>The mean KL over a batch's valid steps, expanded where old and new policy coincide (at <paramref name="theta"/>).</summary>
    public static GaussianMlpCurvature<T> ForKl(MlpPolicy<T> policy, IReadOnlyList<Tensor<T>> theta, TrajectoryBatch b)
        => new GaussianMlpCurvature<T>(policy, b.Steps, innerLoss: false).Load(theta, b);

    private static void Copy(float[] source, T[] destination)
    {
        if (typeof(T) == typeof(float)) { source.CopyTo((float[])(object)destination, 0); return; }
        for (int i = 0; i < source.Length; i++) destination[i] = T.CreateChecked(source[i]);
    }

    /// <summary>R-forward: the directional derivative of every layer's input (RH_l, l ≥ 1) and of μ along v.</summary>
    private (T[][] RH, T[] RMu) DirectionalForward(IReadOnlyList<Tensor<T>> v)
    {
        var rh = new T[_layers][];
        T[] rmu = [];
        for (int l = 0; l < _layers; l++)
        {
            int din = _dims[l], dout = _dims[l + 1];
            var rz = _rz[l];
            var vb = v[_biasIndex[l]].Data;
            for (int r = 0; r < _n; r++) vb.CopyTo(rz.AsSpan(r * dout, dout));
            Gemm.Multiply(false, false, _n, dout, din, _h[l], din, v[_weightIndex[l]].Data, dout, rz, dout, accumulate: true);
            if (l > 0) Gemm.Multiply(false, false, _n, dout, din, rh[l], din, _w[l], dout, rz, dout, accumulate: true);
            if (l < _layers - 1)
            {
                TimesTanhDerivative(rz, _h[l + 1]);
                rh[l + 1] = rz;
            }
            else rmu = rz;
        }
        return (rh, rmu);
    }

    /// <summary>Backpropagates an output signal ∂/∂μ [N, A] to the weights and biases (into <paramref name="result"/>).</summary>
    private void Backward(T[] outputSignal, Tensor<T>[] result)
    {
        var delta = outputSignal;
        for (int l = _layers - 1; l >= 0; l--)
        {
            int din = _dims[l], dout = _dims[l + 1];
            Gemm.Multiply(true, false, din, dout, _n, _h[l], din, delta, dout, result[_weightIndex[l]].Data, dout, accumulate: true);
            AddColumnSums(delta, dout, result[_biasIndex[l]].Data);
            if (l == 0) break;
            var g = _rg[l];
            Gemm.Multiply(false, true, _n, din, dout, delta, dout, _w[l], dout, g, din, accumulate: false);
            TimesTanhDerivative(g, _h[l]);
            delta = g;
        }
    }

    /// <summary>x ⊙= 1 − h² (the tanh derivative), vectorised.</summary>
    private static void TimesTanhDerivative(T[] x, T[] h)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var hv = new Vector<T>(h, i);
                (new Vector<T>(x, i) * (Vector<T>.One - hv * hv)).CopyTo(x, i);
            }
        for (; i < x.Length; i++) x[i] *= T.One - h[i] * h[i];
    }

    /// <summary>R{G ⊙ (1 − h²)} = RG ⊙ (1 − h²) − 2 h ⊙ Rh ⊙ G, in place in <paramref name="rg"/>, vectorised.</summary>
    private static void RBackTanh(T[] rg, T[] h, T[] rh, T[] g)
    {
        int i = 0;
        T two = T.CreateChecked(2);
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            var twoV = new Vector<T>(two);
            for (; i <= rg.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var hv = new Vector<T>(h, i);
                (new Vector<T>(rg, i) * (Vector<T>.One - hv * hv) - twoV * hv * new Vector<T>(rh, i) * new Vector<T>(g, i)).CopyTo(rg, i);
            }
        }
        for (; i < rg.Length; i++) rg[i] = rg[i] * (T.One - h[i] * h[i]) - two * h[i] * rh[i] * g[i];
    }

    /// <summary>into += the column sums of the [N, cols] matrix <paramref name="m"/>, vectorised along the row.</summary>
    private void AddColumnSums(T[] m, int cols, Span<T> into)
    {
        int w = Vector<T>.Count, vectorEnd = Vector.IsHardwareAccelerated && Vector<T>.IsSupported ? cols - cols % w : 0;
        for (int r = 0; r < _n; r++)
        {
            var row = m.AsSpan(r * cols, cols);
            for (int j = 0; j < vectorEnd; j += w) (new Vector<T>(into[j..]) + new Vector<T>(row[j..])).CopyTo(into[j..]);
            for (int j = vectorEnd; j < cols; j++) into[j] += row[j];
        }
    }

    private Tensor<T>[] Zeros()
    {
        var r = new Tensor<T>[_count];
        for (int i = 0; i < _count; i++) r[i] = Tensor.Zeros<T>(_shapes[i]);
        return r;
    }

    /// <summary>
    /// ∇L at the loaded point for the inner loss L = −Σ c log π (c = A / Σ mask): the weights' and biases' gradients
    /// from the backward signals <see cref="Load"/> kept, and Σ c (1 − z²) for log σ. Used for the inner step itself.
    /// </summary>
    public Tensor<T>[] Gradient()
    {
        if (!_inner) throw new InvalidOperationException("This workspace expands a KL; the inner loss's gradient needs an inner-loss workspace.");
        var result = Zeros();
        for (int l = 0; l < _layers; l++)
        {
            int din = _dims[l], dout = _dims[l + 1];
            Gemm.Multiply(true, false, din, dout, _n, _h[l], din, _delta![l], dout, result[_weightIndex[l]].Data, dout, accumulate: false);
            AddColumnSums(_delta[l], dout, result[_biasIndex[l]].Data);
        }
        var rs = result[_logStdIndex].Data;
        for (int r = 0; r < _n; r++)
            for (int j = 0; j < _actions; j++)
            {
                T z = _z![r * _actions + j];
                rs[j] += _c[r] * (T.One - z * z);
            }
        return result;
    }

    /// <summary>log π(a | s) of row <paramref name="r"/>'s action at the loaded point, and its standardised action in <paramref name="z"/>.</summary>
    private double LogProb(int r, Span<T> z)
    {
        double logp = -0.5 * _actions * Math.Log(2 * Math.PI);
        for (int j = 0; j < _actions; j++)
        {
            int i = r * _actions + j;
            z[j] = (_actionsBuffer[i] - _mu[i]) * _invStd[j];
            logp -= double.CreateChecked(T.CreateChecked(0.5) * z[j] * z[j] + _logStd[j]);
        }
        return logp;
    }

    /// <summary>
    /// The TRPO surrogate S = Σ mask·r·A / Σ mask of the loaded batch <paramref name="b"/> at the loaded point, and
    /// (<paramref name="withGradient"/>) its gradient: ∂S/∂μ = w z/σ and ∂S/∂log σ = w (z² − 1) per row, w = r·A / Σ mask,
    /// back-propagated through the network; r = exp(log π − log π_old) is bounded as <see cref="RatioBounds"/> says (no
    /// gradient past the bound), as in <c>MamlMath.Surrogate</c>.
    /// </summary>
    public (double Value, Tensor<T>[]? Gradient) Surrogate(TrajectoryBatch b, ReadOnlySpan<float> oldLogProb, bool withGradient)
    {
        double valid = Math.Max(1, b.Mask.Sum()), value = 0;
        var result = withGradient ? Zeros() : null;
        var rs = result is null ? Span<T>.Empty : result[_logStdIndex].Data;
        Span<T> z = stackalloc T[_actions];
        for (int r = 0; r < _n; r++)
        {
            double logRatio = LogProb(r, z) - oldLogProb[r];
            double w = RatioBounds.Ratio(logRatio) * b.Advantages[r] / valid; // advantages are zero on masked steps
            value += w;
            if (result is null || !RatioBounds.InBounds(logRatio)) continue;
            T wt = T.CreateChecked(w);
            for (int j = 0; j < _actions; j++)
            {
                _re[r * _actions + j] = wt * z[j] * _invStd[j];
                rs[j] += wt * (z[j] * z[j] - T.One);
            }
        }
        if (result is not null) Backward(_re, result);
        return (value, result);
    }

    /// <summary>The mean KL(π_old ‖ π) over the valid steps of the loaded batch, from the old policy's means [N, A] and log σ.</summary>
    public double KlFrom(ReadOnlySpan<float> oldOutput, ReadOnlySpan<float> oldLogStd)
    {
        if (_inner) throw new InvalidOperationException("This workspace expands the inner loss; the KL needs a KL workspace (its rows weighted by the mask).");
        double sum = 0;
        for (int r = 0; r < _n; r++)
        {
            if (_c[r] == T.Zero) continue;
            double kl = 0;
            for (int j = 0; j < _actions; j++)
            {
                double logStd = double.CreateChecked(_logStd[j]), d = oldOutput[r * _actions + j] - double.CreateChecked(_mu[r * _actions + j]);
                kl += logStd - oldLogStd[j] + (Math.Exp(2 * oldLogStd[j]) + d * d) / (2 * Math.Exp(2 * logStd)) - 0.5;
            }
            sum += double.CreateChecked(_c[r]) * kl; // c = mask / Σ mask
        }
        return sum;
    }

    /// <summary>∇²L · v for the inner loss this instance was built for.</summary>
    public Tensor<T>[] HessianTimes(IReadOnlyList<Tensor<T>> v)
    {
        if (!_inner) throw new InvalidOperationException("This workspace expands a KL; use FisherTimes.");
        var (rh, rmu) = DirectionalForward(v);
        var vs = v[_logStdIndex].Data;
        var result = Zeros();
        var rs = result[_logStdIndex].Data;
        // R{∂L/∂μ} and R{∂L/∂log σ}, with Rz = −Rμ/σ − z·v_s.
        var re = _re;
        T two = T.CreateChecked(2);
        for (int r = 0; r < _n; r++)
            for (int j = 0; j < _actions; j++)
            {
                int i = r * _actions + j;
                T rz = -rmu[i] * _invStd[j] - _z![i] * vs[j];
                re[i] = _c[r] * _invStd[j] * (_z[i] * vs[j] - rz);
                rs[j] -= two * _c[r] * _z[i] * rz;
            }
        if (_lvc)
            // −Σ c ∇log π (∇log π · v): ∇log π · v = Σⱼ zⱼ Rμⱼ/σⱼ + (zⱼ² − 1) v_sⱼ per row, and the row's weight
            // −c (∇log π · v) back-propagates like a gradient of log π (linear in the output signal, so it rides along).
            for (int r = 0; r < _n; r++)
            {
                T d = T.Zero;
                for (int j = 0; j < _actions; j++)
                {
                    int i = r * _actions + j;
                    d += _z![i] * _invStd[j] * rmu[i] + (_z[i] * _z[i] - T.One) * vs[j];
                }
                T w = -_c[r] * d;
                for (int j = 0; j < _actions; j++)
                {
                    int i = r * _actions + j;
                    re[i] += w * _z![i] * _invStd[j];
                    rs[j] += w * (_z[i] * _z[i] - T.One);
                }
            }
        // R-backward: RΔ_l from RΔ_{l+1}; RgW_l = RH_{l−1}ᵀΔ_l + H_{l−1}ᵀRΔ_l.
        var rdelta = re;
        for (int l = _layers - 1; l >= 0; l--)
        {
            int din = _dims[l], dout = _dims[l + 1];
            var gw = result[_weightIndex[l]].Data;
            Gemm.Multiply(true, false, din, dout, _n, _h[l], din, rdelta, dout, gw, dout, accumulate: true);
            if (l > 0) Gemm.Multiply(true, false, din, dout, _n, rh[l], din, _delta![l], dout, gw, dout, accumulate: true);
            AddColumnSums(rdelta, dout, result[_biasIndex[l]].Data);
            if (l == 0) break;
            var rg = _rg[l];
            Gemm.Multiply(false, true, _n, din, dout, rdelta, dout, _w[l], dout, rg, din, accumulate: false);
            Gemm.Multiply(false, true, _n, din, dout, _delta![l], dout, v[_weightIndex[l]].Data, dout, rg, din, accumulate: true);
            RBackTanh(rg, _h[l], rh[l], _g![l]);
            rdelta = rg;
        }
        return result;
    }

    /// <summary>F · u: the mean KL's Hessian where old and new policies coincide.</summary>
    public Tensor<T>[] FisherTimes(IReadOnlyList<Tensor<T>> u)
    {
        var (_, rmu) = DirectionalForward(u);
        for (int r = 0; r < _n; r++)
            for (int j = 0; j < _actions; j++)
                rmu[r * _actions + j] *= _c[r] * _invStd[j] * _invStd[j];
        var result = Zeros();
        Backward(rmu, result);
        T weight = T.Zero;
        foreach (var c in _c) weight += c;
        var us = u[_logStdIndex].Data;
        var rs = result[_logStdIndex].Data;
        for (int j = 0; j < _actions; j++) rs[j] = T.CreateChecked(2) * weight * us[j];
        return result;
    }
}
