using MetaRL.Engine;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Pearl;

/// <summary>
/// PEARL's amortised posterior over the task variable z: an MLP maps each transition (s, a, r[, s′]) to a Gaussian
/// factor N(μᵢ, σᵢ²) (σᵢ² = softplus of the output, at least 1e-7), and the posterior is their product,
/// σ² = 1 / Σ 1/σᵢ², μ = σ² Σ μᵢ/σᵢ², which does not depend on the transitions' order. No transitions: the prior N(0, I).
/// </summary>
public sealed class ContextEncoder : Module<float>
{
    public const double MinVariance = 1e-7;
    private readonly Mlp<float> _mlp;

    public ContextEncoder(int transitionSize, int latent, IReadOnlyList<int> hidden, Rng rng)
    {
        (TransitionSize, Latent) = (transitionSize, latent);
        _mlp = RegisterModule("mlp", new Mlp<float>([transitionSize, .. hidden, 2 * latent], rng, Activation.Relu));
    }

    public int TransitionSize { get; }
    public int Latent { get; }

    /// <summary>The MLP giving [μ, pre-softplus variance] per transition, for exporters.</summary>
    internal Mlp<float> Network => _mlp;

    /// <summary>Each transition's factor: means and variances, each [rows, latent].</summary>
    public (Tensor<float> Mean, Tensor<float> Variance) Factors(Tensor<float> transitions)
    {
        var h = _mlp.Forward(transitions);
        return (Ops.Slice(h, 1, 0, Latent), Ops.Clamp(Ops.Softplus(Ops.Slice(h, 1, Latent, Latent)), MinVariance, double.PositiveInfinity));
    }

    /// <summary>
    /// The posterior of each of <paramref name="tasks"/> groups of <paramref name="perTask"/> consecutive transitions:
    /// means and variances, each [tasks, latent]. With <paramref name="used"/>, only the first <c>used[t]</c> transitions
    /// of group t count (at least one each).
    /// </summary>
    public (Tensor<float> Mean, Tensor<float> Variance) Posterior(Tensor<float> transitions, int tasks, int perTask, int[]? used = null)
    {
        var (mean, variance) = Factors(transitions);
        var precision = Ops.Reshape(Ops.Div(Tensor.Scalar<float>(1), variance), tasks, perTask, Latent);
        if (used is not null)
        {
            if (used.Length != tasks || used.Any(u => u < 1 || u > perTask))
                throw new ArgumentException($"Each of the {tasks} groups uses between 1 and {perTask} transitions.", nameof(used));
            var mask = new float[tasks * perTask * Latent];
            for (int t = 0; t < tasks; t++) mask.AsSpan(t * perTask * Latent, used[t] * Latent).Fill(1);
            precision = precision * Tensor.FromArray(mask, tasks, perTask, Latent);
        }
        var weighted = Ops.Reshape(mean, tasks, perTask, Latent) * precision;
        var postVariance = Ops.Div(Tensor.Scalar<float>(1), Ops.Sum(precision, 1));
        return (postVariance * Ops.Sum(weighted, 1), postVariance);
    }

    /// <summary>KL(N(μ, σ²) ‖ N(0, I)) summed over the latent and the rows: ½ Σ (σ² + μ² − 1 − log σ²).</summary>
    public static Tensor<float> KlFromPrior(Tensor<float> mean, Tensor<float> variance)
        => 0.5 * Ops.Sum(variance + Ops.Square(mean) - 1.0 - Ops.Log(variance));
}
