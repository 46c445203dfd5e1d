using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Engine.Tests;

/// <summary>
/// Checks analytic gradients (first order) and Hessian-vector products (second order, through
/// create-graph backward passes) against central finite differences, in double precision.
/// </summary>
internal static class GradCheck
{
    public static void Check(Func<Tensor<double>[], Tensor<double>> f, params Tensor<double>[] inputs)
        => Check(f, inputs, secondOrder: true);

    public static void Check(Func<Tensor<double>[], Tensor<double>> f, Tensor<double>[] inputs, bool secondOrder,
        double h = 1e-6, double rtol = 1e-6, double atol = 1e-8)
    {
        var leaves = inputs.Select(x => Tensor.Parameter(x.Clone())).ToArray();
        var probe = f(leaves);
        var rng = new Rng(12345);
        var weights = Tensor.RandN<double>(rng, 1.0, probe.Shape.ToArray());
        Tensor<double> Loss(Tensor<double>[] xs) => Ops.Sum(Ops.Mul(f(xs), weights));

        var analytic = Autograd.Grad([Loss(leaves)], leaves, allowUnused: true);
        for (int i = 0; i < leaves.Length; i++)
        {
            var numeric = NumericGrad(Loss, leaves, i, h);
            var a = analytic[i]?.ToArray() ?? new double[numeric.Length];
            AssertClose(a, numeric, rtol, atol, $"first-order gradient of input {i}");
        }
        if (!secondOrder) return;

        // Hessian-vector product: d/dx <∇L(x), v> against (∇L(x + εv) − ∇L(x − εv)) / 2ε.
        var v = leaves.Select(x => Tensor.RandN<double>(rng, 1.0, x.Shape.ToArray())).ToArray();
        var g = Autograd.Grad([Loss(leaves)], leaves, createGraph: true, allowUnused: true);
        Tensor<double>? dot = null;
        for (int i = 0; i < leaves.Length; i++)
        {
            if (g[i] is null || !g[i]!.RequiresGrad) continue;
            var term = Ops.Sum(Ops.Mul(g[i]!, v[i]));
            dot = dot is null ? term : Ops.Add(dot, term);
        }
        var hvp = dot is null ? new Tensor<double>?[leaves.Length] : Autograd.Grad([dot], leaves, allowUnused: true);
        double eps = 1e-5;
        var plus = GradAt(Loss, leaves, v, eps);
        var minus = GradAt(Loss, leaves, v, -eps);
        for (int i = 0; i < leaves.Length; i++)
        {
            var numeric = new double[leaves[i].Size];
            for (int k = 0; k < numeric.Length; k++) numeric[k] = (plus[i][k] - minus[i][k]) / (2 * eps);
            var a = hvp[i]?.ToArray() ?? new double[numeric.Length];
            AssertClose(a, numeric, 1e-5, 1e-6, $"Hessian-vector product for input {i}");
        }
    }

    private static double[] NumericGrad(Func<Tensor<double>[], Tensor<double>> loss, Tensor<double>[] xs, int which, double h)
    {
        using var _ = GradMode.NoGrad();
        var x = xs[which];
        var result = new double[x.Size];
        for (int k = 0; k < x.Size; k++)
        {
            double old = x.Data[k];
            x.Data[k] = old + h;
            double up = loss(xs).ToDouble();
            x.Data[k] = old - h;
            double down = loss(xs).ToDouble();
            x.Data[k] = old;
            result[k] = (up - down) / (2 * h);
        }
        return result;
    }

    private static double[][] GradAt(Func<Tensor<double>[], Tensor<double>> loss, Tensor<double>[] xs, Tensor<double>[] v, double eps)
    {
        var shifted = xs.Select((x, i) =>
        {
            var c = x.Clone();
            for (int k = 0; k < c.Size; k++) c.Data[k] += eps * v[i].Data[k];
            return Tensor.Parameter(c);
        }).ToArray();
        var g = Autograd.Grad([loss(shifted)], shifted, allowUnused: true);
        return g.Select((t, i) => t?.ToArray() ?? new double[xs[i].Size]).ToArray();
    }

    public static void AssertClose(double[] actual, double[] expected, double rtol, double atol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Length == 0 ? 0 : expected.Max(Math.Abs);
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = atol + rtol * Math.Max(Math.Abs(expected[i]), scale);
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (tolerance {tol:G3}).");
        }
    }

    /// <summary>Random values with magnitude at least <paramref name="minAbs"/> (keeps kinks of ReLU, |x|, clamp away).</summary>
    public static Tensor<double> AwayFromZero(Rng rng, double minAbs, params int[] shape)
    {
        var t = Tensor.RandN<double>(rng, 1.0, shape);
        for (int i = 0; i < t.Size; i++)
        {
            double v = t.Data[i];
            t.Data[i] = Math.Sign(v == 0 ? 1 : v) * (minAbs + Math.Abs(v));
        }
        return t;
    }

    public static Tensor<double> Positive(Rng rng, params int[] shape)
    {
        var t = Tensor.RandU<double>(rng, 0.5, 2.0, shape);
        return t;
    }
}
