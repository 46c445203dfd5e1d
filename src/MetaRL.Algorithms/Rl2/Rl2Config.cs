using System.Globalization;
using System.Text.Json;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Rl2;

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
    public string Cell { get; init; } = "gru";
    public bool LayerNorm { get; init; }
    /// <summary>
    /// Added at initialisation to the bias of the gate that keeps the recurrent state: the GRU's update gate (0: it keeps
    /// half the state each step; σ(bias) of it) or the LSTM's forget gate (on top of its usual 1; σ(1 + bias) of the cell).
    /// Positive values start the network with a longer memory, as the forget-gate bias of Jozefowicz et al. 2015.
    /// Initialisation only: a resumed or evaluated run uses its trained weights.
    /// </summary>
    public double MemoryBias { get; init; }
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
    public string Update { get; init; } = "ppo";
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
    public string LrSchedule { get; init; } = "linear";
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

    public static readonly string[] Keys =
    [
        "hidden", "head", "skip-input", "gated-head", "cell", "layer-norm", "memory-bias", "time-input", "previous-observation", "pair-input", "task-critic", "task-prediction", "memory", "task-input", "iterations", "update", "max-kl", "cg-iters", "cg-subsample", "cg-damping", "ls-steps", "ls-backtrack", "trials-per-iteration", "lr", "lr-schedule", "gamma", "gae-lambda", "clip",
        "epochs", "minibatches", "value-coef", "entropy-coef", "entropy-coef-final", "max-grad-norm", "bptt", "reward-scale", "normalize-rewards", "normalize-observations", "pad-terminated", "deterministic",
    ];

    /// <summary>
    /// Good defaults for a task family, given the settings the user chose (task settings among them, e.g. <c>episodes</c>):
    /// long trials want GAE λ near 1 (credit for exploring reaches many pulls later) and more iterations.
    /// Users override every value with settings.
    /// </summary>
    public static Rl2Config DefaultsFor(string task, IReadOnlyDictionary<string, string>? settings = null)
    {
        int episodes = settings is not null && settings.TryGetValue("episodes", out var e)
            && int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 10;
        // MuJoCo families: trials of two 200-step episodes; Gaussian motor commands judged by their mean at test time.
        var mujoco = new Rl2Config { Hidden = 128, Iterations = 500, TrialsPerIteration = 32, LearningRate = 3e-4, Gamma = 0.99, GaeLambda = 0.95, EntropyCoef = 0.0, Bptt = 100, Deterministic = true };
        return task switch
        {
            "bandit" or "dependent-bandit" when episodes >= 50 => new Rl2Config { Hidden = 128, Iterations = 2000, TrialsPerIteration = 256, LearningRate = 1e-3, Gamma = 0.99, GaeLambda = 0.95, EntropyCoef = 0.02 },
            "bandit" or "dependent-bandit" => new Rl2Config { Hidden = 128, Iterations = 1500, TrialsPerIteration = 256, LearningRate = 1e-3, Gamma = 0.99, GaeLambda = 0.3, EntropyCoef = 0.02 },
            // Measured (1000 iterations, 10 000 held-out trials, one seed each): λ 0.3 and lr 5e-4 collapsed to a near-random
            // policy (≈100); λ 0.95, lr 1e-3 and time inputs learn (119.2 ± 0.6); predicting the task as well (task-prediction 1)
            // 123.4 ± 0.6; 128-128 MLP heads that also read the input row 126.5 ± 0.6; linear heads gated by the current state
            // over a memory fed the (state, action) pair just tried and its reward (gated-head, pair-input) 152.1 ± 0.5.
            "tabular-mdp" => new Rl2Config
            {
                Hidden = 256, SkipInput = true, GatedHead = true, PairInput = true, Iterations = 1000, TrialsPerIteration = 128, LearningRate = 1e-3,
                Gamma = 0.99, GaeLambda = 0.95, Bptt = 0, TimeInput = true, TaskPrediction = 1,
            },
            "cartpole-physics" => new Rl2Config { Hidden = 128, Iterations = 300, TrialsPerIteration = 64, LearningRate = 3e-4, Gamma = 0.99, GaeLambda = 0.95, EntropyCoef = 0.01, Bptt = 100 },
            "pendulum-physics" => new Rl2Config { Hidden = 128, Iterations = 500, TrialsPerIteration = 64, LearningRate = 3e-4, Gamma = 0.99, GaeLambda = 0.95, EntropyCoef = 0.0, Bptt = 100, Deterministic = true },
            "navigation-2d" => new Rl2Config { Hidden = 128, Iterations = 500, TrialsPerIteration = 64, LearningRate = 3e-4, Gamma = 0.99, GaeLambda = 0.95, EntropyCoef = 0.0, Deterministic = true },
            // hopper-params: the best recipe measured (TRPO steps on 100 trials, MLP heads that also read the input row, time
            // inputs, the previous observation in the input row, task prediction): ahead of the non-adaptive multi-task policy
            // (+19.0 ± 7.9 and +25.7 ± 7.9 on two sets of 1000 held-out trials, paired, one training seed); without the last
            // two it was level (-5 ± 8), with task prediction alone level too (+5 ± 7); the PPO recipe below was ~120 behind
            // at comparable samples, TRPO without the input row ~31.
            "hopper-params" => mujoco with
            {
                Head = [64, 64], SkipInput = true, TimeInput = true, PreviousObservation = true, TaskPrediction = 1, Iterations = 400,
                TrialsPerIteration = 100, Update = "trpo", CgSubsample = 0.25, LearningRate = 1e-3, Epochs = 10, Minibatches = 16,
            },
            "cheetah-vel" or "cheetah-dir" or "ant-dir" or "ant-goal" or "walker-params" or "arm-payload" => mujoco,
            _ => new Rl2Config(),
        };
    }

    /// <summary>Applies "key=value" settings that name RL² keys; the others are left for the task family.</summary>
    public Rl2Config With(IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> rest)
    {
        rest = new(StringComparer.Ordinal);
        var mine = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in settings) (Keys.Contains(k) ? mine : rest)[k] = v;
        var r = new SettingsReader("rl2", mine);
        var c = this with
        {
            Hidden = r.Int("hidden", Hidden, 1, 4096),
            Head = r.Sizes("head", Head, allowNone: true),
            SkipInput = r.Bool("skip-input", SkipInput),
            GatedHead = r.Bool("gated-head", GatedHead),
            Cell = r.Choice("cell", Cell, "gru", "lstm"),
            LayerNorm = r.Bool("layer-norm", LayerNorm),
            MemoryBias = r.Double("memory-bias", MemoryBias, -20, 20),
            TimeInput = r.Bool("time-input", TimeInput),
            PreviousObservation = r.Bool("previous-observation", PreviousObservation),
            PairInput = r.Bool("pair-input", PairInput),
            TaskCritic = r.Bool("task-critic", TaskCritic),
            TaskPrediction = r.Double("task-prediction", TaskPrediction, 0, 1e6),
            Memory = r.Bool("memory", Memory),
            TaskInput = r.Bool("task-input", TaskInput),
            Iterations = r.Int("iterations", Iterations, 1, 10_000_000),
            Update = r.Choice("update", Update, "ppo", "trpo"),
            MaxKl = r.Double("max-kl", MaxKl, 1e-9, 10),
            CgIterations = r.Int("cg-iters", CgIterations, 1, 1000),
            CgSubsample = r.Double("cg-subsample", CgSubsample, 1e-6, 1),
            CgDamping = r.Double("cg-damping", CgDamping, 0, 1e3),
            LineSearchSteps = r.Int("ls-steps", LineSearchSteps, 0, 1000),
            LineSearchBacktrack = r.Double("ls-backtrack", LineSearchBacktrack, 1e-3, 0.999),
            TrialsPerIteration = r.Int("trials-per-iteration", TrialsPerIteration, 1, 1_000_000),
            LearningRate = r.Double("lr", LearningRate, 0, 1),
            LrSchedule = r.Choice("lr-schedule", LrSchedule, "linear", "constant"),
            Gamma = r.Double("gamma", Gamma, 0, 1),
            GaeLambda = r.Double("gae-lambda", GaeLambda, 0, 1),
            ClipRange = r.Double("clip", ClipRange, 1e-6, 10),
            Epochs = r.Int("epochs", Epochs, 1, 1000),
            Minibatches = r.Int("minibatches", Minibatches, 1, 100_000),
            ValueCoef = r.Double("value-coef", ValueCoef, 0, 1e6),
            EntropyCoef = r.Double("entropy-coef", EntropyCoef, 0, 1e6),
            EntropyCoefFinal = r.Double("entropy-coef-final", EntropyCoefFinal, 0, 1e6),
            MaxGradNorm = r.Double("max-grad-norm", MaxGradNorm, 1e-9, 1e9),
            Bptt = r.Int("bptt", Bptt, 0, 1_000_000),
            RewardScale = r.Double("reward-scale", RewardScale, 1e-30, 1e30),
            NormalizeRewards = r.Bool("normalize-rewards", NormalizeRewards),
            NormalizeObservations = r.Bool("normalize-observations", NormalizeObservations),
            PadTerminated = r.Bool("pad-terminated", PadTerminated),
            Deterministic = r.Bool("deterministic", Deterministic),
        };
        r.EnsureAllUsed();
        if (c.Minibatches > c.TrialsPerIteration)
            throw new SettingException($"rl2: 'minibatches' ({c.Minibatches}) cannot exceed 'trials-per-iteration' ({c.TrialsPerIteration}).");
        if (c.GatedHead && !c.SkipInput)
            throw new SettingException("rl2: 'gated-head' needs skip-input=true (the gate reads the current observation from the input row the heads see).");
        if (c.TaskPrediction > 0 && !c.Memory)
            throw new SettingException("rl2: 'task-prediction' needs memory=true (a policy without memory has no history to infer the task from).");
        return c;
    }

    /// <summary>The settings as key=value strings (what a run directory records).</summary>
    public IReadOnlyDictionary<string, string> ToSettings() => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["hidden"] = Hidden.ToString(CultureInfo.InvariantCulture),
        ["head"] = Head.Length == 0 ? "none" : string.Join(',', Head),
        ["skip-input"] = SkipInput ? "true" : "false",
        ["gated-head"] = GatedHead ? "true" : "false",
        ["cell"] = Cell,
        ["layer-norm"] = LayerNorm ? "true" : "false",
        ["memory-bias"] = MemoryBias.ToString("R", CultureInfo.InvariantCulture),
        ["time-input"] = TimeInput ? "true" : "false",
        ["previous-observation"] = PreviousObservation ? "true" : "false",
        ["pair-input"] = PairInput ? "true" : "false",
        ["task-critic"] = TaskCritic ? "true" : "false",
        ["task-prediction"] = TaskPrediction.ToString("R", CultureInfo.InvariantCulture),
        ["memory"] = Memory ? "true" : "false",
        ["task-input"] = TaskInput ? "true" : "false",
        ["iterations"] = Iterations.ToString(CultureInfo.InvariantCulture),
        ["update"] = Update,
        ["max-kl"] = MaxKl.ToString("R", CultureInfo.InvariantCulture),
        ["cg-iters"] = CgIterations.ToString(CultureInfo.InvariantCulture),
        ["cg-subsample"] = CgSubsample.ToString("R", CultureInfo.InvariantCulture),
        ["cg-damping"] = CgDamping.ToString("R", CultureInfo.InvariantCulture),
        ["ls-steps"] = LineSearchSteps.ToString(CultureInfo.InvariantCulture),
        ["ls-backtrack"] = LineSearchBacktrack.ToString("R", CultureInfo.InvariantCulture),
        ["trials-per-iteration"] = TrialsPerIteration.ToString(CultureInfo.InvariantCulture),
        ["lr"] = LearningRate.ToString("R", CultureInfo.InvariantCulture),
        ["lr-schedule"] = LrSchedule,
        ["gamma"] = Gamma.ToString("R", CultureInfo.InvariantCulture),
        ["gae-lambda"] = GaeLambda.ToString("R", CultureInfo.InvariantCulture),
        ["clip"] = ClipRange.ToString("R", CultureInfo.InvariantCulture),
        ["epochs"] = Epochs.ToString(CultureInfo.InvariantCulture),
        ["minibatches"] = Minibatches.ToString(CultureInfo.InvariantCulture),
        ["value-coef"] = ValueCoef.ToString("R", CultureInfo.InvariantCulture),
        ["entropy-coef"] = EntropyCoef.ToString("R", CultureInfo.InvariantCulture),
        ["entropy-coef-final"] = EntropyCoefFinal.ToString("R", CultureInfo.InvariantCulture),
        ["max-grad-norm"] = MaxGradNorm.ToString("R", CultureInfo.InvariantCulture),
        ["bptt"] = Bptt.ToString(CultureInfo.InvariantCulture),
        ["reward-scale"] = RewardScale.ToString("R", CultureInfo.InvariantCulture),
        ["normalize-rewards"] = NormalizeRewards ? "true" : "false",
        ["normalize-observations"] = NormalizeObservations ? "true" : "false",
        ["pad-terminated"] = PadTerminated ? "true" : "false",
        ["deterministic"] = Deterministic ? "true" : "false",
    };

    public string ToJson() => JsonSerializer.Serialize(ToSettings(), new JsonSerializerOptions { WriteIndented = true });
}
