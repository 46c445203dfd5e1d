using System.Globalization;
using MetaRL.Algorithms;
using MetaRL.Algorithms.Maml;
using MetaRL.Algorithms.Rl2;
using MetaRL.Algorithms.Runs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Cli.Reports;
using MetaRL.Reports;
using Spectre.Console;

namespace MetaRL.Cli.Commands;

/// <summary>Meta-testing a run (or a checkpoint file) of any algorithm with the episode protocol.</summary>
internal static class EpisodeEvaluation
{
    /// <summary>Meta-tests a run; with <paramref name="labelWithRun"/> the agent's name says which run it is (for comparisons).</summary>
    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks, bool labelWithRun = false)
        => Evaluate(dir, overrides, options, out tasks, out _, labelWithRun);

    /// <summary>As above; <paramref name="deterministic"/> says whether the agent acted by its most likely action.</summary>
    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks, out bool deterministic,
        bool labelWithRun = false)
        => Evaluate(dir, overrides, options, out tasks, out deterministic, out _, out _, labelWithRun);

    /// <summary>
    /// As above; <paramref name="file"/> and <paramref name="described"/> say which checkpoint was evaluated and what wrote
    /// it. The run's last checkpoint by default, its best policy (best.mrla, kept by validation) with <c>--set checkpoint=best</c>.
    /// </summary>
    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks, out bool deterministic,
        out string file, out LearnerCheckpoint.Description described, bool labelWithRun = false)
        => Evaluate(dir, overrides, options, out tasks, out deterministic, out file, out described, out _, labelWithRun);

    /// <summary>As above; <paramref name="agent"/> is the agent that played (for traces of its play).</summary>
    public static MetaTestResult Evaluate(string dir, Dictionary<string, string> overrides, MetaTestOptions options, out TaskDistribution tasks, out bool deterministic,
        out string file, out LearnerCheckpoint.Description described, out IMetaAgent agent, bool labelWithRun = false)
        => Evaluate(Load(dir, overrides, out file, out described), dir, options, out tasks, out deterministic, out agent, labelWithRun);

    /// <summary>Meta-tests a learner loaded from run <paramref name="dir"/> (by <see cref="Load"/>).</summary>
    public static MetaTestResult Evaluate(IMetaLearner learner, string dir, MetaTestOptions options, out TaskDistribution tasks, out bool deterministic,
        out IMetaAgent agent, bool labelWithRun = false)
    {
        tasks = learner.Tasks;
        agent = learner.Agent();
        deterministic = !learner.Settings.TryGetValue("deterministic", out var d) || d == "true";
        if (labelWithRun) agent = new NamedAgent(agent, $"{agent.Name} ({Report.FileLabel(dir)})");
        return MetaTest.Run(agent, tasks, options);
    }

    /// <summary>
    /// A run's learner as evaluation loads it: its last checkpoint, or best.mrla with <c>checkpoint=best</c> among
    /// <paramref name="overrides"/>; the other overrides change task settings. <paramref name="command"/> names the command in errors.
    /// </summary>
    public static IMetaLearner Load(string dir, IReadOnlyDictionary<string, string> overrides, out string file, out LearnerCheckpoint.Description described,
        string command = "eval")
    {
        var rest = new Dictionary<string, string>(overrides);
        var which = new SettingsReader(command, rest.TryGetValue("checkpoint", out var c) ? new Dictionary<string, string> { ["checkpoint"] = c } : null)
            .Choice("checkpoint", "last", "last", "best");
        rest.Remove("checkpoint");
        file = RunDirectory.CheckpointOf(dir, preferBest: which == "best");
        var archive = TensorArchive.Load(file);
        described = LearnerCheckpoint.Read(archive, file);
        return MetaLearners.Get(described.Algorithm).LoadForEvaluation(archive, rest, file);
    }
}

/// <summary>Meta-testing MAML runs: return after 0, 1, 2, 3 gradient steps on held-out tasks.</summary>
internal static class MamlStepEvaluation
{
    public const int DefaultTasks = Algorithms.Maml.MamlEvaluation.DefaultTasks, Steps = Algorithms.Maml.MamlEvaluation.DefaultSteps;

    /// <summary>Evaluation settings that are not the task family's.</summary>
    private static readonly string[] EvaluationKeys = ["checkpoint", "eval-lr-decay"];

    /// <summary>
    /// A MAML run's policy (best.mrla if it has one) as a fixed-weight agent for the episode protocol, to play next to
    /// RL² runs on the same trials of <paramref name="tasks"/>.
    /// </summary>
    public static FixedPolicyAgent FixedAgent(string dir, TaskDistribution tasks, bool deterministic)
    {
        var (learner, _) = LoadPolicy(dir, "best", null);
        if (learner.Tasks.Name != tasks.Name)
            throw new SettingException($"--compare '{dir}' is a maml run on {learner.Tasks.Name}; this run plays {tasks.Name}.");
        if (learner.Tasks.Horizon != tasks.Horizon)
            throw new SettingException($"--compare '{dir}' was trained with horizon {learner.Tasks.Horizon}; this run plays horizon {tasks.Horizon}.");
        var (trainer, cfg) = (learner.Trainer, learner.Config);
        string kind = cfg.InnerSteps == 0 ? "multi-task policy" : "MAML θ₀";
        return new FixedPolicyAgent(trainer.Policy, deterministic, $"{kind}, no adaptation ({Report.FileLabel(dir)})");
    }

    /// <summary>
    /// Loads a MAML run's policy: <c>best.mrla</c> (the policy with the best validation score) when <paramref name="which"/>
    /// is "best" and the run has one, else the last checkpoint; a checkpoint file is loaded as it is. With
    /// <paramref name="taskOverrides"/> the task family is rebuilt with those settings changed (e.g. for longer episodes).
    /// </summary>
    internal static (MamlLearner Learner, string File) LoadPolicy(string dir, string which, IReadOnlyDictionary<string, string>? taskOverrides)
    {
        var file = RunDirectory.CheckpointOf(dir, preferBest: which == "best");
        var learner = (MamlLearner)MetaLearners.Get("maml").LoadForEvaluation(TensorArchive.Load(file), taskOverrides ?? new Dictionary<string, string>(), file);
        return (learner, file);
    }

    public static int Evaluate(string dir, Dictionary<string, string> overrides, int? taskCount, ulong seed, bool json, bool baselines, string? pretrainedDir = null, string? outDir = null)
    {
        var taskOverrides = overrides.Where(kv => !EvaluationKeys.Contains(kv.Key)).ToDictionary();
        var evalSettings = new SettingsReader("eval", overrides.Where(kv => EvaluationKeys.Contains(kv.Key)).ToDictionary());
        string which = evalSettings.Choice("checkpoint", "best", "best", "last");
        var (learner, file) = LoadPolicy(dir, which, taskOverrides);
        var (trainer, cfg, tasks) = (learner.Trainer, learner.Config, learner.Tasks);
        double? decay = MamlConfig.ReadDecay(evalSettings, "eval-lr-decay", cfg.EvalLearningRateDecay);
        evalSettings.EnsureAllUsed();
        int n = taskCount ?? DefaultTasks;
        // Every agent is fine-tuned with this run's inner learning rate and trajectories; with "auto", each gets the
        // later-step scale that does best for it on the validation tasks (never on the held-out ones).
        MetaTestResult Curve(string label, MlpPolicy<float> policy)
        {
            double scale = decay ?? Algorithms.Maml.MamlEvaluation.ChooseLaterStepScale(policy, tasks, trainer.ValidationTaskList, trainer.Adaptation(1), Steps, trainer.Seed).Scale;
            return Algorithms.Maml.MamlEvaluation.Run(label, policy, tasks, n, trainer.Adaptation(scale), Steps, seed);
        }
        if (!json)
            AnsiConsole.MarkupLine($"Evaluating [blue]{Markup.Escape(file)}[/] (iteration {trainer.Iteration}"
                + (file.EndsWith(RunDirectory.BestCheckpointFile, StringComparison.Ordinal)
                    ? cfg.ValidateEvery > 0 ? $", best validation score {trainer.BestScore:F2}" : $", best {cfg.BestWindow}-iteration training mean {trainer.BestScore:F2}"
                    : "")
                + (decay is { } d ? $"); steps after the first use inner-lr × {d}." : $"); each agent's steps after the first use inner-lr × the scale in {{{string.Join(", ", Algorithms.Maml.MamlEvaluation.LaterStepScales)}}} that does best on {cfg.ValidationTasks} validation tasks of the training distribution."));
        var results = new List<MetaTestResult>
        {
            Curve(cfg.InnerSteps == 0 ? "multi-task pretrained, fine-tuned" : learner.Variant, trainer.Policy),
        };
        if (pretrainedDir is not null)
        {
            var (pre, _) = LoadPolicy(pretrainedDir, which, taskOverrides);
            if (pre.Tasks.Name != tasks.Name)
                throw new SettingException($"--pretrained '{pretrainedDir}' is a maml run on {pre.Tasks.Name}; it must be a maml run on {tasks.Name} (trained with inner-steps=0).");
            var preCfg = pre.Config;
            if (!preCfg.Hidden.SequenceEqual(cfg.Hidden))
                throw new SettingException($"--pretrained '{pretrainedDir}' has hidden layers [{string.Join(",", preCfg.Hidden)}]; this run has [{string.Join(",", cfg.Hidden)}].");
            string label = preCfg.InnerSteps == 0 ? "multi-task pretrained, fine-tuned" : $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(pretrainedDir))} (MAML), fine-tuned";
            results.Add(Curve(label, pre.Trainer.Policy));
        }
        if (baselines)
            results.Add(Curve("random init, fine-tuned", new MamlTrainer(tasks, cfg, trainer.Seed ^ 0xBADC0FFEEUL).Policy));
        for (int i = 1; i < results.Count; i++) results[i].LeadOfEvaluatedAgent = MetaTestResult.Lead(results[0], results[i]);
        string title = $"{tasks.Name}: return after k gradient steps on held-out tasks";
        if (json) Console.WriteLine(results.Count == 1 ? results[0].ToJson() : MetaTestResult.ToJson(results));
        else
        {
            double? oraclePerEpisode = results[0].OracleTotalReturn / results[0].EpisodesPerTrial;
            Report.Print(EvaluationReport.StepTable(results, title, $"{n} held-out tasks × {cfg.Trajectories} trajectories per step, seed {seed}; mean return per trajectory ± 95% CI over tasks"
                + (oraclePerEpisode is { } o ? $"; task-knowing oracle {o:F2}" : "")));
            if (results.Count > 1) Report.Print(EvaluationReport.StepLeadTable(results));
        }
        string stem = Report.OutputPath(dir, Report.EvalStem(n, seed, overrides, baselines)
            + (pretrainedDir is null ? "" : "-pretrained-" + Report.FileLabel(pretrainedDir)), outDir);
        EvaluationReport.WriteAll(Path.GetDirectoryName(Path.GetFullPath(stem))!, Path.GetFileName(stem), results, title);
        if (!json) AnsiConsole.MarkupLine($"Written: [blue]{Markup.Escape(stem)}[/].csv/.json/.png");
        return 0;
    }
}
