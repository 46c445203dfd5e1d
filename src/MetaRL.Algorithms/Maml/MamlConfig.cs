using System.Globalization;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Maml;

/// <summary>MAML's outer (meta) update.</summary>
public enum MamlOuter { Trpo, Ppo }

/// <summary>Settings of MAML with a TRPO outer loop (defaults: 2-D navigation as in the MAML paper, with pytorch-maml-rl's [64, 64] tanh network).</summary>
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
    /// <summary>
    /// The fraction of each task's steps the TRPO step's curvature products use (rllab's subsample_factor): rows drawn
    /// afresh every iteration on the task's own random stream; the meta-gradient, the inner step and the line search
    /// always use every step. 1 (the default) is the exact curvature; the products' cost scales with it.
    /// </summary>
    public double CurvatureSubsample { get; init; } = 1;
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
        .Group("network")
        .Sizes("hidden", c => c.Hidden, (c, v) => c with { Hidden = v }, allowNone: false, "Hidden layers of the tanh MLP policy.")
        .Group("inner step")
        .Double("inner-lr", c => c.InnerLearningRate, (c, v) => c with { InnerLearningRate = v }, 0, 1e3, "Step size α of the inner policy-gradient steps.")
        .Int("inner-steps", c => c.InnerSteps, (c, v) => c with { InnerSteps = v }, 0, 10, "Inner gradient steps during meta-training; 0 trains the non-adaptive multi-task policy.")
        .Group("training")
        .Int("meta-batch", c => c.MetaBatch, (c, v) => c with { MetaBatch = v }, 1, 10_000, "Tasks per meta-iteration.")
        .Int("trajectories", c => c.Trajectories, (c, v) => c with { Trajectories = v }, 1, 100_000, "Trajectories per task for each adaptation step and for the post-adaptation batch.")
        .Int("iterations", c => c.Iterations, (c, v) => c with { Iterations = v }, 1, 10_000_000, "Meta-iterations.")
        .Group("outer step")
        .Double("max-kl", c => c.MaxKl, (c, v) => c with { MaxKl = v }, 1e-9, 10, "TRPO outer loop: the mean KL divergence one step may reach.")
        .Int("cg-iters", c => c.CgIterations, (c, v) => c with { CgIterations = v }, 1, 1000, "TRPO outer loop: conjugate-gradient iterations on Hessian-vector products.")
        .Double("cg-damping", c => c.CgDamping, (c, v) => c with { CgDamping = v }, 0, 1e3, "TRPO outer loop: damping added to the KL Hessian.")
        .Double("curvature-subsample", c => c.CurvatureSubsample, (c, v) => c with { CurvatureSubsample = v }, 1e-3, 1,
            "TRPO outer loop: the fraction of each task's steps the KL Hessian products use, redrawn every iteration (1: all, exact); the gradient always uses all.")
        .Int("ls-steps", c => c.LineSearchSteps, (c, v) => c with { LineSearchSteps = v }, 0, 1000, "TRPO outer loop: backtracking steps of the line search.")
        .Double("ls-backtrack", c => c.LineSearchBacktrack, (c, v) => c with { LineSearchBacktrack = v }, 1e-3, 0.999, "TRPO outer loop: the factor each backtracking step applies.")
        .Group("training")
        .Double("gamma", c => c.Gamma, (c, v) => c with { Gamma = v }, 0, 1, "Discount factor.")
        .Group("inner step")
        .Bool("first-order", c => c.FirstOrder, (c, v) => c with { FirstOrder = v }, "First-order MAML: drop the second-order terms of the inner step.")
        .Group("outer step")
        .Enum("outer", c => c.Outer, (c, v) => c with { Outer = v }, "The outer update: a TRPO step under a KL limit, or PPO's clipped surrogate over several Adam epochs.")
        .Int("ppo-epochs", c => c.PpoEpochs, (c, v) => c with { PpoEpochs = v }, 1, 1000, "PPO outer loop: Adam epochs per meta-iteration.")
        .Double("ppo-clip", c => c.PpoClip, (c, v) => c with { PpoClip = v }, 1e-6, 10, "PPO outer loop: clip range of the probability ratio.")
        .Double("outer-lr", c => c.OuterLearningRate, (c, v) => c with { OuterLearningRate = v }, 0, 1, "PPO outer loop: Adam's learning rate.")
        .Group("network")
        .Bool("normalize-actions", c => c.NormalizeActions, (c, v) => c with { NormalizeActions = v }, "A Gaussian policy over a bounded box acts in [-1, 1] mapped onto the box.")
        .Group("evaluation")
        .Custom("eval-lr-decay", SettingType.Text, c => c.EvalLearningRateDecay?.ToString("R", CultureInfo.InvariantCulture) ?? "auto",
            (r, c) => c with { EvalLearningRateDecay = ReadDecay(r, "eval-lr-decay", c.EvalLearningRateDecay) },
            "Meta-test steps after the first use inner-lr times this, a number in [0, 10]; auto chooses it per agent on the validation tasks.")
        .Int("best-window", c => c.BestWindow, (c, v) => c with { BestWindow = v }, 1, 100_000, "With validate-every=0: the best policy ends the window of this many iterations with the best training return.")
        .Int("validate-every", c => c.ValidateEvery, (c, v) => c with { ValidateEvery = v }, 0, 10_000_000, "Score the policy on fixed validation tasks every this many iterations and after the last (0: use best-window).")
        .Int("validation-tasks", c => c.ValidationTasks, (c, v) => c with { ValidationTasks = v }, 1, 100_000, "Validation tasks, drawn from the training distribution on a stream of their own.")
        .Group("inner step")
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
