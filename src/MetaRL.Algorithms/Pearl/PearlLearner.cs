using MetaRL.Algorithms.Common;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Pearl;

/// <summary>PEARL in the algorithm catalogue.</summary>
public sealed class PearlAlgorithm : MetaAlgorithm
{
    public override string Name => "pearl";

    public override string Description => "PEARL: a posterior over a latent task variable inferred from transitions, acted on by soft actor-critic; explores by posterior sampling, learns off-policy";

    public override IReadOnlyList<SettingDescription> Settings => PearlConfig.Schema.Describe(new PearlConfig());

    public override Common.Presets Presets => PearlConfig.Presets;

    public override IReadOnlyList<string> EvaluationKeys => ["deterministic", "eval-latent"];

    public override IReadOnlyList<string> CapacityKeys => ["hidden"];

    public override IReadOnlyList<string> Counterparts => ["multi-task"];

    /// <summary>multi-task: latent=0, the same actor-critic trained across the same tasks with no encoder, so it cannot adapt.</summary>
    public override IReadOnlyDictionary<string, string> Counterpart(string kind, IReadOnlyDictionary<string, string> settings)
    {
        if (kind != "multi-task") return base.Counterpart(kind, settings);
        return new Dictionary<string, string>(settings.ToDictionary(), StringComparer.Ordinal) { ["latent"] = "0" };
    }

    public override IReadOnlyDictionary<string, string> Resolve(string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings)
        => PearlConfig.Presets.Defaults(PearlConfig.Schema, new PearlConfig(), task, settings).With(settings, out taskSettings).ToSettings();

    public override IMetaLearner Create(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, ulong seed)
    {
        var config = new PearlConfig().With(settings, out var rest);
        PearlConfig.Schema.RefuseUnknown(rest.Keys);
        return new PearlLearner(tasks, taskSettings, config, seed);
    }

    /// <summary>100 held-out tasks by default, each a trial of the family's episodes.</summary>
    public override MetaTestOptions EvaluationOptions(IMetaLearner learner, int? trials = null, ulong seed = 1) => new(trials ?? 100, seed);
}

/// <summary>A <see cref="PearlTrainer"/> as a catalogue learner.</summary>
public sealed class PearlLearner(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, PearlConfig config, ulong seed)
    : MetaLearnerBase("pearl", tasks, taskSettings, config.ToSettings(), seed,
        ["steps", "prior_return", "posterior_return", "critic_loss", "policy_loss", "kl", "alpha", "entropy", "seconds", "collect_seconds"])
{
    public PearlTrainer Trainer { get; } = new(tasks, config, seed);
    public PearlConfig Config => Trainer.Config;
    public override int Iteration => Trainer.Iteration;
    public override int Iterations => Config.Iterations;

    public override string Description
        => $"PEARL on {Family}, latent {Config.Latent}, MLP [{string.Join(", ", Config.Hidden)}], {Config.TrainTasks} training tasks, meta-batch {Config.MetaBatch} × {Config.BatchSize}, {Config.GradientSteps} gradient steps per iteration";

    public override IterationReport RunIteration()
    {
        var s = Trainer.RunIteration();
        return new IterationReport(s.Iteration, [s.Steps, s.PriorReturn, s.PosteriorReturn, s.CriticLoss, s.PolicyLoss, s.Kl, s.Alpha, s.Entropy, s.Seconds, s.CollectSeconds],
            $"prior {s.PriorReturn:F2}  posterior {s.PosteriorReturn:F2}  steps {s.Steps}  kl {s.Kl:F2}  {s.Seconds:F1} s/it", false);
    }

    public override IMetaAgent Agent()
        => new PearlAgent(Trainer.Sac, Trainer.Encoder, Trainer.Map, Config.Deterministic, Config.EvalLatent, Config.NextObservationInContext,
            Config.Latent == 0 ? "multi-task SAC (no adaptation)" : "PEARL");

    protected override void SaveCheckpoint(string path, IReadOnlyDictionary<string, string> metadata) => Trainer.Save(path, metadata);

    public override void LoadState(TensorArchive archive) => Trainer.Load(archive);

    public override void LoadWeights(TensorArchive archive, string source) => Trainer.LoadWeights(archive, source);
}
