using System.Diagnostics;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// MAML's TRPO outer step: the meta-gradient and products with the Hessian of the mean KL in θ, both through the inner
/// step, then conjugate gradient and a backtracking line search that leaves the policy unchanged when no step passes.
/// Two paths compute the same quantities: with one exact inner step (not first-order) each task's pieces are built
/// side by side (<see cref="MamlTaskCurvature"/>: hand-derived for Gaussian tanh-MLP policies, by autodiff otherwise);
/// anything else differentiates the whole objective's graph (<see cref="MamlMetaObjective.Objective"/>), the reference
/// the tests hold the fast path to. The hand-derived workspaces are kept across iterations.
/// </summary>
internal sealed class MamlTrpoStep
{
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    // Workspaces of the hand-derived gradients and curvature products, one pair per task of the meta-batch, reused every
    // iteration; with a curvature subsample, a second pair sized for its rows holds the products' expansion.
    private GaussianMlpCurvature<float>[]? _innerWorkspaces, _klWorkspaces, _innerRowWorkspaces, _klRowWorkspaces;

    /// <summary>Takes the step on <paramref name="objective"/>'s meta-batch; returns it and the seconds spent before the line search.</summary>
    public (TrustRegionResult Step, double StepSeconds) Take(MamlMetaObjective objective, IReadOnlyList<Tensor<float>> theta, Stopwatch watch, double samplingSeconds)
    {
        var (policy, config, data) = (objective.Policy, objective.Config, objective.Data);
        Tensor<float>[] g;
        Func<Tensor<float>[], Tensor<float>[]> hvpCore;
        double oldSurrogate;
        if (config.InnerSteps <= 1 && !config.FirstOrder && !config.ForceFullGraph)
        {
            // With no inner step (a multi-task policy) the same pieces apply with α = 0: plain TRPO.
            double alpha = config.InnerSteps == 0 ? 0 : config.InnerLearningRate;
            // One exact inner step, θ' = θ − α∇L(θ), so ∂θ'/∂θ = I − αH with H the inner loss's Hessian.
            // ∇θ S = (I − αH) ∇θ' S, and because ∇θ' KL vanishes where the old and new policies coincide
            // (here), the Hessian of the mean KL in θ is exactly (I − αH) F (I − αH), F the Hessian of KL in θ'.
            // Each product is then a second-order pass per task, computed side by side on all cores.
            var parts = new MamlTaskCurvature[data.Length];
            if (GaussianMlpCurvature<float>.Supports(policy) && (_innerWorkspaces is null || _innerWorkspaces.Length != data.Length))
            {
                int rows = data[0].Train.Steps;
                _innerWorkspaces = data.Select(_ => new GaussianMlpCurvature<float>(policy, rows, innerLoss: true, config.LowVarianceCurvature)).ToArray();
                _klWorkspaces = data.Select(_ => new GaussianMlpCurvature<float>(policy, rows, innerLoss: false)).ToArray();
            }
            if (GaussianMlpCurvature<float>.Supports(policy) && data[0].CurvatureRows is { } sub
                && (_innerRowWorkspaces is null || _innerRowWorkspaces.Length != data.Length || _innerRowWorkspaces[0].Rows != sub.Train.Steps))
            {
                _innerRowWorkspaces = data.Select(_ => new GaussianMlpCurvature<float>(policy, sub.Train.Steps, innerLoss: true, config.LowVarianceCurvature)).ToArray();
                _klRowWorkspaces = data.Select(_ => new GaussianMlpCurvature<float>(policy, sub.Valid.Steps, innerLoss: false)).ToArray();
            }
            bool subsampled = data[0].CurvatureRows is not null;
            (objective.InnerWorkspaces, objective.KlWorkspaces) = (_innerWorkspaces, _klWorkspaces);
            Parallel.For(0, data.Length, Cores, i =>
            {
                using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                parts[i] = MamlTaskCurvature.Build(policy, theta, data[i], alpha, config.LowVarianceCurvature, _innerWorkspaces?[i], _klWorkspaces?[i],
                    subsampled ? _innerRowWorkspaces?[i] : null, subsampled ? _klRowWorkspaces?[i] : null);
            });
            if (_innerWorkspaces is not null) objective.AnalyticAlpha = alpha;
            oldSurrogate = parts.Sum(p => p.Surrogate) / parts.Length;
            g = MamlMetaObjective.SumInOrder(parts.Select(p => p.SurrogateGradient).ToArray(), theta, 1.0 / parts.Length);
            hvpCore = v =>
            {
                var results = new Tensor<float>[parts.Length][];
                Parallel.For(0, parts.Length, Cores, i =>
                {
                    using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                    results[i] = parts[i].KlHessianTimes(v);
                });
                return MamlMetaObjective.SumInOrder(results, theta, 1.0 / parts.Length);
            };
        }
        else
        {
            var (surrogate, kl) = objective.Objective(theta);
            if (data[0].CurvatureRows is not null) kl = objective.CurvatureKl(theta);
            oldSurrogate = surrogate.ToScalar();
            g = Autograd.Grad([surrogate], theta, allowUnused: true).Select((x, i) => x ?? Tensor.Zeros<float>(theta[i].Shape.ToArray())).ToArray();
            var gradKl = Autograd.Grad([kl], theta, createGraph: true, allowUnused: true);
            hvpCore = v => TrustRegion.HessianTimes(gradKl, theta, v);
        }
        double beforeSolve = watch.Elapsed.TotalSeconds;
        var step = TrustRegion.Step(theta, g, hvpCore, oldSurrogate, () => objective.Values(theta), config.MaxKl, config.CgIterations, config.CgDamping,
            config.LineSearchSteps, config.LineSearchBacktrack);
        double stepSeconds = beforeSolve + step.SolveSeconds - samplingSeconds;
        return (step, stepSeconds);
    }
}
