using MetaRL.Engine;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Sac;

/// <summary>A soft Q-function: a ReLU MLP from (input, action) to one value.</summary>
public sealed class QNetwork : Module<float>
{
    private readonly Mlp<float> _mlp;

    public QNetwork(int inputSize, int actionSize, IReadOnlyList<int> hidden, Rng rng)
        => _mlp = RegisterModule("mlp", new Mlp<float>([inputSize + actionSize, .. hidden, 1], rng, Activation.Relu));

    /// <summary>The MLP on the row [input, action], for the fast update.</summary>
    internal Mlp<float> Network => _mlp;

    /// <summary>Q(input, action) for each row, [rows, 1].</summary>
    public Tensor<float> Forward(Tensor<float> input, Tensor<float> action) => _mlp.Forward(Ops.Concat([input, action], 1));
}

/// <summary>
/// A tanh-squashed Gaussian policy: a ReLU MLP gives each action dimension a mean and a log standard deviation (held in
/// [−20, 2]); an action is tanh(u) with u ~ N(mean, std²), in [−1, 1] (mapped onto the environment's box by the caller).
/// Its log-density carries the exact correction of the squashing, log(1 − tanh²u) = 2 (log 2 − u − softplus(−2u)),
/// which stays finite where the action saturates.
/// </summary>
public sealed class TanhGaussianPolicy : Module<float>
{
    public const double LogStdMin = -20, LogStdMax = 2;
    private static readonly double HalfLog2Pi = 0.5 * Math.Log(2 * Math.PI);
    private readonly Mlp<float> _mlp;

    public TanhGaussianPolicy(int inputSize, int actionSize, IReadOnlyList<int> hidden, Rng rng)
    {
        (InputSize, ActionSize) = (inputSize, actionSize);
        _mlp = RegisterModule("mlp", new Mlp<float>([inputSize, .. hidden, 2 * actionSize], rng, Activation.Relu));
    }

    public int InputSize { get; }
    public int ActionSize { get; }

    /// <summary>The MLP giving [mean, log std] per row, for the fast update.</summary>
    internal Mlp<float> Network => _mlp;

    /// <summary>The Gaussian's mean and clamped log standard deviation before squashing, each [rows, actions].</summary>
    public (Tensor<float> Mean, Tensor<float> LogStd) Distribution(Tensor<float> input)
    {
        var h = _mlp.Forward(input);
        return (Ops.Slice(h, 1, 0, ActionSize), Ops.Clamp(Ops.Slice(h, 1, ActionSize, ActionSize), LogStdMin, LogStdMax));
    }

    /// <summary>
    /// A reparameterised sample for each row and its log-density, [rows, actions] and [rows, 1]: the sample is a
    /// differentiable function of the weights, with the noise drawn from <paramref name="rng"/>.
    /// </summary>
    public (Tensor<float> Action, Tensor<float> LogProb) Sample(Tensor<float> input, Rng rng)
    {
        var (mean, logStd) = Distribution(input);
        var noise = Tensor.RandN<float>(rng, 1.0, mean.Shape.ToArray());
        var u = mean + Ops.Exp(logStd) * noise;
        var gaussian = -0.5 * Ops.Square(noise) - logStd - HalfLog2Pi;
        var squash = 2.0 * (Math.Log(2) - u - Ops.Softplus(-2.0 * u));
        return (Ops.Tanh(u), Ops.Sum(gaussian - squash, 1, keepDim: true));
    }

    /// <summary>The deterministic action tanh(mean) for each row.</summary>
    public Tensor<float> MeanAction(Tensor<float> input) => Ops.Tanh(Distribution(input).Mean);
}
