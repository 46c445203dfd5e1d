using System.Diagnostics;
using System.Globalization;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Algorithms.Rollouts;

namespace MetaRL.Algorithms.Rl2;

/// <summary>RL² in the algorithm catalogue.</summary>
public sealed class Rl2Algorithm : MetaAlgorithm
{
    public override string Name => "rl2";

    public override string Description => "RL²: GRU/LSTM policy over (observation, previous action, reward, done), trained across trials with PPO or TRPO";

    public override IReadOnlyList<SettingDescription> Settings => Rl2Config.Schema.Describe(new Rl2Config());

    public override Common.Presets Presets => Rl2Config.Presets;

    public override IReadOnlyList<string> EvaluationKeys => ["deterministic"];

    public override IReadOnlyList<string> Counterparts => ["multi-task", "oracle"];

    /// <summary>
    /// multi-task: memory=false (the recurrent layer still runs, from a zero state every step, so the network and heads
    /// keep their size), no task prediction, which needs memory, and no teachers, who read the history; oracle: task-input=true (the task features join
    /// the input row) and no teachers, whose inputs hold no task features. Everything else, heads and capacity included, stays as the run has it.
    /// </summary>
    public override IReadOnlyDictionary<string, string> Counterpart(string kind, IReadOnlyDictionary<string, string> settings)
    {
        var s = new Dictionary<string, string>(settings.ToDictionary(), StringComparer.Ordinal);
        switch (kind)
        {
            case "multi-task": s["memory"] = "false"; s["task-prediction"] = "0"; s["teachers"] = "none"; break;
            case "oracle": s["task-input"] = "true"; s["teachers"] = "none"; break;
            default: return base.Counterpart(kind, settings);
        }
        return s;
    }

    public override IReadOnlyList<string> CapacityKeys => ["cell", "hidden", "head", "skip-input", "gated-head", "layer-norm"];

    public override IReadOnlyDictionary<string, string> Resolve(string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings)
        => Rl2Config.DefaultsFor(task, settings).With(settings, out taskSettings).ToSettings();

    /// <summary>A new learner from fully resolved settings; a key RL² does not have is refused.</summary>
    public override IMetaLearner Create(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, IReadOnlyDictionary<string, string> settings, ulong seed)
    {
        var config = new Rl2Config().With(settings, out var rest);
        Rl2Config.Schema.RefuseUnknown(rest.Keys);
        return new Rl2Learner(tasks, taskSettings, config, seed);
    }

    public override bool PlaysOnWorkers => true;

    public override IPiecePlayer? PiecePlayer(TaskDistribution tasks, IReadOnlyDictionary<string, string> settings, byte[] policy)
    {
        var config = new Rl2Config().With(settings, out var rest);
        Rl2Config.Schema.RefuseUnknown(rest.Keys);
        return Rl2Trainer.PiecePlayer(tasks, config, policy);
    }
}

/// <summary>An <see cref="Rl2Trainer"/> as a catalogue learner: metrics, self-describing checkpoints, the agent.</summary>
public sealed class Rl2Learner(TaskDistribution tasks, IReadOnlyDictionary<string, string> taskSettings, Rl2Config config, ulong seed)
    : MetaLearnerBase("rl2", tasks, taskSettings, config.ToSettings(), seed,
        ["steps", "mean_trial_return", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm", "lr", "seconds", "rollout_seconds",
         .. config.TaskPrediction > 0 ? new[] { "task_loss" } : [], .. config.Teachers.Count > 0 ? new[] { "teacher_kl" } : [], .. config.ValidateEvery > 0 ? new[] { "validation_return" } : []]), IDistributableLearner
{
    // Rates count what this process did: the clock and the step count start at the first iteration it runs.
    private readonly Stopwatch _watch = new();
    private long _stepsAtStart;
    private double _ema = double.NaN;
    private bool _warnedCollapse;

    /// <summary>The trainer itself, for what only RL² has (its network, its configuration).</summary>
    public Rl2Trainer Trainer { get; } = new(tasks, config, seed);

    public IRolloutWorkers? Workers
    {
        get => Trainer.Workers;
        set
        {
            Trainer.Workers = value;
            Trainer.Job = value is null ? null : () => RolloutJob.Create(this, Trainer.PolicyBytes());
        }
    }

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
        double validation = BestPolicy.Due(s.Iteration, Config.ValidateEvery, Config.Iterations) ? Validate() : double.NaN;
        bool newBest = !double.IsNaN(validation) && Best.Offer(validation, s.Iteration);
        double[] metrics = [s.Steps, s.MeanTrialReturn, s.PolicyLoss, s.ValueLoss, s.Entropy, s.ApproxKl, s.ClipFraction, s.GradNorm, s.LearningRate, s.Seconds, s.RolloutSeconds,
            .. Config.TaskPrediction > 0 ? new[] { s.TaskLoss } : [], .. Config.Teachers.Count > 0 ? new[] { s.TeacherKl } : [], .. Config.ValidateEvery > 0 ? new[] { validation } : []];
        double rate = (Trainer.TotalSteps - _stepsAtStart) / Math.Max(1e-9, _watch.Elapsed.TotalSeconds);
        string best = double.IsFinite(Best.Score) ? $"  best {Best.Score:F3} @{Best.Iteration}" : "";
        return new IterationReport(s.Iteration, metrics, $"return {_ema:F3}{best}  {rate:N0} steps/s  entropy {s.Entropy:F3}  kl {s.ApproxKl:F4}{WorstGroup()}", newBest)
        {
            Warning = CollapseWarning(s),
        };
    }

    /// <summary>
    /// With task-priority, the group its training now draws most for (the lowest score) and that score, as the progress
    /// line's last field ("worst kite -3.21"); empty until two groups are scored (before that every trial is drawn as
    /// the family draws it).
    /// </summary>
    private string WorstGroup()
    {
        if (Trainer.Priority is not { Scores.Count: >= 2 } priority) return "";
        var worst = priority.WorstFirst().First();
        return string.Create(CultureInfo.InvariantCulture, $"  worst {worst.Key} {worst.Value:F2}");
    }

    /// <summary>
    /// A warning, once, when the policy stops exploring in the first quarter of training: its entropy under 1% of the
    /// most a discrete policy can have, or a Gaussian's standard deviation under about 0.01 per action dimension.
    /// Such a policy rarely recovers; a step size too large (e.g. lr=1) is the usual cause.
    /// </summary>
    private string? CollapseWarning(Rl2IterationStats s)
    {
        if (_warnedCollapse || s.Iteration > Math.Max(1, Config.Iterations / 4)) return null;
        bool collapsed = Tasks.ActionSpace switch
        {
            Discrete d => d.N > 1 && s.Entropy < 0.01 * Math.Log(d.N),
            Box b => s.Entropy / b.Size < 0.5 * Math.Log(2 * Math.PI * Math.E * 1e-4),
            _ => false,
        };
        if (!collapsed) return null;
        _warnedCollapse = true;
        return $"the policy's entropy fell to {s.Entropy:G2} by iteration {s.Iteration} of {Config.Iterations}: it has stopped exploring and rarely recovers. "
            + $"A smaller learning rate (lr is {Config.LearningRate}) or a larger entropy bonus (entropy-coef) usually prevents it.";
    }

    /// <summary>The best validation score so far and its iteration (kept in checkpoints).</summary>
    public BestPolicy Best { get; } = new();

    private ITask[]? _validationTasks;

    /// <summary>
    /// The current policy's score on the validation tasks (<see cref="Rl2Config.ValidationTrials"/> of the training
    /// distribution, the same tasks and random streams every time, so two policies' scores differ only by the policies):
    /// its mean total return per trial under the meta-test protocol. Training's random streams are not touched.
    /// </summary>
    public double Validate()
    {
        _validationTasks ??= MetaTest.ValidationTasks(Tasks, Seed, Config.ValidationTrials);
        return MetaTest.Run(Trainer.Agent(), Tasks, _validationTasks, MetaTest.ValidationOptions(Seed)).MeanTotalReturn;
    }

    public override IMetaAgent Agent() => Trainer.Agent();

    public override void PrepareTraining() => Trainer.PrepareTraining();

    protected override void SaveCheckpoint(string path, IReadOnlyDictionary<string, string> metadata) => Trainer.Save(path, metadata, Best.WriteTo);

    public override void LoadState(TensorArchive archive)
    {
        var best = BestPolicy.Read(archive);
        Trainer.Load(archive);
        Best.Apply(best);
    }

    public override void LoadWeights(TensorArchive archive, string source) => Trainer.LoadWeights(archive, source);
}
