using MetaRL.Algorithms.Common;
using MetaRL.Algorithms.Sac;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Pearl;

/// <summary>How the meta-tested agent takes its task variable from the posterior.</summary>
public enum PearlLatent { Sample, Mean }

/// <summary>
/// Settings of PEARL (Rakelly et al. 2019). Defaults are the paper's: latent 5, 3×300 networks, encoder 3×200, Adam 3e-4,
/// meta-batch 16 tasks × 256 transitions, context batch 100, reward scale 5 with the temperature fixed at 1, KL weight
/// 0.1, and per iteration 5 tasks collected for 400 steps with z from the prior and 600 more with z from the posterior,
/// then 2000 gradient steps.
/// </summary>
public sealed record PearlConfig
{
    public int Latent { get; init; } = 5;
    public int[] Hidden { get; init; } = [300, 300, 300];
    public int[] EncoderHidden { get; init; } = [200, 200, 200];
    public bool NextObservationInContext { get; init; }
    /// <summary>Critics learn from the family's denser training reward where it offers one (true), or from the reward the agent sees.</summary>
    public bool DenseCriticReward { get; init; } = true;
    /// <summary>Critics' rewards get the family's potential-based shaping γΦ(s′) − Φ(s).</summary>
    public bool CriticShaping { get; init; }
    public double LearningRate { get; init; } = 3e-4;
    public int MetaBatch { get; init; } = 16;
    public int BatchSize { get; init; } = 256;
    public int ContextBatch { get; init; } = 100;
    /// <summary>With a value below <see cref="ContextBatch"/>: each task's context in a gradient step holds a number of transitions drawn uniformly from here to ContextBatch.</summary>
    public int ContextBatchMin { get; init; }
    public double KlWeight { get; init; } = 0.1;
    public double Gamma { get; init; } = 0.99;
    public double Tau { get; init; } = 0.005;
    public double RewardScale { get; init; } = 5;
    public double InitialAlpha { get; init; } = 1;
    public bool AutoAlpha { get; init; }
    public double? TargetEntropy { get; init; }
    public int TrainTasks { get; init; } = 100;
    public int Iterations { get; init; } = 500;
    public int InitialSteps { get; init; } = 2000;
    public int TasksPerIteration { get; init; } = 5;
    public int StepsPrior { get; init; } = 400;
    public int StepsPosterior { get; init; }
    public int StepsExtraPosterior { get; init; } = 600;
    public int GradientSteps { get; init; } = 2000;
    public int BufferSize { get; init; } = 1_000_000;
    public bool Deterministic { get; init; } = true;
    public PearlLatent EvalLatent { get; init; } = PearlLatent.Sample;

    /// <summary>The update's own settings.</summary>
    public SacSettings Update => new(Hidden, LearningRate, Gamma, Tau, RewardScale, TargetEntropy, InitialAlpha, AutoAlpha);

    /// <summary>Every PEARL setting, declared once.</summary>
    public static SettingSchema<PearlConfig> Schema { get; } = new SettingSchema<PearlConfig>("pearl")
        .Group("network")
        .Int("latent", c => c.Latent, (c, v) => c with { Latent = v }, 0, 1000, "Size of the task variable z; 0 trains the non-adaptive multi-task policy (no encoder).")
        .Sizes("hidden", c => c.Hidden, (c, v) => c with { Hidden = v }, allowNone: false, "Hidden layers of the policy and of each of the twin Q networks (ReLU).")
        .Sizes("encoder-hidden", c => c.EncoderHidden, (c, v) => c with { EncoderHidden = v }, allowNone: false, "Hidden layers of the context encoder (ReLU).")
        .Bool("next-obs-in-context", c => c.NextObservationInContext, (c, v) => c with { NextObservationInContext = v }, "The encoder also reads each transition's next observation.")
        .Group("update")
        .Bool("dense-critic-reward", c => c.DenseCriticReward, (c, v) => c with { DenseCriticReward = v },
            "Critics learn from the family's denser reward where it offers one (sparse-point-robot's distance); false: from the reward the agent sees.")
        .Bool("critic-shaping", c => c.CriticShaping, (c, v) => c with { CriticShaping = v },
            "Add potential-based shaping γΦ(s′) − Φ(s) to the critics' reward (the family's potential, e.g. minus the distance to the goal): the best action in every state stays the same.")
        .Double("lr", c => c.LearningRate, (c, v) => c with { LearningRate = v }, 0, 1, "Adam's learning rate for every network and the temperature.")
        .Int("meta-batch", c => c.MetaBatch, (c, v) => c with { MetaBatch = v }, 1, 100_000, "Tasks per gradient step.")
        .Int("batch", c => c.BatchSize, (c, v) => c with { BatchSize = v }, 1, 1_000_000, "Transitions per task per gradient step.")
        .Int("context-batch", c => c.ContextBatch, (c, v) => c with { ContextBatch = v }, 1, 1_000_000, "Transitions of recent data the encoder reads per task per gradient step.")
        .Int("context-batch-min", c => c.ContextBatchMin, (c, v) => c with { ContextBatchMin = v }, 0, 1_000_000,
            "0: every context holds context-batch transitions; otherwise each task's context per gradient step holds a number drawn uniformly from this to context-batch, so the encoder and critics also learn the broader posteriors of a trial's first episodes.")
        .Double("kl-weight", c => c.KlWeight, (c, v) => c with { KlWeight = v }, 0, 1e6, "Weight of the posterior's KL divergence from the prior N(0, I) in the encoder's loss.")
        .Double("gamma", c => c.Gamma, (c, v) => c with { Gamma = v }, 0, 1, "Discount factor.")
        .Double("tau", c => c.Tau, (c, v) => c with { Tau = v }, 0, 1, "Polyak factor of the target critics.")
        .Double("reward-scale", c => c.RewardScale, (c, v) => c with { RewardScale = v }, 1e-6, 1e6, "Rewards are multiplied by this in the critics' targets.")
        .Double("alpha", c => c.InitialAlpha, (c, v) => c with { InitialAlpha = v }, 1e-9, 1e6, "The entropy temperature (at the start, with auto-alpha).")
        .Bool("auto-alpha", c => c.AutoAlpha, (c, v) => c with { AutoAlpha = v }, "Tune the temperature towards the target entropy (the paper keeps it at 1 and scales rewards).")
        .Custom("target-entropy", SettingType.Text, c => c.TargetEntropy?.ToString("R", System.Globalization.CultureInfo.InvariantCulture) ?? "auto",
            (r, c) => c with { TargetEntropy = SacConfig.ReadTargetEntropy(r, "pearl", c.TargetEntropy) },
            "With auto-alpha: the policy entropy aimed at, a number or auto for minus the number of action dimensions.")
        .Group("training")
        .Int("train-tasks", c => c.TrainTasks, (c, v) => c with { TrainTasks = v }, 1, 100_000, "Training tasks drawn once from the family's training split; each keeps its own replay buffers.")
        .Int("iterations", c => c.Iterations, (c, v) => c with { Iterations = v }, 1, 100_000_000, "Iterations: each collects on some tasks and then takes gradient steps.")
        .Int("initial-steps", c => c.InitialSteps, (c, v) => c with { InitialSteps = v }, 0, 100_000_000, "Before the first iteration, steps collected on every training task with z from the prior.")
        .Int("tasks-per-iteration", c => c.TasksPerIteration, (c, v) => c with { TasksPerIteration = v }, 1, 100_000, "Training tasks collected on per iteration.")
        .Int("steps-prior", c => c.StepsPrior, (c, v) => c with { StepsPrior = v }, 0, 100_000_000, "Per collected task: steps with z from the prior (they refill its encoder buffer).")
        .Int("steps-posterior", c => c.StepsPosterior, (c, v) => c with { StepsPosterior = v }, 0, 100_000_000, "Per collected task: steps with z from the posterior, also added to its encoder buffer.")
        .Int("steps-extra-posterior", c => c.StepsExtraPosterior, (c, v) => c with { StepsExtraPosterior = v }, 0, 100_000_000, "Per collected task: steps with z from the posterior for the critics and policy only.")
        .Int("gradient-steps", c => c.GradientSteps, (c, v) => c with { GradientSteps = v }, 0, 100_000_000, "Gradient steps per iteration, each on a meta-batch of tasks.")
        .Int("buffer-size", c => c.BufferSize, (c, v) => c with { BufferSize = v }, 1, 100_000_000, "Transitions each task's replay buffer keeps.")
        .Group("evaluation")
        .Bool("deterministic", c => c.Deterministic, (c, v) => c with { Deterministic = v }, "Meta-test with the policy's mean action (true) or by sampling (false).")
        .Enum("eval-latent", c => c.EvalLatent, (c, v) => c with { EvalLatent = v }, "Meta-test with z sampled from the posterior at each episode's start (sample) or its mean (mean).");

    /// <summary>PEARL's per-task defaults (<c>Pearl/Presets/pearl.json</c>).</summary>
    public static Presets Presets { get; } = Presets.Load(typeof(PearlConfig).Assembly, "MetaRL.Algorithms.Presets.pearl.json", "pearl");

    public PearlConfig With(IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> rest)
    {
        var c = Schema.Apply(this, settings, out rest);
        if (c.TasksPerIteration > c.TrainTasks)
            throw new SettingException($"pearl: 'tasks-per-iteration' ({c.TasksPerIteration}) cannot exceed 'train-tasks' ({c.TrainTasks}).");
        if (c.ContextBatchMin > c.ContextBatch)
            throw new SettingException($"pearl: 'context-batch-min' ({c.ContextBatchMin}) cannot exceed 'context-batch' ({c.ContextBatch}); set it too (0 for contexts of one size).");
        if (c.StepsPrior + c.StepsPosterior == 0 && c.Latent > 0)
            throw new SettingException("pearl: 'steps-prior' and 'steps-posterior' are both 0, so no task's encoder buffer would ever hold context.");
        return c;
    }

    public IReadOnlyDictionary<string, string> ToSettings() => Schema.Format(this);
}
