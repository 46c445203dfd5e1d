using System.Diagnostics;
using System.Globalization;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Nn;

namespace MetaRL.Algorithms.Maml;

/// <summary>Settings of MAML with a TRPO outer loop (defaults: 2-D navigation as in the MAML paper, with pytorch-maml-rl's [64, 64] tanh network).</summary>
/// <summary>MAML's outer (meta) update.</summary>
public enum MamlOuter { Trpo, Ppo }

public sealed record MamlConfig
{
    public int[] Hidden { get; init; } = [64, 64];
    public double InnerLearningRate { get; init; } = 0.1;
    /// <summary>Inner gradient steps during meta-training; 0 trains a non-adaptive multi-task policy.</summary>
    public int InnerSteps { get; init; } = 1;
    public int MetaBatch { get; init; } = 20;
    /// <summary>Trajectories per task for each adaptation step and for the post-adaptation batch.</summary>
    public int Trajectories { get; init; } = 20;
    public int Iterations { get; init; } = 300;
    public double MaxKl { get; init; } = 0.01;
    public int CgIterations { get; init; } = 10;
    public double CgDamping { get; init; } = 1e-5;
    public int LineSearchSteps { get; init; } = 15;
    public double LineSearchBacktrack { get; init; } = 0.8;
    public double Gamma { get; init; } = 0.99;
    /// <summary>Outer loop: a TRPO natural-gradient step under a KL limit, or PPO's clipped surrogate over several Adam epochs.</summary>
    public MamlOuter Outer { get; init; } = MamlOuter.Trpo;
    public int PpoEpochs { get; init; } = 5;
    public double PpoClip { get; init; } = 0.2;
    public double OuterLearningRate { get; init; } = 1e-3;
    /// <summary>
    /// A Gaussian policy over a bounded action box acts in [−1, 1] mapped onto the box (as in the MAML paper's rllab
    /// setup), so its standard deviation is relative to the action range; false acts in the box's own units.
    /// </summary>
    public bool NormalizeActions { get; init; } = true;
    /// <summary>
    /// Meta-test steps after the first use inner-lr × this (Finn et al. 2017 halve the step size after the first step);
    /// null ("auto") chooses it per evaluated policy from <see cref="MamlEvaluation.LaterStepScales"/> on the validation tasks.
    /// </summary>
    public double? EvalLearningRateDecay { get; init; }
    /// <summary>
    /// With <see cref="ValidateEvery"/> 0, the best policy is the one ending the window of this many iterations with the
    /// highest mean post-adaptation training return.
    /// </summary>
    public int BestWindow { get; init; } = 10;
    /// <summary>
    /// Every this many iterations, and after the last, the policy is scored on <see cref="ValidationTasks"/> fixed tasks of
    /// the training distribution (the same tasks and random streams every time; see <see cref="MamlTrainer.Validate"/>).
    /// The best score so far makes the best policy. 0 keeps the training-window rule of <see cref="BestWindow"/>, whose
    /// windows differ in their tasks as much as in their policies.
    /// </summary>
    public int ValidateEvery { get; init; } = 10;
    public int ValidationTasks { get; init; } = 40;
    /// <summary>First-order MAML: ignore the second-order terms of the inner step.</summary>
    public bool FirstOrder { get; init; }
    /// <summary>
    /// The inner loss in ProMP's low-variance-curvature form (<see cref="MamlMath.InnerLoss{T}"/>): the same inner step,
    /// but the meta-gradient also credits the pre-adaptation actions for what the step learns from them, which the
    /// original MAML meta-gradient leaves out (it treats the pre-adaptation samples as fixed). No effect on first-order
    /// MAML or a multi-task policy, which have no curvature term. On by default (it keeps log σ from collapsing on
    /// navigation-2d); false gives Finn et al.'s meta-gradient, the exact derivative of the sampled objective.
    /// </summary>
    public bool LowVarianceCurvature { get; init; } = true;
    /// <summary>Use the general full-graph path even for one inner step (a reference for the fast path).</summary>
    internal bool ForceFullGraph { get; init; }

    /// <summary>Every MAML setting, declared once: parsing, validation, recording and listing come from here.</summary>
    public static SettingSchema<MamlConfig> Schema { get; } = new SettingSchema<MamlConfig>("maml")
        .Sizes("hidden", c => c.Hidden, (c, v) => c with { Hidden = v }, allowNone: false, "Hidden layers of the tanh MLP policy.")
        .Double("inner-lr", c => c.InnerLearningRate, (c, v) => c with { InnerLearningRate = v }, 0, 1e3, "Step size α of the inner policy-gradient steps.")
        .Int("inner-steps", c => c.InnerSteps, (c, v) => c with { InnerSteps = v }, 0, 10, "Inner gradient steps during meta-training; 0 trains the non-adaptive multi-task policy.")
        .Int("meta-batch", c => c.MetaBatch, (c, v) => c with { MetaBatch = v }, 1, 10_000, "Tasks per meta-iteration.")
        .Int("trajectories", c => c.Trajectories, (c, v) => c with { Trajectories = v }, 1, 100_000, "Trajectories per task for each adaptation step and for the post-adaptation batch.")
        .Int("iterations", c => c.Iterations, (c, v) => c with { Iterations = v }, 1, 10_000_000, "Meta-iterations.")
        .Double("max-kl", c => c.MaxKl, (c, v) => c with { MaxKl = v }, 1e-9, 10, "TRPO outer loop: the mean KL divergence one step may reach.")
        .Int("cg-iters", c => c.CgIterations, (c, v) => c with { CgIterations = v }, 1, 1000, "TRPO outer loop: conjugate-gradient iterations on Hessian-vector products.")
        .Double("cg-damping", c => c.CgDamping, (c, v) => c with { CgDamping = v }, 0, 1e3, "TRPO outer loop: damping added to the KL Hessian.")
        .Int("ls-steps", c => c.LineSearchSteps, (c, v) => c with { LineSearchSteps = v }, 0, 1000, "TRPO outer loop: backtracking steps of the line search.")
        .Double("ls-backtrack", c => c.LineSearchBacktrack, (c, v) => c with { LineSearchBacktrack = v }, 1e-3, 0.999, "TRPO outer loop: the factor each backtracking step applies.")
        .Double("gamma", c => c.Gamma, (c, v) => c with { Gamma = v }, 0, 1, "Discount factor.")
        .Bool("first-order", c => c.FirstOrder, (c, v) => c with { FirstOrder = v }, "First-order MAML: drop the second-order terms of the inner step.")
        .Enum("outer", c => c.Outer, (c, v) => c with { Outer = v }, "The outer update: a TRPO step under a KL limit, or PPO's clipped surrogate over several Adam epochs.")
        .Int("ppo-epochs", c => c.PpoEpochs, (c, v) => c with { PpoEpochs = v }, 1, 1000, "PPO outer loop: Adam epochs per meta-iteration.")
        .Double("ppo-clip", c => c.PpoClip, (c, v) => c with { PpoClip = v }, 1e-6, 10, "PPO outer loop: clip range of the probability ratio.")
        .Double("outer-lr", c => c.OuterLearningRate, (c, v) => c with { OuterLearningRate = v }, 0, 1, "PPO outer loop: Adam's learning rate.")
        .Bool("normalize-actions", c => c.NormalizeActions, (c, v) => c with { NormalizeActions = v }, "A Gaussian policy over a bounded box acts in [-1, 1] mapped onto the box.")
        .Custom("eval-lr-decay", SettingType.Text, c => c.EvalLearningRateDecay?.ToString("R", CultureInfo.InvariantCulture) ?? "auto",
            (r, c) => c with { EvalLearningRateDecay = ReadDecay(r, "eval-lr-decay", c.EvalLearningRateDecay) },
            "Meta-test steps after the first use inner-lr times this, a number in [0, 10]; auto chooses it per agent on the validation tasks.")
        .Int("best-window", c => c.BestWindow, (c, v) => c with { BestWindow = v }, 1, 100_000, "With validate-every=0: the best policy ends the window of this many iterations with the best training return.")
        .Int("validate-every", c => c.ValidateEvery, (c, v) => c with { ValidateEvery = v }, 0, 10_000_000, "Score the policy on fixed validation tasks every this many iterations and after the last (0: use best-window).")
        .Int("validation-tasks", c => c.ValidationTasks, (c, v) => c with { ValidationTasks = v }, 1, 100_000, "Validation tasks, drawn from the training distribution on a stream of their own.")
        .Bool("lvc", c => c.LowVarianceCurvature, (c, v) => c with { LowVarianceCurvature = v }, "ProMP's low-variance-curvature inner loss; false gives Finn et al.'s meta-gradient.");

    /// <summary>Every MAML setting key.</summary>
    public static IReadOnlyList<string> Keys => Schema.Keys;

    /// <summary>Applies "key=value" settings that name MAML keys; the others are left for the task family.</summary>
    public MamlConfig With(IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> rest) => Schema.Apply(this, settings, out rest);

    public IReadOnlyDictionary<string, string> ToSettings() => Schema.Format(this);

    /// <summary>A later-step scale: "auto" (null) or a number in [0, 10].</summary>
    public static double? ReadDecay(SettingsReader reader, string key, double? fallback)
    {
        string text = reader.Text(key, fallback?.ToString("R", CultureInfo.InvariantCulture) ?? "auto");
        if (text == "auto") return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < 0 || v > 10)
            throw new SettingException($"maml: setting '{key}' must be 'auto' or a number in [0, 10], got '{text}'.");
        return v;
    }
}

/// <summary>What one meta-iteration did.</summary>
public sealed record MamlIterationStats(int Iteration, double PreAdaptationReturn, double PostAdaptationReturn, double SurrogateImprovement,
    double Kl, int LineSearchSteps, bool Accepted, double Seconds, double SamplingSeconds = 0, double StepSeconds = 0, double LineSearchSeconds = 0)
{
    /// <summary>Whether the policy after this iteration is the new best (see <see cref="MamlConfig.ValidateEvery"/>).</summary>
    public bool NewBest { get; init; }

    /// <summary>The policy's validation score after this iteration (see <see cref="MamlConfig.ValidateEvery"/>); NaN when it was not validated.</summary>
    public double ValidationReturn { get; init; } = double.NaN;

    /// <summary>Seconds the validation took (not part of <see cref="Seconds"/>).</summary>
    public double ValidationSeconds { get; init; }
}

/// <summary>
/// MAML (Finn et al. 2017) for reinforcement learning: per task, one or more vanilla policy-gradient steps
/// with the linear feature baseline, kept in the graph; the outer update is TRPO on the post-adaptation
/// trajectories, with conjugate gradient on Hessian-vector products of the mean KL taken through the
/// inner step, and a backtracking line search that leaves the policy unchanged when no step passes.
/// </summary>
public sealed class MamlTrainer
{
    private readonly TaskDistribution _tasks;
    private readonly Rng _rng, _taskRng;

    public MamlTrainer(TaskDistribution tasks, MamlConfig config, ulong seed)
    {
        _tasks = tasks;
        Config = config;
        Seed = seed;
        Policy = CreatePolicy(tasks, config, new Rng(seed));
        _envs = new MetaRL.Core.Envs.IEnv[]?[config.MetaBatch];
        if (config.Outer == MamlOuter.Ppo) _optimizer = new MetaRL.Engine.Optim.Adam<float>(Policy.Parameters(), config.OuterLearningRate, epsilon: 1e-5);
        _rng = new Rng(seed ^ 0x3A3A_5C5CUL);
        _taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Train);
    }

    private static MlpPolicy<float> CreatePolicy(TaskDistribution tasks, MamlConfig config, Rng rng)
        => new(tasks.ObservationSpace, tasks.ActionSpace, config.Hidden, rng, normalizeActions: config.NormalizeActions);

    public MamlConfig Config { get; }

    /// <summary>
    /// The best validation score so far or, with <see cref="MamlConfig.ValidateEvery"/> 0, the highest mean post-adaptation
    /// return over <see cref="MamlConfig.BestWindow"/> consecutive iterations (−∞ before the first).
    /// </summary>
    public double BestScore => _best.Score;

    private readonly BestPolicy _best = new();

    /// <summary>The iteration of the best policy (0 before the first).</summary>
    public int BestIteration => _best.Iteration;

    private readonly Queue<double> _recentPost = new();
    private ITask[]? _validationTasks;

    /// <summary>The fixed validation tasks: <see cref="MamlConfig.ValidationTasks"/> draws from the training distribution on their own stream.</summary>
    public IReadOnlyList<ITask> ValidationTaskList => _validationTasks ??= MamlEvaluation.ValidationTasks(_tasks, Seed, Config.ValidationTasks);

    /// <summary>
    /// The current policy's validation score, on the validation tasks with the same random streams every time (so two
    /// policies' scores differ only by the policies): the mean return after 1 … <see cref="MamlEvaluation.DefaultSteps"/>
    /// steps of the meta-test (later steps at <see cref="MamlConfig.EvalLearningRateDecay"/>, or Finn et al.'s 0.5 when that
    /// is chosen at evaluation); for a multi-task policy (no inner steps), its return as it is.
    /// </summary>
    public double Validate()
    {
        if (Config.InnerSteps == 0)
            return MamlEvaluation.StepReturns(MamlEvaluation.RunValidation(Policy, _tasks, ValidationTaskList, Adaptation(1), 0, Seed))[0];
        var curve = MamlEvaluation.RunValidation(Policy, _tasks, ValidationTaskList, Adaptation(Config.EvalLearningRateDecay ?? 0.5), MamlEvaluation.DefaultSteps, Seed);
        return MamlEvaluation.StepReturns(curve).Skip(1).Average();
    }

    /// <summary>How this run's policy adapts at meta-test: its inner learning rate, trajectories per step and discount, later steps scaled by <paramref name="laterStepScale"/>.</summary>
    public MamlAdaptation Adaptation(double laterStepScale) => new(Config.InnerLearningRate, Config.Trajectories, Config.Gamma, laterStepScale);

    /// <summary>
    /// The scale of the meta-test's later steps for <paramref name="policy"/> (this run's by default): the configured
    /// <see cref="MamlConfig.EvalLearningRateDecay"/>, or with "auto" the one of <see cref="MamlEvaluation.LaterStepScales"/>
    /// that does best on the validation tasks (never the held-out ones).
    /// </summary>
    public double LaterStepScale(MlpPolicy<float>? policy = null)
        => Config.EvalLearningRateDecay ?? MamlEvaluation.ChooseLaterStepScale(policy ?? Policy, _tasks, ValidationTaskList, Adaptation(1), MamlEvaluation.DefaultSteps, Seed).Scale;

    private MamlIterationStats Track(MamlIterationStats stats)
    {
        if (Config.ValidateEvery > 0)
        {
            if (!BestPolicy.Due(stats.Iteration, Config.ValidateEvery, Config.Iterations)) return stats;
            var watch = Stopwatch.StartNew();
            double score = Validate();
            stats = stats with { ValidationReturn = score, ValidationSeconds = watch.Elapsed.TotalSeconds };
            return _best.Offer(score, stats.Iteration) ? stats with { NewBest = true } : stats;
        }
        _recentPost.Enqueue(stats.PostAdaptationReturn);
        while (_recentPost.Count > Config.BestWindow) _recentPost.Dequeue();
        if (_recentPost.Count < Config.BestWindow) return stats;
        double mean = _recentPost.Average();
        return _best.Offer(mean, stats.Iteration) ? stats with { NewBest = true } : stats;
    }
    public ulong Seed { get; }

    /// <summary>The task family it trains on.</summary>
    public TaskDistribution Tasks => _tasks;
    public MlpPolicy<float> Policy { get; }
    public int Iteration { get; private set; }

    private readonly MetaRL.Engine.Optim.Adam<float>? _optimizer;

    // Environments per task slot of the meta-batch, reused every iteration (a simulator is costly to create).
    private readonly MetaRL.Core.Envs.IEnv[]?[] _envs;

    // Workspaces of the hand-derived curvature products, one pair per task of the meta-batch, reused every iteration.
    private GaussianMlpCurvature<float>[]? _innerWorkspaces, _klWorkspaces;

    // One worker per core: more would only contend for the cores the tasks already fill.
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    private sealed record TaskData(TrajectoryBatch Train, TrajectoryBatch Valid, Tensor<float> OldOutput, Tensor<float>? OldLogStd, Tensor<float> OldLogProb);

    /// <summary>Runs one meta-iteration: sampling, adaptation, TRPO step.</summary>
    public MamlIterationStats RunIteration()
    {
        var watch = Stopwatch.StartNew();
        var theta = Policy.Parameters();
        var tasks = Enumerable.Range(0, Config.MetaBatch).Select(_ => _tasks.SampleTask(_taskRng, TaskSplit.Train)).ToArray();
        var rngs = tasks.Select(_ => _rng.Split()).ToArray();
        var data = new TaskData[tasks.Length];
        Parallel.For(0, tasks.Length, Cores, i =>
        {
            var envs = _envs[i] ??= new MetaRL.Core.Envs.IEnv[Config.Trajectories];
            var train = TrajectoryBatch.Sample(Policy, theta, _tasks, tasks[i], Config.Trajectories, rngs[i], Config.Gamma, envs);
            var adapted = MamlMath.Adapt(Policy, theta, train, Config.InnerLearningRate, Config.InnerSteps, createGraph: false);
            var valid = TrajectoryBatch.Sample(Policy, adapted, _tasks, tasks[i], Config.Trajectories, rngs[i], Config.Gamma, envs);
            using var _ = GradMode.NoGrad();
            var obs = TrajectoryBatch.ToTensor<float>(valid.Observations, valid.Steps, valid.ObservationSize);
            var oldOut = Functional.Call(Policy, adapted, () => Policy.Output(obs));
            var oldStd = Policy.Discrete ? null : Functional.Call(Policy, adapted, () => Policy.LogStd).Detach();
            var oldLogp = MamlMath.LogProb(Policy, adapted, valid);
            data[i] = new TaskData(train, valid, oldOut.Detach(), oldStd, oldLogp.Detach());
        });
        double samplingSeconds = watch.Elapsed.TotalSeconds;

        // Surrogate and KL as functions of θ, through the inner step.
        (Tensor<float> Surrogate, Tensor<float> Kl) Objective(IReadOnlyList<Tensor<float>> at)
        {
            Tensor<float>? s = null, k = null;
            foreach (var d in data)
            {
                var adapted = AdaptFor(at, d.Train, graph: true);
                var si = MamlMath.Surrogate(Policy, adapted, d.Valid, d.OldLogProb);
                var ki = MamlMath.Kl(Policy, adapted, d.Valid, d.OldOutput, d.OldLogStd);
                s = s is null ? si : s + si;
                k = k is null ? ki : k + ki;
            }
            return (s! / data.Length, k! / data.Length);
        }

        // The same objective's values only (line search): tasks side by side, summed in task order. Once the fast path
        // has loaded hand-derived workspaces, they give the values without graphs (the curvature products are done by then).
        double analyticAlpha = double.NaN;
        (double Surrogate, double Kl) ObjectiveValues(IReadOnlyList<Tensor<float>> at)
        {
            var values = new (double S, double K)[data.Length];
            Parallel.For(0, data.Length, Cores, i =>
            {
                using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                if (!double.IsNaN(analyticAlpha))
                {
                    values[i] = TaskCurvature.Values(at, data[i], analyticAlpha, _innerWorkspaces![i], _klWorkspaces![i]);
                    return;
                }
                var adapted = AdaptFor(at, data[i].Train, graph: false);
                using var _ = GradMode.NoGrad();
                values[i] = (MamlMath.Surrogate(Policy, adapted, data[i].Valid, data[i].OldLogProb).ToScalar(),
                    MamlMath.Kl(Policy, adapted, data[i].Valid, data[i].OldOutput, data[i].OldLogStd).ToScalar());
            });
            double s = 0, k = 0;
            foreach (var (si, ki) in values) { s += si; k += ki; }
            return (s / data.Length, k / data.Length);
        }

        if (Config.Outer == MamlOuter.Ppo) return PpoStep(data, theta, watch, samplingSeconds, ObjectiveValues);

        Tensor<float>[] g;
        Func<Tensor<float>[], Tensor<float>[]> hvpCore;
        double oldSurrogate;
        if (Config.InnerSteps <= 1 && !Config.FirstOrder && !Config.ForceFullGraph)
        {
            // With no inner step (a multi-task policy) the same pieces apply with α = 0: plain TRPO.
            double alpha = Config.InnerSteps == 0 ? 0 : Config.InnerLearningRate;
            // One exact inner step, θ' = θ − α∇L(θ), so ∂θ'/∂θ = I − αH with H the inner loss's Hessian.
            // ∇θ S = (I − αH) ∇θ' S, and because ∇θ' KL vanishes where the old and new policies coincide
            // (here), the Hessian of the mean KL in θ is exactly (I − αH) F (I − αH), F the Hessian of KL in θ'.
            // Each product is then a second-order pass per task, computed side by side on all cores.
            var parts = new TaskCurvature[data.Length];
            if (GaussianMlpCurvature<float>.Supports(Policy) && (_innerWorkspaces is null || _innerWorkspaces.Length != data.Length))
            {
                int rows = data[0].Train.Steps;
                _innerWorkspaces = data.Select(_ => new GaussianMlpCurvature<float>(Policy, rows, innerLoss: true, Config.LowVarianceCurvature)).ToArray();
                _klWorkspaces = data.Select(_ => new GaussianMlpCurvature<float>(Policy, rows, innerLoss: false)).ToArray();
            }
            Parallel.For(0, data.Length, Cores, i =>
            {
                using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                parts[i] = TaskCurvature.Build(Policy, theta, data[i], alpha, Config.LowVarianceCurvature, _innerWorkspaces?[i], _klWorkspaces?[i]);
            });
            if (_innerWorkspaces is not null) analyticAlpha = alpha;
            oldSurrogate = parts.Sum(p => p.Surrogate) / parts.Length;
            g = SumInOrder(parts.Select(p => p.SurrogateGradient).ToArray(), theta, 1.0 / parts.Length);
            hvpCore = v =>
            {
                var results = new Tensor<float>[parts.Length][];
                Parallel.For(0, parts.Length, Cores, i =>
                {
                    using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                    results[i] = parts[i].KlHessianTimes(v);
                });
                return SumInOrder(results, theta, 1.0 / parts.Length);
            };
        }
        else
        {
            var (surrogate, kl) = Objective(theta);
            oldSurrogate = surrogate.ToScalar();
            g = Autograd.Grad([surrogate], theta, allowUnused: true).Select((x, i) => x ?? Tensor.Zeros<float>(theta[i].Shape.ToArray())).ToArray();
            var gradKl = Autograd.Grad([kl], theta, createGraph: true, allowUnused: true);
            hvpCore = v => TrustRegion.HessianTimes(gradKl, theta, v);
        }
        double beforeSolve = watch.Elapsed.TotalSeconds;
        var step = TrustRegion.Step(theta, g, hvpCore, oldSurrogate, () => ObjectiveValues(theta), Config.MaxKl, Config.CgIterations, Config.CgDamping,
            Config.LineSearchSteps, Config.LineSearchBacktrack);
        double stepSeconds = beforeSolve + step.SolveSeconds - samplingSeconds;
        var (accepted, lsSteps, improvement, finalKl) = (step.Accepted, step.LineSearchSteps, step.Improvement, step.Kl);
        Iteration++;
        return Track(new MamlIterationStats(Iteration, data.Average(d => d.Train.MeanReturn), data.Average(d => d.Valid.MeanReturn), improvement, finalKl,
            lsSteps, accepted, watch.Elapsed.TotalSeconds, samplingSeconds, stepSeconds, watch.Elapsed.TotalSeconds - samplingSeconds - stepSeconds));
    }

    /// <summary>
    /// MAML-PPO: several epochs of Adam on the clipped surrogate of the post-adaptation trajectories, the inner step
    /// re-taken (in the graph) from the current θ every epoch, so each gradient is the exact meta-gradient.
    /// </summary>
    private MamlIterationStats PpoStep(TaskData[] data, IReadOnlyList<Tensor<float>> theta, Stopwatch watch, double samplingSeconds,
        Func<IReadOnlyList<Tensor<float>>, (double Surrogate, double Kl)> objectiveValues)
    {
        double before = objectiveValues(theta).Surrogate;
        double clip = Config.PpoClip;
        for (int epoch = 0; epoch < Config.PpoEpochs; epoch++)
        {
            var grads = new Tensor<float>[data.Length][];
            var failure = new string?[data.Length];
            Parallel.For(0, data.Length, Cores, i =>
            {
                using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
                using var _ = GradMode.EnableGrad();
                var d = data[i];
                var adapted = AdaptFor(theta, d.Train, graph: true);
                var loss = -MamlMath.ClippedSurrogate(Policy, adapted, d.Valid, d.OldLogProb, clip);
                if (!double.IsFinite(loss.ToScalar())) { failure[i] = $"MAML-PPO loss became {loss.ToScalar()} at iteration {Iteration + 1}"; return; }
                grads[i] = Autograd.Grad([loss], theta, allowUnused: true).Select((x, j) => x ?? Tensor.Zeros<float>(theta[j].Shape.ToArray())).ToArray();
            });
            if (failure.FirstOrDefault(f => f is not null) is { } message) throw new TrainingDivergedException(message + "; training stopped.");
            var total = SumInOrder(grads, theta, 1.0 / data.Length);
            for (int j = 0; j < theta.Count; j++) theta[j].Grad = total[j];
            _optimizer!.Step();
            for (int j = 0; j < theta.Count; j++) theta[j].Grad = null;
        }
        double stepSeconds = watch.Elapsed.TotalSeconds - samplingSeconds;
        var (after, kl) = objectiveValues(theta);
        Iteration++;
        return Track(new MamlIterationStats(Iteration, data.Average(d => d.Train.MeanReturn), data.Average(d => d.Valid.MeanReturn), after - before, kl,
            0, true, watch.Elapsed.TotalSeconds, samplingSeconds, stepSeconds, watch.Elapsed.TotalSeconds - samplingSeconds - stepSeconds));
    }

    /// <summary>Writes the policy, the iteration, the random streams and (MAML-PPO) the optimiser state atomically.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string> metadata)
    {
        var archive = new TensorArchive();
        foreach (var (k, v) in metadata) archive.Metadata[k] = v;
        archive.Metadata["kind"] = "maml-checkpoint";
        archive.Metadata["iteration"] = Iteration.ToString(CultureInfo.InvariantCulture);
        CheckpointMetadata.WriteRng(archive, "rng", _rng);
        CheckpointMetadata.WriteRng(archive, "task-rng", _taskRng);
        _best.WriteTo(archive);
        CheckpointMetadata.WriteDoubles(archive, "recent-post-returns", _recentPost);
        Policy.AddTo(archive, "policy.");
        if (_optimizer is not null) CheckpointMetadata.WriteOptimizer(archive, _optimizer);
        archive.Save(path);
    }

    /// <summary>Restores a checkpoint written by <see cref="Save"/>; nothing changes if it does not fit.</summary>
    public void Load(TensorArchive archive)
    {
        if (!archive.Metadata.TryGetValue("kind", out var kind) || kind != "maml-checkpoint")
            throw new CheckpointException($"The checkpoint is not a MAML training checkpoint (kind '{kind ?? "missing"}').");
        var rng = CheckpointMetadata.ReadRngState(archive, "rng");
        var taskRng = CheckpointMetadata.ReadRngState(archive, "task-rng");
        int iteration = CheckpointMetadata.ReadInt(archive, "iteration");
        var optimState = _optimizer is null ? null : CheckpointMetadata.ReadOptimizerState(archive, _optimizer);
        // Checkpoints from before best-policy tracking start it afresh.
        var best = BestPolicy.Read(archive);
        var recent = CheckpointMetadata.ReadDoubles(archive, "recent-post-returns", []);
        var probe = CreatePolicy(_tasks, Config, new Rng(1));
        probe.LoadFrom(archive, "policy.");
        Policy.LoadFrom(archive, "policy.");
        if (optimState is not null) _optimizer!.LoadState(optimState);
        _rng.SetState(rng);
        _taskRng.SetState(taskRng);
        Iteration = iteration;
        _best.Apply(best);
        _recentPost.Clear();
        foreach (var r in recent.TakeLast(Config.BestWindow)) _recentPost.Enqueue(r);
    }

    private Tensor<float>[] AdaptFor(IReadOnlyList<Tensor<float>> theta, TrajectoryBatch train, bool graph)
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
    private static Tensor<float>[] SumInOrder(Tensor<float>[][] parts, IReadOnlyList<Tensor<float>> like, double scale)
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

    /// <summary>
    /// One task's pieces for the exact one-step meta-gradient and KL curvature: the inner gradient kept
    /// for Hessian products, and the KL gradient at θ' kept for Fisher products.
    /// </summary>
    private sealed class TaskCurvature
    {
        private Func<Tensor<float>[], Tensor<float>[]> _innerHessian = null!, _fisher = null!;
        private double _alpha;

        public double Surrogate { get; private set; }
        public Tensor<float>[] SurrogateGradient { get; private set; } = [];

        public static TaskCurvature Build(MlpPolicy<float> policy, IReadOnlyList<Tensor<float>> theta, TaskData d, double alpha, bool lowVarianceCurvature,
            GaussianMlpCurvature<float>? innerWorkspace, GaussianMlpCurvature<float>? klWorkspace)
        {
            var c = new TaskCurvature { _alpha = alpha };
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
            var kl = MamlMath.Kl(policy, adaptedLeaves, d.Valid, d.OldOutput, d.OldLogStd);
            var klGrad = Autograd.Grad([kl], adaptedLeaves, createGraph: true, allowUnused: true);
            c._innerHessian = v => TrustRegion.HessianTimes(innerGrad, theta, v);
            c._fisher = u => TrustRegion.HessianTimes(klGrad, adaptedLeaves, u);
            c.SurrogateGradient = c.ThroughInnerStep(gS);
            return c;
        }

        /// <summary>θ' = θ − α∇L(θ) with the hand-derived inner gradient (the workspace is loaded at θ on the task's training batch).</summary>
        private static Tensor<float>[] Adapted(IReadOnlyList<Tensor<float>> theta, TaskData d, double alpha, GaussianMlpCurvature<float> innerWorkspace)
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
        public static (double Surrogate, double Kl) Values(IReadOnlyList<Tensor<float>> at, TaskData d, double alpha,
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
}
