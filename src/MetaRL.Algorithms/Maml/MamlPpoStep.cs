using System.Diagnostics;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// MAML-PPO's outer step: several epochs of Adam on the clipped surrogate of the post-adaptation trajectories, the inner
/// step re-taken (in the graph) from the current θ every epoch, so each gradient is the exact meta-gradient.
/// </summary>
internal sealed class MamlPpoStep(MetaRL.Engine.Optim.Adam<float> optimizer)
{
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    /// <summary>
    /// MAML-PPO: several epochs of Adam on the clipped surrogate of the post-adaptation trajectories, the inner step
    /// re-taken (in the graph) from the current θ every epoch, so each gradient is the exact meta-gradient.
    /// </summary>
    public (double Improvement, double Kl, double StepSeconds) Take(MamlMetaObjective objective, IReadOnlyList<Tensor<float>> theta, Stopwatch watch,
        double samplingSeconds, int iteration)
    {
        var (data, config) = (objective.Data, objective.Config);
        Func<IReadOnlyList<Tensor<float>>, (double Surrogate, double Kl)> objectiveValues = objective.Values;
        double before = objectiveValues(theta).Surrogate;
        double clip = config.PpoClip;
        for (int epoch = 0; epoch < config.PpoEpochs; epoch++)
        {
            var grads = new Tensor<float>[data.Length][];
            var failure = new string?[data.Length];
            Parallel.For(0, data.Length, Cores, i =>
            {
                using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                using var _ = GradMode.EnableGrad();
                var d = data[i];
                var adapted = objective.AdaptFor(theta, d.Train, graph: true);
                var loss = -MamlMath.ClippedSurrogate(objective.Policy, adapted, d.Valid, d.OldLogProb, clip);
                if (!double.IsFinite(loss.ToScalar())) { failure[i] = $"MAML-PPO loss became {loss.ToScalar()}"; return; }
                grads[i] = Autograd.Grad([loss], theta, allowUnused: true).Select((x, j) => x ?? Tensor.Zeros<float>(theta[j].Shape.ToArray())).ToArray();
            });
            if (failure.FirstOrDefault(f => f is not null) is { } message) throw new TrainingDivergedException(message);
            var total = MamlMetaObjective.SumInOrder(grads, theta, 1.0 / data.Length);
            for (int j = 0; j < theta.Count; j++) theta[j].Grad = total[j];
            optimizer.Step();
            for (int j = 0; j < theta.Count; j++) theta[j].Grad = null;
        }
        double stepSeconds = watch.Elapsed.TotalSeconds - samplingSeconds;
        var (after, kl) = objectiveValues(theta);
        return (after - before, kl, stepSeconds);
    }
}
