using System.Diagnostics;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Common;

/// <summary>What one trust-region step did.</summary>
internal readonly record struct TrustRegionResult(bool Accepted, int LineSearchSteps, double Improvement, double Kl, double SolveSeconds);

/// <summary>
/// The TRPO step (Schulman et al. 2015) shared by MAML's outer loop and RL² trained with TRPO: conjugate gradient on
/// products with the Hessian of the mean KL, the step scaled so its quadratic KL estimate equals the limit, then a
/// backtracking line search that accepts the first step improving the surrogate within the limit, and otherwise
/// leaves the parameters exactly as they were.
/// </summary>
internal static class TrustRegion
{
    /// <summary>
    /// Updates <paramref name="theta"/> in place. <paramref name="hvp"/> multiplies by the KL's Hessian (damping is added
    /// here); <paramref name="evaluate"/> gives (surrogate, KL) at the current parameter values, without a graph.
    /// </summary>
    public static TrustRegionResult Step(IReadOnlyList<Tensor<float>> theta, Tensor<float>[] g, Func<Tensor<float>[], Tensor<float>[]> hvp, double oldSurrogate,
        Func<(double Surrogate, double Kl)> evaluate, double maxKl, int cgIterations, double damping, int lineSearchSteps, double backtrack)
    {
        var watch = Stopwatch.StartNew();
        Tensor<float>[] Damped(Tensor<float>[] v) => hvp(v).Select((h, i) => h + v[i] * damping).ToArray();
        var x = ConjugateGradient(Damped, g, cgIterations, out var ax);
        double shs = 0.5 * Dot(x, ax);
        double solveSeconds = watch.Elapsed.TotalSeconds;
        bool accepted = false;
        int lsSteps = 0;
        double improvement = 0, finalKl = 0;
        if (shs > 0 && double.IsFinite(shs))
        {
            double scale = Math.Sqrt(shs / maxKl);
            var saved = theta.Select(p => p.Clone()).ToArray();
            double frac = 1;
            for (lsSteps = 1; lsSteps <= lineSearchSteps; lsSteps++, frac *= backtrack)
            {
                for (int i = 0; i < theta.Count; i++)
                {
                    theta[i].CopyFrom(saved[i]);
                    var d = theta[i].Data;
                    var step = x[i].Data;
                    for (int j = 0; j < d.Length; j++) d[j] += (float)(frac * step[j] / scale);
                }
                var (s, k) = evaluate();
                if (double.IsFinite(s) && double.IsFinite(k) && s - oldSurrogate > 0 && k <= maxKl)
                {
                    accepted = true;
                    improvement = s - oldSurrogate;
                    finalKl = k;
                    break;
                }
            }
            if (!accepted)
                for (int i = 0; i < theta.Count; i++) theta[i].CopyFrom(saved[i]);
        }
        return new TrustRegionResult(accepted, lsSteps, improvement, finalKl, solveSeconds);
    }

    /// <summary>
    /// H v for the Hessian whose first derivative <paramref name="grad"/> (w.r.t. <paramref name="wrt"/>) was taken with
    /// a graph: the gradient of ⟨grad, v⟩. Parameters the function does not depend on get zeros.
    /// </summary>
    public static Tensor<float>[] HessianTimes(Tensor<float>?[] grad, IReadOnlyList<Tensor<float>> wrt, Tensor<float>[] v)
    {
        Tensor<float>? dot = null;
        for (int i = 0; i < wrt.Count; i++)
        {
            if (grad[i] is null || !grad[i]!.RequiresGrad) continue;
            var term = Ops.Sum(grad[i]! * v[i]);
            dot = dot is null ? term : dot + term;
        }
        var hv = dot is null ? new Tensor<float>?[wrt.Count] : Autograd.Grad([dot], wrt, allowUnused: true);
        return hv.Select((h, i) => h ?? Tensor.Zeros<float>(wrt[i].Shape.ToArray())).ToArray();
    }

    public static double Dot(Tensor<float>[] a, Tensor<float>[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            var x = a[i].Data;
            var y = b[i].Data;
            for (int j = 0; j < x.Length; j++) s += (double)x[j] * y[j];
        }
        return s;
    }

    /// <summary>Solves H x = g approximately with <paramref name="iterations"/> conjugate-gradient steps.</summary>
    /// <remarks>
    /// Starting from x = 0 with residual r = g, CG keeps r = g − A x, so A x = g − r comes for free
    /// (<paramref name="ax"/>): the step length x·Ax needs no further Hessian product.
    /// </remarks>
    public static Tensor<float>[] ConjugateGradient(Func<Tensor<float>[], Tensor<float>[]> hvp, Tensor<float>[] g, int iterations, out Tensor<float>[] ax,
        double tolerance = 1e-10)
    {
        using var _ = GradMode.NoGrad();
        var x = g.Select(t => Tensor.Zeros<float>(t.Shape.ToArray())).ToArray();
        var r = g.Select(t => t.Detach().Clone()).ToArray();
        var p = r.Select(t => t.Clone()).ToArray();
        double rr = Dot(r, r);
        for (int it = 0; it < iterations && rr > tolerance; it++)
        {
            Tensor<float>[] hp;
            using (GradMode.EnableGrad()) hp = hvp(p);
            double alpha = rr / Dot(p, hp);
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = x[i] + p[i] * alpha;
                r[i] = r[i] - hp[i].Detach() * alpha;
            }
            double rrNew = Dot(r, r);
            double beta = rrNew / rr;
            for (int i = 0; i < p.Length; i++) p[i] = r[i] + p[i] * beta;
            rr = rrNew;
        }
        ax = g.Select((t, i) => t.Detach() - r[i]).ToArray();
        return x;
    }
}
