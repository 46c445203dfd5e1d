using System.Globalization;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Meta.Evaluation;
using MetaRL.Meta.Rl2;
using MetaRL.Tasks;
using Spectre.Console;

namespace MetaRL.Cli;

/// <summary>Training and evaluating RL² runs.</summary>
internal static class Rl2Commands
{
    public const string Checkpoint = "checkpoint.mrla";
    public static readonly string[] Algorithms = ["rl2"];

    public static int Train(string? algo, string? task, Dictionary<string, string> settings, ulong seed, string? outDir, string? resume, int checkpointEvery)
    {
        RunConfig run;
        string dir;
        if (resume is not null)
        {
            if (algo is not null || task is not null || settings.Count > 0)
                throw new SettingException("--resume continues a run exactly as configured; do not give an algorithm, task or --set with it.");
            dir = resume;
            run = RunConfig.Load(dir);
            if (!File.Exists(Path.Combine(dir, Checkpoint))) throw new SettingException($"Run directory '{dir}' has no {Checkpoint} to resume from.");
        }
        else
        {
            if (algo is null || task is null) throw new SettingException("train needs an algorithm and a task, e.g. 'metarl train rl2 bandit'.");
            if (!Algorithms.Contains(algo)) throw new SettingException($"Unknown algorithm '{algo}'. Valid algorithms: {string.Join(", ", Algorithms)}.");
            var family = TaskRegistry.Get(task);
            var config = Rl2Config.DefaultsFor(task).With(settings, out var taskSettings);
            family.Create(taskSettings); // validates the task settings before anything is written
            dir = outDir ?? Path.Combine("runs", $"{algo}-{task}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
            if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
                throw new SettingException($"Output directory '{dir}' exists and is not empty; choose another --out or --resume it.");
            Directory.CreateDirectory(dir);
            run = new RunConfig(algo, task, taskSettings, config.ToSettings().ToDictionary(), seed);
            run.Save(dir);
        }

        var tasks = TaskRegistry.Create(run.Task, run.TaskSettings);
        var cfg = Rl2Config.DefaultsFor(run.Task).With(run.AlgorithmSettings, out var leftover);
        if (leftover.Count > 0) throw new SettingException($"config.json has unknown algorithm settings: {string.Join(", ", leftover.Keys)}.");
        var trainer = new Rl2Trainer(tasks, cfg, run.Seed);
        var metricsPath = Path.Combine(dir, "metrics.csv");
        if (resume is not null)
        {
            trainer.Load(TensorArchive.Load(Path.Combine(dir, Checkpoint)));
            TrimMetrics(metricsPath, trainer.Iteration);
            AnsiConsole.MarkupLine($"Resuming [blue]{Markup.Escape(dir)}[/] at iteration {trainer.Iteration} of {cfg.Iterations}.");
        }
        if (!File.Exists(metricsPath))
            File.WriteAllText(metricsPath, "iteration,steps,mean_trial_return,policy_loss,value_loss,entropy,approx_kl,clip_fraction,grad_norm,lr,seconds,rollout_seconds\n");
        var meta = new Dictionary<string, string> { ["algorithm"] = run.Algorithm, ["task"] = run.Task };

        bool stop = false;
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop = true; };
        Console.CancelKeyPress += onCancel;
        var history = new List<(int It, double Return)>();
        try
        {
            AnsiConsole.MarkupLine($"[bold]RL² on {Markup.Escape(tasks.Name)}[/] ({string.Join(", ", tasks.Settings.Select(s => $"{s.Key}={s.Default}"))}), {cfg.Cell.ToUpperInvariant()} {cfg.Hidden}, {cfg.TrialsPerIteration} trials per iteration, seed {run.Seed} → {Markup.Escape(dir)}");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask("training", maxValue: cfg.Iterations);
                    bar.Value = trainer.Iteration;
                    using var metrics = new StreamWriter(metricsPath, append: true);
                    double ema = double.NaN;
                    while (trainer.Iteration < cfg.Iterations && !stop)
                    {
                        Rl2IterationStats s;
                        try
                        {
                            s = trainer.RunIteration();
                        }
                        catch (TrainingDivergedException e)
                        {
                            metrics.Flush();
                            // The last checkpoint on disk is untouched; say where it is.
                            var last = File.Exists(Path.Combine(dir, Checkpoint)) ? $" The last good checkpoint is {Path.Combine(dir, Checkpoint)}." : " No checkpoint had been written yet.";
                            throw new TrainingDivergedException(e.Message + last);
                        }
                        metrics.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{s.Iteration},{s.Steps},{s.MeanTrialReturn:G6},{s.PolicyLoss:G6},{s.ValueLoss:G6},{s.Entropy:G6},{s.ApproxKl:G6},{s.ClipFraction:G6},{s.GradNorm:G6},{s.LearningRate:G6},{s.Seconds:G4},{s.RolloutSeconds:G4}"));
                        history.Add((s.Iteration, s.MeanTrialReturn));
                        ema = double.IsNaN(ema) ? s.MeanTrialReturn : 0.95 * ema + 0.05 * s.MeanTrialReturn;
                        bar.Description = $"training  return {ema:F3}  entropy {s.Entropy:F3}  kl {s.ApproxKl:F4}  {s.Steps / watch.Elapsed.TotalSeconds:N0} steps/s";
                        bar.Value = s.Iteration;
                        if (s.Iteration % checkpointEvery == 0 || s.Iteration == cfg.Iterations)
                        {
                            metrics.Flush();
                            trainer.Save(Path.Combine(dir, Checkpoint), meta);
                        }
                    }
                    if (stop)
                    {
                        metrics.Flush();
                        trainer.Save(Path.Combine(dir, Checkpoint), meta);
                    }
                });
            if (stop)
            {
                AnsiConsole.MarkupLine($"Interrupted: checkpoint written at iteration {trainer.Iteration}. Continue with [blue]metarl train --resume {Markup.Escape(dir)}[/].");
                return 130;
            }
            AnsiConsole.MarkupLine($"Trained {trainer.Iteration} iterations ({trainer.TotalSteps:N0} steps) in {watch.Elapsed.TotalSeconds:F1} s.");
            WriteTrainingPlot(dir, metricsPath);
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

    private static void WriteTrainingPlot(string dir, string metricsPath)
    {
        var rows = File.ReadAllLines(metricsPath).Skip(1).Select(l => l.Split(',')).ToArray();
        if (rows.Length == 0) return;
        var x = rows.Select(r => double.Parse(r[0], CultureInfo.InvariantCulture)).ToArray();
        var y = rows.Select(r => double.Parse(r[2], CultureInfo.InvariantCulture)).ToArray();
        Plots.AdaptationCurve(Path.Combine(dir, "training.png"), "Mean trial return during meta-training", "iteration", "mean trial return",
            x, [("RL² (training tasks)", y, new double[y.Length])]);
    }

    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks)
    {
        var run = RunConfig.Load(dir);
        var ckpt = Path.Combine(dir, Checkpoint);
        if (!File.Exists(ckpt)) throw new SettingException($"Run directory '{dir}' has no {Checkpoint}; train it first.");
        var cfg = Rl2Config.DefaultsFor(run.Task).With(run.AlgorithmSettings, out _);
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
        return MetaTest.Run(new Rl2Agent(net, cfg.Deterministic), tasks, options);
    }
}
