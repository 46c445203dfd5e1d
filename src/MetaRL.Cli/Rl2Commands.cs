using System.Globalization;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Algorithms.Common;
using MetaRL.Core.Evaluation;
using MetaRL.Algorithms.Rl2;
using MetaRL.Tasks;
using Spectre.Console;

namespace MetaRL.Cli;

/// <summary>One algorithm's trainer as the training command drives it.</summary>
internal interface ITrainingRun
{
    int Iteration { get; }
    int Iterations { get; }
    string Header { get; }
    string CsvHeader { get; }
    /// <summary>
    /// Runs one iteration; returns its CSV row, the progress description, the curve value and whether the policy is
    /// the run's new best (kept as <c>best.mrla</c>).
    /// </summary>
    (string Csv, string Description, double Curve, bool NewBest) Step();
    void Save(string path, IReadOnlyDictionary<string, string> metadata);
    void Load(TensorArchive archive);
}

internal sealed class Rl2Run(TaskDistribution tasks, Rl2Config cfg, ulong seed) : ITrainingRun
{
    private readonly Rl2Trainer _t = new(tasks, cfg, seed);
    private readonly System.Diagnostics.Stopwatch _watch = System.Diagnostics.Stopwatch.StartNew();
    private double _ema = double.NaN;
    public int Iteration => _t.Iteration;
    public int Iterations => cfg.Iterations;
    public string Header => $"RL² on {tasks.Name} ({string.Join(", ", tasks.Settings.Select(s => $"{s.Key}={s.Default}"))}), {cfg.Cell.ToUpperInvariant()} {cfg.Hidden}, {cfg.TrialsPerIteration} trials per iteration, {cfg.Update.ToUpperInvariant()}";
    public string CsvHeader => "iteration,steps,mean_trial_return,policy_loss,value_loss,entropy,approx_kl,clip_fraction,grad_norm,lr,seconds,rollout_seconds"
        + (cfg.TaskPrediction > 0 ? ",task_loss" : "");
    public (string, string, double, bool) Step()
    {
        var s = _t.RunIteration();
        _ema = double.IsNaN(_ema) ? s.MeanTrialReturn : 0.95 * _ema + 0.05 * s.MeanTrialReturn;
        string taskLoss = cfg.TaskPrediction > 0 ? string.Create(CultureInfo.InvariantCulture, $",{s.TaskLoss:G6}") : "";
        return (string.Create(CultureInfo.InvariantCulture,
                $"{s.Iteration},{s.Steps},{s.MeanTrialReturn:G6},{s.PolicyLoss:G6},{s.ValueLoss:G6},{s.Entropy:G6},{s.ApproxKl:G6},{s.ClipFraction:G6},{s.GradNorm:G6},{s.LearningRate:G6},{s.Seconds:G4},{s.RolloutSeconds:G4}{taskLoss}"),
            $"training  return {_ema:F3}  entropy {s.Entropy:F3}  kl {s.ApproxKl:F4}  {s.Steps / _watch.Elapsed.TotalSeconds:N0} steps/s", s.MeanTrialReturn, false);
    }
    public void Save(string path, IReadOnlyDictionary<string, string> metadata) => _t.Save(path, metadata);
    public void Load(TensorArchive archive) => _t.Load(archive);
}

internal sealed class MamlRun(TaskDistribution tasks, MetaRL.Algorithms.Maml.MamlConfig cfg, ulong seed) : ITrainingRun
{
    private readonly MetaRL.Algorithms.Maml.MamlTrainer _t = new(tasks, cfg, seed);
    public MetaRL.Algorithms.Maml.MamlTrainer Trainer => _t;
    public int Iteration => _t.Iteration;
    public int Iterations => cfg.Iterations;
    public string Header => $"MAML-TRPO on {tasks.Name} ({string.Join(", ", tasks.Settings.Select(s => $"{s.Key}={s.Default}"))}), MLP [{string.Join(", ", cfg.Hidden)}], meta-batch {cfg.MetaBatch} × {cfg.Trajectories} trajectories, {cfg.InnerSteps} inner step(s) of {cfg.InnerLearningRate}{(cfg.FirstOrder ? ", first order" : "")}{(cfg.LowVarianceCurvature && !cfg.FirstOrder && cfg.InnerSteps > 0 ? ", low-variance curvature" : "")}";
    public string CsvHeader => "iteration,pre_adaptation_return,post_adaptation_return,surrogate_improvement,kl,line_search_steps,accepted,seconds"
        + (cfg.ValidateEvery > 0 ? ",validation_return" : "");
    public (string, string, double, bool) Step()
    {
        var s = _t.RunIteration();
        string validation = cfg.ValidateEvery == 0 ? ""
            : double.IsNaN(s.ValidationReturn) ? "," : string.Create(CultureInfo.InvariantCulture, $",{s.ValidationReturn:G6}");
        string best = !double.IsFinite(_t.BestScore) ? ""
            : cfg.ValidateEvery > 0 ? $" (best validation {_t.BestScore:F2} at {_t.BestIteration})"
            : $" (best {cfg.BestWindow}-iteration mean {_t.BestScore:F2})";
        return (string.Create(CultureInfo.InvariantCulture,
                $"{s.Iteration},{s.PreAdaptationReturn:G6},{s.PostAdaptationReturn:G6},{s.SurrogateImprovement:G6},{s.Kl:G6},{s.LineSearchSteps},{(s.Accepted ? 1 : 0)},{s.Seconds:G4}{validation}"),
            $"training  before adaptation {s.PreAdaptationReturn:F2}  after {s.PostAdaptationReturn:F2}{best}  kl {s.Kl:F4}  {s.Seconds:F2} s/iteration",
            s.PostAdaptationReturn, s.NewBest);
    }
    public void Save(string path, IReadOnlyDictionary<string, string> metadata) => _t.Save(path, metadata);
    public void Load(TensorArchive archive) => _t.Load(archive);
}

/// <summary>Training and evaluating runs of every algorithm.</summary>
internal static class Rl2Commands
{
    public const string Checkpoint = "checkpoint.mrla";
    /// <summary>The policy with the best recent training return so far (MAML; Finn et al. 2017 evaluate that one).</summary>
    public const string BestCheckpoint = "best.mrla";
    public static readonly string[] Algorithms = ["rl2", "maml"];

    /// <summary>Splits settings into the algorithm's (resolved with the per-task defaults) and the task family's.</summary>
    private static Dictionary<string, string> ResolveAlgorithm(string algo, string task, IReadOnlyDictionary<string, string> settings, out Dictionary<string, string> taskSettings)
        => algo switch
        {
            "rl2" => Rl2Config.DefaultsFor(task, settings).With(settings, out taskSettings).ToSettings().ToDictionary(),
            "maml" => MamlDefaults(task).With(settings, out taskSettings).ToSettings().ToDictionary(),
            _ => throw new SettingException($"Unknown algorithm '{algo}'. Valid algorithms: {string.Join(", ", Algorithms)}."),
        };

    internal static MetaRL.Algorithms.Maml.MamlConfig MamlDefaults(string task) => new();

    /// <summary>
    /// A stored MAML run's configuration. Runs from before normalised actions existed acted in the box's units; runs
    /// from before validation kept the policy ending the best training window, and halve their later meta-test steps;
    /// runs from before the low-variance curvature option had none.
    /// </summary>
    internal static MetaRL.Algorithms.Maml.MamlConfig MamlConfigOf(RunConfig run, out Dictionary<string, string> leftover)
    {
        var settings = new Dictionary<string, string>(run.AlgorithmSettings, StringComparer.Ordinal);
        settings.TryAdd("normalize-actions", "false");
        settings.TryAdd("validate-every", "0");
        settings.TryAdd("eval-lr-decay", "0.5");
        settings.TryAdd("lvc", "false");
        return MamlDefaults(run.Task).With(settings, out leftover);
    }

    /// <summary>
    /// A stored RL² run's configuration. Runs from before observation statistics existed fed raw observations, and runs
    /// from before MLP heads existed read the recurrent features with linear heads (and from before skip-input, only them);
    /// runs from before time inputs had none, and runs from before TRPO were trained by PPO; runs from before padded
    /// terminations discounted across an early episode end by γ alone, and runs from before task prediction, the
    /// previous-observation or pair input, or gated heads had none; runs from before the memory bias started without one
    /// (all kept, so that resuming them continues as they began, whatever today's defaults for their task).
    /// </summary>
    internal static Rl2Config Rl2ConfigOf(RunConfig run, out Dictionary<string, string> leftover)
    {
        var settings = new Dictionary<string, string>(run.AlgorithmSettings, StringComparer.Ordinal);
        settings.TryAdd("normalize-observations", "false");
        settings.TryAdd("head", "none");
        settings.TryAdd("skip-input", "false");
        settings.TryAdd("time-input", "false");
        settings.TryAdd("update", "ppo");
        settings.TryAdd("pad-terminated", "false");
        settings.TryAdd("task-prediction", "0");
        settings.TryAdd("previous-observation", "false");
        settings.TryAdd("memory-bias", "0");
        settings.TryAdd("pair-input", "false");
        settings.TryAdd("gated-head", "false");
        return Rl2Config.DefaultsFor(run.Task, run.TaskSettings).With(settings, out leftover);
    }

    private static ITrainingRun CreateRun(RunConfig run, TaskDistribution tasks)
    {
        Dictionary<string, string> leftover;
        ITrainingRun r = run.Algorithm switch
        {
            "rl2" => new Rl2Run(tasks, Rl2ConfigOf(run, out leftover), run.Seed),
            "maml" => new MamlRun(tasks, MamlConfigOf(run, out leftover), run.Seed),
            _ => throw new SettingException($"config.json names an unknown algorithm '{run.Algorithm}'. Valid algorithms: {string.Join(", ", Algorithms)}."),
        };
        if (leftover.Count > 0) throw new SettingException($"config.json has unknown {run.Algorithm} settings: {string.Join(", ", leftover.Keys)}.");
        return r;
    }

    public static int Train(string? algo, string? task, Dictionary<string, string> settings, ulong seed, string? outDir, string? resume, int checkpointEvery)
    {
        RunConfig run;
        string dir;
        string? extendTo = null;
        if (resume is not null)
        {
            if (algo is not null || task is not null || settings.Keys.Any(k => k != "iterations"))
                throw new SettingException("--resume continues a run exactly as configured; do not give an algorithm or task with it, and of the settings only 'iterations' may change (to train longer).");
            dir = resume;
            run = RunConfig.Load(dir);
            if (!File.Exists(Path.Combine(dir, Checkpoint))) throw new SettingException($"Run directory '{dir}' has no {Checkpoint} to resume from.");
            if (settings.TryGetValue("iterations", out var more))
            {
                extendTo = more;
                run = run with { AlgorithmSettings = new Dictionary<string, string>(run.AlgorithmSettings, StringComparer.Ordinal) { ["iterations"] = more } };
            }
        }
        else
        {
            if (algo is null || task is null) throw new SettingException("train needs an algorithm and a task, e.g. 'metarl train rl2 bandit'.");
            if (!Algorithms.Contains(algo)) throw new SettingException($"Unknown algorithm '{algo}'. Valid algorithms: {string.Join(", ", Algorithms)}.");
            var family = TaskRegistry.Get(task);
            var algorithmSettings = ResolveAlgorithm(algo, task, settings, out var taskSettings);
            family.Create(taskSettings); // validates the task settings before anything is written
            dir = outDir ?? Path.Combine("runs", $"{algo}-{task}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
            if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
                throw new SettingException($"Output directory '{dir}' exists and is not empty; choose another --out or --resume it.");
            Directory.CreateDirectory(dir);
            run = new RunConfig(algo, task, taskSettings, algorithmSettings, seed);
            run.Save(dir);
        }

        var tasks = TaskRegistry.Create(run.Task, run.TaskSettings);
        var trainer = CreateRun(run, tasks);
        var metricsPath = Path.Combine(dir, "metrics.csv");
        if (resume is not null)
        {
            trainer.Load(TensorArchive.Load(Path.Combine(dir, Checkpoint)));
            if (extendTo is not null)
            {
                if (trainer.Iterations < trainer.Iteration)
                    throw new SettingException($"'iterations' is {extendTo}, but the checkpoint is already at iteration {trainer.Iteration}.");
                // Only now, with the new total validated against the checkpoint, does config.json change (atomically).
                run.Save(dir);
            }
            TrimMetrics(metricsPath, trainer.Iteration);
            AnsiConsole.MarkupLine($"Resuming [blue]{Markup.Escape(dir)}[/] at iteration {trainer.Iteration} of {trainer.Iterations}.");
        }
        if (!File.Exists(metricsPath))
            File.WriteAllText(metricsPath, trainer.CsvHeader + "\n");
        var meta = new Dictionary<string, string> { ["algorithm"] = run.Algorithm, ["task"] = run.Task };

        // Ctrl+C (SIGINT) and SIGTERM (`kill`, a batch scheduler's stop) both end the run at the next iteration boundary
        // with a checkpoint; the exit code is 128 + the signal's number.
        int stopCode = 0;
        bool Stopping() => Volatile.Read(ref stopCode) != 0;
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; Volatile.Write(ref stopCode, 130); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM,
            c => { c.Cancel = true; Volatile.Write(ref stopCode, 143); });
        var history = new List<(int It, double Return)>();
        try
        {
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(trainer.Header)}[/], seed {run.Seed} → {Markup.Escape(dir)}");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask("training", maxValue: trainer.Iterations);
                    bar.Value = trainer.Iteration;
                    using var metrics = new StreamWriter(metricsPath, append: true);
                    while (trainer.Iteration < trainer.Iterations && !Stopping())
                    {
                        (string Csv, string Description, double Curve, bool NewBest) s;
                        try
                        {
                            s = trainer.Step();
                        }
                        catch (TrainingDivergedException e)
                        {
                            metrics.Flush();
                            // The last checkpoint on disk is untouched; say where it is.
                            var last = File.Exists(Path.Combine(dir, Checkpoint)) ? $" The last good checkpoint is {Path.Combine(dir, Checkpoint)}." : " No checkpoint had been written yet.";
                            throw new TrainingDivergedException(e.Message + last);
                        }
                        metrics.WriteLine(s.Csv);
                        // Each row reaches the disk at once, so `tail -f metrics.csv` follows a run and a killed run keeps
                        // its history; rows past the last checkpoint are trimmed when the run is resumed.
                        metrics.Flush();
                        if (s.NewBest) trainer.Save(Path.Combine(dir, BestCheckpoint), meta);
                        history.Add((trainer.Iteration, s.Curve));
                        bar.Description = s.Description;
                        bar.Value = trainer.Iteration;
                        if (trainer.Iteration % checkpointEvery == 0 || trainer.Iteration == trainer.Iterations)
                        {
                            trainer.Save(Path.Combine(dir, Checkpoint), meta);
                        }
                    }
                    if (Stopping() && trainer.Iteration < trainer.Iterations)
                    {
                        metrics.Flush();
                        trainer.Save(Path.Combine(dir, Checkpoint), meta);
                    }
                });
            // A signal that lands after the last iteration is too late to interrupt anything: the run is complete.
            if (Stopping() && trainer.Iteration < trainer.Iterations)
            {
                AnsiConsole.MarkupLine($"Interrupted ({(stopCode == 143 ? "SIGTERM" : "Ctrl+C")}): checkpoint written at iteration {trainer.Iteration}. Continue with [blue]metarl train --resume {Markup.Escape(dir)}[/].");
                return stopCode;
            }
            AnsiConsole.MarkupLine($"Trained {trainer.Iteration} iterations in {watch.Elapsed.TotalSeconds:F1} s.");
            WriteTrainingPlot(dir, metricsPath, run.Algorithm);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        return 0;
    }

    private static void TrimMetrics(string path, int iteration)
    {
        if (!File.Exists(path)) return;
        var lines = File.ReadAllLines(path);
        var kept = lines.Take(1).Concat(lines.Skip(1).Where(l => int.TryParse(l.Split(',')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i <= iteration));
        File.WriteAllLines(path, kept);
    }

    private static void WriteTrainingPlot(string dir, string metricsPath, string algo)
    {
        var rows = File.ReadAllLines(metricsPath).Skip(1).Select(l => l.Split(',')).ToArray();
        if (rows.Length == 0) return;
        var x = rows.Select(r => double.Parse(r[0], CultureInfo.InvariantCulture)).ToArray();
        double[] Col(int c) => rows.Select(r => double.Parse(r[c], CultureInfo.InvariantCulture)).ToArray();
        if (algo == "maml")
            Plots.AdaptationCurve(Path.Combine(dir, "training.png"), "Return on training tasks during meta-training", "meta-iteration", "mean return per trajectory",
                x, [("before adaptation", Col(1), new double[x.Length]), ("after adaptation", Col(2), new double[x.Length])]);
        else
            Plots.AdaptationCurve(Path.Combine(dir, "training.png"), "Mean trial return during meta-training", "iteration", "mean trial return",
                x, [("RL² (training tasks)", Col(2), new double[x.Length])]);
    }

    /// <summary>Meta-tests an RL² run; with <paramref name="labelWithRun"/> the agent's name says which run it is (for comparisons).</summary>
    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks, bool labelWithRun = false)
        => Evaluate(dir, overrides, options, out tasks, out _, labelWithRun);

    /// <summary>As above; <paramref name="deterministic"/> says whether the agent acted by its most likely action.</summary>
    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks, out bool deterministic,
        bool labelWithRun = false)
    {
        var run = RunConfig.Load(dir);
        var ckpt = Path.Combine(dir, Checkpoint);
        if (!File.Exists(ckpt)) throw new SettingException($"Run directory '{dir}' has no {Checkpoint}; train it first.");
        var cfg = Rl2Commands.Rl2ConfigOf(run, out _);
        // Evaluation may change the number of episodes per trial (e.g. to test generalisation to longer trials) and
        // whether actions are sampled; everything else must match training.
        var taskSettings = new Dictionary<string, string>(run.TaskSettings, StringComparer.Ordinal);
        foreach (var (k, v) in overrides)
        {
            if (k == "deterministic") cfg = cfg with { Deterministic = v == "true" ? true : v == "false" ? false : throw new SettingException($"'deterministic' must be true or false, got '{v}'.") };
            else taskSettings[k] = v;
        }
        tasks = TaskRegistry.Create(run.Task, taskSettings);
        var net = Rl2Trainer.LoadNetwork(TensorArchive.Load(ckpt), tasks, cfg);
        deterministic = cfg.Deterministic;
        var agent = new Rl2Agent(net, cfg.Deterministic);
        if (labelWithRun) agent = new Rl2Agent(net, cfg.Deterministic, $"{agent.Name} ({Report.FileLabel(dir)})");
        return MetaTest.Run(agent, tasks, options);
    }
}

/// <summary>Meta-testing MAML runs: return after 0, 1, 2, 3 gradient steps on held-out tasks.</summary>
internal static class MamlCommands
{
    public const int DefaultTasks = 40, Steps = MetaRL.Algorithms.Maml.MamlEvaluation.DefaultSteps;

    /// <summary>Evaluation settings that are not the task family's.</summary>
    private static readonly string[] EvaluationKeys = ["checkpoint", "eval-lr-decay"];

    /// <summary>
    /// A MAML run's policy (best.mrla if it has one) as a fixed-weight agent for the episode protocol, to play next to
    /// RL² runs on the same trials of <paramref name="tasks"/>.
    /// </summary>
    public static MetaRL.Algorithms.Maml.FixedPolicyAgent FixedAgent(string dir, TaskDistribution tasks, bool deterministic)
    {
        var run = RunConfig.Load(dir);
        if (run.Task != tasks.Name)
            throw new SettingException($"--compare '{dir}' is a maml run on {run.Task}; this run plays {tasks.Name}.");
        var own = TaskRegistry.Create(run.Task, run.TaskSettings);
        if (own.Horizon != tasks.Horizon)
            throw new SettingException($"--compare '{dir}' was trained with horizon {own.Horizon}; this run plays horizon {tasks.Horizon}.");
        var cfg = Rl2Commands.MamlConfigOf(run, out _);
        var (trainer, _) = LoadPolicy(dir, run, cfg, own, "best");
        string kind = cfg.InnerSteps == 0 ? "multi-task policy" : "MAML θ₀";
        return new MetaRL.Algorithms.Maml.FixedPolicyAgent(trainer.Policy, deterministic, $"{kind}, no adaptation ({Report.FileLabel(dir)})");
    }

    /// <summary>
    /// Loads a MAML run's policy: <c>best.mrla</c> (the policy with the best recent training return, as Finn et al. 2017
    /// evaluate) when <paramref name="which"/> is "best" and the run has one, else the last checkpoint.
    /// </summary>
    private static (MetaRL.Algorithms.Maml.MamlTrainer Trainer, string File) LoadPolicy(string dir, RunConfig run, MetaRL.Algorithms.Maml.MamlConfig cfg,
        TaskDistribution tasks, string which)
    {
        var last = Path.Combine(dir, Rl2Commands.Checkpoint);
        if (!File.Exists(last)) throw new SettingException($"Run directory '{dir}' has no {Rl2Commands.Checkpoint}; train it first.");
        var best = Path.Combine(dir, Rl2Commands.BestCheckpoint);
        var file = which == "best" && File.Exists(best) ? best : last;
        var trainer = new MetaRL.Algorithms.Maml.MamlTrainer(tasks, cfg, run.Seed);
        trainer.Load(TensorArchive.Load(file));
        return (trainer, file);
    }

    public static int Evaluate(string dir, Dictionary<string, string> overrides, int? taskCount, ulong seed, bool json, bool baselines, string? pretrainedDir = null)
    {
        var run = RunConfig.Load(dir);
        var taskSettings = new Dictionary<string, string>(run.TaskSettings, StringComparer.Ordinal);
        foreach (var (k, v) in overrides)
            if (!EvaluationKeys.Contains(k)) taskSettings[k] = v;
        var tasks = TaskRegistry.Create(run.Task, taskSettings);
        var cfg = Rl2Commands.MamlConfigOf(run, out _);
        var evalSettings = new SettingsReader("eval", overrides.Where(kv => EvaluationKeys.Contains(kv.Key)).ToDictionary());
        string which = evalSettings.Choice("checkpoint", "best", "best", "last");
        double? decay = MetaRL.Algorithms.Maml.MamlConfig.ReadDecay(evalSettings, "eval-lr-decay", cfg.EvalLearningRateDecay);
        evalSettings.EnsureAllUsed();
        var (trainer, file) = LoadPolicy(dir, run, cfg, tasks, which);
        int n = taskCount ?? DefaultTasks;
        // Every agent is fine-tuned with this run's inner learning rate and trajectories; with "auto", each gets the
        // later-step scale that does best for it on the validation tasks (never on the held-out ones).
        MetaRL.Algorithms.Maml.StepMetaTestResult Curve(string label, MetaRL.Algorithms.Maml.MlpPolicy<float> policy)
        {
            double scale = decay ?? MetaRL.Algorithms.Maml.MamlEvaluation.ChooseLaterStepScale(policy, tasks, trainer.ValidationTaskList, cfg.Trajectories, Steps,
                cfg.InnerLearningRate, cfg.Gamma, run.Seed).Scale;
            return MetaRL.Algorithms.Maml.MamlEvaluation.Run(label, policy, tasks, n, cfg.Trajectories, Steps, cfg.InnerLearningRate, cfg.Gamma, seed, scale);
        }
        if (!json)
            AnsiConsole.MarkupLine($"Evaluating [blue]{Markup.Escape(file)}[/] (iteration {trainer.Iteration}"
                + (file.EndsWith(Rl2Commands.BestCheckpoint, StringComparison.Ordinal)
                    ? cfg.ValidateEvery > 0 ? $", best validation score {trainer.BestScore:F2}" : $", best {cfg.BestWindow}-iteration training mean {trainer.BestScore:F2}"
                    : "")
                + (decay is { } d ? $"); steps after the first use inner-lr × {d}." : $"); each agent's steps after the first use inner-lr × the scale in {{{string.Join(", ", MetaRL.Algorithms.Maml.MamlEvaluation.LaterStepScales)}}} that does best on {cfg.ValidationTasks} validation tasks of the training distribution."));
        var results = new List<MetaRL.Algorithms.Maml.StepMetaTestResult>
        {
            Curve(cfg.InnerSteps == 0 ? "multi-task pretrained, fine-tuned" : (cfg.FirstOrder ? "first-order " : "") + (cfg.Outer == "ppo" ? "MAML-PPO" : "MAML") + (cfg.LowVarianceCurvature && !cfg.FirstOrder ? " (LVC)" : ""), trainer.Policy),
        };
        if (pretrainedDir is not null)
        {
            var pre = RunConfig.Load(pretrainedDir);
            if (pre.Algorithm != "maml" || pre.Task != run.Task)
                throw new SettingException($"--pretrained '{pretrainedDir}' is a {pre.Algorithm} run on {pre.Task}; it must be a maml run on {run.Task} (trained with inner-steps=0).");
            var preCfg = Rl2Commands.MamlConfigOf(pre, out _);
            if (!preCfg.Hidden.SequenceEqual(cfg.Hidden))
                throw new SettingException($"--pretrained '{pretrainedDir}' has hidden layers [{string.Join(",", preCfg.Hidden)}]; this run has [{string.Join(",", cfg.Hidden)}].");
            var (preTrainer, _) = LoadPolicy(pretrainedDir, pre, preCfg, tasks, which);
            string label = preCfg.InnerSteps == 0 ? "multi-task pretrained, fine-tuned" : $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(pretrainedDir))} (MAML), fine-tuned";
            results.Add(Curve(label, preTrainer.Policy));
        }
        if (baselines)
            results.Add(Curve("random init, fine-tuned", new MetaRL.Algorithms.Maml.MamlTrainer(tasks, cfg, run.Seed ^ 0xBADC0FFEEUL).Policy));
        for (int i = 1; i < results.Count; i++) results[i].AdvantageOfEvaluatedAgent = MetaRL.Algorithms.Maml.PairedAdvantage.Of(results[0], results[i]);
        var options = new System.Text.Json.JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
        string title = $"{tasks.Name}: return after k gradient steps on held-out tasks";
        if (json) Console.WriteLine(System.Text.Json.JsonSerializer.Serialize<object>(results.Count == 1 ? results[0] : results.ToArray(), options));
        else
        {
            var table = new Table().Title(title).Caption($"{n} held-out tasks × {cfg.Trajectories} trajectories, seed {seed}; mean ± 95% CI over tasks"
                + (results[0].OracleReturn is { } o ? $"; task-knowing oracle {o:F2}" : ""));
            table.AddColumn("agent");
            for (int k = 0; k <= Steps; k++) table.AddColumn(new TableColumn($"{k} step{(k == 1 ? "" : "s")}").RightAligned());
            table.AddColumn(new TableColumn("later steps").RightAligned());
            foreach (var r in results)
                table.AddRow([Markup.Escape(r.Agent), .. r.StepReturns.Select((m, k) => $"{m:F2} ± {r.StepCi95[k]:F2}"),
                    string.Create(CultureInfo.InvariantCulture, $"α × {r.LaterStepScale}")]);
            AnsiConsole.Write(table);
            if (results.Count > 1) AnsiConsole.Write(AdvantageTable(results));
        }
        string stem = Path.Combine(dir, Report.EvalStem(n, seed, overrides, baselines)
            + (pretrainedDir is null ? "" : "-pretrained-" + Report.FileLabel(pretrainedDir)));
        File.WriteAllText(stem + ".json", System.Text.Json.JsonSerializer.Serialize(results.ToArray(), options));
        using (var w = new StreamWriter(stem + ".csv"))
        {
            w.WriteLine("agent,steps,mean_return,ci95");
            foreach (var r in results)
                for (int k = 0; k <= Steps; k++)
                    w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"\"{r.Agent}\",{k},{r.StepReturns[k]:G8},{r.StepCi95[k]:G8}"));
        }
        var x = Enumerable.Range(0, Steps + 1).Select(k => (double)k).ToArray();
        var series = results.Select(r => (r.Agent, r.StepReturns, r.StepCi95)).ToList();
        if (results[0].OracleReturn is { } oracle) series.Add(("oracle", Enumerable.Repeat(oracle, Steps + 1).ToArray(), new double[Steps + 1]));
        Plots.AdaptationCurve(stem + ".png", title, "gradient steps on the task", "mean return per trajectory", x, series);
        if (!json) AnsiConsole.MarkupLine($"Written: [blue]{Markup.Escape(stem)}[/].csv/.json/.png");
        return 0;
    }

    /// <summary>The evaluated agent minus each baseline, task by task: the between-task spread cancels, so a small lead can be told from noise.</summary>
    private static Table AdvantageTable(List<MetaRL.Algorithms.Maml.StepMetaTestResult> results)
    {
        var first = results[0];
        var table = new Table().Title($"{Markup.Escape(first.Agent)} minus each baseline, paired over the same tasks")
            .Caption("mean difference ± 95% CI; positive = ahead. Best vs best: each agent at the step with its highest mean return");
        table.AddColumn("baseline");
        for (int k = 0; k <= Steps; k++) table.AddColumn(new TableColumn($"{k} step{(k == 1 ? "" : "s")}").RightAligned());
        table.AddColumn(new TableColumn("best vs best").RightAligned());
        foreach (var r in results.Skip(1))
        {
            var a = r.AdvantageOfEvaluatedAgent!;
            table.AddRow([Markup.Escape(r.Agent), .. a.PerStep.Select((d, k) => Report.SignedCell(d, a.PerStepCi95[k], 2)),
                Report.SignedCell(a.BestVsBest, a.BestVsBestCi95, 2) + $" ({a.BestStep} vs {a.OtherBestStep})"]);
        }
        return table;
    }
}
