using System.Diagnostics;
using System.Text.Json;

namespace MetaRL.Cli.Tests;

/// <summary>The metarl command line, run as a separate process the way users run it.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-cli-" + Guid.NewGuid().ToString("N"));

    public CliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    internal static (int Code, string Out, string Err) Run(params string[] args) => RunWith(new Dictionary<string, string?>(), args);

    /// <summary>Runs the CLI with <paramref name="environment"/> set (a null value removes the variable).</summary>
    internal static (int Code, string Out, string Err) RunWith(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "metarl.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// <paramref name="run"/>'s last checkpoint copied alone into an empty folder: evaluating the file gives the same
    /// <paramref name="field"/> as evaluating the run, and its outputs land beside the file.
    /// </summary>
    private void AssertCopiedCheckpointEvaluatesAlike(string run, string field, params string[] evalArgs)
    {
        var alone = Path.Combine(_dir, "alone-" + Path.GetFileName(run));
        Directory.CreateDirectory(alone);
        var copy = Path.Combine(alone, "copy.mrla");
        File.Copy(Path.Combine(run, "checkpoint.mrla"), copy);
        // Evaluated as a run, MAML prefers best.mrla; the callers pass checkpoint=last so both read the same weights.
        var fromRun = Run(["eval", run, "--json", .. evalArgs]);
        var fromFile = Run(["eval", copy, "--json", .. evalArgs]);
        Assert.True(fromRun.Code == 0, fromRun.Err);
        Assert.True(fromFile.Code == 0, fromFile.Err);
        using var a = JsonDocument.Parse(fromRun.Out);
        using var b = JsonDocument.Parse(fromFile.Out);
        Assert.Equal(a.RootElement.GetProperty(field).GetRawText(), b.RootElement.GetProperty(field).GetRawText());
        Assert.Single(Directory.GetFiles(alone, "copy-eval-*.json"));
    }

    [Fact]
    public void Runs_and_checkpoints_from_before_self_describing_checkpoints_are_refused_by_version()
    {
        var run = Path.Combine(_dir, "versions");
        Assert.Equal(0, Run("train", "rl2", "bandit", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=8",
            "--set", "minibatches=2", "--out", run).Code);
        var config = Path.Combine(run, "config.json");
        var text = File.ReadAllText(config);
        Assert.Contains("\"format\": 2", text);
        File.WriteAllText(config, text.Replace("\"format\": 2", "\"format\": 1"));
        foreach (var args in new[] { new[] { "eval", run }, ["train", "--resume", run, "--set", "iterations=2"] })
        {
            var old = Run(args);
            Assert.Equal(2, old.Code);
            Assert.StartsWith("error: ", old.Err);
            Assert.Single(old.Err.TrimEnd('\n').Split('\n')); // one line, no stack trace
            Assert.Contains("run-directory format 1", old.Err);
            Assert.Contains("reads format 2", old.Err);
        }
        File.WriteAllText(config, text);

        // A checkpoint without the learner description (as every checkpoint before it was) is refused and left as it is.
        var ckpt = Path.Combine(run, "checkpoint.mrla");
        var archive = MetaRL.Engine.IO.TensorArchive.Load(ckpt);
        Assert.True(archive.Metadata.Remove("learner-format"));
        archive.Save(ckpt);
        var bytes = File.ReadAllBytes(ckpt);
        var refused = Run("eval", ckpt);
        Assert.Equal(2, refused.Code);
        Assert.Contains("checkpoint format 1", refused.Err);
        Assert.Equal(bytes, File.ReadAllBytes(ckpt));
    }

    [Fact]
    public void Piped_tables_fit_the_width_columns_gives_and_are_not_wrapped_at_80_without_a_terminal()
    {
        // Both streams are pipes here: no terminal to ask, so only COLUMNS narrows the tables.
        var narrow = RunWith(new Dictionary<string, string?> { ["COLUMNS"] = "90" }, "list", "regime-trading");
        Assert.True(narrow.Code == 0, narrow.Err);
        var lines = narrow.Out.Split('\n');
        Assert.All(lines, l => Assert.True(l.Length <= 90, $"{l.Length} columns: {l}"));
        Assert.Contains(lines, l => l.Length > 80);

        var wide = RunWith(new Dictionary<string, string?> { ["COLUMNS"] = null }, "list", "regime-trading");
        Assert.True(wide.Code == 0, wide.Err);
        Assert.Contains(wide.Out.Split('\n'), l => l.Length > 150);
    }

    [Fact]
    public void List_json_describes_every_setting_of_every_algorithm_and_task_family()
    {
        var list = Run("list", "--json");
        Assert.True(list.Code == 0, list.Err);
        using var doc = JsonDocument.Parse(list.Out);
        var algorithms = doc.RootElement.GetProperty("algorithms").EnumerateArray().ToArray();
        Assert.Equal(["rl2", "maml", "pearl", "sac"], algorithms.Select(a => a.GetProperty("name").GetString()));
        var families = doc.RootElement.GetProperty("taskFamilies").EnumerateArray().ToArray();
        Assert.Contains(families, f => f.GetProperty("name").GetString() == "tabular-mdp");
        int described = 0;
        foreach (var owner in algorithms.Concat(families.Where(f => f.TryGetProperty("settings", out _))))
            foreach (var s in owner.GetProperty("settings").EnumerateArray())
            {
                string what = $"{owner.GetProperty("name").GetString()}.{s.GetProperty("key").GetString()}";
                Assert.False(string.IsNullOrWhiteSpace(s.GetProperty("description").GetString()), what);
                Assert.Contains(s.GetProperty("type").GetString(), new[] { "integer", "number", "boolean", "choice", "sizes", "text" });
                Assert.True(s.TryGetProperty("default", out _), what);
                if (s.GetProperty("type").GetString() is "choice" or "boolean") Assert.True(s.GetProperty("choices").GetArrayLength() >= 2, what);
                if (s.GetProperty("type").GetString() is "integer") Assert.True(s.TryGetProperty("min", out _) && s.TryGetProperty("max", out _), what);
                described++;
            }
        Assert.True(described >= 63 + 2 * families.Length, $"{described} settings described");
        // Per-task defaults are listed where they differ from the general ones.
        Assert.Equal("256", algorithms[0].GetProperty("taskDefaults").GetProperty("tabular-mdp").GetProperty("hidden").GetString());
        // Those that hold only under a task setting are listed with their condition: no family's defaults reach them.
        var conditional = algorithms[0].GetProperty("conditionalDefaults").EnumerateArray().ToArray();
        var arena = conditional.Where(p => p.GetProperty("tasks").EnumerateArray().Any(t => t.GetString() == "arena")).ToArray();
        Assert.Equal(2, arena.Length);
        // The family's default (every style) trains in stages, a marksmen oracle first; one style alone does not.
        Assert.Equal(["loadouts=true", "style=all"], arena[0].GetProperty("when").EnumerateArray().Select(w => w.GetString()));
        Assert.Equal("marksmen", arena[0].GetProperty("stages")[0].GetProperty("name").GetString());
        Assert.Equal("kite", arena[0].GetProperty("stages")[0].GetProperty("settings").GetProperty("style").GetString());
        Assert.Equal("best", arena[0].GetProperty("stages")[0].GetProperty("handOver").GetString());
        // Later stages say where they start; the run says which stage it starts from and what it takes as the last stage.
        Assert.Equal(("none", "marksmen"), (arena[0].GetProperty("stages")[1].GetProperty("from").GetString(), arena[0].GetProperty("stages")[4].GetProperty("from").GetString()));
        Assert.Equal(("taught3", "10"), (arena[0].GetProperty("runFrom").GetString(), arena[0].GetProperty("runSettings").GetProperty("teacher-coef").GetString()));
        var loadouts = arena[1];
        Assert.Equal(["loadouts=true"], loadouts.GetProperty("when").EnumerateArray().Select(w => w.GetString()));
        Assert.Equal(0, loadouts.GetProperty("stages").GetArrayLength());
        Assert.Equal("0.998", loadouts.GetProperty("settings").GetProperty("gamma").GetString());
        Assert.Contains(conditional, p => p.GetProperty("when").EnumerateArray().Any(w => w.GetString() == "episodes ≥ 50"));
        Assert.Equal(0, algorithms[1].GetProperty("conditionalDefaults").GetArrayLength());
    }

    [Fact]
    public void A_policy_whose_entropy_collapses_early_is_warned_about_once()
    {
        // With lr=1 the bandit policy is deterministic after one iteration; training used to go on silently.
        string[] small = ["--set", "iterations=8", "--set", "hidden=16", "--set", "trials-per-iteration=32", "--set", "minibatches=2"];
        var collapsed = Run(["train", "rl2", "bandit", .. small, "--set", "lr=1", "--out", Path.Combine(_dir, "lr1")]);
        Assert.True(collapsed.Code == 0, collapsed.Err);
        var warnings = collapsed.Out.Split('\n').Where(l => l.StartsWith("warning: ", StringComparison.Ordinal)).ToArray();
        Assert.Single(warnings);
        Assert.Matches(@"^warning: the policy's entropy fell to [0-9.E-]+ by iteration [12] of 8: it has stopped exploring and rarely recovers\. A smaller learning rate \(lr is 1\)", warnings[0]);
        var healthy = Run(["train", "rl2", "bandit", .. small, "--out", Path.Combine(_dir, "lr-default")]);
        Assert.True(healthy.Code == 0, healthy.Err);
        Assert.DoesNotContain("warning:", healthy.Out);
    }

    [Fact]
    public void List_shows_one_algorithm_by_group_config_files_give_settings_and_eval_writes_where_asked()
    {
        var rl2 = Run("list", "rl2");
        Assert.Equal(0, rl2.Code);
        Assert.DoesNotContain("maml:", rl2.Out);
        Assert.DoesNotContain("Task families", rl2.Out);
        foreach (var group in new[] { "network", "inputs", "policy update", "training", "evaluation" }) Assert.Contains("│ " + group + " ", rl2.Out);
        Assert.Contains("│   hidden ", rl2.Out);
        var json = Run("list", "maml", "--json");
        using (var doc = JsonDocument.Parse(json.Out))
        {
            var maml = Assert.Single(doc.RootElement.GetProperty("algorithms").EnumerateArray());
            Assert.Equal("inner step", maml.GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("key").GetString() == "inner-lr").GetProperty("group").GetString());
            Assert.Empty(doc.RootElement.GetProperty("taskFamilies").EnumerateArray());
        }
        var task = Run("list", "bandit");
        Assert.Contains("arms=5", task.Out);
        var unknown = Run("list", "rl3");
        Assert.Equal((2, "error: 'rl3' is neither an algorithm nor a task family (did you mean 'rl2'?)."), (unknown.Code, unknown.Err[..unknown.Err.IndexOf('.')] + "."));
        Assert.EndsWith("(a family of your own assembly needs --tasks-from FILE.dll).\n", unknown.Err);

        // --config: the keys of --set in a JSON file; --set overrides it.
        var config = Path.Combine(_dir, "small.json");
        File.WriteAllText(config, """{ "iterations": 2, "hidden": 8, "trials-per-iteration": 8, "minibatches": 2, "arms": 3, "episodes": 3, "normalize-rewards": true }""");
        var run = Path.Combine(_dir, "configured");
        var train = Run("train", "rl2", "bandit", "--config", config, "--set", "episodes=4", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        var written = File.ReadAllText(Path.Combine(run, "config.json"));
        Assert.Contains("\"hidden\": \"8\"", written);
        Assert.Contains("\"arms\": \"3\"", written);
        Assert.Contains("\"episodes\": \"4\"", written);
        File.WriteAllText(config, """{ "hidden": [8] }""");
        var nested = Run("train", "rl2", "bandit", "--config", config, "--out", Path.Combine(_dir, "never"));
        Assert.Equal((2, $"error: --config: '{config}': setting 'hidden' must be a string, number or boolean; it is an array.\n"), (nested.Code, nested.Err));
        File.WriteAllText(config, "{ iterations: 2 ");
        var broken = Run("train", "rl2", "bandit", "--config", config, "--out", Path.Combine(_dir, "never"));
        Assert.Equal(2, broken.Code);
        Assert.StartsWith($"error: --config: '{config}' is not valid JSON: ", broken.Err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "never")));

        // eval --out writes elsewhere and leaves the run directory as it was.
        var before = Directory.GetFiles(run).Order().ToArray();
        var elsewhere = Path.Combine(_dir, "evals", "first");
        var eval = Run("eval", run, "--trials", "5", "--out", elsewhere);
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Equal(before, Directory.GetFiles(run).Order().ToArray());
        var files = Directory.GetFiles(elsewhere).Select(f => Path.GetFileName(f)).Order().ToArray();
        Assert.Equal(["eval-trials5-seed1.csv", "eval-trials5-seed1.json", "eval-trials5-seed1.png"], files.Where(f => f.StartsWith("eval-", StringComparison.Ordinal)));
        Assert.Matches(@"^events\.out\.tfevents\.[0-9]+\.eval-trials5-seed1$", Assert.Single(files, f => f.StartsWith("events.", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_demo_trains_compares_with_the_paired_lead_and_explains_regret_and_its_verdict()
    {
        var dir = Path.Combine(_dir, "demo");
        var demo = Run("demo", "--iterations", "3", "--test-tasks", "50", "--out", dir);
        Assert.True(demo.Code == 0, demo.Err);
        var text = demo.Out.Replace("\n", " ");
        Assert.Contains("RL² ahead by", demo.Out);
        Assert.Contains("How to read it.", text);
        Assert.Matches(@"regret\s+is what the oracle that\s+knows the best arm earns minus the agent's total", text);
        // The verdict places RL² against every baseline by its paired interval; three iterations have not taught it much.
        Assert.Matches(@"What it says\. RL² adapts within the trial: [0-9.]+ on its first pull, [0-9.]+ on its\s+last\.", text);
        Assert.Matches(@"behind\s+.*greedy\s+\(-[0-9.]+\s+±\s+[0-9.]+\)", text);
        Assert.Matches(@"RL² closes\s+-?[0-9]+%\s+of\s+the\s+gap", text);
        Assert.True(File.Exists(Path.Combine(dir, "eval-trials50-seed1-baselines.png")));
    }

    [Fact]
    public void A_task_family_from_the_users_own_assembly_trains_evaluates_and_lists_with_tasks_from()
    {
        var pack = Path.Combine(AppContext.BaseDirectory, "TaskPackExample.dll");
        var missing = Run("list", "dose-finding");
        Assert.Equal(2, missing.Code);
        Assert.Contains("(a family of your own assembly needs --tasks-from FILE.dll)", missing.Err);

        var listed = Run("list", "dose-finding", "--tasks-from", pack);
        Assert.True(listed.Code == 0, listed.Err);
        Assert.Contains("episodes=8: visits per patient", listed.Out);
        var run = Path.Combine(_dir, "dose");
        var train = Run("train", "rl2", "dose-finding", "--tasks-from", pack, "--set", "iterations=3", "--set", "hidden=8", "--set", "trials-per-iteration=8",
            "--set", "minibatches=2", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        var eval = Run("eval", run, "--tasks-from", pack, "--trials", "20", "--baselines", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = JsonDocument.Parse(eval.Out);
        Assert.Equal(["RL²", "random", "titrate up"], doc.RootElement.EnumerateArray().Select(r => r.GetProperty("agent").GetString()));

        var notPack = Run("list", "--tasks-from", Path.Combine(AppContext.BaseDirectory, "xunit.assert.dll"));
        Assert.Equal((2, $"error: --tasks-from: '{Path.Combine(AppContext.BaseDirectory, "xunit.assert.dll")}' has no [assembly: TaskPack(typeof(...))] attribute naming its task families (see examples/TaskPackExample).\n"),
            (notPack.Code, notPack.Err));
    }

    [Fact]
    public void Glucose_replay_reproduces_the_reference_trace_and_refuses_bad_logs_by_name()
    {
        var trace = Path.Combine(AppContext.BaseDirectory, "Data", "reference-trace-adolescent001.csv");
        var output = Path.Combine(_dir, "bg.csv");
        var replay = Run("glucose", "replay", "--patient", "adolescent#001", "--inputs", trace, "--out", output);
        Assert.True(replay.Code == 0, replay.Err);
        var expected = File.ReadAllLines(trace).Skip(1).Select(l => l.Split(',')).ToArray();
        var got = File.ReadAllLines(output);
        Assert.Equal("minute,bg_mg_dl", got[0]);
        Assert.Equal(expected.Length, got.Length - 1);
        for (int i = 0; i < expected.Length; i++)
        {
            var row = got[i + 1].Split(',');
            Assert.Equal(expected[i][0], row[0]);
            Assert.InRange(double.Parse(row[1], System.Globalization.CultureInfo.InvariantCulture) - double.Parse(expected[i][3], System.Globalization.CultureInfo.InvariantCulture), -0.5, 0.5);
        }

        var bad = Path.Combine(_dir, "bad.csv");
        var never = Path.Combine(_dir, "never.csv");
        void Refused(string expectedError, string log, string patient = "adult#003")
        {
            File.WriteAllText(bad, log);
            var r = Run("glucose", "replay", "--patient", patient, "--inputs", bad, "--out", never);
            Assert.Equal((2, "error: " + expectedError + "\n"), (r.Code, r.Err));
            Assert.False(File.Exists(never));
        }
        const string ok = "minute,cho_announced_g,insulin_u_per_min\n0,0,0.01\n1,0,0.01\n";
        Refused("Unknown virtual patient 'adult#011' (did you mean 'adult#001'?). The patients are adolescent#001…010, adult#001…010 and child#001…010.", ok, "adult#011");
        Refused($"{bad}, line 3: insulin_u_per_min is negative (-0.01).", "minute,cho_announced_g,insulin_u_per_min\n0,0,0.01\n1,0,-0.01\n");
        Refused($"{bad}, line 2: cho_announced_g 'NaN' is not a finite number.", "minute,cho_announced_g,insulin_u_per_min\n0,NaN,0.01\n");
        Refused($"{bad}, line 3: minute 0 follows minute 0; the minutes must count up by one.", "minute,cho_announced_g,insulin_u_per_min\n0,0,0.01\n0,0,0.01\n");
        Refused($"{bad} has no 'insulin_u_per_min' column; its header must name minute, cho_announced_g and insulin_u_per_min.", "minute,cho_announced_g\n0,0\n");
    }

    [Fact]
    public void A_glucose_run_is_evaluated_with_the_clinical_metrics_per_day_and_cohort_and_a_patient_day_plot()
    {
        var run = Path.Combine(_dir, "dosing");
        var train = Run("train", "rl2", "glucose-insulin", "--set", "iterations=1", "--set", "trials-per-iteration=2", "--set", "hidden=8", "--set", "episodes=2",
            "--set", "validate-every=0", "--set", "minibatches=1", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        var eval = Run("eval", run, "--trials", "6", "--baselines", "--out", Path.Combine(_dir, "dosing-eval"));
        Assert.True(eval.Code == 0, eval.Err);
        // The tables: the paired lead per day, the metrics per day, each cohort apart.
        Assert.Contains("RL² minus each other agent per day", eval.Out);
        Assert.Contains("TIR %", eval.Out);
        Assert.Contains("each cohort apart", eval.Out);
        Assert.Contains("PID on CGM", eval.Out);
        var stem = Path.Combine(_dir, "dosing-eval", "eval-trials6-seed1-baselines");
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(stem + ".json"));
        foreach (var agent in json.RootElement.EnumerateArray())
        {
            var metrics = agent.GetProperty("metrics");
            foreach (var key in new[] { "timeInRange", "timeBelow70", "timeBelow54", "timeAbove180", "timeAbove250", "lbgi", "hbgi", "meanGlucose" })
                Assert.Equal(2, metrics.GetProperty(key).GetArrayLength());
            Assert.Equal("cohort", agent.GetProperty("groupName").GetString());
            Assert.Equal(6, agent.GetProperty("groups").EnumerateArray().Sum(g => g.GetProperty("trials").GetInt32()));
        }
        Assert.Contains("\"RL²\",2,timeInRange,", File.ReadAllText(stem + ".csv"));
        Assert.True(new FileInfo(stem + "-timeInRange.png").Length > 1000);
        Assert.True(new FileInfo(stem + "-trace.png").Length > 1000);
    }

    [Fact]
    public void Unknown_task_algorithm_and_setting_are_named_with_the_valid_ones()
    {
        // Each input error is one line on stderr, exit code 2, nothing written.
        void Refused(string expected, params string[] args)
        {
            var r = Run(args);
            Assert.Equal((2, "error: " + expected + "\n"), (r.Code, r.Err));
        }
        Refused("Unknown task family 'bandits' (did you mean 'bandit'?). Valid task families: " + string.Join(", ", MetaRL.Core.Tasks.TaskRegistry.Families.Select(f => f.Name)) + " (a family of your own assembly needs --tasks-from FILE.dll).",
            "baselines", "bandits");
        Refused("Unknown algorithm 'ppo'. Valid algorithms: rl2, maml, pearl, sac.", "train", "ppo", "bandit", "--out", Path.Combine(_dir, "x"));
        Refused("Unknown algorithm 'rl3' (did you mean 'rl2'?). Valid algorithms: rl2, maml, pearl, sac.", "train", "rl3", "bandit", "--out", Path.Combine(_dir, "x"));
        Assert.False(Directory.Exists(Path.Combine(_dir, "x")));
        Refused("bandit: unknown setting 'armz' (did you mean 'arms'?).", "baselines", "bandit", "--set", "armz=3");
        Refused("bandit: unknown setting 'levers'; valid keys are bandit: arms, episodes.", "baselines", "bandit", "--set", "levers=3");
        Refused("bandit: setting 'arms' must be an integer, got 'many'.", "baselines", "bandit", "--set", "arms=many");
        Refused("rl2: setting 'iterations' must be in [1, 10000000], got 99999999999.", "train", "rl2", "bandit", "--set", "iterations=99999999999", "--out", Path.Combine(_dir, "x"));
        if (OperatingSystem.IsLinux())
            Refused("Cannot create the run directory '/proc/metarl-x': the system refused (Could not find file '/proc/metarl-x'); choose a directory on a writable disk.",
                "train", "rl2", "bandit", "--out", "/proc/metarl-x");
    }

    [Fact]
    public void A_mistyped_setting_suggests_the_nearest_and_an_unknown_one_lists_the_algorithms_and_the_tasks_keys()
    {
        // Before: "bandit: unknown setting 'itrations'; valid keys are arms, episodes" (the task's keys only); then every
        // owner's keys after the suggestion too (over 700 characters for arena's RL²).
        var run = Path.Combine(_dir, "typo");
        string OneLine(string err) => Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var t = Run("train", "rl2", "bandit", "--set", "itrations=5", "--out", run);
        Assert.Equal(2, t.Code);
        Assert.Equal("error: unknown setting 'itrations' (did you mean 'iterations'?).", OneLine(t.Err));
        var far = Run("train", "rl2", "bandit", "--set", "learning-rate=0.1", "--out", run);
        Assert.Equal(2, far.Code);
        var line = OneLine(far.Err);
        Assert.StartsWith("error: unknown setting 'learning-rate'; valid keys are rl2: ", line);
        Assert.Contains(" iterations, ", line);
        Assert.EndsWith("; task bandit: arms, episodes.", line);
        Assert.False(Directory.Exists(run));

        Assert.Equal(0, Run("train", "rl2", "bandit", "--set", "iterations=1", "--set", "trials-per-iteration=8", "--set", "hidden=8", "--out", run).Code);
        var e = Run("eval", run, "--set", "determinstic=false");
        Assert.Equal(2, e.Code);
        Assert.Equal("error: unknown setting 'determinstic' (did you mean 'deterministic'?).", OneLine(e.Err));
        var training = Run("eval", run, "--set", "hidden=16");
        Assert.Equal(2, training.Code);
        Assert.Equal("error: unknown setting 'hidden'; valid keys are rl2 evaluation: deterministic; task bandit: arms, episodes.", OneLine(training.Err));

        // A mistyped flag or command is one line too (before: the parser's suggestions and the whole help, exit 1).
        var flag = Run("eval", run, "--trals", "10");
        Assert.Equal(2, flag.Code);
        Assert.Equal("error: unknown option '--trals' (did you mean '--trials'?); see 'metarl eval --help'.", Assert.Single(flag.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("", flag.Out);
        // Also before a positional argument, where the parser would take it for the argument itself.
        foreach (var (args, expected) in new[]
                 {
                     (new[] { "eval", "--trals", "10", run }, "error: unknown option '--trals' (did you mean '--trials'?); see 'metarl eval --help'."),
                     (new[] { "train", "--from", run, "--weigths" }, "error: unknown option '--weigths' (did you mean '--weights'?); see 'metarl train --help'."),
                     // A setting written as an option (a task's or an algorithm's, with its value, or by a slip) is shown as --set.
                     (new[] { "train", "rl2", "regime-trading", "--risk-penalty", "2" }, "error: unknown option '--risk-penalty': 'risk-penalty' is a setting, given as '--set risk-penalty=2'; see 'metarl train --help'."),
                     (new[] { "eval", run, "--arms=3" }, "error: unknown option '--arms=3': 'arms' is a setting, given as '--set arms=3'; see 'metarl eval --help'."),
                     (new[] { "train", "rl2", "bandit", "--hidden" }, "error: unknown option '--hidden': 'hidden' is a setting, given as '--set hidden=VALUE'; see 'metarl train --help'."),
                     (new[] { "train", "rl2", "bandit", "--itrations", "5" }, "error: unknown option '--itrations' (did you mean '--set iterations=5'?); see 'metarl train --help'."),
                     (new[] { "list", "--hidden" }, "error: unknown option '--hidden'; see 'metarl list --help'."), // list takes no settings
                 })
        {
            var early = Run(args);
            Assert.Equal(2, early.Code);
            Assert.Equal(expected, Assert.Single(early.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
        var command = Run("trian", "rl2", "bandit");
        Assert.Equal(2, command.Code);
        Assert.Equal("error: unknown command 'trian' (did you mean 'train'?); see 'metarl --help'.", Assert.Single(command.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        var invalid = Run("eval", run, "--trials", "0");
        Assert.Equal("error: --trials must be at least 1; see 'metarl eval --help'.", Assert.Single(invalid.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void Rl2_validates_on_fixed_tasks_keeps_the_best_policy_and_evaluates_it_on_request()
    {
        var run = Path.Combine(_dir, "validated");
        string[] small = ["--set", "hidden=8", "--set", "trials-per-iteration=8", "--set", "minibatches=2", "--set", "validate-every=2", "--set", "validation-trials=30"];
        var train = Run(["train", "rl2", "bandit", "--set", "iterations=4", .. small, "--out", run]);
        Assert.True(train.Code == 0, train.Err + train.Out);
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.EndsWith(",validation_return", rows[0]);
        var scores = rows.Skip(1).Select(r => r.Split(',')[^1]).ToArray();
        Assert.Equal("", scores[0]);
        Assert.Equal("", scores[2]);
        var validated = new[] { 2, 4 }.Select(i => double.Parse(scores[i - 1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        int bestIteration = validated[1] > validated[0] ? 4 : 2;
        Assert.True(File.Exists(Path.Combine(run, "best.mrla")));
        var best = Run("eval", run, "--trials", "10", "--set", "checkpoint=best");
        Assert.True(best.Code == 0, best.Err);
        Assert.Contains($"best.mrla (iteration {bestIteration})", best.Out);
        var last = Run("eval", run, "--trials", "10");
        Assert.Contains("checkpoint.mrla (iteration 4)", last.Out);
        var wrong = Run("eval", run, "--trials", "10", "--set", "checkpoint=first");
        Assert.Equal(2, wrong.Code);
        Assert.Contains("'checkpoint'", wrong.Err);
    }

    [Fact]
    public void A_runs_multi_task_counterpart_is_trained_from_it_and_a_smaller_baseline_is_flagged()
    {
        var run = Path.Combine(_dir, "adaptive");
        string[] small = ["--set", "trials-per-iteration=8", "--set", "minibatches=2", "--set", "iterations=1", "--set", "validate-every=0"];
        Assert.Equal(0, Run(["train", "rl2", "bandit", "--set", "hidden=8", .. small, "--out", run]).Code);
        var twin = Run("train", "--from", run, "--counterpart", "multi-task");
        Assert.True(twin.Code == 0, twin.Err + twin.Out);
        var config = File.ReadAllText(Path.Combine(run + "-multi-task", "config.json"));
        Assert.Contains("\"memory\": \"false\"", config);
        Assert.Contains("\"hidden\": \"8\"", config);
        var like = Run("eval", run, "--trials", "20", "--json", "--compare", run + "-multi-task");
        Assert.True(like.Code == 0, like.Err);
        Assert.DoesNotContain("unlike-capacity", like.Out);

        var smaller = Path.Combine(_dir, "smaller");
        Assert.Equal(0, Run(["train", "rl2", "bandit", "--set", "hidden=4", "--set", "memory=false", .. small, "--out", smaller]).Code);
        var flagged = Run("eval", run, "--trials", "20", "--compare", smaller);
        Assert.True(flagged.Code == 0, flagged.Err);
        Assert.Contains("differs from the evaluated run in hidden 4 vs 8", flagged.Out.Replace("\n", " "));

        var bad = Run("train", "--counterpart", "multi-task");
        Assert.Equal(2, bad.Code);
        Assert.Contains("--from", bad.Err);
        var reseed = Run("train", "--resume", run, "--seed", "3");
        Assert.Equal(2, reseed.Code);
        Assert.Contains("--seed and --out do not apply", reseed.Err);
    }

    [Fact]
    public void Resuming_a_run_whose_metrics_were_deleted_needs_force_and_trials_help_names_each_algorithms_default()
    {
        var run = Path.Combine(_dir, "lost-metrics");
        string[] small = ["--set", "hidden=8", "--set", "trials-per-iteration=8", "--set", "minibatches=2", "--set", "validate-every=0"];
        Assert.Equal(0, Run(["train", "rl2", "bandit", "--set", "iterations=2", .. small, "--out", run]).Code);
        File.Delete(Path.Combine(run, "metrics.csv"));
        // Before: the resume went ahead and the history silently restarted at iteration 3.
        var refused = Run("train", "--resume", run, "--set", "iterations=3");
        Assert.Equal(2, refused.Code);
        Assert.Contains("no metrics.csv", refused.Err);
        Assert.Contains("--force", refused.Err);
        Assert.False(File.Exists(Path.Combine(run, "metrics.csv")));
        var forced = Run("train", "--resume", run, "--set", "iterations=3", "--force");
        Assert.True(forced.Code == 0, forced.Err);
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.StartsWith("iteration,", rows[0]);
        Assert.StartsWith("3,", rows[1]);
        Assert.Equal(2, Run("train", "rl2", "bandit", "--force", "--out", Path.Combine(_dir, "f")).Code);

        // Before: the help said "[default: 1000]" although MAML runs play 40 tasks.
        var help = Run("eval", "--help").Out.Split('\n').Single(l => l.Contains("--trials"));
        Assert.DoesNotContain("default: 1000]", help);
        Assert.Contains("40 tasks for MAML", help + Run("eval", "--help").Out);
    }

    [Fact]
    public void Baselines_json_has_the_protocol_fields()
    {
        var r = Run("baselines", "bandit", "--trials", "200", "--json");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        var first = doc.RootElement[0];
        Assert.True(first.GetProperty("meanTotalReturn").GetDouble() > 0);
        Assert.True(first.GetProperty("ci95").GetDouble() > 0);
        Assert.Equal(10, first.GetProperty("episodeReturns").GetArrayLength());
    }

    [Fact]
    public void MuJoCo_families_train_and_evaluate_or_explain_why_not()
    {
        var run = Path.Combine(_dir, "cheetah");
        var train = Run("train", "rl2", "cheetah-vel", "--set", "iterations=1", "--set", "trials-per-iteration=4", "--set", "minibatches=2",
            "--set", "hidden=8", "--set", "horizon=10", "--out", run);
        if (!MetaRL.MuJoCo.MuJoCo.IsAvailable)
        {
            Assert.NotEqual(0, train.Code);
            Assert.Contains("apt-get install", train.Err);
            return;
        }
        Assert.True(train.Code == 0, train.Err + train.Out);
        var eval = Run("eval", run, "--trials", "4", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = JsonDocument.Parse(eval.Out);
        Assert.Equal(2, doc.RootElement.GetProperty("episodeReturns").GetArrayLength());

        // The checkpoint alone rebuilds the learner, MuJoCo family included: a copy in an empty folder evaluates alike.
        AssertCopiedCheckpointEvaluatesAlike(run, "meanTotalReturn", "--trials", "4");
    }

    [Fact]
    public void Maml_trains_and_reports_returns_after_each_adaptation_step()
    {
        var run = Path.Combine(_dir, "maml");
        var train = Run("train", "maml", "navigation-2d", "--set", "iterations=2", "--set", "meta-batch=2", "--set", "trajectories=3",
            "--set", "hidden=8,8", "--set", "horizon=10", "--set", "best-window=1", "--out", run);
        Assert.True(train.Code == 0, train.Err + train.Out);
        var rows = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal(3, rows.Length);
        // The policy is validated every validate-every iterations and after the last: iteration 1 has no score, iteration 2 has one.
        Assert.EndsWith(",validation_return", rows[0]);
        Assert.EndsWith(",", rows[1]);
        Assert.True(double.IsFinite(double.Parse(rows[2].Split(',')[^1], System.Globalization.CultureInfo.InvariantCulture)), rows[2]);
        Assert.True(File.Exists(Path.Combine(run, "best.mrla")));
        var eval = Run("eval", run, "--trials", "3", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = JsonDocument.Parse(eval.Out);
        // The episode protocol's schema: rounds of 3 trajectories, one before each of 3 steps and one after.
        var root = doc.RootElement;
        Assert.Equal(4, root.GetProperty("stepReturns").GetArrayLength());
        Assert.Equal(12, root.GetProperty("episodeReturns").GetArrayLength());
        Assert.Equal(3, root.GetProperty("episodesPerRound").GetInt32());
        Assert.Equal(3, root.GetProperty("trialTotals").GetArrayLength());
        Assert.Equal(root.GetProperty("stepReturns").EnumerateArray().Sum(x => x.GetDouble()) * 3, root.GetProperty("meanTotalReturn").GetDouble(), 6);
        Assert.Equal("sampled", root.GetProperty("actingRule").GetString());
        // By default the later steps' scale is chosen on validation tasks among the candidates.
        Assert.Contains(double.Parse(root.GetProperty("details").GetProperty("later-step-scale").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
            MetaRL.Algorithms.Maml.MamlEvaluation.LaterStepScales);
        Assert.True(File.Exists(Path.Combine(run, "eval-trials3-seed1.png")));

        // The best policy is evaluated by default; the last one on request; anything else is refused by name.
        var last = Run("eval", run, "--trials", "3", "--set", "checkpoint=last", "--set", "eval-lr-decay=1");
        Assert.True(last.Code == 0, last.Err);
        Assert.Contains("checkpoint.mrla", last.Out);
        Assert.True(File.Exists(Path.Combine(run, "eval-trials3-seed1-checkpoint=last-eval-lr-decay=1.png")));
        var best = Run("eval", run, "--trials", "3");
        Assert.Contains("best.mrla", best.Out);
        Assert.Contains("best validation score", best.Out);
        Assert.Contains("validation tasks of the training distribution", best.Out);
        var badScale = Run("eval", run, "--trials", "3", "--set", "eval-lr-decay=half");
        Assert.NotEqual(0, badScale.Code);
        Assert.Contains("'eval-lr-decay'", badScale.Err);
        var wrong = Run("eval", run, "--trials", "3", "--set", "checkpoint=first");
        Assert.NotEqual(0, wrong.Code);
        Assert.Contains("'checkpoint'", wrong.Err);
        Assert.Contains("last", wrong.Err);

        // A finished run trains longer with --resume --set iterations=N; nothing else may change, and never backwards.
        var config = File.ReadAllText(Path.Combine(run, "config.json"));
        var other = Run("train", "--resume", run, "--set", "inner-lr=0.5");
        Assert.NotEqual(0, other.Code);
        Assert.Contains("'iterations'", other.Err);
        var backwards = Run("train", "--resume", run, "--set", "iterations=1");
        Assert.NotEqual(0, backwards.Code);
        Assert.Contains("already at iteration 2", backwards.Err);
        Assert.Equal(config, File.ReadAllText(Path.Combine(run, "config.json")));
        var longer = Run("train", "--resume", run, "--set", "iterations=3");
        Assert.True(longer.Code == 0, longer.Err + longer.Out);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
        Assert.Contains("\"iterations\": \"3\"", File.ReadAllText(Path.Combine(run, "config.json")));
        Assert.Contains("low-variance curvature", longer.Out);
        Assert.False(File.ReadAllLines(Path.Combine(run, "metrics.csv"))[^1].EndsWith(',')); // validated after its new last iteration

        // The best policy's checkpoint alone, copied into an empty folder, gives the same adaptation curve.
        AssertCopiedCheckpointEvaluatesAlike(run, "stepReturns", "--trials", "3", "--set", "checkpoint=last");

        // A non-adaptive multi-task policy (inner-steps=0) fine-tuned with the same steps is the pretrained baseline.
        var multi = Path.Combine(_dir, "multitask");
        var trainMulti = Run("train", "maml", "navigation-2d", "--set", "iterations=2", "--set", "meta-batch=2", "--set", "trajectories=3",
            "--set", "hidden=8,8", "--set", "horizon=10", "--set", "inner-steps=0", "--out", multi);
        Assert.True(trainMulti.Code == 0, trainMulti.Err + trainMulti.Out);
        var compared = Run("eval", run, "--trials", "3", "--json", "--pretrained", multi);
        Assert.True(compared.Code == 0, compared.Err);
        using (var both = JsonDocument.Parse(compared.Out))
        {
            Assert.Equal(2, both.RootElement.GetArrayLength());
            Assert.Equal("multi-task pretrained, fine-tuned", both.RootElement[1].GetProperty("agent").GetString());
            Assert.Equal(4, both.RootElement[1].GetProperty("stepReturns").GetArrayLength());
            // The baseline carries MAML's paired lead over it, computed from the per-task returns both report.
            var mine = both.RootElement[0].GetProperty("trialStepReturns");
            var theirs = both.RootElement[1].GetProperty("trialStepReturns");
            Assert.Equal(3, mine.GetArrayLength());
            var lead = both.RootElement[1].GetProperty("leadOfEvaluatedAgent");
            for (int k = 0; k < 4; k++)
            {
                double expected = Enumerable.Range(0, 3).Average(t => mine[t][k].GetDouble() - theirs[t][k].GetDouble());
                Assert.Equal(expected, lead.GetProperty("perStep")[k].GetDouble(), 9);
            }
            Assert.False(both.RootElement[0].TryGetProperty("leadOfEvaluatedAgent", out _));
        }
        // An RL² run plays the same trials as the multi-task policy, which keeps its weights through every episode.
        var rl2 = Path.Combine(_dir, "rl2-nav");
        Assert.Equal(0, Run("train", "rl2", "navigation-2d", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4",
            "--set", "minibatches=2", "--set", "horizon=10", "--set", "episodes=2", "--out", rl2).Code);
        var mixed = Run("eval", rl2, "--trials", "6", "--json", "--compare", multi);
        Assert.True(mixed.Code == 0, mixed.Err);
        using (var both = JsonDocument.Parse(mixed.Out))
        {
            var fixedPolicy = both.RootElement[1];
            Assert.Equal("multi-task policy, no adaptation (multitask)", fixedPolicy.GetProperty("agent").GetString());
            var episodes = fixedPolicy.GetProperty("episodeReturns");
            Assert.Equal(2, episodes.GetArrayLength());
            Assert.True(fixedPolicy.TryGetProperty("leadOfEvaluatedAgent", out _));
        }
        var shorter = Path.Combine(_dir, "rl2-short");
        Assert.Equal(0, Run("train", "rl2", "navigation-2d", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4",
            "--set", "minibatches=2", "--set", "horizon=5", "--out", shorter).Code);
        var horizonMismatch = Run("eval", shorter, "--trials", "6", "--compare", multi);
        Assert.NotEqual(0, horizonMismatch.Code);
        Assert.Contains("horizon 10", horizonMismatch.Err);

        var wider = Path.Combine(_dir, "wider");
        Assert.Equal(0, Run("train", "maml", "navigation-2d", "--set", "iterations=1", "--set", "meta-batch=2", "--set", "trajectories=3",
            "--set", "hidden=16", "--set", "horizon=10", "--set", "inner-steps=0", "--out", wider).Code);
        var mismatch = Run("eval", run, "--trials", "3", "--pretrained", wider);
        Assert.NotEqual(0, mismatch.Code);
        Assert.Contains("hidden", mismatch.Err);

        var bad = Run("train", "maml", "navigation-2d", "--set", "hidden=8,x", "--out", Path.Combine(_dir, "bad"));
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("'hidden'", bad.Err);
    }

    [Fact]
    public void Task_prediction_adds_a_task_loss_column_resumes_and_refuses_a_policy_without_memory()
    {
        var run = Path.Combine(_dir, "predict");
        string[] small = ["--set", "hidden=8", "--set", "trials-per-iteration=8", "--set", "minibatches=2", "--set", "episodes=4", "--set", "task-prediction=0.5"];
        var train = Run(["train", "rl2", "dependent-bandit", "--set", "iterations=2", .. small, "--out", run]);
        Assert.True(train.Code == 0, train.Err + train.Out);
        var metrics = Path.Combine(run, "metrics.csv");
        var lines = File.ReadAllLines(metrics);
        Assert.EndsWith(",task_loss,validation_return", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.Equal(lines[0].Split(',').Length, l.Split(',').Length));
        Assert.All(lines.Skip(1), l => Assert.True(double.Parse(l.Split(',')[^2], System.Globalization.CultureInfo.InvariantCulture) > 0, l));
        var resumed = Run("train", "--resume", run, "--set", "iterations=3");
        Assert.True(resumed.Code == 0, resumed.Err + resumed.Out);
        Assert.Equal(4, File.ReadAllLines(metrics).Length);
        // The summary counts what this process did (it once said "trained 3 iterations" here).
        Assert.Matches(@"\nTrained 1 iterations? in [0-9.]+ s\.", resumed.Out.Replace("\r", ""));
        var eval = Run("eval", run, "--trials", "20", "--json");
        Assert.True(eval.Code == 0, eval.Err);

        var bad = Path.Combine(_dir, "no-memory");
        var refused = Run(["train", "rl2", "dependent-bandit", .. small, "--set", "memory=false", "--out", bad]);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("task-prediction", refused.Err);
        Assert.False(Directory.Exists(bad));
    }

    [Fact]
    public void Train_eval_resume_and_refusals()
    {
        var run = Path.Combine(_dir, "run");
        var train = Run("train", "rl2", "bandit", "--set", "iterations=4", "--set", "hidden=8", "--set", "trials-per-iteration=8",
            "--set", "minibatches=2", "--set", "arms=3", "--set", "episodes=4", "--out", run, "--checkpoint-every", "2");
        Assert.True(train.Code == 0, train.Err + train.Out);
        foreach (var f in new[] { "config.json", "metrics.csv", "checkpoint.mrla", "training.png" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);

        var eval = Run("eval", run, "--trials", "50", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using (var doc = JsonDocument.Parse(eval.Out))
        {
            Assert.Equal(4, doc.RootElement.GetProperty("episodeReturns").GetArrayLength());
            Assert.True(doc.RootElement.TryGetProperty("meanTotalReturn", out _));
            Assert.True(doc.RootElement.TryGetProperty("ci95", out _));
        }
        Assert.True(File.Exists(Path.Combine(run, "eval-trials50-seed1.png")));
        // Another evaluation (other trials, seed or overrides) keeps the first one's files.
        var longer = Run("eval", run, "--trials", "20", "--seed", "2", "--set", "episodes=8", "--json");
        Assert.True(longer.Code == 0, longer.Err);
        Assert.True(File.Exists(Path.Combine(run, "eval-trials50-seed1.json")));
        Assert.True(File.Exists(Path.Combine(run, "eval-trials20-seed2-episodes=8.json")));

        // Other RL² runs (here a non-adaptive multi-task policy) play the same held-out trials with --compare.
        var flat = Path.Combine(_dir, "flat");
        Assert.Equal(0, Run("train", "rl2", "bandit", "--set", "iterations=2", "--set", "hidden=8", "--set", "trials-per-iteration=8",
            "--set", "minibatches=2", "--set", "arms=3", "--set", "episodes=4", "--set", "memory=false", "--out", flat).Code);
        var compared = Run("eval", run, "--trials", "30", "--json", "--compare", flat);
        Assert.True(compared.Code == 0, compared.Err);
        using (var both = JsonDocument.Parse(compared.Out))
        {
            Assert.Equal(2, both.RootElement.GetArrayLength());
            Assert.Equal("multi-task (no memory) (flat)", both.RootElement[1].GetProperty("agent").GetString());
            // The compared run carries RL²'s lead over it, trial by trial: its mean is the difference of the means.
            var lead = both.RootElement[1].GetProperty("leadOfEvaluatedAgent");
            Assert.Equal(both.RootElement[0].GetProperty("meanTotalReturn").GetDouble() - both.RootElement[1].GetProperty("meanTotalReturn").GetDouble(),
                lead.GetProperty("mean").GetDouble(), 9);
            Assert.True(lead.GetProperty("ci95").GetDouble() >= 0);
            Assert.False(both.RootElement[0].TryGetProperty("leadOfEvaluatedAgent", out _));
        }
        AssertCopiedCheckpointEvaluatesAlike(run, "meanTotalReturn", "--trials", "50");

        var otherTask = Path.Combine(_dir, "other-task");
        Assert.Equal(0, Run("train", "rl2", "bandit", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=8",
            "--set", "minibatches=2", "--set", "arms=3", "--set", "episodes=5", "--out", otherTask).Code);
        var refused = Run("eval", run, "--trials", "30", "--compare", flat, otherTask); // several runs after one --compare
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("episodes=5", refused.Err);
        // Refused before anything was played, with the settings that put both runs on the same tasks; those work.
        Assert.DoesNotContain("Evaluating", refused.Out);
        Assert.Contains("To play both on the same tasks, evaluate with --set episodes=5.", refused.Err);
        var sameTasks = Run("eval", run, "--trials", "10", "--set", "episodes=5", "--compare", otherTask);
        Assert.True(sameTasks.Code == 0, sameTasks.Err);

        // An existing run directory is never overwritten.
        var again = Run("train", "rl2", "bandit", "--out", run);
        Assert.NotEqual(0, again.Code);
        Assert.Contains("not empty", again.Err);

        // A damaged checkpoint is refused by name and left as it is.
        var ckpt = Path.Combine(run, "checkpoint.mrla");
        var bytes = File.ReadAllBytes(ckpt);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(ckpt, bytes);
        var damaged = Run("eval", run, "--trials", "10");
        Assert.NotEqual(0, damaged.Code);
        Assert.Contains("checkpoint.mrla", damaged.Err);
        Assert.Equal(bytes, File.ReadAllBytes(ckpt));

        var notRun = Run("eval", _dir);
        Assert.NotEqual(0, notRun.Code);
        Assert.Contains("config.json", notRun.Err);
    }

    [Fact]
    public void A_trading_run_is_evaluated_against_the_trading_baselines_with_its_sharpe_per_episode_and_an_equity_trace()
    {
        var run = Path.Combine(_dir, "trading");
        var train = Run("train", "rl2", "regime-trading", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4", "--set", "days=45",
            "--set", "episodes=2", "--set", "validate-every=0", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        var eval = Run("eval", run, "--trials", "20", "--baselines", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(eval.Out);
        var agents = doc.RootElement.EnumerateArray().Select(a => a.GetProperty("agent").GetString()!).ToArray();
        foreach (var name in new[] { "flat", "buy-and-hold", "momentum", "volatility target", "Bayesian regime filter", "oracle (sees the regime" })
            Assert.Contains(agents, a => a.StartsWith(name, StringComparison.Ordinal));
        foreach (var agent in doc.RootElement.EnumerateArray())
        {
            var metrics = agent.GetProperty("metrics");
            foreach (var key in new[] { "sharpe", "maxDrawdown", "turnover", "meanDailyReturn", "reactionDays" })
                Assert.Equal(2, metrics.GetProperty(key).GetArrayLength());
            // Months of 21 days: 21, 21 and the 3 left of each 45-day episode; RL²'s lead over each other agent per month.
            Assert.Equal("month", agent.GetProperty("periodName").GetString());
            var months = agent.GetProperty("periodReturns").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(6, months.Length);
            Assert.Equal(agent.GetProperty("episodeReturns")[1].GetDouble(), months[3..].Sum(), 9);
            if (agent.TryGetProperty("leadOfEvaluatedAgent", out var lead))
                Assert.Equal(6, lead.GetProperty("perPeriod").GetArrayLength());
        }
        Assert.Equal(6, doc.RootElement.EnumerateArray().Count(a => a.TryGetProperty("leadOfEvaluatedAgent", out _)));
        var stem = Path.Combine(run, "eval-trials20-seed1-baselines");
        foreach (var file in new[] { stem + "-trace.png", stem + "-sharpe.png", stem + "-month.png", stem + ".png" })
            Assert.True(new FileInfo(file).Length > 1000, file);

        // The user's own prices: the same rules and baselines (no regime, so no oracle); a bad file names its line.
        var prices = Path.Combine(_dir, "prices.csv");
        var rng = new MetaRL.Engine.Rng(3);
        double p = 100;
        var day = new DateOnly(2015, 1, 1);
        File.WriteAllLines(prices, ["date,close", .. Enumerable.Range(0, 400).Select(i => $"{day.AddDays(i):yyyy-MM-dd},{(p *= Math.Exp(rng.Normal(0.0003, 0.01))).ToString("R", System.Globalization.CultureInfo.InvariantCulture)}")]);
        var history = Run("baselines", "price-history", "--set", $"prices={prices}", "--set", "days=50", "--trials", "10");
        Assert.True(history.Code == 0, history.Err);
        Assert.Contains("Bayesian regime filter", history.Out);
        Assert.DoesNotContain("oracle", history.Out);
        File.AppendAllLines(prices, ["2016-02-06,-3"]);
        var bad = Run("baselines", "price-history", "--set", $"prices={prices}", "--set", "days=50", "--trials", "10");
        Assert.Equal(2, bad.Code);
        Assert.Contains("line 402: price -3 of 'prices' is not positive", bad.Err);
    }

    [Fact]
    public void Render_draws_an_arena_round_as_a_png_strip_or_a_gif_and_names_what_it_cannot_draw()
    {
        var run = Path.Combine(_dir, "arena");
        // With loadouts: the observation carries the NPC's kit, and the strip's title names it. The family's preset trains
        // in stages (a marksmen oracle of 3000 iterations first); --no-stages trains the run alone.
        var train = Run("train", "rl2", "arena", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4", "--set", "round-seconds=3",
            "--set", "loadouts=true", "--no-stages", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        Assert.DoesNotContain("stage", train.Out);
        Assert.False(File.Exists(Path.Combine(run, "stages.json")));
        var noStagesResume = Run("train", "--resume", run, "--no-stages");
        Assert.Equal(2, noStagesResume.Code);
        Assert.Contains("--no-stages applies to a new run", noStagesResume.Err);
        var strip = Path.Combine(_dir, "round.png");
        var render = Run("render", run, "--task", "arena", "--round", "2", "--frames", "6", "--out", strip);
        Assert.True(render.Code == 0, render.Err);
        var png = File.ReadAllBytes(strip);
        Assert.True(png.Length > 1000 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G');
        Assert.Contains("Written", render.Out);
        // The same round as an animation: a frame for the start and each step of the round (3 s at 10 a second, or fewer
        // if a fighter falls), the last held for two seconds.
        var gif = Path.Combine(_dir, "round.gif");
        var animate = Run("render", run, "--round", "2", "--out", gif);
        Assert.True(animate.Code == 0, animate.Err);
        using (var codec = SkiaSharp.SKCodec.Create(gif))
        {
            Assert.InRange(codec.FrameCount, 2, 31);
            Assert.Equal(2000, codec.FrameInfo[^1].Duration);
            Assert.All(codec.FrameInfo[..^1], f => Assert.Equal(100, f.Duration));
        }
        // Bad requests: one clear line each, nothing written.
        foreach (var (args, says) in new (string[], string)[]
        {
            (["--out", Path.Combine(_dir, "round.jpg")], ".png or .gif"),
            (["--frames", "6", "--out", Path.Combine(_dir, "other.gif")], "every step"),
            (["--round", "4"], "between 1 and 3"),
            (["--task", "bandit"], "bandit"),
            (["--frames", "1"], "between 2 and 32"),
        })
        {
            var bad = Run(["render", run, .. args]);
            Assert.Equal(2, bad.Code);
            Assert.Contains(says, bad.Err);
        }
        Assert.Single(Directory.GetFiles(_dir, "*.png"));
        Assert.Single(Directory.GetFiles(_dir, "*.gif"));
        Assert.Empty(Directory.GetFiles(_dir, "*.jpg"));
        // A per-style oracle, trained with its drawn kits credited, plays the run's held-out trials of its style: the
        // credit touches training alone, so only the style needs setting.
        var oracle = Path.Combine(_dir, "arena-rush");
        var trainOracle = Run("train", "rl2", "arena", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4", "--set", "round-seconds=3",
            "--set", "style=rush", "--set", "credit-drawn-kit=true", "--no-stages", "--out", oracle);
        Assert.True(trainOracle.Code == 0, trainOracle.Err);
        var apart = Run("eval", run, "--trials", "10", "--compare", oracle);
        Assert.Equal(2, apart.Code);
        Assert.Contains("evaluate with --set style=rush.", apart.Err);
        // A checkpoint file compared is labelled with its run's directory.
        var withOracle = Run("eval", run, "--trials", "10", "--set", "style=rush", "--json", "--compare", oracle, Path.Combine(oracle, "checkpoint.mrla"));
        Assert.True(withOracle.Code == 0, withOracle.Err);
        using (var all = JsonDocument.Parse(withOracle.Out))
        {
            Assert.Equal(3, all.RootElement.GetArrayLength());
            Assert.EndsWith("(arena-rush)", all.RootElement[1].GetProperty("agent").GetString());
            Assert.EndsWith("(arena-rush-checkpoint)", all.RootElement[2].GetProperty("agent").GetString());
        }
        var bandit = Path.Combine(_dir, "bandit");
        Assert.Equal(0, Run("train", "rl2", "bandit", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=8", "--out", bandit).Code);
        var other = Run("render", bandit);
        Assert.Equal(2, other.Code);
        Assert.Contains("plays bandit", other.Err);
    }
}

public sealed class CliInterruptTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-cli-int-" + Guid.NewGuid().ToString("N"));

    public CliInterruptTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] TinyRun =
    [
        "--set", "iterations=200", "--set", "hidden=32", "--set", "trials-per-iteration=64", "--set", "minibatches=2",
        "--set", "arms=3", "--set", "episodes=4", "--checkpoint-every", "1000",
    ];

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "metarl.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static (int Code, string Err) Finish(Process p)
    {
        var err = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, err.Result);
    }

    [SigintFact]
    public void Ctrl_c_writes_a_checkpoint_and_resume_ends_bit_identical_to_an_uninterrupted_run() => InterruptAndResume("INT", 130);

    [Fact]
    public void Sigterm_writes_a_checkpoint_and_resume_ends_bit_identical_to_an_uninterrupted_run() => InterruptAndResume("TERM", 143);

    private void InterruptAndResume(string signal, int expectedCode)
    {
        var straight = Path.Combine(_dir, "straight");
        var (code, err) = Finish(Start(["train", "rl2", "bandit", .. TinyRun, "--out", straight]));
        Assert.True(code == 0, err);

        var interrupted = Path.Combine(_dir, "interrupted");
        var p = Start(["train", "rl2", "bandit", .. TinyRun, "--out", interrupted]);
        var metrics = Path.Combine(interrupted, "metrics.csv");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !(File.Exists(metrics) && SafeLineCount(metrics) >= 4)) Thread.Sleep(20);
        using (var kill = Process.Start("kill", ["-" + signal, p.Id.ToString()])) kill.WaitForExit();
        var (code2, err2) = Finish(p);
        Assert.True(code2 == expectedCode, $"expected the interrupted exit code {expectedCode} after SIG{signal}, got {code2}: {err2}");
        Assert.True(File.Exists(Path.Combine(interrupted, "checkpoint.mrla")));
        Assert.True(SafeLineCount(Path.Combine(interrupted, "metrics.csv")) < 201);
        var (code3, err3) = Finish(Start("train", "--resume", interrupted));
        Assert.True(code3 == 0, err3);
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoint.mrla")), File.ReadAllBytes(Path.Combine(interrupted, "checkpoint.mrla")));
        Assert.Equal(201, File.ReadAllLines(Path.Combine(interrupted, "metrics.csv")).Length);
    }

    private static int SafeLineCount(string path)
    {
        try
        {
            using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var r = new StreamReader(s);
            int n = 0;
            while (r.ReadLine() is not null) n++;
            return n;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    [Fact]
    public void A_diverging_run_stops_with_a_clear_message_and_writes_no_checkpoint()
    {
        var run = Path.Combine(_dir, "nan");
        var (code, err) = Finish(Start("train", "rl2", "bandit", "--set", "iterations=5", "--set", "hidden=8", "--set", "trials-per-iteration=8",
            "--set", "minibatches=2", "--set", "reward-scale=1e30", "--set", "normalize-rewards=false", "--out", run, "--checkpoint-every", "1"));
        Assert.Equal(1, code); // a failure while running, not a usage error
        Assert.Matches(@"^error: training stopped at iteration 1: RL² [a-zA-Z ]+ became (NaN|-?∞|-?Infinity)[^\n]*\. No checkpoint had been written yet\.\n$", err);
        Assert.False(File.Exists(Path.Combine(run, "checkpoint.mrla")));
    }

    [Fact]
    public void A_diverging_maml_inner_step_stops_with_the_same_message_naming_the_last_good_checkpoint_and_verbose_adds_the_trace()
    {
        // An inner step of 1000 overflows the adapted policy: before, the environment's refusal of an infinite action
        // escaped the parallel sampler as a 30-line AggregateException.
        string[] diverging = ["train", "maml", "navigation-2d", "--set", "inner-lr=1000", "--set", "meta-batch=4", "--set", "trajectories=5", "--set", "hidden=8"];
        var (code, err) = Finish(Start([.. diverging, "--out", Path.Combine(_dir, "maml-nan")]));
        Assert.Equal(1, code);
        Assert.Matches(@"^error: training stopped at iteration 1: MAML's policy chose a non-finite action \([^)]*\): its weights overflowed, [^\n]*\. No checkpoint had been written yet\.\n$", err);

        // After a good iteration (this seed's hidden-16 policy survives one), the same failure names the last checkpoint;
        // --verbose adds the stack trace after the one line.
        var good = Path.Combine(_dir, "maml-later");
        var (code2, err2) = Finish(Start([.. diverging[..^1], "hidden=16", "--checkpoint-every", "1", "--verbose", "--out", good]));
        Assert.Equal(1, code2);
        var lines = err2.Split('\n');
        Assert.Matches(@"^error: training stopped at iteration 2: MAML's policy chose a non-finite action .*\. The last good checkpoint is .*checkpoint\.mrla \(iteration 1\)\.$", lines[0]);
        Assert.Contains(lines, l => l.TrimStart().StartsWith("at MetaRL.", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(good, "checkpoint.mrla")));
    }

    [Fact]
    public void A_run_directory_in_use_is_refused_naming_the_holder_and_is_free_again_after_kill_9()
    {
        var run = Path.Combine(_dir, "locked");
        var p = Start(["train", "rl2", "bandit", .. TinyRun[..^2], "--checkpoint-every", "1", "--out", run]);
        var metrics = Path.Combine(run, "metrics.csv");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !(File.Exists(metrics) && SafeLineCount(metrics) >= 3)) Thread.Sleep(20);
        var before = File.ReadAllBytes(Path.Combine(run, "config.json"));

        var (code, err) = Finish(Start("train", "--resume", run, "--set", "iterations=300"));
        Assert.Equal(2, code);
        Assert.Equal($"error: Run directory '{run}' is in use by process {p.Id} (it holds {Path.Combine(run, "run.lock")}); wait for it to finish or stop it, then try again.\n", err);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, "config.json")));

        // kill -9 gives no chance to clean up; the operating system releases the lock with the process.
        p.Kill();
        p.WaitForExit();
        var (code2, err2) = Finish(Start("train", "--resume", run));
        Assert.True(code2 == 0, err2);
        var rows = File.ReadAllLines(metrics).Skip(1).Select(l => int.Parse(l.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(Enumerable.Range(1, 200), rows);
    }
}

/// <summary>
/// A test that sends SIGINT to a child process: skipped when this process ignores SIGINT, because children inherit
/// that (a job started in the background by a non-interactive shell, or under <c>nohup</c>, never sees Ctrl+C).
/// </summary>
public sealed class SigintFactAttribute : FactAttribute
{
    public SigintFactAttribute()
    {
        if (SigintIgnored()) Skip = "SIGINT is ignored by this process and so by the processes it starts (started in the background by a non-interactive shell or under nohup); run the tests in the foreground to exercise Ctrl+C.";
    }

    private static bool SigintIgnored()
    {
        if (!OperatingSystem.IsLinux()) return false;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0;
    }
}
