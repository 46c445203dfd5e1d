using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Maml;

/// <summary>One task of a meta-batch: its pre-adaptation (train) and post-adaptation (valid) trajectories and the sampling policy's outputs on the latter.</summary>
internal sealed record MamlTaskData(TrajectoryBatch Train, TrajectoryBatch Valid, Tensor<float> OldOutput, Tensor<float>? OldLogStd, Tensor<float> OldLogProb);

/// <summary>
/// MAML's outer objective on a sampled meta-batch, as a function of the initial weights θ: the post-adaptation surrogate
/// and mean KL through the inner step. <see cref="Objective"/> is the reference (one autodiff graph through the inner
/// step); <see cref="Values"/> gives the values alone for line searches, by the hand-derived forward passes once the
/// TRPO step's fast path has loaded its workspaces (<see cref="AnalyticAlpha"/> set), else without graphs.
/// </summary>
internal sealed class MamlMetaObjective(MlpPolicy<float> policy, MamlConfig config, MamlTaskData[] data)
{
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    public MlpPolicy<float> Policy => policy;
    public MamlConfig Config => config;
    public MamlTaskData[] Data => data;

    /// <summary>Set by the fast path once the workspaces hold this meta-batch: the step size their values use.</summary>
    public double AnalyticAlpha { get; set; } = double.NaN;
    public GaussianMlpCurvature<float>[]? InnerWorkspaces { get; set; }
    public GaussianMlpCurvature<float>[]? KlWorkspaces { get; set; }

    // Surrogate and KL as functions of θ, through the inner step.
    public (Tensor<float> Surrogate, Tensor<float> Kl) Objective(IReadOnlyList<Tensor<float>> at)
    {
        Tensor<float>? s = null, k = null;
        foreach (var d in Data)
        {
            var adapted = AdaptFor(at, d.Train, graph: true);
            var si = MamlMath.Surrogate(Policy, adapted, d.Valid, d.OldLogProb);
            var ki = MamlMath.Kl(Policy, adapted, d.Valid, d.OldOutput, d.OldLogStd);
            s = s is null ? si : s + si;
            k = k is null ? ki : k + ki;
        }
        return (s! / Data.Length, k! / Data.Length);
    }

    // The same objective's values only (line search): tasks side by side, summed in task order. Once the fast path
    // has loaded hand-derived workspaces, they give the values without graphs (the curvature products are done by then).
    public (double Surrogate, double Kl) Values(IReadOnlyList<Tensor<float>> at)
    {
        var values = new (double S, double K)[Data.Length];
        Parallel.For(0, Data.Length, Cores, i =>
        {
            using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
            if (!double.IsNaN(AnalyticAlpha))
            {
                values[i] = MamlTaskCurvature.Values(at, Data[i], AnalyticAlpha, InnerWorkspaces![i], KlWorkspaces![i]);
                return;
            }
            var adapted = AdaptFor(at, Data[i].Train, graph: false);
            using var _ = GradMode.NoGrad();
            values[i] = (MamlMath.Surrogate(Policy, adapted, Data[i].Valid, Data[i].OldLogProb).ToScalar(),
                MamlMath.Kl(Policy, adapted, Data[i].Valid, Data[i].OldOutput, Data[i].OldLogStd).ToScalar());
        });
        double s = 0, k = 0;
        foreach (var (si, ki) in values) { s += si; k += ki; }
        return (s / Data.Length, k / Data.Length);
    }

    public Tensor<float>[] AdaptFor(IReadOnlyList<Tensor<float>> theta, TrajectoryBatch train, bool graph)
    {
        if (Config.InnerSteps == 0) return theta.ToArray();
        if (!graph)
        {
            using var _ = GradMode.EnableGrad();
            var leaves = theta.Select(p => Tensor.Parameter(p.Detach())).ToArray();
            return MamlMath.Adapt(Policy, leaves, train, Config.InnerLearningRate, Config.InnerSteps, createGraph: false).Select(p => p.Detach()).ToArray();
        }
        if (!Config.FirstOrder) return MamlMath.Adapt(Policy, theta, train, Config.InnerLearningRate, Config.InnerSteps, createGraph: true, Config.LowVarianceCurvature);
        // First order: θ' = θ + (θ'_detached − θ_detached), so dθ'/dθ = I.
        var fo = MamlMath.Adapt(Policy, theta.Select(p => Tensor.Parameter(p.Detach())).ToArray(), train, Config.InnerLearningRate, Config.InnerSteps, createGraph: false);
        return theta.Select((p, i) => p + (fo[i].Detach() - p.Detach())).ToArray();
    }

    /// <summary>Σᵢ scale·partsᵢ, summed in index order so the result does not depend on scheduling.</summary>
    public static Tensor<float>[] SumInOrder(Tensor<float>[][] parts, IReadOnlyList<Tensor<float>> like, double scale)
    {
        var sum = like.Select(p => new float[p.Size]).ToArray();
        foreach (var part in parts)
            for (int i = 0; i < sum.Length; i++)
            {
                var src = part[i].Data;
                for (int j = 0; j < src.Length; j++) sum[i][j] += (float)(scale * src[j]);
            }
        return sum.Select((a, i) => Tensor.FromArray(a, like[i].Shape.ToArray())).ToArray();
    }
}
