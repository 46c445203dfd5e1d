using MetaRL.Algorithms;
using MetaRL.Algorithms.Common;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;

namespace MetaRL.Algorithms.Tests;

/// <summary>What every algorithm of the catalogue must do, checked for each one (as Stable-Baselines3 checks its model list).</summary>
public sealed class CatalogueTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-catalogue-" + Guid.NewGuid().ToString("N"));

    public CatalogueTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A small configuration of each algorithm on a family it is meant for.</summary>
    public static TheoryData<string, string, string[]> Small => new()
    {
        { "rl2", "bandit", ["hidden=8", "trials-per-iteration=8", "minibatches=2", "iterations=5", "episodes=6"] },
        { "rl2", "navigation-2d", ["hidden=8", "trials-per-iteration=4", "minibatches=2", "iterations=5", "horizon=6", "episodes=2", "update=trpo", "head=8"] },
        { "maml", "navigation-2d", ["hidden=8,8", "meta-batch=2", "trajectories=3", "horizon=6", "iterations=5", "validate-every=2", "validation-tasks=3"] },
        { "pearl", "sparse-point-robot", ["hidden=8", "encoder-hidden=8", "latent=2", "train-tasks=4", "tasks-per-iteration=2", "initial-steps=10", "steps-prior=10",
            "steps-posterior=5", "steps-extra-posterior=10", "gradient-steps=3", "meta-batch=2", "batch=8", "context-batch=5", "context-batch-min=2", "horizon=5", "iterations=5"] },
        { "sac", "pendulum", ["hidden=8", "iterations=5", "horizon=10", "learning-starts=10", "batch=8", "envs=2", "episodes-per-iteration=2"] },
    };

    [Fact]
    public void Every_algorithm_is_in_the_catalogue_once()
    {
        Assert.Equal(["rl2", "maml", "pearl", "sac"], MetaLearners.Catalogue.Select(a => a.Name));
        Assert.Contains("Valid algorithms: rl2, maml, pearl, sac", Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaLearners.Get("ppo")).Message);
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void A_checkpoint_alone_rebuilds_the_learner_and_resumes_bit_identically(string algorithm, string task, string[] settings)
    {
        var learner = MetaLearners.Create(algorithm, task, Settings(settings), seed: 7);
        learner.Learn(iterations: 2);
        var path = Path.Combine(_dir, $"{algorithm}-{task}.mrla");
        learner.Save(path);

        var loaded = MetaLearners.Load(path);
        Assert.Equal(learner.GetType(), loaded.GetType());
        Assert.Equal(learner.Settings, loaded.Settings);
        Assert.Equal(learner.TaskSettings, loaded.TaskSettings);
        Assert.Equal(learner.Tasks.Name, loaded.Tasks.Name);
        Assert.Equal((learner.Seed, learner.Iteration, learner.Iterations), (loaded.Seed, loaded.Iteration, loaded.Iterations));

        // The loaded agent plays as the original does, and the next iterations are the same to the bit (timings aside).
        var options = MetaLearners.Get(algorithm).EvaluationOptions(learner, trials: 12, seed: 3) with { Batch = 5 };
        Assert.Equal(MetaTest.Run(learner.Agent(), learner.Tasks, options).TrialTotals, MetaTest.Run(loaded.Agent(), loaded.Tasks, options).TrialTotals);
        for (int i = 0; i < 3; i++)
        {
            var a = learner.RunIteration();
            var b = loaded.RunIteration();
            Assert.Equal(a.Iteration, b.Iteration);
            Assert.Equal(Untimed(learner, a), Untimed(loaded, b));
            Assert.Equal(a.NewBest, b.NewBest);
        }
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void A_warm_start_takes_a_runs_weights_and_nothing_else_and_refuses_networks_of_another_shape(string algorithm, string task, string[] settings)
    {
        var source = Path.Combine(_dir, $"source-{algorithm}-{task}");
        using (var run = MetaRL.Algorithms.Runs.RunDirectory.Create(source, algorithm, task, Settings(settings), seed: 7))
        {
            run.Learner.Learn(iterations: 2);
            run.Checkpoint();
        }
        static Dictionary<string, float[]> Weights(IMetaLearner learner, string path)
        {
            learner.Save(path);
            var archive = MetaRL.Engine.IO.TensorArchive.Load(path);
            return archive.Names.Where(n => new[] { "net.", "policy.", "sac.", "encoder." }.Any(p => n.StartsWith(p, StringComparison.Ordinal)) && !n.Contains("optim", StringComparison.Ordinal))
                .ToDictionary(n => n, n => archive.Get<float>(n).ToArray());
        }
        var trained = MetaLearners.Load(source);
        var trainedWeights = Weights(trained, Path.Combine(_dir, "trained.mrla"));
        Assert.NotEmpty(trainedWeights);

        var warmPath = Path.Combine(_dir, $"warm-{algorithm}-{task}");
        using (var warm = MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(warmPath, source, null, Settings(["iterations=4"]), seed: 8, weights: true))
        {
            // The weights, and with them the play; not the iteration, the schedule's length or the seed.
            Assert.Equal((0, 4, 8UL), (warm.Learner.Iteration, warm.Learner.Iterations, warm.Learner.Seed));
            Assert.Equal(trainedWeights, Weights(warm.Learner, Path.Combine(_dir, "warm.mrla")));
            var options = MetaLearners.Get(algorithm).EvaluationOptions(trained, trials: 12, seed: 3) with { Batch = 5 };
            Assert.Equal(MetaTest.Run(trained.Agent(), trained.Tasks, options).TrialTotals, MetaTest.Run(warm.Learner.Agent(), warm.Learner.Tasks, options).TrialTotals);
            // A learner of the same settings and seed without the weights starts elsewhere; the warm one trains on.
            var fresh = MetaLearners.Create(algorithm, task, Settings([.. settings.Where(x => !x.StartsWith("iterations=", StringComparison.Ordinal)), "iterations=4"]), seed: 8);
            Assert.NotEqual(trainedWeights, Weights(fresh, Path.Combine(_dir, "fresh.mrla")));
            Assert.Equal(1, warm.Step().Iteration);
            warm.Checkpoint();
        }
        // config.json says where the run started, and a resume that rewrites it keeps that.
        static System.Text.Json.Nodes.JsonNode? Origin(string run)
            => System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey];
        var sourceCheckpoint = Path.GetFullPath(Path.Combine(source, "checkpoint.mrla"));
        var origin = Origin(warmPath)!;
        Assert.Equal((sourceCheckpoint, 2, true, null), ((string?)origin["checkpoint"], (int)origin["iteration"]!, (bool)origin["weights"]!, origin["counterpart"]));
        // The checksum is the checkpoint's own: its last 32 bytes, the SHA-256 of what comes before them.
        var bytes = File.ReadAllBytes(sourceCheckpoint);
        Assert.Equal(Convert.ToHexStringLower(bytes[^32..]), (string?)origin["checksum"]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes[..^32])), (string?)origin["checksum"]);
        using (var resumed = MetaRL.Algorithms.Runs.RunDirectory.Resume(warmPath, iterations: 6))
            Assert.Equal(6, resumed.Learner.Iterations);
        Assert.Equal(origin.ToJsonString(), Origin(warmPath)!.ToJsonString());
        Assert.Null(Origin(source));

        // Networks of another shape are refused by name, before anything is written; so is a counterpart from the weights.
        var wider = Path.Combine(_dir, $"wider-{algorithm}-{task}");
        var e = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() =>
            MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(wider, source, null, Settings([algorithm == "maml" ? "hidden=6,6" : "hidden=6"]), seed: null, weights: true));
        Assert.Contains("Cannot start from the weights", e.Message);
        Assert.Contains("shape", e.Message);
        Assert.False(Directory.Exists(wider));
        if (MetaLearners.Get(algorithm).Counterparts.Count > 0)
            Assert.Contains("not both", Assert.Throws<MetaRL.Core.Tasks.SettingException>(() =>
                MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(wider, source, MetaLearners.Get(algorithm).Counterparts[0], new Dictionary<string, string>(), null, weights: true)).Message);
        Assert.False(Directory.Exists(wider));
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void A_seed_gives_the_same_run_on_one_thread_as_on_every_core(string algorithm, string task, string[] settings)
    {
        (double[][] Metrics, float[][] Weights, double[] Eval) RunWith(int threads)
        {
            int saved = MetaRL.Core.Compute.MaxThreads;
            MetaRL.Core.Compute.MaxThreads = threads;
            try
            {
                var learner = MetaLearners.Create(algorithm, task, Settings(settings), seed: 11);
                var metrics = Enumerable.Range(0, 3).Select(_ => Untimed(learner, learner.RunIteration())).ToArray();
                var path = Path.Combine(_dir, $"threads{threads}-{algorithm}-{task}.mrla");
                learner.Save(path);
                var archive = MetaRL.Engine.IO.TensorArchive.Load(path);
                var weights = archive.Names.Where(n => n.StartsWith("net.", StringComparison.Ordinal) || n.StartsWith("policy.", StringComparison.Ordinal)
                        || n.StartsWith("sac.", StringComparison.Ordinal) || n.StartsWith("encoder.", StringComparison.Ordinal))
                    .Select(n => archive.Get<float>(n).ToArray()).ToArray();
                var options = MetaLearners.Get(algorithm).EvaluationOptions(learner, trials: 6, seed: 2);
                return (metrics, weights, MetaTest.Run(learner.Agent(), learner.Tasks, options).TrialTotals);
            }
            finally { MetaRL.Core.Compute.MaxThreads = saved; }
        }
        var one = RunWith(1);
        var all = RunWith(Math.Max(2, Environment.ProcessorCount));
        Assert.Equal(one.Metrics, all.Metrics);
        Assert.NotEmpty(one.Weights);
        Assert.Equal(one.Weights, all.Weights);
        Assert.Equal(one.Eval, all.Eval);
    }

    [Theory]
    [MemberData(nameof(Small))]
    public void Settings_are_resolved_in_full_and_unknown_keys_are_refused_by_name(string algorithm, string task, string[] settings)
    {
        var learner = MetaLearners.Create(algorithm, task, Settings(settings));
        var algo = MetaLearners.Get(algorithm);
        Assert.Equal(algo.Keys.Order(StringComparer.Ordinal), learner.Settings.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(learner.MetricNames.Count, learner.RunIteration().Metrics.Length);
        var e = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaLearners.Create(algorithm, task, Settings([.. settings, "no-such-key=1"])));
        Assert.Contains("no-such-key", e.Message);
    }

    /// <summary>An RL² agent, loaded from its checkpoint and played step by step, scores what the protocol scores.</summary>
    [Fact]
    public void A_loaded_agent_played_step_by_step_matches_the_meta_test()
    {
        var learner = MetaLearners.Create("rl2", "bandit", Settings(["hidden=8", "trials-per-iteration=8", "minibatches=2", "iterations=3"]));
        learner.Learn();
        var path = Path.Combine(_dir, "play.mrla");
        learner.Save(path);
        var loaded = MetaLearners.Load(path);
        var tasks = loaded.Tasks;
        var expected = MetaTest.Run(loaded.Agent(), tasks, new MetaTestOptions(Trials: 40, Seed: 1));
        var player = new AgentPlayer(loaded.Agent(), tasks);
        var env = tasks.CreateEnv();
        var obs = new float[tasks.ObservationSpace.Size];
        var heldOut = MetaTest.Tasks(tasks, 1, 40);
        for (int t = 0; t < heldOut.Length; t++)
        {
            env.SetTask(heldOut[t]);
            var rng = MetaTest.EnvironmentStream(1, t);
            player.Reset();
            double total = 0;
            for (int e = 0; e < tasks.EpisodesPerTrial; e++)
            {
                env.Reset(rng, obs);
                for (bool over = false; !over;)
                {
                    var r = env.Step(player.Act(obs), rng, obs);
                    total += r.Reward;
                    over = player.Observe((float)r.Reward, r.Terminated, r.Truncated);
                }
            }
            Assert.Equal(expected.TrialTotals[t], total);
        }
    }

    private static Dictionary<string, string> Settings(IEnumerable<string> pairs) => TestSettings.Parse(pairs);

    private static double[] Untimed(IMetaLearner learner, IterationReport report)
        => report.Metrics.Where((_, i) => !learner.MetricNames[i].Contains("seconds", StringComparison.Ordinal)).ToArray();
}

public sealed class PresetTests
{
    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MetaRL.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("The repository root (MetaRL.slnx) is not above the test's folder.");
    }

    [Fact]
    public void Every_preset_names_known_tasks_valid_settings_and_a_written_up_measurement()
    {
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "presets.md"));
        var families = MetaRL.Core.Tasks.TaskRegistry.Families.Select(f => f.Name).ToHashSet();
        void Check<T>(Presets presets, MetaRL.Core.Tasks.SettingSchema<T> schema, T defaults) where T : class
        {
            Assert.NotEmpty(presets.Entries);
            foreach (var p in presets.Entries)
            {
                foreach (var task in p.Tasks) Assert.True(families.Contains(task) || MuJoCoTask(task), $"{presets.Algorithm} preset for unknown task '{task}'");
                schema.Apply(defaults, p.Settings, out var rest);
                Assert.Empty(rest);
                // A stage's settings are the family's or the algorithm's, and its networks hand on to the run's.
                foreach (var task in p.Tasks.Where(t => p.Stages.Count > 0))
                    using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(Path.Combine(Path.GetTempPath(), "metarl-preset-" + Guid.NewGuid().ToString("N")), presets.Algorithm, task, new Dictionary<string, string>(), 1, p.Stages, p.Measured))
                    {
                        Assert.Equal(p.Stages.Count, staged.Stages.Count);
                        Directory.Delete(staged.Path, true);
                    }
                Assert.StartsWith("docs/presets.md#", p.Measured);
                Assert.Contains("\n## " + p.Measured["docs/presets.md#".Length..] + "\n", docs);
            }
        }
        Check(MetaRL.Algorithms.Rl2.Rl2Config.Presets, MetaRL.Algorithms.Rl2.Rl2Config.Schema, new MetaRL.Algorithms.Rl2.Rl2Config());
        Check(MetaRL.Algorithms.Sac.SacConfig.Presets, MetaRL.Algorithms.Sac.SacConfig.Schema, new MetaRL.Algorithms.Sac.SacConfig());
        Check(MetaRL.Algorithms.Pearl.PearlConfig.Presets, MetaRL.Algorithms.Pearl.PearlConfig.Schema, new MetaRL.Algorithms.Pearl.PearlConfig());
    }

    private static bool MuJoCoTask(string name) => name is "cheetah-vel" or "cheetah-dir" or "ant-dir" or "ant-goal" or "hopper-params" or "walker-params" or "arm-payload";

    [Fact]
    public void A_preset_is_chosen_by_task_and_by_its_condition_on_the_task_settings()
    {
        var shortTrials = MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("bandit");
        var longTrials = MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("bandit", new Dictionary<string, string> { ["episodes"] = "100" });
        Assert.Equal((0.3, 1500), (shortTrials.GaeLambda, shortTrials.Iterations));
        Assert.Equal((0.95, 2000), (longTrials.GaeLambda, longTrials.Iterations));
        // dependent-bandit's own default is 100 pulls: the long-trial preset.
        Assert.Equal(0.95, MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("dependent-bandit").GaeLambda);
        Assert.Equal(256, MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("tabular-mdp").Hidden);
        // A condition on a value: arena's loadout game has its own preset (a longer horizon), the plain game the other.
        // The loadout game is the family's default (so 'style=kite' meets the loadout preset without saying loadouts=true).
        var loadouts = MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("arena", new Dictionary<string, string> { ["style"] = "kite" });
        var plain = MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("arena", new Dictionary<string, string> { ["loadouts"] = "false" });
        Assert.Equal((0.998, 0), (loadouts.Gamma, loadouts.Bptt));
        Assert.Equal((0.99, 100), (plain.Gamma, plain.Bptt));
        // The all-style run (trained in stages) differs from one style's only in its entropy bonus.
        var all = MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("arena");
        Assert.Equal((0.01, 0.03), (loadouts.EntropyCoef, all.EntropyCoef));
        Assert.Equal(loadouts.ToSettings().Where(kv => kv.Key != "entropy-coef"), all.ToSettings().Where(kv => kv.Key != "entropy-coef"));
        Assert.Equal(new MetaRL.Algorithms.Rl2.Rl2Config().ToSettings(), MetaRL.Algorithms.Rl2.Rl2Config.DefaultsFor("no-preset-family").ToSettings());
        // The catalogue entry offers the same presets, and names each condition as a person writes it.
        Assert.Same(MetaRL.Algorithms.Rl2.Rl2Config.Presets, MetaLearners.Get("rl2").Presets);
        Assert.Null(MetaLearners.Get("maml").Presets);
        Assert.Equal(["episodes ≥ 50", "loadouts=true", "style=all", "loadouts=true"], MetaLearners.Get("rl2").Presets!.Conditional.SelectMany(p => p.When.Select(w => w.Value.Describe(w.Key))));
        Assert.Equal("0.5 ≤ x ≤ 2", new MetaRL.Algorithms.Common.Presets.Condition(0.5, 2).Describe("x"));
        Assert.Equal("x ≤ 3", new MetaRL.Algorithms.Common.Presets.Condition(Max: 3).Describe("x"));
    }

    [Fact]
    public void A_malformed_presets_file_is_refused_by_name()
    {
        using var bad = new MemoryStream("{\"algorithm\":\"rl2\",\"presets\":[{\"tasks\":[\"bandit\"],\"settings\":{\"hidden\":128}}]}"u8.ToArray());
        var e = Assert.Throws<InvalidDataException>(() => MetaRL.Algorithms.Common.Presets.Parse(bad, "rl2", "bad.json"));
        Assert.Contains("bad.json", e.Message);
        using var both = new MemoryStream("{\"algorithm\":\"rl2\",\"presets\":[{\"tasks\":[\"arena\"],\"when\":{\"loadouts\":{\"is\":\"true\",\"min\":1}},\"settings\":{},\"measured\":\"m\"}]}"u8.ToArray());
        Assert.Contains("condition 'loadouts'", Assert.Throws<InvalidDataException>(() => MetaRL.Algorithms.Common.Presets.Parse(both, "rl2", "both.json")).Message);
        // A stage names a directory and says how long it trains.
        static string Staged(string stage) => "{\"algorithm\":\"rl2\",\"presets\":[{\"tasks\":[\"arena\"],\"stages\":[" + stage + "],\"settings\":{},\"measured\":\"m\"}]}";
        string Refusal(string stage) => Assert.Throws<InvalidDataException>(() => MetaRL.Algorithms.Common.Presets.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(Staged(stage))), "rl2", "s.json")).Message;
        Assert.Contains("iterations", Refusal("{\"name\":\"a\",\"about\":\"\",\"settings\":{\"style\":\"kite\"}}"));
        Assert.Contains("lower-case word", Refusal("{\"name\":\"../up\",\"about\":\"\",\"settings\":{\"iterations\":\"2\"}}"));
        Assert.Contains("share a name", Refusal("{\"name\":\"a\",\"about\":\"\",\"settings\":{\"iterations\":\"2\"}},{\"name\":\"a\",\"about\":\"\",\"settings\":{\"iterations\":\"3\"}}"));
        Assert.Contains("handOver is 'last' or 'best', not 'first'", Refusal("{\"name\":\"a\",\"about\":\"\",\"settings\":{\"iterations\":\"2\"},\"handOver\":\"first\"}"));
        var parsed = MetaRL.Algorithms.Common.Presets.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(Staged("{\"name\":\"a\",\"about\":\"first\",\"settings\":{\"iterations\":\"2\"}}"))), "rl2", "s.json");
        Assert.Equal("a (iterations=2): first", Assert.Single(parsed.Entries[0].Stages).Describe());
        Assert.False(parsed.Entries[0].Stages[0].HandsOverBest);
        var best = MetaRL.Algorithms.Common.Presets.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(Staged("{\"name\":\"a\",\"about\":\"first\",\"settings\":{\"iterations\":\"2\"},\"handOver\":\"best\"}"))), "rl2", "s.json");
        Assert.Equal("a (iterations=2): first; what starts from it takes its best policy by validation", Assert.Single(best.Entries[0].Stages).Describe());
        // A stage starts from scratch or from a stage before it, and names only stages before it; the run's own stage
        // settings name any stage, the preset's settings (defaults also without stages) none.
        const string A = "{\"name\":\"a\",\"about\":\"\",\"settings\":{\"iterations\":\"2\"}}";
        Assert.Contains("starts from 'b', which is no stage before it", Refusal(A + ",{\"name\":\"b\",\"about\":\"\",\"settings\":{\"iterations\":\"2\"},\"from\":\"b\"}"));
        Assert.Contains("names stage 'b', which is no stage before it", Refusal("{\"name\":\"a\",\"about\":\"\",\"settings\":{\"iterations\":\"2\",\"teachers\":\"x={stage:b}\"}},{\"name\":\"b\",\"about\":\"\",\"settings\":{\"iterations\":\"2\"}}"));
        string RunRefusal(string preset) => Assert.Throws<InvalidDataException>(() => MetaRL.Algorithms.Common.Presets.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(
            "{\"algorithm\":\"rl2\",\"presets\":[{\"tasks\":[\"arena\"]," + preset + ",\"measured\":\"m\"}]}")), "rl2", "r.json")).Message;
        Assert.Contains("which only a staged run takes", RunRefusal("\"stages\":[" + A + "],\"settings\":{\"teachers\":\"x={stage:a}\"}"));
        Assert.Contains("the run starts from 'c', which is no stage", RunRefusal("\"stages\":[" + A + "],\"settings\":{},\"run\":{\"from\":\"c\"}"));
        Assert.Contains("the run names stage 'c'", RunRefusal("\"stages\":[" + A + "],\"settings\":{},\"run\":{\"settings\":{\"teachers\":\"x={stage:c}\"}}"));
        Assert.Contains("for a preset with stages", RunRefusal("\"settings\":{},\"run\":{\"from\":\"a\"}"));
        var dag = MetaRL.Algorithms.Common.Presets.Parse(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(
            "{\"algorithm\":\"rl2\",\"presets\":[{\"tasks\":[\"arena\"],\"stages\":[" + A + ",{\"name\":\"b\",\"about\":\"other\",\"settings\":{\"iterations\":\"3\"},\"from\":\"none\"}],"
            + "\"settings\":{},\"run\":{\"from\":\"a\",\"settings\":{\"teachers\":\"x={stage:b}\"}},\"measured\":\"m\"}]}")), "rl2", "dag.json").Entries[0];
        Assert.Equal(("a", "none", "x={stage:b}"), (dag.From, dag.Stages[1].From, dag.RunSettings["teachers"]));
        Assert.Equal("b (iterations=3): other; from scratch", dag.Stages[1].Describe());
    }
}

public sealed class Rl2ValidationTests
{
    private static Dictionary<string, string> Small(int validateEvery) => new()
    {
        ["hidden"] = "8", ["trials-per-iteration"] = "8", ["minibatches"] = "2", ["iterations"] = "5",
        ["validate-every"] = validateEvery.ToString(System.Globalization.CultureInfo.InvariantCulture), ["validation-trials"] = "40",
    };

    [Fact]
    public void Validation_leaves_training_unchanged_keeps_the_best_and_survives_a_resume()
    {
        var plain = (MetaRL.Algorithms.Rl2.Rl2Learner)MetaLearners.Create("rl2", "bandit", Small(0), seed: 3);
        var validated = (MetaRL.Algorithms.Rl2.Rl2Learner)MetaLearners.Create("rl2", "bandit", Small(2), seed: 3);
        double best = double.NegativeInfinity;
        (double, int) recordAt3 = default;
        var dir = Path.Combine(Path.GetTempPath(), "metarl-val-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            for (int i = 1; i <= 5; i++)
            {
                var a = plain.RunIteration();
                var b = validated.RunIteration();
                // Every training figure is the same (timings aside); validation adds a column and reads no training stream.
                Assert.Equal(Untimed(plain, a), Untimed(validated, b).Take(a.Metrics.Length - 2));
                double score = b.Metrics[^1];
                bool due = i % 2 == 0 || i == 5;
                Assert.Equal(due, !double.IsNaN(score));
                if (due) Assert.Equal(score, validated.Validate()); // the same tasks and streams every time
                bool expected = due && score > best;
                if (expected) best = score;
                Assert.Equal(expected, b.NewBest);
                if (i == 3)
                {
                    validated.Save(Path.Combine(dir, "at3.mrla"));
                    recordAt3 = (validated.Best.Score, validated.Best.Iteration);
                }
            }
            Assert.Equal(best, validated.Best.Score);
            var resumed = (MetaRL.Algorithms.Rl2.Rl2Learner)MetaLearners.Load(Path.Combine(dir, "at3.mrla"));
            Assert.Equal(recordAt3, (resumed.Best.Score, resumed.Best.Iteration));
            Assert.Equal(2, recordAt3.Item2);
            resumed.RunIteration();
            resumed.RunIteration();
            Assert.Equal((validated.Best.Score, validated.Best.Iteration), (resumed.Best.Score, resumed.Best.Iteration));
        }
        finally { Directory.Delete(dir, true); }
    }

    private static double[] Untimed(IMetaLearner learner, IterationReport report)
        => report.Metrics.Where((_, i) => !learner.MetricNames[i].Contains("seconds", StringComparison.Ordinal)).ToArray();
}

public sealed class CounterpartTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-counterpart-" + Guid.NewGuid().ToString("N"));

    public CounterpartTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static Dictionary<string, string> Settings(params string[] pairs) => TestSettings.Parse(pairs);

    [Fact]
    public void A_counterpart_keeps_the_runs_network_and_heads_and_changes_only_what_makes_it_that_agent()
    {
        var source = Path.Combine(_dir, "source");
        using (var run = MetaRL.Algorithms.Runs.RunDirectory.Create(source, "rl2", "dependent-bandit",
                   Settings("hidden=8", "head=6", "skip-input=true", "trials-per-iteration=8", "minibatches=2", "iterations=1", "task-prediction=0.5", "episodes=4"), seed: 5))
            run.Learner.Save(run.CheckpointPath);
        var original = MetaLearners.Load(Path.Combine(source, "checkpoint.mrla"));
        // A run directory loads as its last checkpoint; a directory that is not a run is refused by name.
        Assert.Equal(original.Settings, MetaLearners.Load(source).Settings);
        Assert.Contains(_dir, Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaLearners.Load(_dir)).Message);

        using var multi = MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(Path.Combine(_dir, "multi"), source, "multi-task", new Dictionary<string, string>(), seed: null);
        var changed = original.Settings.Where(kv => multi.Learner.Settings[kv.Key] != kv.Value).Select(kv => kv.Key).Order().ToArray();
        Assert.Equal(["memory", "task-prediction"], changed);
        Assert.Equal((original.Seed, original.Tasks.EpisodesPerTrial), (multi.Learner.Seed, multi.Learner.Tasks.EpisodesPerTrial));

        using var oracle = MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(Path.Combine(_dir, "oracle"), source, "oracle", Settings("iterations=2"), seed: 9);
        Assert.Equal(["iterations", "task-input"], original.Settings.Where(kv => oracle.Learner.Settings[kv.Key] != kv.Value).Select(kv => kv.Key).Order().ToArray());
        Assert.Equal(9UL, oracle.Learner.Seed);
        var origin = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "oracle", "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey]!;
        Assert.Equal(("oracle", false), ((string?)origin["counterpart"], (bool)origin["weights"]!));

        var unknown = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() =>
            MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(Path.Combine(_dir, "x"), source, "teacher", new Dictionary<string, string>(), null));
        Assert.Contains("multi-task, oracle", unknown.Message);
        Assert.Contains("'multi-tsk' counterpart (did you mean 'multi-task'?)",
            Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaLearners.Get("rl2").Counterpart("multi-tsk", new Dictionary<string, string>())).Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "x")));
        Assert.Equal(["inner-steps"], MetaLearners.Get("maml").Counterpart("multi-task", new MetaRL.Algorithms.Maml.MamlConfig().ToSettings())
            .Where(kv => new MetaRL.Algorithms.Maml.MamlConfig().ToSettings()[kv.Key] != kv.Value).Select(kv => kv.Key));
    }
}

public sealed class ChangedDefaultTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-defaults-" + Guid.NewGuid().ToString("N"));

    public ChangedDefaultTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly Dictionary<string, string> Tiny = new() { ["hidden"] = "8", ["trials-per-iteration"] = "4", ["minibatches"] = "2", ["days"] = "20", ["episodes"] = "2" };

    [Fact]
    public void A_run_records_the_settings_whose_default_changed_and_a_checkpoint_from_before_the_change_reads_with_the_earlier_default()
    {
        var family = MetaRL.Core.Tasks.TaskRegistry.Get("regime-trading");
        Assert.Equal(["normalize-returns", "risk-penalty", "volatility-features"], family.EarlierDefaults.Keys.Order());

        // A new run holds the current defaults explicitly, in its settings and so in its checkpoints.
        var fresh = MetaLearners.Create("rl2", "regime-trading", Tiny);
        Assert.Equal(("true", "true", "2.5"), (fresh.TaskSettings["normalize-returns"], fresh.TaskSettings["volatility-features"], fresh.TaskSettings["risk-penalty"]));
        Assert.Equal(20 + 4 + 3, fresh.Tasks.ObservationSpace.Size);
        var given = MetaLearners.Create("rl2", "regime-trading", new Dictionary<string, string>(Tiny) { ["volatility-features"] = "false" });
        Assert.Equal(("true", "false"), (given.TaskSettings["normalize-returns"], given.TaskSettings["volatility-features"]));

        // A checkpoint written before the changes names none of them (its network reads the plain observation of 23, its reward was the P&L alone).
        var old = MetaLearners.Create("rl2", "regime-trading", new Dictionary<string, string>(Tiny) { ["normalize-returns"] = "false", ["volatility-features"] = "false", ["risk-penalty"] = "0" });
        old.RunIteration();
        var path = Path.Combine(_dir, "old.mrla");
        old.Save(path);
        var archive = MetaRL.Engine.IO.TensorArchive.Load(path);
        archive.Metadata["task-settings"] = LearnerCheckpoint.ToJson(old.TaskSettings.Where(kv => !family.EarlierDefaults.ContainsKey(kv.Key)).ToDictionary());
        archive.Save(path);
        Assert.DoesNotContain("normalize-returns", MetaRL.Engine.IO.TensorArchive.Load(path).Metadata["task-settings"]);

        // It loads, evaluates and resumes as trained: the earlier defaults, the old observation and reward, the same play and returns.
        var loaded = MetaLearners.Load(path);
        Assert.Equal(("false", "false", "0"), (loaded.TaskSettings["normalize-returns"], loaded.TaskSettings["volatility-features"], loaded.TaskSettings["risk-penalty"]));
        Assert.Equal(20 + 3, loaded.Tasks.ObservationSpace.Size);
        var options = new MetaRL.Core.Evaluation.MetaTestOptions(6, 2);
        Assert.Equal(MetaTest.Run(old.Agent(), old.Tasks, options).TrialTotals, MetaTest.Run(loaded.Agent(), loaded.Tasks, options).TrialTotals);
        var forEvaluation = MetaLearners.Get("rl2").LoadForEvaluation(MetaRL.Engine.IO.TensorArchive.Load(path), new Dictionary<string, string> { ["episodes"] = "3" }, path);
        Assert.Equal(20 + 3, forEvaluation.Tasks.ObservationSpace.Size);
        // Saved again, it says so explicitly.
        loaded.Save(path);
        Assert.Contains("\"normalize-returns\":\"false\"", MetaRL.Engine.IO.TensorArchive.Load(path).Metadata["task-settings"]);
    }
}

public sealed class StagedRunTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-stages-" + Guid.NewGuid().ToString("N"));

    public StagedRunTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly Dictionary<string, string> Run = new() { ["hidden"] = "8", ["trials-per-iteration"] = "8", ["minibatches"] = "2", ["iterations"] = "3", ["episodes"] = "6" };

    private static readonly Presets.Stage[] Short = [new("short", "short trials first", new Dictionary<string, string> { ["episodes"] = "4", ["iterations"] = "2" })];

    // Trains every stage left, as 'metarl train' does; stopAfter, when given, stops after that many iterations in all (as a kill would: no checkpoint).
    private static void TrainAll(MetaRL.Algorithms.Runs.StagedRun staged, int? stopAfter = null)
    {
        int steps = 0;
        while (staged.Next() is var (run, _))
            using (run)
                while (run.Learner.Iteration < run.Learner.Iterations)
                {
                    if (steps++ == stopAfter) return;
                    run.Step();
                }
    }

    // A run's metrics without the columns that time it.
    private static string[] Metrics(string run)
        => File.ReadAllLines(Path.Combine(run, "metrics.csv")).Select(l => string.Join(',', l.Split(',').Where((_, i) => i is not (10 or 11)))).ToArray();

    [Fact]
    public void A_staged_run_is_the_runs_a_person_would_chain_by_hand_and_resumes_in_any_stage_exactly()
    {
        var path = Path.Combine(_dir, "staged");
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "bandit", Run, seed: 5, Short))
        {
            Assert.Equal(2, staged.Count);
            // Until its last stage has a checkpoint, the run is no run to evaluate: the message names the stages.
            TrainAll(staged, stopAfter: 1);
            var e = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.RunDirectory.CheckpointOf(path, preferBest: false));
            Assert.Contains("trains in stages", e.Message);
            Assert.Contains("stage-1-short", e.Message);
            // A second process cannot open the plan while this one holds it.
            Assert.Contains("in use", Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.StagedRun.Open(path)).Message);
            TrainAll(staged);
        }
        Assert.Equal("3", MetaLearners.Load(path).Settings["iterations"]);

        // By hand: the first stage as a run of its own, then the run from its weights with the run's own settings.
        var first = Path.Combine(_dir, "first");
        using (var run = MetaRL.Algorithms.Runs.RunDirectory.Create(first, "rl2", "bandit", new Dictionary<string, string>(Run) { ["episodes"] = "4", ["iterations"] = "2" }, seed: 5))
            while (run.Learner.Iteration < run.Learner.Iterations) run.Step();
        var second = Path.Combine(_dir, "second");
        using (var run = MetaRL.Algorithms.Runs.RunDirectory.CreateFrom(second, first, null, new Dictionary<string, string> { ["episodes"] = "6", ["iterations"] = "3" }, null, weights: true))
            while (run.Learner.Iteration < run.Learner.Iterations) run.Step();
        Assert.Equal(Metrics(Path.Combine(path, "stage-1-short")), Metrics(first));
        Assert.Equal(Metrics(path), Metrics(second));
        var options = new MetaTestOptions(10, 3);
        var staged3 = MetaLearners.Load(path);
        Assert.Equal(MetaTest.Run(MetaLearners.Load(second).Agent(), staged3.Tasks, options).TrialTotals, MetaTest.Run(staged3.Agent(), staged3.Tasks, options).TrialTotals);
        // The run says where it started: the first stage's last checkpoint, its weights.
        var origin = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(path, "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey]!;
        Assert.Equal((Path.GetFullPath(Path.Combine(path, "stage-1-short", "checkpoint.mrla")), 2, true),
            ((string?)origin["checkpoint"], (int)origin["iteration"]!, (bool)origin["weights"]!));

        // Killed in the first stage after a checkpoint, and again in the last before its first: the same run in the end.
        var killed = Path.Combine(_dir, "killed");
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(killed, "rl2", "bandit", Run, seed: 5, Short))
        {
            var (run, number) = staged.Next()!.Value;
            using (run) { run.Step(); run.Checkpoint(); run.Step(); }
            Assert.Equal(1, number);
        }
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Open(killed)) TrainAll(staged, stopAfter: 2);
        Assert.True(File.Exists(Path.Combine(killed, "config.json")));
        Assert.False(File.Exists(Path.Combine(killed, "checkpoint.mrla")));
        Assert.True(MetaRL.Algorithms.Runs.StagedRun.InEarlierStage(killed));
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Open(killed))
        {
            TrainAll(staged);
            Assert.Null(staged.Next());
        }
        Assert.False(MetaRL.Algorithms.Runs.StagedRun.InEarlierStage(killed));
        Assert.Equal(Metrics(path), Metrics(killed));
        Assert.Equal(Metrics(Path.Combine(path, "stage-1-short")), Metrics(Path.Combine(killed, "stage-1-short")));
    }

    [Fact]
    public void A_stage_that_hands_over_its_best_policy_starts_the_next_from_best_mrla()
    {
        // Validated after every iteration, the stage keeps a best policy; the run starts from it (and says so), the plan
        // read back keeps the choice, and without a best policy (validation off) the last checkpoint is handed over.
        var settings = new Dictionary<string, string> { ["episodes"] = "4", ["iterations"] = "3", ["validate-every"] = "1", ["validation-trials"] = "8" };
        Presets.Stage[] best = [new("short", "short trials first", settings, HandsOverBest: true)];
        var path = Path.Combine(_dir, "best");
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "bandit", Run, seed: 5, best)) TrainAll(staged);
        var stageDir = Path.Combine(path, "stage-1-short");
        var origin = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(path, "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey]!;
        Assert.Equal(Path.GetFullPath(Path.Combine(stageDir, "best.mrla")), (string?)origin["checkpoint"]);
        Assert.Equal(MetaRL.Engine.IO.TensorArchive.Load(Path.Combine(stageDir, "best.mrla")).Checksum, (string?)origin["checksum"]);
        Assert.NotEqual(MetaRL.Engine.IO.TensorArchive.Load(Path.Combine(stageDir, "checkpoint.mrla")).Checksum, (string?)origin["checksum"]);
        using (var reopened = MetaRL.Algorithms.Runs.StagedRun.Open(path)) Assert.True(Assert.Single(reopened.Stages).HandsOverBest);

        var unvalidated = Path.Combine(_dir, "unvalidated");
        Presets.Stage[] off = [new("short", "", new Dictionary<string, string>(settings) { ["validate-every"] = "0" }, HandsOverBest: true)];
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(unvalidated, "rl2", "bandit", Run, seed: 5, off)) TrainAll(staged);
        origin = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(unvalidated, "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey]!;
        Assert.Equal(Path.GetFullPath(Path.Combine(unvalidated, "stage-1-short", "checkpoint.mrla")), (string?)origin["checkpoint"]);
    }

    [Fact]
    public void A_stage_that_cannot_train_or_cannot_hand_on_its_weights_is_refused_before_anything_is_written()
    {
        var path = Path.Combine(_dir, "bad");
        Presets.Stage Stage(string key, string value) => new("bad", "", new Dictionary<string, string> { [key] = value, ["iterations"] = "2" });
        var unknown = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "bandit", Run, 5, [Stage("episodez", "4")]));
        Assert.Contains("Stage 1 (bad)", unknown.Message);
        Assert.Contains("episodes", unknown.Message);
        var shape = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "bandit", Run, 5, [Stage("arms", "7")]));
        Assert.Contains("cannot start from the weights of stage 1 (bad)", shape.Message);
        Assert.False(Directory.Exists(path));
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "x"), "");
        Assert.Contains("not empty", Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "bandit", Run, 5, Short)).Message);
        // A damaged plan is named.
        var damaged = Path.Combine(_dir, "damaged");
        Directory.CreateDirectory(damaged);
        File.WriteAllText(Path.Combine(damaged, MetaRL.Algorithms.Runs.StagedRun.PlanFile), "{\"format\": 1, \"stages\": []}");
        Assert.Contains("damaged", Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.StagedRun.Open(damaged)).Message);
    }

    [Fact]
    public void Stages_may_start_from_scratch_or_an_earlier_stage_and_name_earlier_stages_as_teachers()
    {
        // On rps-bots cut short: an oracle, a policy without memory trained from scratch beside it, and the run started
        // from the oracle and taught by the policy without memory (a directory named by {stage:NAME}).
        var group = MetaRL.Tasks.Games.RpsBotsTasks.FromSettings(SmallRps.Settings).GroupOf(
            MetaRL.Tasks.Games.RpsBotsTasks.FromSettings(SmallRps.Settings).SampleTask(new MetaRL.Engine.Rng(1), MetaRL.Core.Tasks.TaskSplit.Train))!;
        var small = new Dictionary<string, string>(SmallRps.Settings) { ["hidden"] = "8", ["trials-per-iteration"] = "8", ["minibatches"] = "2", ["iterations"] = "2", ["validate-every"] = "0" };
        Presets.Stage[] stages =
        [
            new("oracle", "", new Dictionary<string, string> { ["iterations"] = "2" }),
            new("plain", "", new Dictionary<string, string> { ["iterations"] = "3", ["memory"] = "false", ["hidden"] = "4" }, From: Presets.Stage.Scratch),
        ];
        var runSettings = new Dictionary<string, string> { ["teachers"] = group + "={stage:plain}/checkpoint.mrla" };
        var path = Path.Combine(_dir, "dag");
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "rps-bots", small, 5, stages, "", runFrom: "oracle", runSettings))
        {
            Assert.Equal((0, 0, 1), (staged.Stages[0].From, staged.Stages[1].From, staged.RunFrom));
            // The stages do not take the run's teachers; the run names the second stage's checkpoint by its full path.
            Assert.Equal("none", MetaLearners.Create("rl2", "rps-bots", staged.Stages[1].Settings).Settings["teachers"]);
            var plain = Path.GetFullPath(Path.Combine(path, "stage-2-plain", "checkpoint.mrla"));
            Assert.Equal($"{group}={plain}", staged.Settings["teachers"]);
            TrainAll(staged);
            // The run learnt from that file: its checkpoint records the file's SHA-256.
            Assert.Equal($"{group}={Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(plain)))}",
                MetaRL.Engine.IO.TensorArchive.Load(Path.Combine(path, "checkpoint.mrla")).Metadata["teachers"]);
        }
        var origin = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(path, "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey]!;
        Assert.Equal(Path.GetFullPath(Path.Combine(path, "stage-1-oracle", "checkpoint.mrla")), (string?)origin["checkpoint"]);
        Assert.Null(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(path, "stage-2-plain", "config.json")))![MetaRL.Algorithms.Runs.RunDirectory.OriginKey]);
        Assert.Equal("false", MetaLearners.Load(Path.Combine(path, "stage-2-plain")).Settings["memory"]);
        using (var reopened = MetaRL.Algorithms.Runs.StagedRun.Open(path)) Assert.Equal((0, 1), (reopened.Stages[1].From, reopened.RunFrom));

        // A plan written before stages could start elsewhere (format 1) is read as a chain.
        var plan = Path.Combine(path, MetaRL.Algorithms.Runs.StagedRun.PlanFile);
        var old = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(plan))!.AsObject();
        old["format"] = 1;
        old.Remove("runFrom");
        foreach (var st in old["stages"]!.AsArray()) st!.AsObject().Remove("from");
        File.WriteAllText(plan, old.ToJsonString());
        using (var chain = MetaRL.Algorithms.Runs.StagedRun.Open(path)) Assert.Equal((0, 1, 2), (chain.Stages[0].From, chain.Stages[1].From, chain.RunFrom));

        // The run cannot start from a stage whose networks differ from its own; nothing is written.
        var bad = Path.Combine(_dir, "bad-dag");
        var e = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => MetaRL.Algorithms.Runs.StagedRun.Plan(bad, "rl2", "rps-bots", small, 5, stages, "", runFrom: "plain"));
        Assert.Contains("The run cannot start from the weights of stage 2 (plain)", e.Message);
        Assert.False(Directory.Exists(bad));
    }

    [Fact]
    public void The_arena_preset_trains_oracles_and_the_multi_task_policy_then_every_style_taught_by_them_and_only_for_the_all_style_loadout_game()
    {
        var presets = MetaRL.Algorithms.Rl2.Rl2Config.Presets;
        IReadOnlyList<MetaRL.Algorithms.Common.Presets.Stage> StagesFor(string task, Dictionary<string, string> settings) => presets.For(task, settings)?.Stages ?? [];
        var stages = StagesFor("arena", new Dictionary<string, string>());
        Assert.Equal(["marksmen", "flank", "camp", "multi", "taught", "taught3"], stages.Select(s => s.Name));
        var stage = stages[0];
        Assert.Equal(("marksmen", "kite", "0.65", "3000"), (stage.Name, stage.Settings["style"], stage.Settings["standard-damage"], stage.Settings["iterations"]));
        // The marksmen oracle learns its drawn kits as picked, with the general entropy bonus, and hands its best policy on.
        Assert.Equal(("true", "0.01", true), (stage.Settings["credit-drawn-kit"], stage.Settings["entropy-coef"], stage.HandsOverBest));
        Assert.Empty(StagesFor("arena", new Dictionary<string, string> { ["style"] = "kite" }));
        Assert.Empty(StagesFor("arena", new Dictionary<string, string> { ["loadouts"] = "false" }));
        Assert.Empty(StagesFor("bandit", new Dictionary<string, string>()));
        // Planned: the marksmen and flank oracles and the multi-task policy from scratch, the camp oracle from the marksmen
        // oracle (in the game campers are played for, the standard kit's 0.5); the taught stages from the marksmen oracle,
        // taught by the three oracles' best policies and the multi-task policy's last, at weights 1, 3, then 10 in the run.
        var path = Path.Combine(_dir, "arena");
        using (var staged = MetaRL.Algorithms.Runs.StagedRun.Plan(path, "rl2", "arena", new Dictionary<string, string>(), 1)!)
        {
            Assert.Equal([0, 0, 1, 0, 1, 5], staged.Stages.Select(s => s.From));
            Assert.Equal(6, staged.RunFrom);
            string Dir(int n) => Path.GetFullPath(Path.Combine(path, staged.Stages[n - 1].Directory));
            var teachers = $"kite={Dir(1)},flank={Dir(2)},camp={Dir(3)},rush={Dir(4)}/checkpoint.mrla";
            Assert.Equal((teachers, "1"), (staged.Stages[4].Settings["teachers"], staged.Stages[4].Settings["teacher-coef"]));
            Assert.Equal((teachers, "3"), (staged.Stages[5].Settings["teachers"], staged.Stages[5].Settings["teacher-coef"]));
            Assert.Equal((teachers, "10", "750"), (staged.Settings["teachers"], staged.Settings["teacher-coef"], staged.Settings["iterations"]));
            var run = MetaLearners.Create("rl2", "arena", staged.Settings);
            var oracle = MetaLearners.Create("rl2", "arena", staged.Stages[0].Settings);
            var multi = MetaLearners.Create("rl2", "arena", staged.Stages[3].Settings);
            Assert.Equal(("none", "false", "all"), (multi.Settings["teachers"], multi.Settings["memory"], multi.TaskSettings.GetValueOrDefault("style", "all")));
            var camp = MetaLearners.Create("rl2", "arena", staged.Stages[2].Settings);
            Assert.Equal(("camp", "0.5", "true"), (camp.TaskSettings["style"], camp.TaskSettings["standard-damage"], camp.TaskSettings["credit-drawn-kit"]));
            static bool Shared(string key) => key is not ("iterations" or "entropy-coef" or "teachers" or "teacher-coef" or "teacher-coef-final");
            Assert.Equal(run.Settings.Where(kv => Shared(kv.Key)), oracle.Settings.Where(kv => Shared(kv.Key)));
            Assert.Equal(("kite", "3000", "0.01", "true"), (staged.Stages[0].Settings["style"], staged.Stages[0].Settings["iterations"], oracle.Settings["entropy-coef"], oracle.TaskSettings["credit-drawn-kit"]));
            Assert.Equal(("0.03", "false"), (run.Settings["entropy-coef"], run.TaskSettings.GetValueOrDefault("credit-drawn-kit", "false")));
            Assert.Equal(("all", "true", "0.5"), (run.TaskSettings.GetValueOrDefault("style", "all"), run.TaskSettings["loadouts"], run.TaskSettings["standard-damage"]));
        }
        // --no-stages trains the run alone, without the teachers its stages would have trained.
        Assert.Equal("none", MetaLearners.Create("rl2", "arena").Settings["teachers"]);
        // Planning trains nothing: the plan alone is written.
        Assert.Empty(Directory.GetDirectories(path));
        Assert.True(MetaRL.Algorithms.Runs.StagedRun.IsStaged(path));
    }
}

public sealed class ArenaDefaultTests
{
    [Fact]
    public void Arena_defaults_to_the_loadout_game_and_reads_a_checkpoint_from_before_as_the_plain_game()
    {
        var family = MetaRL.Core.Tasks.TaskRegistry.Get("arena");
        var fresh = MetaLearners.Create("rl2", "arena", new Dictionary<string, string> { ["hidden"] = "8" });
        Assert.Equal(("true", "0.5"), (fresh.TaskSettings["loadouts"], fresh.TaskSettings["standard-damage"]));
        Assert.Equal(MetaRL.Tasks.Games.ArenaEnv.LoadoutObservationSize, fresh.Tasks.ObservationSpace.Size);
        // The plain game records the even split, which is the only standard damage it accepts.
        var plain = MetaLearners.Create("rl2", "arena", new Dictionary<string, string> { ["hidden"] = "8", ["loadouts"] = "false" });
        Assert.Equal(("false", "0.65"), (plain.TaskSettings["loadouts"], plain.TaskSettings["standard-damage"]));
        // A checkpoint that names neither was trained in the plain game.
        var path = Path.Combine(Path.GetTempPath(), "metarl-arena-" + Guid.NewGuid().ToString("N") + ".mrla");
        try
        {
            plain.Save(path);
            var saved = MetaRL.Engine.IO.TensorArchive.Load(path);
            saved.Metadata["task-settings"] = LearnerCheckpoint.ToJson(plain.TaskSettings.Where(kv => !family.EarlierDefaults.ContainsKey(kv.Key)).ToDictionary());
            saved.Save(path);
            var loaded = MetaLearners.Load(path);
            Assert.Equal(("false", "0.65"), (loaded.TaskSettings["loadouts"], loaded.TaskSettings["standard-damage"]));
            Assert.Equal(MetaRL.Tasks.Games.ArenaEnv.ObservationSize, loaded.Tasks.ObservationSpace.Size);
        }
        finally { File.Delete(path); }
    }
}
