using System.Globalization;
using System.Text.Json;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Rl2;

/// <summary>The recurrent core of an RL² network.</summary>
public enum RecurrentCell { Gru, Lstm }

/// <summary>How RL² updates its policy each iteration.</summary>
public enum Rl2Update
{
    /// <summary>PPO's clipped surrogate, several Adam epochs on minibatches of trials.</summary>
    Ppo,
    /// <summary>One TRPO natural-gradient step under a KL limit (the RL² paper's).</summary>
    Trpo,
}

/// <summary>How the learning rate moves over training.</summary>
public enum LearningRateSchedule
{
    /// <summary>Decays linearly to zero at the last iteration.</summary>
    Linear,
    /// <summary>Stays as set.</summary>
    Constant,
}

/// <summary>Every setting of RL² training (PPO or TRPO); <c>--set key=value</c> overrides them by <see cref="Keys"/>.</summary>
public sealed record Rl2Config
{
    public int Hidden { get; init; } = 128;
    /// <summary>
    /// Hidden layer sizes of the tanh MLPs the policy and value heads apply to the recurrent features (each head its own);
    /// empty: linear heads, as in the RL² paper.
    /// </summary>
    public int[] Head { get; init; } = [];
    /// <summary>
    /// The policy and value heads read the current input row (observation, previous action and reward, done flag, time)
    /// beside the recurrent features, a connection around the recurrent core (see <see cref="Rl2Network"/>).
    /// </summary>
    public bool SkipInput { get; init; }
    /// <summary>The policy's and the value's output layers are gated by the current observation (see <see cref="Rl2Network.GatedHead"/>); needs <see cref="SkipInput"/>.</summary>
    public bool GatedHead { get; init; }
    public RecurrentCell Cell { get; init; } = RecurrentCell.Gru;
    public bool LayerNorm { get; init; }
    /// <summary>
    /// Added at initialisation to the bias of the gate that keeps the recurrent state: the GRU's update gate (0: it keeps
    /// half the state each step; σ(bias) of it) or the LSTM's forget gate (on top of its usual 1; σ(1 + bias) of the cell).
    /// Positive values start the network with a longer memory, as the forget-gate bias of Jozefowicz et al. 2015.
    /// Initialisation only: a resumed or evaluated run uses its trained weights.
    /// </summary>
    public double MemoryBias { get; init; }
    /// <summary>
    /// The Gaussian policy's initial log standard deviation per action dimension (continuous actions); lower starts with
    /// less exploration noise, for tasks where a large random action is costly (an insulin overdose). Initialisation only.
    /// </summary>
    public double InitialLogStd { get; init; } = -0.5;
    /// <summary>Feed the episode index and step within the episode (as fractions) to the network (see <see cref="Rl2Network"/>).</summary>
    public bool TimeInput { get; init; }
    /// <summary>
    /// Feed the previous observation beside the current one, so each input row holds the whole last transition
    /// (see <see cref="Rl2Network.PreviousObservation"/>).
    /// </summary>
    public bool PreviousObservation { get; init; }
    /// <summary>
    /// Feed the outer product of the previous observation with the previous action, plain and times the previous reward
    /// (see <see cref="Rl2Network.PairInput"/>).
    /// </summary>
    public bool PairInput { get; init; }
    /// <summary>Train with a task-aware critic (see <see cref="Rl2Network"/>) when the task family offers task features.</summary>
    public bool TaskCritic { get; init; }
    /// <summary>
    /// Weight of an auxiliary task-inference loss (0: none): a linear head on the features the policy reads predicts the
    /// task's hidden parameters (<see cref="TaskDistribution.WriteTaskFeatures"/>) at every step, and its mean squared
    /// error, scaled by this weight, joins the PPO loss (with TRPO: is subtracted from the surrogate the trust-region step
    /// maximises, the prediction's change counted in the KL limit as a unit-variance Gaussian's, and Adam fits the task
    /// head with the value head), so the recurrent core is trained to carry what the history says about the task (belief
    /// supervision, Humplik et al. 2019). Training only: the policy never reads the prediction or the task.
    /// </summary>
    public double TaskPrediction { get; init; }
    /// <summary>False trains a non-adaptive multi-task policy (no memory, no previous action/reward inputs) as a baseline.</summary>
    public bool Memory { get; init; } = true;
    /// <summary>True trains a task-knowing oracle: the policy reads the task's hidden parameters (for comparisons).</summary>
    public bool TaskInput { get; init; }
    public int Iterations { get; init; } = 1000;
    /// <summary>
    /// The policy update: "ppo" (clipped surrogate, several Adam epochs on minibatches of trials, value loss and entropy
    /// bonus in one loss) or "trpo" (as in the RL² paper: one natural-gradient step of mean KL at most <see cref="MaxKl"/>
    /// over the whole batch, the recurrent core and policy head moving together; the value head alone is then fitted by
    /// Adam on the recurrent features for <see cref="Epochs"/> × <see cref="Minibatches"/> steps; no entropy bonus or clipping).
    /// </summary>
    public Rl2Update Update { get; init; } = Rl2Update.Ppo;
    /// <summary>TRPO: the mean KL divergence a step may reach.</summary>
    public double MaxKl { get; init; } = 0.01;
    /// <summary>TRPO: conjugate-gradient iterations on Fisher-vector products.</summary>
    public int CgIterations { get; init; } = 10;
    /// <summary>
    /// TRPO: the fraction of the batch's trials the Fisher-vector products use (as rllab's subsample factor); the
    /// gradient and the line search always use the whole batch, so the KL limit holds on all of it.
    /// </summary>
    public double CgSubsample { get; init; } = 1.0;
    /// <summary>TRPO: damping added to the Fisher matrix.</summary>
    public double CgDamping { get; init; } = 0.1;
    /// <summary>TRPO: backtracking steps of the line search, and the factor each applies.</summary>
    public int LineSearchSteps { get; init; } = 15;
    public double LineSearchBacktrack { get; init; } = 0.8;
    /// <summary>Trials (tasks) collected per iteration.</summary>
    public int TrialsPerIteration { get; init; } = 256;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>"linear" decays the learning rate to zero over training; "constant" keeps it.</summary>
    public LearningRateSchedule LrSchedule { get; init; } = LearningRateSchedule.Linear;
    public double Gamma { get; init; } = 0.99;
    public double GaeLambda { get; init; } = 0.95;
    public double ClipRange { get; init; } = 0.2;
    public int Epochs { get; init; } = 4;
    /// <summary>Minibatches per epoch; each holds whole trials.</summary>
    public int Minibatches { get; init; } = 4;
    public double ValueCoef { get; init; } = 0.5;
    public double EntropyCoef { get; init; } = 0.01;
    /// <summary>Entropy coefficient at the end of training (linear from <see cref="EntropyCoef"/>).</summary>
    public double EntropyCoefFinal { get; init; } = 0.0;
    public double MaxGradNorm { get; init; } = 0.5;
    /// <summary>Truncated BPTT length in steps; 0 back-propagates through whole trials.</summary>
    public int Bptt { get; init; }
    /// <summary>
    /// The share of each iteration's trials drawn for the groups of tasks (<see cref="TaskDistribution.GroupOf"/>) the
    /// policy currently does worst on, by a moving average of their returns (see <see cref="Rollouts.GroupPriority"/>);
    /// 0 draws every task as the family does. Needs a family whose tasks form groups.
    /// </summary>
    public double TaskPriority { get; init; }
    /// <summary>
    /// A warm start only (<c>--weights</c>, or a staged run's later stage): the loaded policy's output layer is multiplied
    /// by this, so a policy over discrete actions starts at <c>1 / scale</c> times its temperature, its preferences in the
    /// same order but less decided, and 0 starts it uniform over the loaded memory's features (what a fresh head gives).
    /// The value head and the recurrent core are kept as loaded. A policy that has settled on one answer for the task it
    /// was trained on then explores the new tasks' answers again before the entropy bonus alone could make it.
    /// </summary>
    public double WarmStartPolicyScale { get; init; } = 1;
    /// <summary>
    /// Teachers for groups of training tasks (<see cref="TaskDistribution.GroupOf"/>: arena's styles, rps-bots' kinds),
    /// each an RL² checkpoint of the same family, typically a per-style oracle: on every training trial of a group that
    /// has one, the teacher is run over the student's own steps and the student's policy is pulled toward the teacher's
    /// by a cross-entropy term weighted by <see cref="TeacherCoef"/> (kickstarting, Schmitt et al. 2018, with a teacher
    /// per group). Training only: the policy never sees the teacher or the group. Empty: none.
    /// </summary>
    public IReadOnlyList<Rl2Teacher> Teachers { get; init; } = [];
    /// <summary>Weight of the teachers' cross-entropy term at the start of training (PPO).</summary>
    public double TeacherCoef { get; init; } = 1;
    /// <summary>Weight of the teachers' term at the end of training (linear in between, as the entropy bonus).</summary>
    public double TeacherCoefFinal { get; init; }
    /// <summary>
    /// Whether the teachers also teach each episode's first decision. False leaves that decision to the reward alone:
    /// in arena it picks the round's kit, the choice that adapting to the player is about, which a teacher that never saw
    /// the student's earlier rounds (or has no memory) cannot make for it.
    /// </summary>
    public bool TeachEpisodeStart { get; init; } = true;

    /// <summary>Steps per chunk the updates cut a trial of <paramref name="trialSteps"/> steps into (<see cref="Bptt"/>, or the whole trial).</summary>
    public int ChunkLength(int trialSteps) => Bptt > 0 ? Math.Min(Bptt, trialSteps) : trialSteps;
    /// <summary>Rewards are multiplied by this before learning (not in reports).</summary>
    public double RewardScale { get; init; } = 1.0;
    /// <summary>
    /// Divide rewards by the running standard deviation of the discounted return (as Stable-Baselines3's
    /// VecNormalize does), so value targets stay near unit scale whatever the task's reward scale.
    /// </summary>
    public bool NormalizeRewards { get; init; } = true;
    /// <summary>
    /// Scale each observation component by its running mean and standard deviation (clipped to ±10), the statistics
    /// saved with the checkpoint (see <see cref="ObservationNormalizer"/>). Off by default: on hopper-params it trained
    /// worse (593 vs 712 total return over two episodes, one seed each) and on cheetah-vel no better (−431 vs −430).
    /// </summary>
    public bool NormalizeObservations { get; init; }
    /// <summary>
    /// An episode that terminates before its horizon inside a trial (a hopper falls) counts as if its remaining steps
    /// had passed at zero reward: the discount to the next episode's first step is γ^(1+m) for m forfeited steps. Without
    /// it, falling early moves the next episode's rewards closer in discounted time, so with γ &lt; 1 a fall costs almost
    /// nothing although it forfeits the rest of the episode's return. No effect on families whose episodes never end early.
    /// </summary>
    public bool PadTerminated { get; init; } = true;
    /// <summary>Evaluate with the most likely action (true) or by sampling (false).</summary>
    public bool Deterministic { get; init; } = true;
    /// <summary>
    /// Every this many iterations, and after the last, the policy is scored by the meta-test protocol on
    /// <see cref="ValidationTrials"/> fixed tasks of the training distribution (the same tasks and random streams every
    /// time); the best score so far makes the run's best policy (<c>best.mrla</c>). 0 turns validation off.
    /// </summary>
    public int ValidateEvery { get; init; } = 50;
    public int ValidationTrials { get; init; } = 500;

    /// <summary>Every RL² setting, declared once: parsing, validation, recording and listing come from here.</summary>
    public static SettingSchema<Rl2Config> Schema { get; } = new SettingSchema<Rl2Config>("rl2")
        .Group("network")
        .Int("hidden", c => c.Hidden, (c, v) => c with { Hidden = v }, 1, 4096, "Units of the recurrent core (GRU or LSTM state size).")
        .Sizes("head", c => c.Head, (c, v) => c with { Head = v }, allowNone: true, "Hidden layers of the tanh MLP policy and value heads over the recurrent features; none: linear heads, as in the RL² paper.")
        .Bool("skip-input", c => c.SkipInput, (c, v) => c with { SkipInput = v }, "The heads also read the current input row beside the recurrent features.")
        .Bool("gated-head", c => c.GatedHead, (c, v) => c with { GatedHead = v }, "The policy's and value's output layers are gated by the current observation (needs skip-input).")
        .Enum("cell", c => c.Cell, (c, v) => c with { Cell = v }, "The recurrent cell.")
        .Bool("layer-norm", c => c.LayerNorm, (c, v) => c with { LayerNorm = v }, "Layer normalisation inside the recurrent cell.")
        .Double("memory-bias", c => c.MemoryBias, (c, v) => c with { MemoryBias = v }, -20, 20, "Initial bias added to the gate that keeps the recurrent state (GRU update gate, LSTM forget gate); positive starts with a longer memory.")
        .Double("log-std-init", c => c.InitialLogStd, (c, v) => c with { InitialLogStd = v }, -10, 2, "Initial log standard deviation of the Gaussian policy (continuous actions); lower starts with less exploration noise.")
        .Group("inputs")
        .Bool("time-input", c => c.TimeInput, (c, v) => c with { TimeInput = v }, "Feed the episode index and the step within the episode, as fractions.")
        .Bool("previous-observation", c => c.PreviousObservation, (c, v) => c with { PreviousObservation = v }, "Feed the previous observation, so each input row holds the whole last transition.")
        .Bool("pair-input", c => c.PairInput, (c, v) => c with { PairInput = v }, "Feed the outer product of the previous observation and action, plain and times the previous reward.")
        .Group("task information")
        .Bool("task-critic", c => c.TaskCritic, (c, v) => c with { TaskCritic = v }, "Train with a critic that reads the task's hidden parameters (training only; the policy never sees them).")
        .Double("task-prediction", c => c.TaskPrediction, (c, v) => c with { TaskPrediction = v }, 0, 1e6, "Weight of an auxiliary loss predicting the task's hidden parameters from the history (0: none).")
        .Group("comparison agents")
        .Bool("memory", c => c.Memory, (c, v) => c with { Memory = v }, "false trains the non-adaptive multi-task baseline: no memory and no previous action or reward inputs.")
        .Bool("task-input", c => c.TaskInput, (c, v) => c with { TaskInput = v }, "true trains a task-knowing oracle: the policy reads the task's hidden parameters.")
        .Group("training")
        .Int("iterations", c => c.Iterations, (c, v) => c with { Iterations = v }, 1, 10_000_000, "Training iterations.")
        .Group("policy update")
        .Enum("update", c => c.Update, (c, v) => c with { Update = v }, "The policy update: PPO's clipped surrogate or one TRPO natural-gradient step per iteration.")
        .Double("max-kl", c => c.MaxKl, (c, v) => c with { MaxKl = v }, 1e-9, 10, "TRPO: the mean KL divergence one step may reach.")
        .Int("cg-iters", c => c.CgIterations, (c, v) => c with { CgIterations = v }, 1, 1000, "TRPO: conjugate-gradient iterations on Fisher-vector products.")
        .Double("cg-subsample", c => c.CgSubsample, (c, v) => c with { CgSubsample = v }, 1e-6, 1, "TRPO: fraction of the batch's trials the Fisher-vector products use.")
        .Double("cg-damping", c => c.CgDamping, (c, v) => c with { CgDamping = v }, 0, 1e3, "TRPO: damping added to the Fisher matrix.")
        .Int("ls-steps", c => c.LineSearchSteps, (c, v) => c with { LineSearchSteps = v }, 0, 1000, "TRPO: backtracking steps of the line search.")
        .Double("ls-backtrack", c => c.LineSearchBacktrack, (c, v) => c with { LineSearchBacktrack = v }, 1e-3, 0.999, "TRPO: the factor each backtracking step applies.")
        .Group("training")
        .Int("trials-per-iteration", c => c.TrialsPerIteration, (c, v) => c with { TrialsPerIteration = v }, 1, 1_000_000, "Trials (tasks) collected per iteration.")
        .Double("task-priority", c => c.TaskPriority, (c, v) => c with { TaskPriority = v }, 0, 1, "Share of each iteration's trials drawn for the groups of tasks (arena's styles, rps-bots' kinds) with the lowest moving-average return, the worst most (0: as the family draws).")
        .Double("warm-start-policy-scale", c => c.WarmStartPolicyScale, (c, v) => c with { WarmStartPolicyScale = v }, 0, 1, "A warm start (--weights, a staged run's later stage) multiplies the loaded policy's output layer by this: a discrete policy at 1/scale its temperature (0: uniform); 1 keeps it.")
        .Group("teachers")
        .Custom("teachers", SettingType.Text, c => Rl2Teacher.Format(c.Teachers), (r, c) => c with { Teachers = Rl2Teacher.Parse(r.Owner, "teachers", r.Text("teachers", Rl2Teacher.Format(c.Teachers))) },
            "Per-group teachers as group=checkpoint pairs separated by commas (kite=runs/arena-kite/best.mrla): the policy is pulled toward each group's teacher on its training trials; a task-knowing teacher (task-input) reads the trial's task features (none: no teachers).")
        .Double("teacher-coef", c => c.TeacherCoef, (c, v) => c with { TeacherCoef = v }, 0, 1e6, "Weight of the teachers' cross-entropy term at the start of training.")
        .Double("teacher-coef-final", c => c.TeacherCoefFinal, (c, v) => c with { TeacherCoefFinal = v }, 0, 1e6, "Weight of the teachers' term at the end (linear in between).")
        .Bool("teach-episode-start", c => c.TeachEpisodeStart, (c, v) => c with { TeachEpisodeStart = v }, "The teachers also teach each episode's first decision (false: it is learnt from the reward alone; arena: the kit pick).")
        .Group("training")
        .Double("lr", c => c.LearningRate, (c, v) => c with { LearningRate = v }, 0, 1, "Adam's learning rate (PPO: the whole network; TRPO: the value head).")
        .Enum("lr-schedule", c => c.LrSchedule, (c, v) => c with { LrSchedule = v }, "linear decays the learning rate to zero over training; constant keeps it.")
        .Group("returns and advantages")
        .Double("gamma", c => c.Gamma, (c, v) => c with { Gamma = v }, 0, 1, "Discount factor across the steps of a whole trial.")
        .Double("gae-lambda", c => c.GaeLambda, (c, v) => c with { GaeLambda = v }, 0, 1, "λ of generalised advantage estimation.")
        .Group("policy update")
        .Double("clip", c => c.ClipRange, (c, v) => c with { ClipRange = v }, 1e-6, 10, "PPO: clip range of the probability ratio.")
        .Int("epochs", c => c.Epochs, (c, v) => c with { Epochs = v }, 1, 1000, "PPO: passes over each batch (TRPO: of the value fit).")
        .Int("minibatches", c => c.Minibatches, (c, v) => c with { Minibatches = v }, 1, 100_000, "Minibatches per epoch; each holds whole trials.")
        .Double("value-coef", c => c.ValueCoef, (c, v) => c with { ValueCoef = v }, 0, 1e6, "PPO: weight of the value loss.")
        .Double("entropy-coef", c => c.EntropyCoef, (c, v) => c with { EntropyCoef = v }, 0, 1e6, "PPO: weight of the entropy bonus at the start of training.")
        .Double("entropy-coef-final", c => c.EntropyCoefFinal, (c, v) => c with { EntropyCoefFinal = v }, 0, 1e6, "PPO: weight of the entropy bonus at the end (linear in between).")
        .Group("policy update")
        .Double("max-grad-norm", c => c.MaxGradNorm, (c, v) => c with { MaxGradNorm = v }, 1e-9, 1e9, "Gradients are clipped to this global norm.")
        .Group("training")
        .Int("bptt", c => c.Bptt, (c, v) => c with { Bptt = v }, 0, 1_000_000, "Truncated back-propagation length in steps; 0 back-propagates through whole trials.")
        .Group("returns and advantages")
        .Double("reward-scale", c => c.RewardScale, (c, v) => c with { RewardScale = v }, 1e-30, 1e30, "Rewards are multiplied by this before learning (not in reports).")
        .Bool("normalize-rewards", c => c.NormalizeRewards, (c, v) => c with { NormalizeRewards = v }, "Divide rewards by the running standard deviation of the discounted return.")
        .Group("inputs")
        .Bool("normalize-observations", c => c.NormalizeObservations, (c, v) => c with { NormalizeObservations = v }, "Scale observations by running statistics saved with the checkpoint.")
        .Group("returns and advantages")
        .Bool("pad-terminated", c => c.PadTerminated, (c, v) => c with { PadTerminated = v }, "An episode that ends early counts its forfeited steps in the discount to the next episode.")
        .Group("evaluation")
        .Bool("deterministic", c => c.Deterministic, (c, v) => c with { Deterministic = v }, "Evaluate with the most likely action (true) or by sampling (false).")
        .Int("validate-every", c => c.ValidateEvery, (c, v) => c with { ValidateEvery = v }, 0, 10_000_000, "Score the policy on fixed validation tasks every this many iterations and after the last; the best makes best.mrla (0: off).")
        .Int("validation-trials", c => c.ValidationTrials, (c, v) => c with { ValidationTrials = v }, 1, 1_000_000, "Validation trials, on tasks drawn from the training distribution on a stream of their own.");

    /// <summary>Every RL² setting key.</summary>
    public static IReadOnlyList<string> Keys => Schema.Keys;

    /// <summary>RL²'s per-task defaults (<c>Rl2/Presets/rl2.json</c>).</summary>
    public static Presets Presets { get; } = Presets.Load(typeof(Rl2Config).Assembly, "MetaRL.Algorithms.Presets.rl2.json", "rl2");

    /// <summary>
    /// The defaults for a task family, given the settings the user chose (task settings among them, e.g. <c>episodes</c>):
    /// the general defaults with the family's preset applied, if it has one. Users override every value with settings.
    /// </summary>
    public static Rl2Config DefaultsFor(string task, IReadOnlyDictionary<string, string>? settings = null)
        => Presets.Defaults(Schema, new Rl2Config(), task, settings);

    /// <summary>Applies "key=value" settings that name RL² keys; the others are left for the task family.</summary>
    public Rl2Config With(IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> rest)
    {
        var c = Schema.Apply(this, settings, out rest);
        if (c.Minibatches > c.TrialsPerIteration)
            throw new SettingException($"rl2: 'minibatches' ({c.Minibatches}) cannot exceed 'trials-per-iteration' ({c.TrialsPerIteration}).");
        if (c.GatedHead && !c.SkipInput)
            throw new SettingException("rl2: 'gated-head' needs skip-input=true (the gate reads the current observation from the input row the heads see).");
        if (c.TaskPrediction > 0 && !c.Memory)
            throw new SettingException("rl2: 'task-prediction' needs memory=true (a policy without memory has no history to infer the task from).");
        if (c.Teachers.Count > 0 && c.Update != Rl2Update.Ppo)
            throw new SettingException("rl2: 'teachers' needs update=ppo (the teachers' term joins PPO's loss; TRPO's step has no place for it).");
        if (c.Teachers.Count > 0 && !c.Memory)
            throw new SettingException("rl2: 'teachers' needs memory=true (a teacher reads the history a policy without memory is not given); set teachers=none.");
        return c;
    }

    /// <summary>The settings as key=value strings (what a run directory records).</summary>
    public IReadOnlyDictionary<string, string> ToSettings() => Schema.Format(this);

    public string ToJson() => JsonSerializer.Serialize(ToSettings(), new JsonSerializerOptions { WriteIndented = true });
}
