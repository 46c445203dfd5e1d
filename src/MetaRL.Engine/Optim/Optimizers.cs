using System.Numerics;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Kernels;

namespace MetaRL.Engine.Optim;

/// <summary>Updates parameters from their accumulated gradients.</summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected Optimizer(IReadOnlyList<Tensor<T>> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Count == 0) throw new ArgumentException("An optimiser needs at least one parameter.");
        foreach (var p in parameters)
            if (!p.IsLeaf || !p.RequiresGrad)
                throw new ArgumentException($"Optimiser parameter {p.Name ?? ShapeUtil.Format(p.Shape)} must be a leaf that requires gradients.");
        CheckLearningRate(learningRate);
        Parameters = parameters;
        LearningRate = learningRate;
    }

    public IReadOnlyList<Tensor<T>> Parameters { get; }

    private double _lr;

    /// <summary>The step size; schedules set it between steps.</summary>
    public double LearningRate
    {
        get => _lr;
        set
        {
            CheckLearningRate(value);
            _lr = value;
        }
    }

    private static void CheckLearningRate(double lr)
    {
        if (!(lr >= 0) || double.IsInfinity(lr)) throw new ArgumentOutOfRangeException(nameof(LearningRate), lr, "The learning rate must be finite and non-negative.");
    }

    /// <summary>Applies one update; parameters without a gradient are left alone.</summary>
    public void Step()
    {
        using var _ = GradMode.NoGrad();
        StepCore();
    }

    protected abstract void StepCore();

    /// <summary>Clears the gradients of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.Grad = null;
    }

    /// <summary>The optimiser's state as named tensors (for checkpoints).</summary>
    public abstract IEnumerable<(string Name, Tensor<T> Value)> State();

    /// <summary>Restores state written by <see cref="State"/>, checking names and shapes first.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor<T>> state)
    {
        var mine = State().ToArray();
        foreach (var (name, value) in mine)
        {
            if (!state.TryGetValue(name, out var saved))
                throw new InvalidDataException($"Optimiser state '{name}' is missing from the checkpoint.");
            if (!ShapeUtil.Same(saved.Shape, value.Shape))
                throw new InvalidDataException($"Optimiser state '{name}' has shape {ShapeUtil.Format(saved.Shape)} in the checkpoint but {ShapeUtil.Format(value.Shape)} here.");
        }
        foreach (var (name, value) in mine) value.CopyFrom(state[name]);
        AfterLoad();
    }

    protected virtual void AfterLoad() { }
}

/// <summary>Adam (Kingma and Ba 2015) with bias correction and optional decoupled weight decay (AdamW).</summary>
public sealed class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T>[] _m, _v;
    private readonly Tensor<T> _step = Tensor.Zeros<T>(1);

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public long Steps { get; private set; }

    public Adam(IReadOnlyList<Tensor<T>> parameters, double learningRate = 3e-4, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0)
        : base(parameters, learningRate)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam betas must be in [0, 1), got {beta1}, {beta2}.");
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "Adam epsilon must be positive.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be non-negative.");
        (Beta1, Beta2, Epsilon, WeightDecay) = (beta1, beta2, epsilon, weightDecay);
        _m = parameters.Select(p => Tensor.Zeros<T>(p.Shape.ToArray())).ToArray();
        _v = parameters.Select(p => Tensor.Zeros<T>(p.Shape.ToArray())).ToArray();
    }

    protected override void StepCore()
    {
        Steps++;
        double c1 = 1 - Math.Pow(Beta1, Steps), c2 = 1 - Math.Pow(Beta2, Steps);
        T step = T.CreateChecked(LearningRate * Math.Sqrt(c2) / c1);
        T eps = T.CreateChecked(Epsilon * Math.Sqrt(c2));
        T b1 = T.CreateChecked(Beta1), b2 = T.CreateChecked(Beta2);
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null) continue;
            if (WeightDecay > 0) Elementwise.ScaleShift<T>(p.Data, T.CreateChecked(1 - LearningRate * WeightDecay), T.Zero, p.Data);
            Elementwise.AdamStep(p.Data, p.Grad.Data, _m[i].Data, _v[i].Data, b1, b2, step, eps);
        }
    }

    public override IEnumerable<(string Name, Tensor<T> Value)> State()
    {
        _step.Data[0] = T.CreateChecked(Steps);
        yield return ("adam.step", _step);
        for (int i = 0; i < _m.Length; i++)
        {
            yield return ($"adam.m.{i}", _m[i]);
            yield return ($"adam.v.{i}", _v[i]);
        }
    }

    protected override void AfterLoad()
    {
        double s = double.CreateChecked(_step.Data[0]);
        if (!(s >= 0) || s != Math.Floor(s)) throw new InvalidDataException($"Optimiser state 'adam.step' holds {s}, not a step count.");
        Steps = (long)s;
    }
}

/// <summary>Stochastic gradient descent with optional (Nesterov) momentum and weight decay.</summary>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T>[] _velocity;

    public double Momentum { get; }
    public bool Nesterov { get; }
    public double WeightDecay { get; }

    public Sgd(IReadOnlyList<Tensor<T>> parameters, double learningRate, double momentum = 0, bool nesterov = false, double weightDecay = 0)
        : base(parameters, learningRate)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Momentum must be in [0, 1).");
        if (nesterov && momentum == 0) throw new ArgumentException("Nesterov momentum needs a positive momentum.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be non-negative.");
        (Momentum, Nesterov, WeightDecay) = (momentum, nesterov, weightDecay);
        _velocity = parameters.Select(p => Tensor.Zeros<T>(p.Shape.ToArray())).ToArray();
    }

    protected override void StepCore()
    {
        T lr = T.CreateChecked(LearningRate), mu = T.CreateChecked(Momentum), wd = T.CreateChecked(WeightDecay);
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null) continue;
            var g = p.Grad.Data.ToArray();
            if (WeightDecay > 0) Elementwise.Axpy<T>(wd, p.Data, g);
            if (Momentum > 0)
            {
                var v = _velocity[i].Data;
                Elementwise.ScaleShift<T>(v, mu, T.Zero, v);
                Elementwise.AddInPlace<T>(v, g);
                if (Nesterov) Elementwise.Axpy<T>(mu, v, g);
                else v.CopyTo(g);
            }
            Elementwise.Axpy<T>(-lr, g, p.Data);
        }
    }

    public override IEnumerable<(string Name, Tensor<T> Value)> State()
    {
        for (int i = 0; i < _velocity.Length; i++) yield return ($"sgd.velocity.{i}", _velocity[i]);
    }
}

/// <summary>Gradient clipping.</summary>
public static class GradClip
{
    /// <summary>
    /// Scales all gradients so their joint L2 norm is at most <paramref name="maxNorm"/>. Returns the norm
    /// before clipping; a non-finite norm leaves the gradients untouched so the caller can stop.
    /// </summary>
    public static double ClipGlobalNorm<T>(IEnumerable<Tensor<T>> parameters, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The clipping norm must be positive.");
        var grads = parameters.Select(p => p.Grad).Where(g => g is not null).Select(g => g!).ToArray();
        double sq = 0;
        foreach (var g in grads)
        {
            double n = double.CreateChecked(System.Numerics.Tensors.TensorPrimitives.Norm<T>(g.Data));
            sq += n * n;
        }
        double norm = Math.Sqrt(sq);
        if (!double.IsFinite(norm) || norm <= maxNorm) return norm;
        T scale = T.CreateChecked(maxNorm / (norm + 1e-6));
        foreach (var g in grads) Elementwise.ScaleShift<T>(g.Data, scale, T.Zero, g.Data);
        return norm;
    }
}
