using System.Diagnostics;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Rl2;

/// <summary>RL² in the algorithm catalogue.</summary>
public sealed class Rl2Algorithm : MetaAlgorithm
{
    public override string Name => "rl2";

    public override string Description => "RL²: GRU/LSTM policy over (observation, previous action, reward, done), trained across trials with PPO or TRPO";

    public override IReadOnlyList<SettingDescription> Settings => Rl2Config.Schema.Describe(new Rl2Config());

    public override IReadOnlyList<string> EvaluationKeys => ["deterministic"];

    public override IReadOnlyDictionary<string, string> Resolve(string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings)
        => Rl2Config.DefaultsFor(task, settings).With(settings, out taskSettings).ToSettings();

    /// <summary>A new learner from fully resolved settings; a key RL² does not have is refused.</summary>
    public override IMetaLearner Create(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, ulong seed)
    {
        var config = new Rl2Config().With(settings, out var rest);
        Rl2Config.Schema.RefuseUnknown(rest.Keys);
        return new Rl2Learner(tasks, taskSettings, config, seed);
    }
}

/// <summary>An <see cref="Rl2Trainer"/> as a catalogue learner: metrics, self-describing checkpoints, the agent.</summary>
public sealed class Rl2Learner(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, Rl2Config config, ulong seed)
    : MetaLearnerBase("rl2", tasks, taskSettings, config.ToSettings(), seed,
        ["steps", "mean_trial_return", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm", "lr", "seconds", "rollout_seconds",
         .. config.TaskPrediction > 0 ? new[] { "task_loss" } : []])
{
    // Rates count what this process did: the clock and the step count start at the first iteration it runs.
    private readonly Stopwatch _watch = new();
    private long _stepsAtStart;
    private double _ema = double.NaN;

    /// <summary>The trainer itself, for what only RL² has (its network, its configuration).</summary>
    public Rl2Trainer Trainer { get; } = new(tasks, config, seed);

    public Rl2Config Config => Trainer.Config;
    public override int Iteration => Trainer.Iteration;
    public override int Iterations => Config.Iterations;

    public override string Description
        => $"RL² on {Family}, {Config.Cell.ToString().ToUpperInvariant()} {Config.Hidden}, {Config.TrialsPerIteration} trials per iteration, {Config.Update.ToString().ToUpperInvariant()}";

    public override IterationReport RunIteration()
    {
        if (!_watch.IsRunning)
        {
            _stepsAtStart = Trainer.TotalSteps;
            _watch.Start();
        }
        var s = Trainer.RunIteration();
        _ema = double.IsNaN(_ema) ? s.MeanTrialReturn : 0.95 * _ema + 0.05 * s.MeanTrialReturn;
        double[] metrics = [s.Steps, s.MeanTrialReturn, s.PolicyLoss, s.ValueLoss, s.Entropy, s.ApproxKl, s.ClipFraction, s.GradNorm, s.LearningRate, s.Seconds, s.RolloutSeconds,
            .. Config.TaskPrediction > 0 ? new[] { s.TaskLoss } : []];
        double rate = (Trainer.TotalSteps - _stepsAtStart) / Math.Max(1e-9, _watch.Elapsed.TotalSeconds);
        return new IterationReport(s.Iteration, metrics, $"training  return {_ema:F3}  entropy {s.Entropy:F3}  kl {s.ApproxKl:F4}  {rate:N0} steps/s", false);
    }

    public override IMetaAgent Agent() => Trainer.Agent();

    protected override void SaveCheckpoint(string path, IReadOnlyDictionary<string, string> metadata) => Trainer.Save(path, metadata);

    public override void LoadState(TensorArchive archive) => Trainer.Load(archive);
}
