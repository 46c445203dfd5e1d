using MetaRL.Algorithms.Rollouts;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Maml;

/// <summary>MAML in the algorithm catalogue.</summary>
public sealed class MamlAlgorithm : MetaAlgorithm
{
    public override string Name => "maml";

    public override string Description => "MAML: exact second-order meta-gradient through vanilla policy-gradient inner steps, TRPO (or PPO) outer loop";

    public override IReadOnlyList<SettingDescription> Settings => MamlConfig.Schema.Describe(new MamlConfig());

    public override IReadOnlyDictionary<string, string> Resolve(string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings)
        => new MamlConfig().With(settings, out taskSettings).ToSettings();

    public override IReadOnlyList<string> Counterparts => ["multi-task"];

    /// <summary>multi-task: inner-steps=0, the same policy network trained across the tasks without adapting (fine-tuned by the same steps at meta-test).</summary>
    public override IReadOnlyDictionary<string, string> Counterpart(string kind, IReadOnlyDictionary<string, string> settings)
    {
        if (kind != "multi-task") return base.Counterpart(kind, settings);
        var s = new Dictionary<string, string>(settings.ToDictionary(), StringComparer.Ordinal) { ["inner-steps"] = "0" };
        return s;
    }

    public override IReadOnlyList<string> CapacityKeys => ["hidden"];

    /// <summary>40 held-out tasks by default, each a trial of <see cref="MamlEvaluation.DefaultSteps"/> + 1 rounds of the run's trajectories.</summary>
    public override MetaTestOptions EvaluationOptions(IMetaLearner learner, int? trials = null, ulong seed = 1)
        => MamlEvaluation.Options(trials ?? MamlEvaluation.DefaultTasks, seed, ((MamlLearner)learner).Config.Trajectories, MamlEvaluation.DefaultSteps);

    /// <summary>A new learner from fully resolved settings; a key MAML does not have is refused.</summary>
    public override IMetaLearner Create(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, ulong seed)
    {
        var config = new MamlConfig().With(settings, out var rest);
        MamlConfig.Schema.RefuseUnknown(rest.Keys);
        return new MamlLearner(tasks, taskSettings, config, seed);
    }

    public override bool PlaysOnWorkers => true;

    public override IPiecePlayer? PiecePlayer(TaskDistribution tasks, IReadOnlyDictionary<string, string> settings, byte[] policy)
    {
        var config = new MamlConfig().With(settings, out var rest);
        MamlConfig.Schema.RefuseUnknown(rest.Keys);
        return MamlTrainer.PiecePlayer(tasks, config, policy);
    }
}

/// <summary>A <see cref="MamlTrainer"/> as a catalogue learner: metrics, self-describing checkpoints, the agent.</summary>
public sealed class MamlLearner(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, MamlConfig config, ulong seed)
    : MetaLearnerBase("maml", tasks, taskSettings, config.ToSettings(), seed,
        ["pre_adaptation_return", "post_adaptation_return", "surrogate_improvement", "kl", "line_search_steps", "accepted", "seconds",
         .. config.ValidateEvery > 0 ? new[] { "validation_return" } : []]), IDistributableLearner
{
    /// <summary>The trainer itself, for what only MAML has (its policy, validation tasks, the best score).</summary>
    public MamlTrainer Trainer { get; } = new(tasks, config, seed);

    public IRolloutWorkers? Workers
    {
        get => Trainer.Workers;
        set
        {
            Trainer.Workers = value;
            Trainer.Job = value is null ? null : () => RolloutJob.Create(this, Trainer.PolicyBytes());
        }
    }

    public MamlConfig Config => Trainer.Config;
    public override int Iteration => Trainer.Iteration;
    public override int Iterations => Config.Iterations;

    /// <summary>The agent's name in tables: which variant of MAML (or the multi-task policy, with no inner steps) this is.</summary>
    public string Variant => Config.InnerSteps == 0 ? "multi-task pretrained"
        : (Config.FirstOrder ? "first-order " : "") + (Config.Outer == MamlOuter.Ppo ? "MAML-PPO" : "MAML") + (Config.LowVarianceCurvature && !Config.FirstOrder ? " (LVC)" : "");

    public override string Description
        => $"{(Config.Outer == MamlOuter.Ppo ? "MAML-PPO" : "MAML-TRPO")} on {Family}, MLP [{string.Join(", ", Config.Hidden)}], meta-batch {Config.MetaBatch} × {Config.Trajectories} trajectories, {Config.InnerSteps} inner step(s) of {Config.InnerLearningRate}{(Config.FirstOrder ? ", first order" : "")}{(Config.LowVarianceCurvature && !Config.FirstOrder && Config.InnerSteps > 0 ? ", low-variance curvature" : "")}";

    public override IterationReport RunIteration()
    {
        var s = Trainer.RunIteration();
        double[] metrics = [s.PreAdaptationReturn, s.PostAdaptationReturn, s.SurrogateImprovement, s.Kl, s.LineSearchSteps, s.Accepted ? 1 : 0, s.Seconds,
            .. Config.ValidateEvery > 0 ? new[] { s.ValidationReturn } : []];
        string best = !double.IsFinite(Trainer.BestScore) ? ""
            : Config.ValidateEvery > 0 ? $"  best {Trainer.BestScore:F2} @{Trainer.BestIteration}"
            : $"  best {Config.BestWindow}-mean {Trainer.BestScore:F2}";
        return new IterationReport(s.Iteration, metrics,
            $"after {s.PostAdaptationReturn:F2}  before {s.PreAdaptationReturn:F2}{best}  {s.Seconds:F2} s/it  kl {s.Kl:F4}", s.NewBest);
    }

    /// <summary>
    /// The policy as it adapts on a new task: rounds of <see cref="MamlConfig.Trajectories"/> sampled episodes, one gradient
    /// step after each (<see cref="MamlAgent"/>), later steps scaled by <see cref="MamlTrainer.LaterStepScale"/>. A multi-task
    /// policy (no inner steps in training) is fine-tuned by the same steps. Its weights are a copy: training on does not change it.
    /// </summary>
    public override IMetaAgent Agent()
        => new MamlAgent(Trainer.Policy, Trainer.Adaptation(Trainer.LaterStepScale()), Config.InnerSteps == 0 ? "multi-task pretrained, fine-tuned" : Variant);

    /// <summary>The policy θ₀ playing every episode with its weights fixed (no gradient steps): with no inner steps in training, the non-adaptive multi-task policy.</summary>
    public IMetaAgent FixedAgent(bool deterministic)
        => new FixedPolicyAgent(Trainer.Policy, deterministic, $"{(Config.InnerSteps == 0 ? "multi-task policy" : "MAML θ₀")}, no adaptation");

    protected override void SaveCheckpoint(string path, IReadOnlyDictionary<string, string> metadata) => Trainer.Save(path, metadata);

    public override void LoadState(TensorArchive archive) => Trainer.Load(archive);

    public override void LoadWeights(TensorArchive archive, string source) => Trainer.LoadWeights(archive, source);
}
