using MetaRL.Algorithms.Runs;
using MetaRL.Cli.Reports;
using MetaRL.Reports;
using MetaRL.Core.Tasks;
using Spectre.Console;

namespace MetaRL.Cli.Commands;

/// <summary>
/// <c>metarl train</c>: a library <see cref="RunDirectory"/> driven with a progress bar, stopped cleanly by Ctrl+C or
/// SIGTERM. Nothing here knows which algorithm runs.
/// </summary>
internal static class Training
{
    /// <summary>Where rollouts are played: <paramref name="Local"/> worker processes, or the workers of <paramref name="Cluster"/>; neither: here.</summary>
    public sealed record ClusterChoice(int? Local, string? Cluster, TimeSpan Timeout)
    {
        public bool Any => Local is not null || Cluster is not null;
    }

    public static int Train(string? algo, string? task, Dictionary<string, string> settings, ulong? seed, string? outDir, string? resume, int checkpointEvery,
        string? from = null, string? counterpart = null, bool force = false, ClusterChoice? cluster = null, bool weights = false, bool noStages = false)
    {
        RunDirectory run;
        if (noStages && (resume is not null || from is not null))
            throw new SettingException("--no-stages applies to a new run of an algorithm and a task (a staged run's plan is kept when it resumes).");
        if (counterpart is not null && from is null)
            throw new SettingException("--counterpart builds a run's comparison agent: give the run with --from, e.g. 'metarl train --from runs/my-run --counterpart multi-task'.");
        if (weights && from is null)
            throw new SettingException("--weights starts a new run from another run's network: give the run with --from, e.g. 'metarl train --from runs/arena-kite --weights --set style=all'.");
        if (force && resume is null) throw new SettingException("--force applies to --resume only.");
        // Refused before a run directory is made.
        if (cluster is { Any: true }) Workers.Check(cluster.Local, cluster.Cluster, algo is null ? null : MetaRL.Algorithms.MetaLearners.Get(algo));
        if (from is not null)
        {
            if (algo is not null || task is not null || resume is not null)
                throw new SettingException("--from takes the algorithm and task of the run it names; do not give them, or --resume, with it.");
            string path = outDir ?? Path.TrimEndingDirectorySeparator(from) + "-" + (counterpart ?? (weights ? "warm" : "again"));
            run = RunDirectory.CreateFrom(path, from, counterpart, settings, seed, checkpointEvery, weights);
            AnsiConsole.MarkupLine($"From [blue]{Markup.Escape(from)}[/]{(counterpart is null ? "" : $", its {Markup.Escape(counterpart)} counterpart")}{(weights ? ", starting from its weights" : "")}.");
        }
        else if (resume is not null)
        {
            if (seed is not null || outDir is not null)
                throw new SettingException("--resume continues the run in its own directory with its own seed; --seed and --out do not apply to it (use --from to start a new run from it).");
            if (algo is not null || task is not null || settings.Keys.Any(k => k != "iterations"))
                throw new SettingException("--resume continues a run exactly as configured; do not give an algorithm or task with it, and of the settings only 'iterations' may change (to train longer).");
            int? iterations = null;
            if (settings.ContainsKey("iterations"))
            {
                var reader = new SettingsReader("train --resume", settings);
                iterations = reader.Int("iterations", 0, 1, 10_000_000);
            }
            if (StagedRun.InEarlierStage(resume))
            {
                if (iterations is not null || force)
                    throw new SettingException($"'{resume}' is still training the stages before its own; resume it without --set iterations or --force, and once its last stage has begun, resume that with them.");
                using var staged = StagedRun.Open(resume);
                AnsiConsole.MarkupLine($"Resuming [blue]{Markup.Escape(resume)}[/], trained in {staged.Count} stages.");
                return TrainStages(staged, checkpointEvery, cluster);
            }
            run = RunDirectory.Resume(resume, iterations, checkpointEvery, force);
            AnsiConsole.MarkupLine($"Resuming [blue]{Markup.Escape(resume)}[/] at iteration {run.Learner.Iteration} of {run.Learner.Iterations}.");
        }
        else
        {
            if (algo is null || task is null) throw new SettingException("train needs an algorithm and a task, e.g. 'metarl train rl2 bandit'.");
            string path = outDir ?? Path.Combine("runs", $"{algo}-{task}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
            if (!noStages && StagedRun.Plan(path, algo, task, settings, seed ?? 1) is { } staged)
                using (staged)
                {
                    AnsiConsole.MarkupLine($"The preset trains this in {staged.Count} stages ({Markup.Escape(staged.Measured)}); --no-stages trains the last alone:");
                    foreach (var stage in staged.Stages)
                    {
                        string start = stage.From == stage.Number - 1 ? "" : stage.From == 0 ? ", from scratch" : $", from stage {stage.From}";
                        AnsiConsole.MarkupLine($"  {stage.Number}. [bold]{Markup.Escape(stage.Name)}[/]: {Markup.Escape(stage.About)} ({Markup.Escape(stage.DescribeChanges())}{start}) → {Markup.Escape(Path.Combine(path, stage.Directory))}");
                    }
                    AnsiConsole.MarkupLine($"  {staged.Count}. the run itself, from the {(staged.RunStartsFrom.HandsOverBest ? "best policy" : "weights")} of stage {staged.RunFrom} → {Markup.Escape(path)}");
                    return TrainStages(staged, checkpointEvery, cluster);
                }
            run = RunDirectory.Create(path, algo, task, settings, seed ?? 1, checkpointEvery);
        }
        return Run(run, cluster, run.Path);
    }

    /// <summary>Trains every stage of <paramref name="staged"/> not yet finished, in order; stops (with its code) when one is interrupted.</summary>
    private static int TrainStages(StagedRun staged, int checkpointEvery, ClusterChoice? cluster)
    {
        while (staged.Next(checkpointEvery) is var (run, number))
        {
            string name = number < staged.Count ? staged.Stages[number - 1].Name : "the run itself";
            AnsiConsole.MarkupLine($"[bold]Stage {number} of {staged.Count}[/]: {Markup.Escape(name)}");
            int code = Run(run, cluster, staged.Path);
            if (code != 0) return code;
            // A signal that came as a stage ended stops the run before the next stage rather than being lost.
            if (LastStop != 0 && number < staged.Count)
            {
                AnsiConsole.MarkupLine($"Interrupted ({(LastStop == 143 ? "SIGTERM" : "Ctrl+C")}) as stage {number} ended. Continue with [blue]metarl train --resume {Markup.Escape(staged.Path)}[/].");
                return LastStop;
            }
        }
        return 0;
    }

    // The signal (its exit code) that the last driven run received, 0 for none.
    private static int LastStop;

    // Drives one run to its end (or an interrupt) here or on workers; resumePath is what the user resumes after an interrupt.
    private static int Run(RunDirectory run, ClusterChoice? cluster, string resumePath)
    {
        using (run)
        {
            if (cluster is not { Any: true }) return Drive(run, null, resumePath);
            using var workers = Workers.LearnerCluster.Start(run.Learner, cluster.Cluster, cluster.Local, cluster.Timeout, run.Path, TaskPacks.Loaded);
            workers.Workers.Log += line => AnsiConsole.MarkupLine(line.Contains("failed") ? $"[yellow]{Markup.Escape(line)}[/]" : Markup.Escape(line));
            var distributable = (MetaRL.Algorithms.Rollouts.IDistributableLearner)run.Learner;
            distributable.Workers = workers.Workers;
            try { return Drive(run, workers, resumePath); }
            finally { distributable.Workers = null; }
        }
    }

    // The progress line's columns other than the summary and the bar: percentage, elapsed and remaining time, and the gaps.
    private const int SummaryMargin = 4 + 8 + 8 + 4;

    private static int Drive(RunDirectory run, Workers.LearnerCluster? cluster, string resumePath)
    {
        var learner = run.Learner;
        // Ctrl+C (SIGINT) and SIGTERM (`kill`, a batch scheduler's stop) both end the run at the next iteration boundary
        // with a checkpoint; the exit code is 128 + the signal's number.
        int stopCode = 0;
        bool Stopping() => Volatile.Read(ref stopCode) != 0;
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; Volatile.Write(ref stopCode, 130); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM,
            c => { c.Cancel = true; Volatile.Write(ref stopCode, 143); });
        try
        {
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(learner.Description)}[/], seed {learner.Seed} → {Markup.Escape(run.Path)}");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            int first = learner.Iteration;
            // Below ~120 columns the bar is shorter and the summary keeps the fields that fit, so the line never wraps.
            var barColumn = new ProgressBarColumn { Width = AnsiConsole.Profile.Width < 120 ? 12 : 40 };
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, barColumn, new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask("training", maxValue: learner.Iterations);
                    bar.Value = learner.Iteration;
                    while (learner.Iteration < learner.Iterations && !Stopping())
                    {
                        var report = run.Step();
                        if (report.Warning is { } warning) AnsiConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
                        string summary = cluster is null ? report.Summary : $"{report.Summary}  {cluster.Record(report.Iteration)}";
                        bar.Description = Markup.Escape(ProgressSummary.Fit(summary, AnsiConsole.Profile.Width - SummaryMargin - (barColumn.Width ?? 40)));
                        bar.Value = learner.Iteration;
                    }
                    if (Stopping() && learner.Iteration < learner.Iterations) run.Checkpoint();
                });
            // A signal that lands after the last iteration is too late to interrupt anything: the run is complete.
            if (Stopping() && learner.Iteration < learner.Iterations)
            {
                AnsiConsole.MarkupLine($"Interrupted ({(stopCode == 143 ? "SIGTERM" : "Ctrl+C")}): checkpoint written at iteration {learner.Iteration}. Continue with [blue]metarl train --resume {Markup.Escape(resumePath)}[/].");
                return stopCode;
            }
            int trained = learner.Iteration - first;
            AnsiConsole.MarkupLine($"Trained {trained} iteration{(trained == 1 ? "" : "s")} in {watch.Elapsed.TotalSeconds:F1} s.");
            WriteTrainingPlot(run);
        }
        finally
        {
            LastStop = Volatile.Read(ref stopCode);
            Console.CancelKeyPress -= onCancel;
        }
        return 0;
    }

    /// <summary>Every return column of metrics.csv that was measured at every iteration, against the iteration.</summary>
    private static void WriteTrainingPlot(RunDirectory run)
    {
        TrainingReport.Plot(run.Path, $"{run.Learner.Algorithm} on {run.Learner.Tasks.Name}: training-task returns during meta-training");
    }
}
