using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// One task's pieces for the exact one-step meta-gradient and KL curvature: the inner gradient kept
/// for Hessian products, and the KL gradient at θ' kept for Fisher products. The meta-gradient uses every step of the
/// task; the curvature products use its <see cref="MamlTaskData.Curvature"/> rows (all of them unless subsampled).
/// </summary>
internal sealed class MamlTaskCurvature
{
    private Func<Tensor<float>[], Tensor<float>[]> _innerHessian = null!, _fisher = null!;
    private double _alpha;

    public double Surrogate { get; private set; }
    public Tensor<float>[] SurrogateGradient { get; private set; } = [];

    public static MamlTaskCurvature Build(MlpPolicy<float> policy, IReadOnlyList<Tensor<float>> theta, MamlTaskData d, double alpha, bool lowVarianceCurvature,
        GaussianMlpCurvature<float>? innerWorkspace, GaussianMlpCurvature<float>? klWorkspace,
        GaussianMlpCurvature<float>? innerRowWorkspace = null, GaussianMlpCurvature<float>? klRowWorkspace = null)
    {
        var rows = d.Curvature;
        var c = new MamlTaskCurvature { _alpha = alpha };
        if (innerWorkspace is not null && klWorkspace is not null)
        {
            // Hand-derived gradients and products for Gaussian tanh-MLP policies: no graphs, activations reused by every product.
            // α = 0: no inner step, so θ' = θ and the inner loss's Hessian never enters.
            var adapted = Adapted(theta, d, alpha, innerWorkspace);
            if (alpha != 0) c._innerHessian = v => innerWorkspace.HessianTimes(v);
            var klCurvature = klWorkspace.Load(adapted, d.Valid);
            var (surrogate, gradient) = klCurvature.Surrogate(d.Valid, d.OldLogProb.Data, withGradient: true);
            c.Surrogate = surrogate;
            c._fisher = u => klCurvature.FisherTimes(u);
            c.SurrogateGradient = c.ThroughInnerStep(gradient!);
            if (!ReferenceEquals(rows, d))
            {
                // The products from here on expand on the subsampled rows, at the same θ and θ'.
                if (innerRowWorkspace is null || klRowWorkspace is null) throw new ArgumentException("A curvature subsample needs workspaces for its rows.");
                if (alpha != 0)
                {
                    innerRowWorkspace.Load(theta, rows.Train);
                    c._innerHessian = v => innerRowWorkspace.HessianTimes(v);
                }
                var rowCurvature = klRowWorkspace.Load(adapted, rows.Valid);
                c._fisher = u => rowCurvature.FisherTimes(u);
            }
            return c;
        }
        var innerGrad = alpha == 0 ? new Tensor<float>?[theta.Count]
            : Autograd.Grad([MamlMath.InnerLoss(policy, theta, d.Train, lowVarianceCurvature)], theta, createGraph: true, allowUnused: true);
        Tensor<float>[] adaptedValues;
        using (GradMode.NoGrad())
            adaptedValues = theta.Select((p, i) => innerGrad[i] is null ? p.Detach() : (p - alpha * innerGrad[i]!).Detach()).ToArray();
        var adaptedLeaves = adaptedValues.Select(p => Tensor.Parameter(p)).ToArray();
        var s = MamlMath.Surrogate(policy, adaptedLeaves, d.Valid, d.OldLogProb);
        c.Surrogate = s.ToScalar();
        var gS = Autograd.Grad([s], adaptedLeaves, allowUnused: true).Select((x, i) => x ?? Tensor.Zeros<float>(theta[i].Shape.ToArray())).ToArray();
        var kl = MamlMath.Kl(policy, adaptedLeaves, rows.Valid, rows.OldOutput, rows.OldLogStd);
        var klGrad = Autograd.Grad([kl], adaptedLeaves, createGraph: true, allowUnused: true);
        c._innerHessian = v => TrustRegion.HessianTimes(innerGrad, theta, v);
        c._fisher = u => TrustRegion.HessianTimes(klGrad, adaptedLeaves, u);
        c.SurrogateGradient = c.ThroughInnerStep(gS);
        if (!ReferenceEquals(rows, d) && alpha != 0)
        {
            var rowGrad = Autograd.Grad([MamlMath.InnerLoss(policy, theta, rows.Train, lowVarianceCurvature)], theta, createGraph: true, allowUnused: true);
            c._innerHessian = v => TrustRegion.HessianTimes(rowGrad, theta, v);
        }
        return c;
    }

    /// <summary>θ' = θ − α∇L(θ) with the hand-derived inner gradient (the workspace is loaded at θ on the task's training batch).</summary>
    private static Tensor<float>[] Adapted(IReadOnlyList<Tensor<float>> theta, MamlTaskData d, double alpha, GaussianMlpCurvature<float> innerWorkspace)
    {
        using var _ = GradMode.NoGrad();
        if (alpha == 0) return theta.Select(p => p.Detach().Clone()).ToArray();
        var g = innerWorkspace.Load(theta, d.Train).Gradient();
        return theta.Select((p, i) => (p.Detach() - alpha * g[i]).Detach()).ToArray();
    }

    /// <summary>
    /// The surrogate and mean KL after the inner step from <paramref name="at"/>, by the hand-derived forward passes:
    /// the line search's values. Reloads both workspaces, so it runs only once the curvature products are done.
    /// </summary>
    public static (double Surrogate, double Kl) Values(IReadOnlyList<Tensor<float>> at, MamlTaskData d, double alpha,
        GaussianMlpCurvature<float> innerWorkspace, GaussianMlpCurvature<float> klWorkspace)
    {
        var kl = klWorkspace.Load(Adapted(at, d, alpha, innerWorkspace), d.Valid);
        return (kl.Surrogate(d.Valid, d.OldLogProb.Data, withGradient: false).Value, kl.KlFrom(d.OldOutput.Data, d.OldLogStd!.Data));
    }

    /// <summary>(I − αH) v.</summary>
    private Tensor<float>[] ThroughInnerStep(Tensor<float>[] v)
    {
        if (_alpha == 0) return v;
        var hv = _innerHessian(v);
        using var _ = GradMode.NoGrad();
        return v.Select((x, i) => x - hv[i] * _alpha).ToArray();
    }

    /// <summary>(I − αH) F (I − αH) v: the exact Hessian of this task's KL in θ at the current point.</summary>
    public Tensor<float>[] KlHessianTimes(Tensor<float>[] v) => ThroughInnerStep(_fisher(ThroughInnerStep(v)));
}
