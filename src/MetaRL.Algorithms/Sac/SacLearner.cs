using MetaRL.Algorithms.Common;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Sac;

/// <summary>Plain soft actor-critic in the algorithm catalogue: a reinforcement learner without meta-learning.</summary>
public sealed class SacAlgorithm : MetaAlgorithm
{
    public override string Name => "sac";

    public override string Description => "soft actor-critic (no meta-learning): twin critics, tuned temperature; across a family's tasks, the non-adaptive multi-task policy";

    public override IReadOnlyList<SettingDescription> Settings => SacConfig.Schema.Describe(new SacConfig());

    public override Common.Presets Presets => SacConfig.Presets;

    public override IReadOnlyList<string> EvaluationKeys => ["deterministic"];

    public override IReadOnlyList<string> CapacityKeys => ["hidden"];

    public override IReadOnlyDictionary<string, string> Resolve(string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings)
        => SacConfig.Presets.Defaults(SacConfig.Schema, new SacConfig(), task, settings).With(settings, out taskSettings).ToSettings();

    public override IMetaLearner Create(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, ulong seed)
    {
        var config = new SacConfig().With(settings, out var rest);
        SacConfig.Schema.RefuseUnknown(rest.Keys);
        return new SacLearner(tasks, taskSettings, config, seed);
    }

    /// <summary>100 held-out tasks by default (every trial of a one-task family is the same task from another start).</summary>
    public override MetaTestOptions EvaluationOptions(IMetaLearner learner, int? trials = null, ulong seed = 1) => new(trials ?? 100, seed);
}

/// <summary>A <see cref="SacTrainer"/> as a catalogue learner.</summary>
public sealed class SacLearner(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, SacConfig config, ulong seed)
    : MetaLearnerBase("sac", tasks, taskSettings, config.ToSettings(), seed,
        ["steps", "mean_return", "critic_loss", "policy_loss", "alpha", "entropy", "mean_q", "updates", "seconds"])
{
    public SacTrainer Trainer { get; } = new(tasks, config, seed);
    public SacConfig Config => Trainer.Config;
    public override int Iteration => Trainer.Iteration;
    public override int Iterations => Config.Iterations;

    public override string Description
        => $"SAC on {Family}, MLP [{string.Join(", ", Config.Hidden)}], {Config.EpisodesPerIteration} episode(s) per iteration, {Config.GradientSteps:G} update(s) per step, batch {Config.BatchSize}";

    public override IterationReport RunIteration()
    {
        var s = Trainer.RunIteration();
        return new IterationReport(s.Iteration, [s.Steps, s.MeanReturn, s.CriticLoss, s.PolicyLoss, s.Alpha, s.Entropy, s.MeanQ, s.Updates, s.Seconds],
            $"return {s.MeanReturn:F2}  steps {s.Steps}  α {s.Alpha:F3}  critic {s.CriticLoss:F3}  {s.Seconds:F2} s/it", false);
    }

    public override IMetaAgent Agent() => new SacAgent(Trainer.Sac, Trainer.Map, Config.Deterministic, "SAC");

    protected override void SaveCheckpoint(string path, IReadOnlyDictionary<string, string> metadata) => Trainer.Save(path, metadata);

    public override void LoadState(TensorArchive archive) => Trainer.Load(archive);

    public override void LoadWeights(TensorArchive archive, string source) => Trainer.LoadWeights(archive, source);
}
