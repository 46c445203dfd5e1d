using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Core.Evaluation;
using MetaRL.Algorithms.Rl2;
using MetaRL.Tasks.Bandits;
using MetaRL.Tasks.Mdp;
using MetaRL.Tasks.Navigation;

namespace MetaRL.Algorithms.Tests;

public sealed class Rl2Tests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-rl2-" + Guid.NewGuid().ToString("N"));

    public Rl2Tests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static Rl2Config Small => new()
    {
        Hidden = 16, Iterations = 6, TrialsPerIteration = 16, Minibatches = 2, Epochs = 2, LearningRate = 3e-3,
    };

    private static float[] Weights(Rl2Trainer t) => t.Network.Parameters().SelectMany(p => p.ToArray()).ToArray();

    /// <summary>A trainer restored from the checkpoint at <paramref name="path"/>, then trained <paramref name="iterations"/> more.</summary>
    private static Rl2Trainer ResumeAndRun(TaskDistribution d, Rl2Config cfg, ulong seed, string path, int iterations)
    {
        var t = new Rl2Trainer(d, cfg, seed);
        t.Load(TensorArchive.Load(path));
        for (int i = 0; i < iterations; i++) t.RunIteration();
        return t;
    }

    /// <summary>
    /// A network of <paramref name="cfg"/> trains (its weights move), resumes bit-identically from a checkpoint taken after
    /// one iteration, plays the meta-test protocol when loaded, and a network of <paramref name="other"/> refuses the checkpoint.
    /// </summary>
    private void AssertTrainsResumesAndIsRefusedBy(TaskDistribution d, Rl2Config cfg, Rl2Config other, string file)
    {
        var straight = new Rl2Trainer(d, cfg, 6);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        var t = new Rl2Trainer(d, cfg, 6);
        t.RunIteration();
        var path = Path.Combine(_dir, file);
        t.Save(path, new Dictionary<string, string>());
        Assert.Equal(Weights(straight), Weights(ResumeAndRun(d, cfg, 6, path, 2)));
        Assert.NotEqual(Weights(new Rl2Trainer(d, cfg, 6)), Weights(straight));
        Assert.Throws<CheckpointException>(() => Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, other));
        var r = MetaTest.Run(new Rl2Agent(Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, cfg), true), d, new MetaTestOptions(10, 1));
        Assert.Equal(d.EpisodesPerTrial, r.EpisodeReturns.Length);
    }

    [Fact]
    public void Same_seed_trains_bit_identically()
    {
        var d = new BernoulliBanditDistribution(3, 5);
        var a = new Rl2Trainer(d, Small, 7);
        var b = new Rl2Trainer(d, Small, 7);
        for (int i = 0; i < 3; i++)
        {
            var sa = a.RunIteration();
            var sb = b.RunIteration();
            Assert.Equal(sa.MeanTrialReturn, sb.MeanTrialReturn);
        }
        Assert.Equal(Weights(a), Weights(b));
        var c = new Rl2Trainer(d, Small, 8);
        c.RunIteration();
        Assert.NotEqual(Weights(a), Weights(c));
    }

    [Theory]
    [InlineData(RecurrentCell.Gru)]
    [InlineData(RecurrentCell.Lstm)]
    public void Resuming_from_a_checkpoint_continues_bit_identically(RecurrentCell cell)
    {
        var d = new TabularMdpDistribution(states: 3, actions: 2, horizon: 3, episodes: 2);
        var cfg = Small with { Cell = cell, Bptt = 2 };
        var straight = new Rl2Trainer(d, cfg, 3);
        for (int i = 0; i < 4; i++) straight.RunIteration();

        var first = new Rl2Trainer(d, cfg, 3);
        first.RunIteration();
        first.RunIteration();
        var path = Path.Combine(_dir, "ckpt.mrla");
        first.Save(path, new Dictionary<string, string>());
        var resumed = new Rl2Trainer(d, cfg, 3);
        resumed.Load(TensorArchive.Load(path));
        Assert.Equal(2, resumed.Iteration);
        resumed.RunIteration();
        resumed.RunIteration();
        Assert.Equal(Weights(straight), Weights(resumed));
    }

    [Fact]
    public void A_checkpoint_of_another_architecture_is_refused_and_changes_nothing()
    {
        var d = new BernoulliBanditDistribution(3, 5);
        var a = new Rl2Trainer(d, Small, 1);
        a.RunIteration();
        var path = Path.Combine(_dir, "a.mrla");
        a.Save(path, new Dictionary<string, string>());
        var b = new Rl2Trainer(d, Small with { Hidden = 8 }, 1);
        var before = Weights(b);
        Assert.Throws<CheckpointException>(() => b.Load(TensorArchive.Load(path)));
        Assert.Equal(before, Weights(b));
        Assert.Equal(0, b.Iteration);
    }

    [Fact]
    public void Rl2_learns_to_beat_random_on_a_small_bandit()
    {
        var d = new BernoulliBanditDistribution(2, 6);
        var cfg = new Rl2Config { Hidden = 32, Iterations = 120, TrialsPerIteration = 64, Minibatches = 2, LearningRate = 3e-3, GaeLambda = 0.3 };
        var t = new Rl2Trainer(d, cfg, 5);
        for (int i = 0; i < cfg.Iterations; i++) t.RunIteration();
        var opt = new MetaTestOptions(2000, 9);
        double rl2 = MetaTest.Run(t.Agent(), d, opt).MeanTotalReturn;
        double random = MetaTest.Run(new RandomBandit(), d, opt).MeanTotalReturn;
        double bayes = new BayesOptimalBandit(d).ExpectedTotalReward;
        // Random earns 3.0 in expectation, the Bayes-optimal policy 3.51; a learnt RL² policy closes most of the gap.
        Assert.True(rl2 > random + 0.3, $"RL² {rl2:F3} vs random {random:F3} (Bayes-optimal {bayes:F3})");
        Assert.True(rl2 < bayes + 0.1, $"RL² {rl2:F3} cannot beat the Bayes-optimal {bayes:F3} in expectation");
    }

    [Fact]
    public void Continuous_actions_train_on_navigation()
    {
        var d = new Navigation2DDistribution(horizon: 5, episodes: 2);
        var t = new Rl2Trainer(d, Small, 2);
        var s = t.RunIteration();
        Assert.True(double.IsFinite(s.MeanTrialReturn) && s.MeanTrialReturn < 0);
        var r = MetaTest.Run(t.Agent(), d, new MetaTestOptions(10, 1));
        Assert.Equal(2, r.EpisodeReturns.Length);
    }

    [Fact]
    public void Observation_statistics_merge_exactly_and_scale_and_clip_inputs()
    {
        var rng = new MetaRL.Engine.Rng(4);
        var rows = Enumerable.Range(0, 3 * 50).Select(i => (float)(i % 3 == 0 ? rng.Normal(5, 2) : i % 3 == 1 ? rng.Normal(-1, 0.1) : 7)).ToArray();
        var whole = new ObservationNormalizer(3);
        whole.Update(rows);
        var parts = new ObservationNormalizer(3);
        parts.Update(rows.AsSpan(0, 3 * 17));
        parts.Update(rows.AsSpan(3 * 17));
        Assert.Equal(50, parts.Count);
        for (int i = 0; i < 3; i++)
        {
            var column = Enumerable.Range(0, 50).Select(r => (double)rows[r * 3 + i]).ToArray();
            double mean = column.Average(), variance = column.Sum(v => (v - mean) * (v - mean)) / 50;
            Assert.Equal(mean, parts.Mean(i), 9);
            Assert.Equal(variance, parts.Variance(i), 9);
            Assert.Equal(whole.Mean(i), parts.Mean(i), 9);
        }
        var scaled = new float[3];
        parts.Normalize([(float)(parts.Mean(0) + 2 * Math.Sqrt(parts.Variance(0))), 1000, 7], scaled);
        Assert.Equal(2, scaled[0], 3);
        Assert.Equal(10, scaled[1]);  // far outside: clipped
        Assert.Equal(0, scaled[2]);   // a constant component becomes 0, not NaN
        var fresh = new ObservationNormalizer(2);
        fresh.Normalize([3, -4], scaled);
        Assert.Equal([3f, -4f], scaled[..2]);  // no statistics yet: raw
        Assert.Throws<ArgumentException>(() => fresh.Update(new float[3]));
    }

    [Fact]
    public void Observation_statistics_are_learnt_checkpointed_resumed_and_required_by_evaluation()
    {
        var d = new Navigation2DDistribution(horizon: 6, episodes: 2);
        var cfg = Small with { NormalizeObservations = true };
        var straight = new Rl2Trainer(d, cfg, 5);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        var stats = straight.Network.ObservationNormalizer!;
        Assert.Equal(3 * 16 * 2 * 6, stats.Count);  // every observation of three rollouts (navigation never ends early)
        Assert.InRange(stats.Variance(0), 1e-4, 1);

        var first = new Rl2Trainer(d, cfg, 5);
        first.RunIteration();
        var path = Path.Combine(_dir, "norm.mrla");
        first.Save(path, new Dictionary<string, string>());
        var resumed = ResumeAndRun(d, cfg, 5, path, 2);
        Assert.Equal(Weights(straight), Weights(resumed));
        Assert.Equal(stats.Mean(1), resumed.Network.ObservationNormalizer!.Mean(1));

        // Evaluation reads the same statistics, so the evaluated policy acts as the trained one.
        straight.Save(path, new Dictionary<string, string>());
        var net = Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, cfg);
        Assert.Equal(stats.Variance(1), net.ObservationNormalizer!.Variance(1));
        var opt = new MetaTestOptions(8, 3);
        Assert.Equal(MetaTest.Run(straight.Agent(), d, opt).MeanTotalReturn, MetaTest.Run(new Rl2Agent(net, cfg.Deterministic), d, opt).MeanTotalReturn);

        // A checkpoint trained on raw observations cannot stand in for one that scales them.
        var raw = new Rl2Trainer(d, Small, 5);
        raw.RunIteration();
        raw.Save(path, new Dictionary<string, string>());
        var wants = new Rl2Trainer(d, cfg, 5);
        var before = Weights(wants);
        var ex = Assert.Throws<CheckpointException>(() => wants.Load(TensorArchive.Load(path)));
        Assert.Contains("normalize-observations", ex.Message);
        Assert.Equal(before, Weights(wants));
        Assert.Equal(0, wants.Network.ObservationNormalizer!.Count);
        Assert.Throws<CheckpointException>(() => Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, cfg));
    }

    [Fact]
    public void A_paired_lead_is_computed_trial_by_trial_and_needs_the_same_trials()
    {
        var d = new BernoulliBanditDistribution(3, 6);
        var opt = new MetaTestOptions(400, 2);
        var thompson = MetaTest.Run(new ThompsonBandit(), d, opt);
        var random = MetaTest.Run(new RandomBandit(), d, opt);
        var lead = MetaTestResult.Lead(thompson, random);
        Assert.Equal(thompson.MeanTotalReturn - random.MeanTotalReturn, lead.Mean, 9);
        // Both met the same arms, so the spread of arm payoffs cancels: the paired interval is the narrower.
        Assert.True(lead.Ci95 < Math.Sqrt(thompson.Ci95 * thompson.Ci95 + random.Ci95 * random.Ci95), $"paired {lead.Ci95} vs unpaired {thompson.Ci95}, {random.Ci95}");
        Assert.Equal(0, MetaTestResult.Lead(random, random).Ci95);
        Assert.Throws<ArgumentException>(() => MetaTestResult.Lead(thompson, MetaTest.Run(new RandomBandit(), d, new MetaTestOptions(400, 3))));
    }

    [Fact]
    public void Bad_settings_name_the_key_and_list_valid_ones()
    {
        // Unknown keys pass to the task family, which rejects them by name.
        new Rl2Config().With(new Dictionary<string, string> { ["hiden"] = "3" }, out var leftover);
        Assert.True(leftover.ContainsKey("hiden"));
        var taskError = Assert.Throws<SettingException>(() => BernoulliBanditDistribution.FromSettings(leftover));
        Assert.Contains("'hiden'", taskError.Message);
        Assert.Contains("arms", taskError.Message);
        var bad = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["cell"] = "rnn" }, out _));
        Assert.Contains("gru", bad.Message);
    }

    [Fact]
    public void Time_inputs_and_a_task_aware_critic_train_resume_and_evaluate()
    {
        var d = new TabularMdpDistribution(states: 3, actions: 2, horizon: 3, episodes: 2);
        var cfg = Small with { TimeInput = true, TaskCritic = true };
        var t = new Rl2Trainer(d, cfg, 4);
        Assert.Equal(d.TaskFeatureSize, t.Network.CriticTaskFeatures);
        Assert.Equal(3 + 2 + 2 + 2, t.Network.InputSize);
        Assert.Contains(t.Network.NamedParameters(), p => p.Name.StartsWith("critic.", StringComparison.Ordinal));
        var straight = new Rl2Trainer(d, cfg, 4);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        t.RunIteration();
        var path = Path.Combine(_dir, "critic.mrla");
        t.Save(path, new Dictionary<string, string>());
        var resumed = ResumeAndRun(d, cfg, 4, path, 2);
        Assert.Equal(Weights(straight), Weights(resumed));

        // Evaluation needs neither the task nor the critic; a network without the critic cannot load this checkpoint.
        var net = Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, cfg);
        var r = MetaTest.Run(new Rl2Agent(net, true), d, new MetaTestOptions(20, 1));
        Assert.Equal(2, r.EpisodeReturns.Length);
        Assert.Throws<CheckpointException>(() => Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, cfg with { TaskCritic = false }));
    }

    [Theory]
    [InlineData(Rl2Update.Ppo)]
    [InlineData(Rl2Update.Trpo)]
    public void Task_prediction_trains_the_recurrent_core_to_infer_the_task_and_resumes(Rl2Update update)
    {
        // Dependent arms p and 1 − p, p ~ U[0, 1]: every pull, of either arm, is a coin of p (a win of the first arm or a
        // loss of the second counts for p). Predicting (p, 1 − p) from no history (the prior mean) costs half of 1/12 per
        // feature; the posterior mean after n pulls half of 1/(6(n + 2)), which over a 10-pull trial's inputs (n = 0 … 9)
        // averages to 0.40 of that. Only a core that counts wins and pulls per arm gets near it.
        var d = new DependentBanditDistribution("uniform", 10);
        var cfg = Small with { TaskPrediction = 1, Hidden = 32, Iterations = 60, TrialsPerIteration = 32, LearningRate = 1e-2, Update = update };
        var t = new Rl2Trainer(d, cfg, 7);
        Assert.Equal(d.TaskFeatureSize, t.Network.TaskPredictionFeatures);
        Assert.Contains(t.Network.NamedParameters(), p => p.Name.StartsWith("task_head.", StringComparison.Ordinal));
        Assert.True(Rl2Network.IsTrainingOnlyParameter("task_head.weight")); // with TRPO, Adam fits it with the value head
        var stats = Enumerable.Range(0, cfg.Iterations).Select(_ => t.RunIteration()).ToList();
        var losses = stats.Select(s => s.TaskLoss).ToList();
        if (update == Rl2Update.Trpo)
        {
            // The prediction's share of the KL keeps steps along the core bounded: they are accepted.
            Assert.All(stats, s => Assert.True(s.ApproxKl <= cfg.MaxKl * 1.0001, $"KL {s.ApproxKl} over the limit"));
            Assert.True(stats.Count(s => s.Accepted) >= 50, $"{stats.Count(s => s.Accepted)} of {cfg.Iterations} steps accepted");
        }
        double priorOnly = 0.5 / 12, last = losses.TakeLast(10).Average();
        Assert.True(losses[0] > 0.8 * priorOnly, $"first task loss {losses[0]:F4} (prior only {priorOnly:F4})");
        Assert.True(last < 0.6 * priorOnly, $"last task loss {last:F4}: the core does not carry what the pulls tell (prior only {priorOnly:F4})");

        // The task head is saved and resumed with the rest; evaluation never reads it.
        var path = Path.Combine(_dir, "task-head.mrla");
        var short_ = cfg with { Iterations = 3 };
        var a = new Rl2Trainer(d, short_, 2);
        var straight = new Rl2Trainer(d, short_, 2);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        a.RunIteration();
        a.Save(path, new Dictionary<string, string>());
        Assert.Equal(Weights(straight), Weights(ResumeAndRun(d, short_, 2, path, 2)));
        var net = Rl2Trainer.LoadNetwork(TensorArchive.Load(path), d, short_);
        Assert.Equal(10, MetaTest.Run(new Rl2Agent(net, true), d, new MetaTestOptions(20, 1)).EpisodeReturns.Length);
    }

    [Fact]
    public void The_task_loss_reaches_the_recurrent_core_and_not_the_policy_or_value_heads()
    {
        // Same seed: the task head is created last, so both networks start alike and collect the same batch.
        var d = new BernoulliBanditDistribution(3, 6);
        var plain = new Rl2Trainer(d, Small with { Hidden = 8, TrialsPerIteration = 6 }, 5);
        var aux = new Rl2Trainer(d, Small with { Hidden = 8, TrialsPerIteration = 6, TaskPrediction = 0.5 }, 5);
        int[] trials = [0, 1, 2, 3, 4, 5];
        var g0 = plain.MinibatchGradients(plain.CollectBatch(), trials, trials.Length * 6, 0.01).Grads;
        var g1 = aux.MinibatchGradients(aux.CollectBatch(), trials, trials.Length * 6, 0.01).Grads;
        var names0 = plain.Network.NamedParameters().Select(p => p.Name).ToArray();
        var names1 = aux.Network.NamedParameters().Select(p => p.Name).ToArray();
        for (int i = 0; i < names0.Length; i++)
        {
            Assert.Equal(names0[i], names1[i]);
            var (a, b) = (g0[i]!.ToArray(), g1[i]!.ToArray());
            if (names0[i].StartsWith("gru.", StringComparison.Ordinal)) Assert.NotEqual(a, b);
            else Assert.Equal(a, b);
        }
        Assert.Equal(names0.Length + 2, names1.Length); // the task head's weight and bias
    }

    [Fact]
    public void Task_prediction_is_refused_without_memory_or_task_features()
    {
        var set = (string k, string v) => new Dictionary<string, string> { ["task-prediction"] = "1", [k] = v };
        var memoryless = Assert.Throws<SettingException>(() => new Rl2Config().With(set("memory", "false"), out _));
        Assert.Contains("task-prediction", memoryless.Message);
        Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["task-prediction"] = "-1" }, out _));
        var none = Assert.Throws<SettingException>(() => new Rl2Trainer(new NoFeatures(), Small with { TaskPrediction = 1 }, 1));
        Assert.Contains("task-prediction", none.Message);
        Assert.Contains("no-features", none.Message);
        Assert.Equal("0.5", new Rl2Config().With(new Dictionary<string, string> { ["task-prediction"] = "0.5" }, out _).ToSettings()["task-prediction"]);
    }

    [Fact]
    public void Mlp_heads_are_parsed_trained_resumed_and_checked_against_the_checkpoint()
    {
        Assert.Equal([64, 32], new Rl2Config().With(new Dictionary<string, string> { ["head"] = "64,32" }, out _).Head);
        Assert.Empty(new Rl2Config { Head = [8] }.With(new Dictionary<string, string> { ["head"] = "none" }, out _).Head);
        Assert.Equal("none", new Rl2Config().ToSettings()["head"]);
        Assert.Equal("8,4", new Rl2Config { Head = [8, 4] }.ToSettings()["head"]);
        foreach (var bad in new[] { "64,x", "0", "64,,64" })
        {
            var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["head"] = bad }, out _));
            Assert.Contains("'head'", e.Message);
        }

        var d = new Navigation2DDistribution(horizon: 4, episodes: 2);
        var cfg = Small with { Head = [8, 4] };
        var t = new Rl2Trainer(d, cfg, 6);
        var names = t.Network.NamedParameters().Select(p => p.Name).ToArray();
        // Policy and value each have their own three layers; the recurrent core feeds both.
        Assert.Contains("policy.2.weight", names);
        Assert.Contains("value.2.weight", names);
        Assert.Equal([8, 4], t.Network.Head);
        // A network with linear heads cannot load this checkpoint.
        AssertTrainsResumesAndIsRefusedBy(d, cfg, Small, "head.mrla");
    }

    [Fact]
    public void Trpo_steps_stay_within_the_kl_limit_and_learn_the_small_bandit()
    {
        // Two arms with p2 = 1 - p1 in {0.1, 0.9}: every fixed policy earns 3 in 6 pulls, and only a policy that reads its
        // history (one pull tells which arm pays) earns more, up to about 5. With 128 trials per step this learns it in
        // each of seeds 1-8 (4.04 to 4.76 with sampled actions, on the AVX2 kernels); 64 trials per step, or the
        // independent-arm bandit, left some seeds near random, so the margin below would depend on the seed.
        var d = new DependentBanditDistribution("easy", 6);
        var cfg = new Rl2Config { Hidden = 32, Iterations = 40, TrialsPerIteration = 128, GaeLambda = 0.3, Update = Rl2Update.Trpo, MaxKl = 0.02, CgDamping = 1e-3 };
        var t = new Rl2Trainer(d, cfg, 5);
        var kls = new List<double>();
        for (int i = 0; i < cfg.Iterations; i++)
        {
            var s = t.RunIteration();
            if (!s.Accepted) continue;
            Assert.InRange(s.ApproxKl, 1e-12, cfg.MaxKl);
            kls.Add(s.ApproxKl);
        }
        Assert.True(kls.Count >= 30, $"{kls.Count} of {cfg.Iterations} steps accepted");
        var opt = new MetaTestOptions(2000, 9);
        double rl2 = MetaTest.Run(t.Agent(deterministic: false), d, opt).MeanTotalReturn;
        double random = MetaTest.Run(new RandomBandit(), d, opt).MeanTotalReturn;
        Assert.True(rl2 > random + 0.7, $"RL²-TRPO {rl2:F3} vs random {random:F3}");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public void Ppo_gradients_of_a_minibatch_split_in_parts_equal_those_of_one_graph(double taskPrediction)
    {
        // Chunks of 4 steps through 6-pull trials, an odd number of trials: the parts differ in size and in chunks.
        var d = new BernoulliBanditDistribution(3, 6);
        var t = new Rl2Trainer(d, Small with { Hidden = 8, TrialsPerIteration = 9, Bptt = 4, TaskPrediction = taskPrediction }, 5);
        var data = t.CollectBatch();
        int[] trials = [7, 0, 3, 8, 1, 5, 2];
        double valid = trials.Length * 6;
        t.Shards = 1;
        var one = t.MinibatchGradients(data, trials, valid, entropyCoef: 0.01);
        Assert.All(one.Grads, g => Assert.NotNull(g));
        foreach (int shards in new[] { 2, 3, 7 })
        {
            t.Shards = shards;
            var split = t.MinibatchGradients(data, trials, valid, entropyCoef: 0.01);
            for (int i = 0; i < one.Grads.Length; i++)
            {
                var a = one.Grads[i]!.Data;
                var b = split.Grads[i]!.Data;
                for (int j = 0; j < a.Length; j++)
                    Assert.True(Math.Abs(a[j] - b[j]) <= 1e-6 + 1e-4 * Math.Abs(a[j]), $"{shards} parts: gradient {i}[{j}] {b[j]} vs {a[j]} in one graph");
            }
            // Sums in another order: equal to within rounding (an absolute tolerance, not rounding to decimal places,
            // which fails whenever two nearly equal values straddle a rounding boundary).
            Assert.Equal(one.Policy, split.Policy, 1e-6);
            Assert.Equal(one.Value, split.Value, 1e-6);
            Assert.Equal(one.Entropy, split.Entropy, 1e-6);
            Assert.Equal(one.Kl, split.Kl, 1e-9);
            Assert.Equal(one.TaskLoss, split.TaskLoss, 1e-6);
        }
        Assert.Equal(taskPrediction > 0, one.TaskLoss > 0);
    }

    [Fact]
    public void With_task_prediction_trpo_counts_the_predictions_change_in_its_kl()
    {
        // The prediction is a Gaussian output of unit variance: it adds (1/F) Jᵀ J to the KL's Hessian, J the prediction's
        // derivative by the policy parameters (the task head is Adam's, not TRPO's), so vᵀ F v grows by the mean over valid
        // steps of |J v|² / F, which central differences of the prediction measure without any second derivative.
        var d = new BernoulliBanditDistribution(3, 5);
        var cfg = Small with { Update = Rl2Update.Trpo, Hidden = 6, TrialsPerIteration = 5, Bptt = 2 };
        var with = new Rl2Trainer(d, cfg with { TaskPrediction = 1 }, 4);
        var without = new Rl2Trainer(d, cfg, 4);
        Assert.Equal(without.PolicyParameters.Count, with.PolicyParameters.Count); // the task head is not among them
        Assert.Contains(with.Optimizer.Parameters, p => with.Network.NamedParameters().Any(n => ReferenceEquals(n.Parameter, p) && n.Name.StartsWith("task_head.", StringComparison.Ordinal)));
        int[] all = [0, 1, 2, 3, 4];
        var data = with.CollectBatch();
        var rng = new MetaRL.Engine.Rng(9);
        var theta = with.PolicyParameters;
        var v = theta.Select(p => MetaRL.Engine.Tensor.FromArray(Enumerable.Range(0, p.Size).Select(_ => (float)rng.Normal()).ToArray(), p.Shape.ToArray())).ToArray();
        double Quadratic(Rl2Trainer t, Rl2Batch b)
        {
            var fv = t.FisherProducts(b, all, t.PolicyParameters)(v);
            return fv.Select((f, i) => f.ToArray().Zip(v[i].ToArray(), (x, y) => (double)x * y).Sum()).Sum();
        }
        double added = Quadratic(with, data) - Quadratic(without, without.CollectBatch());

        const float eps = 1e-2f;
        var saved = theta.Select(p => p.ToArray()).ToArray();
        float[][] Predictions(float sign)
        {
            for (int i = 0; i < theta.Count; i++)
                theta[i].CopyFrom(MetaRL.Engine.Tensor.FromArray(saved[i].Zip(v[i].ToArray(), (x, y) => x + sign * eps * y).ToArray(), theta[i].Shape.ToArray()));
            using var _ = MetaRL.Engine.Autodiff.GradMode.NoGrad();
            return with.Chunks(data, all).Select(c => with.Network.PredictTask(with.ChunkFeatures(c)).ToArray()).ToArray();
        }
        var plus = Predictions(1);
        var minus = Predictions(-1);
        for (int i = 0; i < theta.Count; i++) theta[i].CopyFrom(MetaRL.Engine.Tensor.FromArray(saved[i], theta[i].Shape.ToArray()));
        int features = d.TaskFeatureSize;
        double sum = 0, valid = 0;
        var chunks = with.Chunks(data, all).ToArray();
        for (int c = 0; c < chunks.Length; c++)
            for (int j = 0; j < chunks[c].N; j++)
            {
                if (chunks[c].Mask[j] == 0) continue;
                valid++;
                for (int f = 0; f < features; f++)
                {
                    double jv = (plus[c][j * features + f] - minus[c][j * features + f]) / (2.0 * eps);
                    sum += jv * jv / features;
                }
            }
        double expected = sum / valid;
        Assert.True(expected > 1e-3, $"the prediction barely moves along v ({expected})");
        Assert.True(Math.Abs(added - expected) <= 0.02 * expected, $"vᵀFv grew by {added}, |Jv|²/F averages {expected}");
    }

    [Fact]
    public void Trpo_fisher_products_equal_the_expected_outer_products_of_score_gradients()
    {
        // F v = (1/N) Σ_steps Σ_a p_a ∇log p_a (∇log p_a · v), built here from first derivatives only, one action at a time.
        var d = new BernoulliBanditDistribution(3, 5);
        var t = new Rl2Trainer(d, Small with { Update = Rl2Update.Trpo, Hidden = 6, TrialsPerIteration = 5, Bptt = 2 }, 4);
        var data = t.CollectBatch();
        var theta = t.PolicyParameters;
        var rng = new MetaRL.Engine.Rng(9);
        var v = theta.Select(p => MetaRL.Engine.Tensor.FromArray(Enumerable.Range(0, p.Size).Select(_ => (float)rng.Normal()).ToArray(), p.Shape.ToArray())).ToArray();
        var actual = t.FisherProducts(data, [0, 1, 2, 3, 4], theta)(v);

        var expected = theta.Select(p => new double[p.Size]).ToArray();
        double steps = 0;
        foreach (var c in t.Chunks(data, [0, 1, 2, 3, 4]))
            for (int j = 0; j < c.N; j++)
            {
                if (c.Mask[j] == 0) continue;
                steps++;
                for (int a = 0; a < 3; a++)
                {
                    var logp = MetaRL.Engine.Ops.LogSoftmax(t.Network.Policy(t.ChunkFeatures(c)), 1);
                    double p = Math.Exp(logp.Data[j * 3 + a]);
                    var g = MetaRL.Engine.Autodiff.Autograd.Grad([MetaRL.Engine.Ops.Slice(MetaRL.Engine.Ops.Reshape(logp, c.N * 3), 0, j * 3 + a, 1)], theta, allowUnused: true);
                    double gv = 0;
                    for (int i = 0; i < theta.Count; i++) if (g[i] is not null) for (int k = 0; k < theta[i].Size; k++) gv += (double)g[i]!.Data[k] * v[i].Data[k];
                    for (int i = 0; i < theta.Count; i++) if (g[i] is not null) for (int k = 0; k < theta[i].Size; k++) expected[i][k] += p * g[i]!.Data[k] * gv;
                }
            }
        double err = 0, norm = 0;
        for (int i = 0; i < theta.Count; i++)
            for (int k = 0; k < theta[i].Size; k++)
            {
                double e = expected[i][k] / steps;
                err += Math.Pow(actual[i].Data[k] - e, 2);
                norm += e * e;
            }
        Assert.True(norm > 1e-8, "the test's Fisher product is zero");
        Assert.True(Math.Sqrt(err / norm) < 1e-4, $"relative error {Math.Sqrt(err / norm):E2}");
    }

    [Fact]
    public void Trpo_fits_only_the_value_head_with_adam_and_resumes_bit_identically()
    {
        var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["update"] = "sgd" }, out _));
        Assert.Contains("'update'", e.Message);
        Assert.Contains("trpo", e.Message);
        Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["cg-subsample"] = "0" }, out _));

        // Gaussian policy, MLP heads, chunked back-propagation and a subsampled Fisher: every TRPO path at once.
        var d = new Navigation2DDistribution(horizon: 4, episodes: 2);
        var cfg = Small with { Update = Rl2Update.Trpo, Head = [8], Bptt = 3, CgSubsample = 0.5 };
        var t = new Rl2Trainer(d, cfg, 6);
        Assert.All(t.Optimizer.Parameters, p => Assert.Contains(t.Network.NamedParameters(), n => ReferenceEquals(n.Parameter, p) && Rl2Network.IsTrainingOnlyParameter(n.Name)));
        var before = t.Network.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray());
        var s = t.RunIteration();
        Assert.True(s.Accepted);
        Assert.All(t.Network.NamedParameters(), p => Assert.NotEqual(before[p.Name], p.Parameter.ToArray()));

        var straight = new Rl2Trainer(d, cfg, 6);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        var path = Path.Combine(_dir, "trpo.mrla");
        t.Save(path, new Dictionary<string, string>());
        Assert.Equal(Weights(straight), Weights(ResumeAndRun(d, cfg, 6, path, 2)));
    }

    [Theory]
    [InlineData(RecurrentCell.Gru, Rl2Update.Ppo)]
    [InlineData(RecurrentCell.Lstm, Rl2Update.Trpo)]
    public void Skip_input_heads_read_the_input_row_the_same_way_acting_and_training(RecurrentCell cell, Rl2Update update)
    {
        Assert.True(new Rl2Config().With(new Dictionary<string, string> { ["skip-input"] = "true" }, out _).SkipInput);
        Assert.Equal("false", new Rl2Config().ToSettings()["skip-input"]);
        var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["skip-input"] = "yes please" }, out _));
        Assert.Contains("'skip-input'", e.Message);

        var d = new Navigation2DDistribution(horizon: 4, episodes: 2);
        var cfg = Small with { SkipInput = true, Cell = cell, Update = update, Head = [8], Bptt = 3, LayerNorm = true };
        var t = new Rl2Trainer(d, cfg, 6);
        var net = t.Network;
        Assert.Equal(16 + net.InputSize, net.FeatureSize);
        Assert.Equal(16, new Rl2Trainer(d, cfg with { SkipInput = false }, 6).Network.FeatureSize);

        // Training reads whole sequences, acting one step at a time: the heads must see the same features either way,
        // and their last columns are the input row itself.
        int T = 5, B = 3, I = net.InputSize;
        var x = MetaRL.Engine.Tensor.RandN<float>(new MetaRL.Engine.Rng(2), 1.0, T, B, I);
        var state0 = MetaRL.Engine.Tensor.RandN<float>(new MetaRL.Engine.Rng(3), 0.5, B, net.StateSize);
        var sequence = net.Sequence(x, state0).ToArray();
        var state = state0;
        for (int step = 0; step < T; step++)
        {
            var xt = MetaRL.Engine.Ops.Reshape(MetaRL.Engine.Ops.Slice(x, 0, step, 1), B, I);
            state = net.Step(xt, state);
            var f = net.Features(state, xt).ToArray();
            var expected = sequence.AsSpan(step * B * net.FeatureSize, B * net.FeatureSize).ToArray();
            for (int j = 0; j < f.Length; j++) Assert.Equal(expected[j], f[j], 1e-5f);
            var xs = xt.ToArray();
            for (int b = 0; b < B; b++)
                Assert.Equal(xs.AsSpan(b * I, I).ToArray(), f.AsSpan(b * net.FeatureSize + 16, I).ToArray());
        }

        // A network without the connection cannot load this checkpoint.
        AssertTrainsResumesAndIsRefusedBy(d, cfg, cfg with { SkipInput = false }, "skip.mrla");
    }

    [Fact]
    public void Memory_bias_setting_initialises_the_recurrent_core_and_is_recorded()
    {
        Assert.Equal("0", new Rl2Config().ToSettings()["memory-bias"]);
        var c = new Rl2Config().With(new Dictionary<string, string> { ["memory-bias"] = "1.5" }, out _);
        Assert.Equal(1.5, c.MemoryBias);
        Assert.Equal("1.5", c.ToSettings()["memory-bias"]);
        foreach (var bad in new[] { "x", "25", "NaN" })
        {
            var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["memory-bias"] = bad }, out _));
            Assert.Contains("'memory-bias'", e.Message);
        }

        // The GRU's update-gate bias (second third of bias_ih) starts at the setting; the rest of the network is as without it.
        var d = new TabularMdpDistribution(states: 4, actions: 3, horizon: 3, episodes: 2);
        var with = Rl2Trainer.CreateNetwork(d, Small with { MemoryBias = 1.5 }, new MetaRL.Engine.Rng(9));
        var without = Rl2Trainer.CreateNetwork(d, Small, new MetaRL.Engine.Rng(9));
        var pw = with.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray());
        foreach (var (name, value) in without.NamedParameters())
        {
            var expected = value.ToArray();
            if (name == "gru.bias_ih")
                for (int i = Small.Hidden; i < 2 * Small.Hidden; i++) expected[i] = 1.5f;
            Assert.Equal(expected, pw[name]);
        }
    }

    /// <summary>A boolean RL² setting: "true" turns it on, it is recorded as off by default, and "1" is refused by name.</summary>
    private static void AssertBooleanSetting(string key, Func<Rl2Config, bool> read)
    {
        Assert.True(read(new Rl2Config().With(new Dictionary<string, string> { [key] = "true" }, out _)));
        Assert.Equal("false", new Rl2Config().ToSettings()[key]);
        var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { [key] = "1" }, out _));
        Assert.Contains($"'{key}'", e.Message);
    }

    /// <summary>A multi-task policy without memory sees no history: columns [offset, offset + width) of its training rows are zero.</summary>
    private static void AssertNoHistoryWithoutMemory(TaskDistribution d, Rl2Config cfg, int offset, int width)
    {
        var t = new Rl2Trainer(d, cfg with { Memory = false }, 5);
        var inputs = t.CollectBatch().Inputs;
        int I = t.Network.InputSize;
        for (int k = 0; k < inputs.Length / I; k++)
            Assert.All(inputs.AsSpan(k * I + offset, width).ToArray(), v => Assert.Equal(0f, v));
    }

    /// <summary>An acting session of two slots, each at the start of a held-out trial, and the stream that drew their tasks.</summary>
    private static (Rl2Agent.Session Session, MetaRL.Engine.Rng TaskRng) TwoSlotSession(Rl2Network net, TaskDistribution d)
    {
        var session = (Rl2Agent.Session)new Rl2Agent(net, deterministic: true).Begin(2, d, new MetaRL.Engine.Rng(1));
        var rng = new MetaRL.Engine.Rng(2);
        session.StartTrial(0, d.SampleTask(rng, TaskSplit.Test));
        session.StartTrial(1, d.SampleTask(rng, TaskSplit.Test));
        return (session, rng);
    }

    [Fact]
    public void Previous_observation_input_carries_the_state_the_last_action_was_taken_in_when_training_and_acting()
    {
        AssertBooleanSetting("previous-observation", c => c.PreviousObservation);

        // Layout: obs | previous action | previous reward | done | episode, step | previous obs.
        var d = new TabularMdpDistribution(states: 4, actions: 3, horizon: 3, episodes: 2);
        var cfg = Small with { PreviousObservation = true, TimeInput = true };
        var t = new Rl2Trainer(d, cfg, 5);
        var net = t.Network;
        int O = 4, A = 3, I = net.InputSize, P = O + A + 2 + 2;
        Assert.Equal(P + O, I);
        Assert.Equal(P, new Rl2Trainer(d, cfg with { PreviousObservation = false }, 5).Network.InputSize);

        // Training rows: zero before the first step of a trial, then the observation of the row before, across the
        // episode boundary too (the first state of episode 2 follows the last state of episode 1).
        var data = t.CollectBatch();
        int B = cfg.TrialsPerIteration, T = 6;
        for (int b = 0; b < B; b++)
            for (int k = 0; k < T; k++)
            {
                var row = data.Inputs.AsSpan((k * B + b) * I, I);
                var previous = row.Slice(P, O).ToArray();
                if (k == 0) Assert.All(previous, v => Assert.Equal(0f, v));
                else Assert.Equal(data.Inputs.AsSpan(((k - 1) * B + b) * I, O).ToArray(), previous);
            }

        // A multi-task policy without memory sees no history, the previous observation included.
        AssertNoHistoryWithoutMemory(d, cfg, P, O);

        // Acting rows follow the same rule.
        var (session, rng) = TwoSlotSession(net, d);
        float[] first = [1, 0, 0, 0, 0, 0, 1, 0], second = [0, 1, 0, 0, 0, 0, 0, 1];
        var actions = new float[2];
        bool[] both = [true, true];
        session.Act(first, both, actions);
        Assert.All(session.LastInput(0).Slice(P, O).ToArray(), v => Assert.Equal(0f, v));
        session.Observe(actions, [1f, 2f], second, [false, false], both);
        session.Act(second, both, actions);
        Assert.Equal(first.AsSpan(0, O).ToArray(), session.LastInput(0).Slice(P, O).ToArray());
        Assert.Equal(first.AsSpan(O, O).ToArray(), session.LastInput(1).Slice(P, O).ToArray());
        session.StartTrial(1, d.SampleTask(rng, TaskSplit.Test));
        session.Observe(actions, [1f, 2f], first, [false, false], [true, false]);
        session.Act(first, both, actions);
        Assert.Equal(second.AsSpan(0, O).ToArray(), session.LastInput(0).Slice(P, O).ToArray());
        Assert.All(session.LastInput(1).Slice(P, O).ToArray(), v => Assert.Equal(0f, v));

        // A network without the input cannot load this checkpoint.
        AssertTrainsResumesAndIsRefusedBy(d, cfg, cfg with { PreviousObservation = false }, "previous-observation.mrla");
    }

    [Fact]
    public void Pair_input_places_the_last_state_action_pair_and_its_reward_at_that_pair_when_training_and_acting()
    {
        AssertBooleanSetting("pair-input", c => c.PairInput);

        // Layout: obs | previous action | previous reward | done | episode, step | pair (S·A) | pair × reward (S·A).
        var d = new TabularMdpDistribution(states: 4, actions: 3, horizon: 3, episodes: 2);
        var cfg = Small with { PairInput = true, TimeInput = true };
        var t = new Rl2Trainer(d, cfg, 5);
        var net = t.Network;
        int O = 4, A = 3, I = net.InputSize, P = O + A + 2 + 2, SA = O * A;
        Assert.Equal(P + 2 * SA, I);
        Assert.Equal(P, new Rl2Trainer(d, cfg with { PairInput = false }, 5).Network.InputSize);

        // The pair block of a row is one-hot at (previous state, previous action) and the reward block holds the previous
        // reward there; both are zero at a trial's first step, and the pairing crosses the episode boundary.
        static float[] Expected(ReadOnlySpan<float> previousRow, ReadOnlySpan<float> row, int O, int A)
        {
            var e = new float[2 * O * A];
            int s = previousRow[..O].IndexOf(1f), a = row.Slice(O, A).IndexOf(1f);
            e[s * A + a] = 1;
            e[O * A + s * A + a] = row[O + A];
            return e;
        }
        var data = t.CollectBatch();
        int B = cfg.TrialsPerIteration, T = 6;
        int rewarded = 0;
        for (int b = 0; b < B; b++)
            for (int k = 0; k < T; k++)
            {
                var row = data.Inputs.AsSpan((k * B + b) * I, I);
                var pair = row.Slice(P, 2 * SA).ToArray();
                if (k == 0) { Assert.All(pair, v => Assert.Equal(0f, v)); continue; }
                Assert.Equal(Expected(data.Inputs.AsSpan(((k - 1) * B + b) * I, I), row, O, A), pair);
                if (row[O + A] != 0) rewarded++;
            }
        Assert.True(rewarded > B, "rewards reach the pair's reward block");

        // A multi-task policy without memory sees no history, the pair included.
        AssertNoHistoryWithoutMemory(d, cfg, P, 2 * SA);

        // Acting rows follow the same rule, slot by slot; a slot whose trial restarts gets zeros.
        var (session, rng) = TwoSlotSession(net, d);
        float[] first = [1, 0, 0, 0, 0, 0, 1, 0], second = [0, 1, 0, 0, 0, 0, 0, 1];
        var actions = new float[2];
        bool[] both = [true, true];
        session.Act(first, both, actions);
        Assert.All(session.LastInput(0).Slice(P, 2 * SA).ToArray(), v => Assert.Equal(0f, v));
        float[] taken = [.. actions];
        session.Observe(taken, [1.5f, -2f], second, [false, false], both);
        session.Act(second, both, actions);
        for (int slot = 0; slot < 2; slot++)
        {
            var expected = new float[2 * SA];
            int s = slot == 0 ? 0 : 2, a = (int)taken[slot];
            expected[s * A + a] = 1;
            expected[SA + s * A + a] = slot == 0 ? 1.5f : -2f;
            Assert.Equal(expected, session.LastInput(slot).Slice(P, 2 * SA).ToArray());
        }
        taken = [.. actions];
        session.StartTrial(1, d.SampleTask(rng, TaskSplit.Test));
        session.Observe(taken, [0.5f, 2f], first, [false, false], [true, false]);
        session.Act(first, both, actions);
        var slot0 = new float[2 * SA];
        slot0[1 * A + (int)taken[0]] = 1;   // slot 0 was in state 1 of `second`
        slot0[SA + 1 * A + (int)taken[0]] = 0.5f;
        Assert.Equal(slot0, session.LastInput(0).Slice(P, 2 * SA).ToArray());
        Assert.All(session.LastInput(1).Slice(P, 2 * SA).ToArray(), v => Assert.Equal(0f, v));

        // A network without the input cannot load this checkpoint.
        AssertTrainsResumesAndIsRefusedBy(d, cfg, cfg with { PairInput = false }, "pair-input.mrla");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gated_head_gives_each_observation_component_its_own_read_out(bool mlp)
    {
        var on = new Dictionary<string, string> { ["gated-head"] = "true", ["skip-input"] = "true" };
        Assert.True(new Rl2Config().With(on, out _).GatedHead);
        Assert.Equal("false", new Rl2Config().ToSettings()["gated-head"]);
        var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["gated-head"] = "true" }, out _));
        Assert.Contains("'gated-head'", e.Message);
        Assert.Contains("skip-input", e.Message);

        var d = new TabularMdpDistribution(states: 4, actions: 3, horizon: 3, episodes: 2);
        var cfg = Small with { SkipInput = true, GatedHead = true, Head = mlp ? [8] : [] };
        var net = Rl2Trainer.CreateNetwork(d, cfg, new MetaRL.Engine.Rng(3));
        int O = 4, A = 3, N = 6, F = net.FeatureSize, H = cfg.Hidden;
        var p = net.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter.ToArray());
        // Non-zero weights everywhere (the output layers start near zero), so every block shows in the result.
        var rng = new MetaRL.Engine.Rng(4);
        foreach (var (name, t) in net.NamedParameters())
            if (name.StartsWith("policy", StringComparison.Ordinal) || name.StartsWith("value", StringComparison.Ordinal))
            {
                var v = t.Data;
                for (int i = 0; i < v.Length; i++) v[i] = (float)rng.Normal(0, 0.5);
                p[name] = v.ToArray();
            }
        // Rows whose observation part is arbitrary (not one-hot), then rows in each one-hot state with the same memory.
        var features = new float[N * F];
        for (int i = 0; i < features.Length; i++) features[i] = (float)rng.Normal();
        var x = MetaRL.Engine.Tensor.FromArray(features, N, F);
        var policy = net.Policy(x).ToArray();
        var value = net.Value(x, null).ToArray();

        // Reference: g (the head's hidden layer, or the features), blocks = g·W + b, out = block₀ + Σᵢ oᵢ·blockᵢ₊₁.
        float[] Reference(string head, int outputs, int row)
        {
            var f = features.AsSpan(row * F, F);
            float[] g;
            if (mlp)
            {
                var (w, b) = (p[head + ".0.weight"], p[head + ".0.bias"]);
                g = new float[8];
                for (int j = 0; j < 8; j++)
                {
                    double sum = b[j];
                    for (int k = 0; k < F; k++) sum += f[k] * w[k * 8 + j];
                    g[j] = (float)Math.Tanh(sum);
                }
            }
            else g = f.ToArray();
            var (gw, gb) = (p[head + "_gate.weight"], p[head + "_gate.bias"]);
            int width = (O + 1) * outputs;
            var result = new float[outputs];
            for (int block = 0; block <= O; block++)
            {
                double gate = block == 0 ? 1 : f[H + block - 1];
                for (int a = 0; a < outputs; a++)
                {
                    double sum = gb[block * outputs + a];
                    for (int k = 0; k < g.Length; k++) sum += g[k] * gw[k * width + block * outputs + a];
                    result[a] += (float)(gate * sum);
                }
            }
            return result;
        }
        for (int row = 0; row < N; row++)
        {
            var expected = Reference("policy", A, row);
            for (int a = 0; a < A; a++) Assert.Equal(expected[a], policy[row * A + a], 1e-4f);
            Assert.Equal(Reference("value", 1, row)[0], value[row], 1e-4f);
        }

        // One memory, read in each state: the states' policies differ, because each reads its own block.
        var same = new float[O * F];
        for (int s = 0; s < O; s++)
        {
            features.AsSpan(0, F).CopyTo(same.AsSpan(s * F, F));
            same.AsSpan(s * F + H, O).Clear();
            same[s * F + H + s] = 1;
        }
        var perState = net.Policy(MetaRL.Engine.Tensor.FromArray(same, O, F)).ToArray();
        for (int s = 1; s < O; s++) Assert.NotEqual(perState.AsSpan(0, A).ToArray(), perState.AsSpan(s * A, A).ToArray());

        // The value's gate is a training estimate (TRPO leaves it to Adam); the policy's gate shapes the policy.
        Assert.True(Rl2Network.IsTrainingOnlyParameter("value_gate.weight"));
        Assert.False(Rl2Network.IsTrainingOnlyParameter("policy_gate.weight"));
        Assert.Throws<ArgumentException>(() => Rl2Trainer.CreateNetwork(d, cfg with { SkipInput = false }, new MetaRL.Engine.Rng(3)));

        AssertTrainsResumesAndIsRefusedBy(d, cfg, cfg with { GatedHead = false }, mlp ? "gated-mlp.mrla" : "gated.mrla");
        AssertTrainsResumesAndIsRefusedBy(d, cfg with { Update = Rl2Update.Trpo }, cfg with { GatedHead = false }, mlp ? "gated-mlp-trpo.mrla" : "gated-trpo.mrla");
    }

    private sealed record NoTask : ITask
    {
        public IReadOnlyList<KeyValuePair<string, double>> Describe() => [];
    }

    /// <summary>
    /// Each step pays 1 for "stay" (action 0) or 1.5 for "quit" (action 1), which ends the episode at once. Staying to
    /// the last step (and quitting only there) earns 5 to 5.5 per episode, quitting at once 1.5; under a short discount
    /// horizon quitting the first episode at once looks better unless the forfeited steps are counted (pad-terminated).
    /// </summary>
    private static TwoActionFamily ShortcutFamily() => new("shortcut", 5, 2, () => new ShortcutEnv());

    /// <summary>A family of one task, one-number observations and two actions, played in <paramref name="env"/>'s environments.</summary>
    private sealed class TwoActionFamily(string name, int horizon, int episodes, Func<MetaRL.Core.Envs.IEnv> env) : TaskDistribution
    {
        public override string Name => name;
        public override MetaRL.Core.Spaces.Space ObservationSpace { get; } = new MetaRL.Core.Spaces.Box(0, 1, 1);
        public override MetaRL.Core.Spaces.Space ActionSpace { get; } = new MetaRL.Core.Spaces.Discrete(2);
        public override int Horizon => horizon;
        public override int EpisodesPerTrial => episodes;
        public override IReadOnlyList<SettingInfo> Settings => [];
        public override ITask SampleTask(MetaRL.Engine.Rng rng, TaskSplit split) => new NoTask();
        public override MetaRL.Core.Envs.IEnv CreateEnv() => env();
    }

    private sealed class ShortcutEnv : MetaRL.Core.Envs.Env<NoTask>
    {
        public override MetaRL.Core.Spaces.Space ObservationSpace { get; } = new MetaRL.Core.Spaces.Box(0, 1, 1);
        public override MetaRL.Core.Spaces.Space ActionSpace { get; } = new MetaRL.Core.Spaces.Discrete(2);
        public override void Reset(MetaRL.Engine.Rng rng, Span<float> observation) => observation[0] = 0;
        public override MetaRL.Core.Envs.StepResult Step(ReadOnlySpan<float> action, MetaRL.Engine.Rng rng, Span<float> observation)
        {
            observation[0] = 0;
            return action[0] == 1 ? new(1.5, Terminated: true, Truncated: false) : new(1, Terminated: false, Truncated: false);
        }
    }

    private sealed class SilentEnv : MetaRL.Core.Envs.Env<NoTask>
    {
        public override MetaRL.Core.Spaces.Space ObservationSpace { get; } = new MetaRL.Core.Spaces.Box(0, 1, 1);
        public override MetaRL.Core.Spaces.Space ActionSpace { get; } = new MetaRL.Core.Spaces.Discrete(2);
        public override void Reset(MetaRL.Engine.Rng rng, Span<float> observation) => observation[0] = 0;
        public override MetaRL.Core.Envs.StepResult Step(ReadOnlySpan<float> action, MetaRL.Engine.Rng rng, Span<float> observation)
        {
            observation[0] = action[0];
            return new(0, Terminated: false, Truncated: false);
        }
    }

    [Fact]
    public void A_batch_without_reward_teaches_the_policy_nothing_but_the_entropy_bonus()
    {
        // Nothing is ever rewarded: the advantages are the critic's error alone. Normalised to unit size they would push
        // the policy about at random until it stopped exploring; left at zero, the entropy bonus keeps it uniform.
        var silent = new TwoActionFamily("silent", 10, 2, () => new SilentEnv());
        var cfg = Small with { Iterations = 40, TrialsPerIteration = 16, LearningRate = 1e-2, EntropyCoef = 0.01 };
        var t = new Rl2Trainer(silent, cfg, 3);
        var data = t.CollectBatch();
        Assert.All(data.Advantages, a => Assert.Equal(0f, a));
        Assert.Contains(data.Values, v => Math.Abs(v) > 1e-4); // the error that normalising would have blown up
        Rl2IterationStats s = null!;
        for (int i = 0; i < cfg.Iterations; i++) s = t.RunIteration();
        Assert.True(s.Entropy > 0.69, $"entropy {s.Entropy} (uniform: ln 2 = 0.693)");

        // One rewarded step is enough for the batch to be normalised as usual.
        var shortcut = new Rl2Trainer(ShortcutFamily(), cfg, 3).CollectBatch();
        double mean = 0, count = 0;
        for (int k = 0; k < shortcut.Mask.Length; k++) if (shortcut.Mask[k] > 0) { mean += shortcut.Advantages[k]; count++; }
        Assert.InRange(mean / count, -1e-4, 1e-4);
        Assert.Contains(shortcut.Advantages, a => Math.Abs(a) > 0.5);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Padding_terminated_episodes_removes_the_shortcut_of_ending_an_episode_early(bool pad)
    {
        // γ = 0.5: without padding, quitting at once is worth 1.5 + 0.5·(next episode) against staying's ≈ 2, so the
        // learnt policy quits; with padding the next episode lies 5 discounted steps away and staying wins.
        var d = ShortcutFamily();
        var cfg = Small with { Gamma = 0.5, GaeLambda = 0.95, Iterations = 60, TrialsPerIteration = 32, LearningRate = 1e-2, EntropyCoef = 0, PadTerminated = pad };
        var t = new Rl2Trainer(d, cfg, 3);
        for (int i = 0; i < cfg.Iterations; i++) t.RunIteration();
        double total = MetaTest.Run(t.Agent(), d, new MetaTestOptions(50, 1)).MeanTotalReturn;
        if (pad) Assert.True(total > 9, $"padded: total {total:F2} (staying to the last steps earns 10 to 11)");
        else Assert.True(total < 8, $"unpadded: total {total:F2} (quitting the first episode at once earns at most 7)");
        Assert.Equal("true", new Rl2Config().ToSettings()["pad-terminated"]);
    }

    /// <summary>How many steps the <see cref="ForcedEnv"/>s of a family replaced.</summary>
    private sealed class ReplacedCount
    {
        public int Replaced;
    }

    /// <summary>A one-step bandit's environment that always plays arm 1, whatever it is given, and counts the steps it replaced.</summary>
    private sealed class ForcedEnv(ReplacedCount family) : MetaRL.Core.Envs.Env<NoTask>
    {
        private bool _replaced;
        public override MetaRL.Core.Spaces.Space ObservationSpace { get; } = new MetaRL.Core.Spaces.Box(0, 1, 1);
        public override MetaRL.Core.Spaces.Space ActionSpace { get; } = new MetaRL.Core.Spaces.Discrete(2);
        public override void Reset(MetaRL.Engine.Rng rng, Span<float> observation) => observation[0] = 0;
        public override MetaRL.Core.Envs.StepResult Step(ReadOnlySpan<float> action, MetaRL.Engine.Rng rng, Span<float> observation)
        {
            _replaced = action[0] != 1;
            if (_replaced) Interlocked.Increment(ref family.Replaced);
            observation[0] = 0;
            return new(1, Terminated: false, Truncated: false);
        }
        public override bool WritePlayedAction(Span<float> action)
        {
            if (!_replaced) return false;
            action[0] = 1;
            return true;
        }
    }

    [Fact]
    public void A_step_the_environment_played_with_another_action_is_learnt_as_that_action_with_its_probability_under_the_acting_policy()
    {
        var count = new ReplacedCount();
        var d = new TwoActionFamily("forced", 1, 3, () => new ForcedEnv(count));
        var cfg = Small with { TrialsPerIteration = 16 };
        var net = Rl2Trainer.CreateNetwork(d, cfg, new MetaRL.Engine.Rng(3));
        var data = new Rl2Rollout(d, net, cfg, new MetaRL.Engine.Rng(1), new MetaRL.Engine.Rng(2), 0).Collect().Data;
        Assert.InRange(count.Replaced, 5, 43); // the untrained policy samples arm 0 about half of the 48 steps
        Assert.Equal(count.Replaced, data.Replaced.Count(r => r == 1)); // marked, so that the KL estimate leaves them out

        // Every step is recorded as arm 1 (what was played), and its log-probability is the acting policy's for arm 1, as
        // the update recomputes it from the recorded input and state (so its first ratio is 1).
        int S = net.StateSize, I = net.InputSize, rows = 0;
        for (int k = 0; k < data.Mask.Length; k++)
        {
            if (data.Mask[k] == 0) continue;
            rows++;
            Assert.Equal(1f, data.Actions[k]);
            var x = MetaRL.Engine.Tensor.FromArray(data.Inputs.AsSpan(k * I, I).ToArray(), 1, I);
            var state = net.Step(x, MetaRL.Engine.Tensor.FromArray(data.States.AsSpan(k * S, S).ToArray(), 1, S));
            var logits = net.Policy(net.Features(state, x)).ToArray();
            double arm1 = logits[1] - Math.Log(Math.Exp(logits[0]) + Math.Exp(logits[1]));
            Assert.Equal(arm1, data.LogProbs[k], 4);
        }
        Assert.Equal(48, rows);

        // MAML's trajectories record the arm played too (its update reads their log-probabilities from the recorded actions).
        int before = count.Replaced;
        var policy = new MetaRL.Algorithms.Maml.MlpPolicy<float>(d.ObservationSpace, d.ActionSpace, [8], new MetaRL.Engine.Rng(4));
        var batch = MetaRL.Algorithms.Maml.TrajectoryBatch.Sample(policy, policy.Parameters(), d, new NoTask(), 40, new MetaRL.Engine.Rng(5), 0.99);
        Assert.InRange(count.Replaced - before, 5, 35);
        Assert.All(batch.Actions, a => Assert.Equal(1f, a));
    }

    [Fact]
    public void The_surrogate_bounds_the_term_and_the_gradient_of_an_action_the_acting_policy_all_but_never_took()
    {
        // An ordinary step inside the clip, one past it, and an action the acting policy gave e^-80 (an environment
        // played it in place of the sampled one) whose probability has since risen to e^-10, with a negative and a
        // positive advantage: its ratio e^70 would make r·A overflow; the term is 3·A (dual clip) or (1 + ε)·A, flat.
        float[] old = [-1f, -1f, -80f, -80f], adv = [0.5f, 2f, -1.5f, 1f];
        var newLogp = MetaRL.Engine.Tensor.Parameter(MetaRL.Engine.Tensor.FromArray(new[] { -0.95f, -0.5f, -10f, -10f }, 4));
        var (term, ratio) = Rl2PpoUpdate.Surrogate(newLogp, old, adv, 4, 0.2);
        var t = term.ToArray();
        Assert.Equal(Math.Exp(0.05) * 0.5, t[0], 5);
        Assert.Equal(1.2 * 2, t[1], 5);
        Assert.Equal(MetaRL.Algorithms.Common.RatioBounds.DualClip * -1.5, t[2], 5);
        Assert.Equal(1.2 * 1, t[3], 5);
        var g = MetaRL.Engine.Autodiff.Autograd.Grad([MetaRL.Engine.Ops.Sum(term)], [newLogp])[0]!.ToArray();
        Assert.Equal(Math.Exp(0.05) * 0.5, g[0], 5); // d(r·A)/d log π = r·A
        Assert.Equal([0f, 0f, 0f], g[1..]);
        Assert.All(ratio.ToArray(), r => Assert.True(float.IsFinite(r)));
        Assert.Equal(Math.Exp(MetaRL.Algorithms.Common.RatioBounds.MaxLogRatio), ratio.ToArray()[2], 0.01 * Math.Exp(MetaRL.Algorithms.Common.RatioBounds.MaxLogRatio));
    }

    private sealed class NoFeatures : TaskDistribution
    {
        private readonly BernoulliBanditDistribution _inner = new(2, 3);
        public override string Name => "no-features";
        public override MetaRL.Core.Spaces.Space ObservationSpace => _inner.ObservationSpace;
        public override MetaRL.Core.Spaces.Space ActionSpace => _inner.ActionSpace;
        public override int Horizon => 1;
        public override int EpisodesPerTrial => 3;
        public override ITask SampleTask(MetaRL.Engine.Rng rng, TaskSplit split) => _inner.SampleTask(rng, split);
        public override MetaRL.Core.Envs.IEnv CreateEnv() => _inner.CreateEnv();
        public override IReadOnlyList<SettingInfo> Settings => [];
    }

    [Fact]
    public void A_task_aware_critic_on_a_family_without_task_features_is_refused_by_name()
    {
        var e = Assert.Throws<SettingException>(() => new Rl2Trainer(new NoFeatures(), Small with { TaskCritic = true }, 1));
        Assert.Contains("task-critic", e.Message);
        Assert.Contains("no-features", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Without_memory_the_policy_ignores_history(bool memory)
    {
        var d = new BernoulliBanditDistribution(4, 6);
        var net = new Rl2Trainer(d, Small with { Memory = memory }, 3).Network;
        var clock = new Rl2Inputs.TrialClock(1, 0, 6, 1);
        // Two different histories: another previous action and reward, and another recurrent state.
        var x1 = new float[net.InputSize];
        var x2 = new float[net.InputSize];
        Rl2Inputs.Write(net, x1, [1f], [0f], 0f, true, true, clock);
        Rl2Inputs.Write(net, x2, [1f], [3f], 1f, true, true, clock);
        var s1 = MetaRL.Engine.Tensor.Zeros<float>(1, net.StateSize);
        var s2 = MetaRL.Engine.Tensor.Full<float>(0.5, 1, net.StateSize);
        var t1 = MetaRL.Engine.Tensor.FromArray(x1, 1, net.InputSize);
        var t2 = MetaRL.Engine.Tensor.FromArray(x2, 1, net.InputSize);
        var p1 = net.Policy(net.Features(net.Step(t1, s1), t1)).ToArray();
        var p2 = net.Policy(net.Features(net.Step(t2, s2), t2)).ToArray();
        if (memory) Assert.NotEqual(p1, p2);
        else Assert.Equal(p1, p2);
        Assert.Equal(memory ? "RL²" : "multi-task (no memory)", new Rl2Agent(net, true).Name);
    }

    [Fact]
    public void With_task_input_the_policy_is_a_task_knowing_oracle()
    {
        var d = new BernoulliBanditDistribution(4, 6);
        var oracle = new Rl2Trainer(d, Small with { TaskInput = true }, 3);
        Assert.Equal(d.TaskFeatureSize, oracle.Network.PolicyTaskFeatures);
        Assert.Equal(1 + 4 + 2 + 4, oracle.Network.InputSize);
        oracle.RunIteration();
        var r = MetaTest.Run(oracle.Agent(), d, new MetaTestOptions(10, 1));
        Assert.Equal("oracle (knows the task)", r.Agent);
        var e = Assert.Throws<SettingException>(() => new Rl2Trainer(new NoFeatures(), Small with { TaskInput = true }, 1));
        Assert.Contains("task-input", e.Message);
    }
}
