using MetaRL.Algorithms.Rl2;
using MetaRL.Algorithms.Runs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.IO;
using MetaRL.Tasks.Bandits;
using MetaRL.Tasks.Games;

namespace MetaRL.Algorithms.Tests;

/// <summary>RL²'s per-group teachers (<c>teachers</c>, kickstarting): what the batch records, what the term does, what is refused.</summary>
public sealed class TeacherTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-teachers-" + Guid.NewGuid().ToString("N"));

    public TeacherTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static RpsBotsTasks Rps => SmallRps.Tasks;

    private static readonly Rl2Config Small = new() { Hidden = 8, Iterations = 6, TrialsPerIteration = 24, Minibatches = 2, Epochs = 1 };

    private static string[] TrainingGroups(int draws)
    {
        var rng = new Rng(11);
        var tasks = Rps;
        return [.. Enumerable.Range(0, draws).Select(_ => tasks.GroupOf(tasks.SampleTask(rng, TaskSplit.Train))!)];
    }

    // The kind most training tasks of the small family belong to, so that every batch holds some of it.
    private static string CommonGroup() => TrainingGroups(400).GroupBy(g => g).MaxBy(g => g.Count())!.Key;

    /// <summary>
    /// A teacher checkpoint: an RL² learner on the small family, trained <paramref name="iterations"/> iterations, its
    /// policy's output layer then multiplied by <paramref name="sharpen"/> (a small network starts nearly uniform; a
    /// sharpened one prefers actions clearly, as a trained teacher does).
    /// </summary>
    private string Teacher(string name, Rl2Config config, ulong seed, int iterations = 0, double sharpen = 1)
    {
        var learner = new Rl2Learner(Rps, SmallRps.Settings, config, seed);
        for (int i = 0; i < iterations; i++) learner.RunIteration();
        learner.Trainer.Network.ScalePolicyOutput(sharpen);
        var path = Path.Combine(_dir, name + ".mrla");
        learner.Save(path);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_teacher_that_is_the_policy_itself_is_at_zero_KL_on_the_steps_of_its_group_and_only_there(bool normalizeObservations)
    {
        var config = Small with { NormalizeObservations = normalizeObservations };
        var path = Teacher("self", config, 3, iterations: 2);
        string group = CommonGroup();
        var student = new Rl2Trainer(Rps, config with { Teachers = [new Rl2Teacher(group, path)] }, 5);
        student.LoadWeights(TensorArchive.Load(path), path);
        var data = student.CollectBatch();
        int[] all = [.. Enumerable.Range(0, config.TrialsPerIteration)];
        double valid = data.Mask.Sum();
        var (_, _, _, _, _, _, _, teacher) = student.MinibatchGradients(data, all, valid, 0.01);
        Assert.InRange(teacher.Steps, 1, valid - 1); // some trials are of the group, not all
        Assert.InRange(teacher.KlSum / teacher.Steps, -1e-5, 1e-5);
        Assert.Equal(teacher.Steps, data.Taught.Select((t, k) => t * data.Mask[k]).Sum());

        // Another policy as the teacher: the same steps are read, and the KL is clearly above zero.
        var other = Teacher("other", config, 8, iterations: 2, sharpen: 1000);
        var second = new Rl2Trainer(Rps, config with { Teachers = [new Rl2Teacher(group, other)] }, 5);
        second.LoadWeights(TensorArchive.Load(path), path);
        var (_, _, _, _, _, _, _, apart) = second.MinibatchGradients(second.CollectBatch(), all, valid, 0.01);
        Assert.Equal(teacher.Steps, apart.Steps);
        Assert.True(apart.KlSum / apart.Steps > 0.05, $"KL {apart.KlSum / apart.Steps}");
    }

    [Fact]
    public void Without_teach_episode_start_each_episode_s_first_decision_is_left_untaught_and_nothing_else()
    {
        string group = CommonGroup();
        var path = Teacher("start", Small, 3, iterations: 1, sharpen: 1000);
        var all = new Rl2Trainer(Rps, Small with { Teachers = [new Rl2Teacher(group, path)] }, 5).CollectBatch();
        var rest = new Rl2Trainer(Rps, Small with { Teachers = [new Rl2Teacher(group, path)], TeachEpisodeStart = false }, 5).CollectBatch();
        int B = Small.TrialsPerIteration, T = all.Mask.Length / B, episodes = 0;
        for (int k = 0; k < all.Mask.Length; k++)
        {
            if (all.Taught[k] == 0) { Assert.Equal(0, rest.Taught[k]); continue; }
            // Matches of 10 throws in episodes of 5: an episode starts at throws 1 and 6 of each trial.
            int throwOfTrial = k / B;
            bool start = throwOfTrial % 5 == 0;
            Assert.Equal(start ? 0 : 1, rest.Taught[k]);
            if (start) episodes++;
            else Assert.Equal(all.TeacherProbs.AsSpan(k * 3, 3).ToArray(), rest.TeacherProbs.AsSpan(k * 3, 3).ToArray());
        }
        Assert.Equal(10, T);
        Assert.True(episodes >= 2 && episodes % 2 == 0, $"{episodes} episode starts of the group were seen"); // two per trial of the group
    }

    [Fact]
    public void A_teacher_without_memory_reads_each_step_alone_without_the_previous_action_and_reward()
    {
        string group = CommonGroup();
        var path = Teacher("memoryless", Small with { Memory = false }, 6, iterations: 1, sharpen: 1000);
        var student = new Rl2Trainer(Rps, Small with { Teachers = [new Rl2Teacher(group, path)] }, 5);
        var data = student.CollectBatch();
        var net = student.Teachers!.NetworkOf(group);
        int I = net.InputSize, A = net.ActionSize, obs = net.ObservationSize, checkedSteps = 0;
        for (int k = 0; k < data.Mask.Length; k++)
        {
            if (data.Taught[k] == 0 || data.Mask[k] == 0) continue;
            var row = data.Inputs.AsSpan(k * I, I).ToArray();
            row.AsSpan(obs, A + 2).Clear();
            var x = Tensor.FromArray(row, 1, I);
            var probs = Ops.Exp(Ops.LogSoftmax(net.Policy(net.Features(net.Step(x, net.InitialState(1)), x)), 1)).ToArray();
            for (int a = 0; a < A; a++) Assert.Equal(probs[a], data.TeacherProbs[k * A + a], 5);
            checkedSteps++;
        }
        Assert.True(checkedSteps > 0);
        // Read with the previous action and reward, the same network prefers otherwise somewhere: the clearing matters.
        Assert.Contains(Enumerable.Range(0, data.Mask.Length).Where(k => data.Taught[k] != 0 && data.Mask[k] != 0 && data.Inputs[k * I + obs + A] != 0), k =>
        {
            var x = Tensor.FromArray(data.Inputs.AsSpan(k * I, I).ToArray(), 1, I);
            var probs = Ops.Exp(Ops.LogSoftmax(net.Policy(net.Features(net.Step(x, net.InitialState(1)), x)), 1)).ToArray();
            return Enumerable.Range(0, A).Any(a => Math.Abs(probs[a] - data.TeacherProbs[k * A + a]) > 1e-3);
        });
    }

    [Fact]
    public void A_task_knowing_teacher_reads_each_trial_s_task_features_after_the_student_s_row()
    {
        // The loadout arena cut to two rounds of 2 s: a family with groups whose task features include the hidden armour.
        var settings = new Dictionary<string, string> { ["loadouts"] = "true", ["rounds"] = "2", ["round-seconds"] = "2" };
        var arena = ArenaTasks.FromSettings(settings);
        var config = Small with { TrialsPerIteration = 16 };
        var oracle = new Rl2Learner(arena, settings, config with { Memory = false, TaskInput = true }, 7);
        oracle.Trainer.Network.ScalePolicyOutput(1000);
        var path = Path.Combine(_dir, "oracle.mrla");
        oracle.Save(path);
        var player = (ArenaPlayer)arena.SampleTask(new Rng(3), TaskSplit.Train);
        string group = arena.GroupOf(player)!;
        var student = new Rl2Trainer(arena, config with { Teachers = [new Rl2Teacher(group, path)] }, 5);
        var data = student.CollectBatch();
        var teachers = student.Teachers!;
        var net = teachers.NetworkOf(group);
        int I = student.Network.InputSize, A = net.ActionSize, obs = net.ObservationSize, F = arena.TaskFeatureSize, B = config.TrialsPerIteration;
        Assert.Equal(I + F, net.InputSize);

        // Every trial read as the same player in either armour: the teacher reads each step's row, then that task's features.
        float[] TaughtAs(ArenaGuard guard)
        {
            teachers.Annotate(data, [], [.. Enumerable.Repeat<ITask>(player with { Guard = guard }, B)], [.. Enumerable.Repeat<string?>(group, B)]);
            Assert.All(data.Taught, t => Assert.Equal(1, t));
            return data.TeacherProbs.ToArray();
        }
        var kinetic = TaughtAs(ArenaGuard.Kinetic);
        var energy = TaughtAs(ArenaGuard.Energy);
        var features = new float[F];
        arena.WriteTaskFeatures(player with { Guard = ArenaGuard.Kinetic }, features);
        for (int k = 0; k < data.Mask.Length; k += 7)
        {
            var row = new float[I + F];
            data.Inputs.AsSpan(k * I, I).CopyTo(row);
            row.AsSpan(obs, A + 2).Clear(); // a teacher without memory
            features.CopyTo(row, I);
            var x = Tensor.FromArray(row, 1, I + F);
            var probs = Ops.Exp(Ops.LogSoftmax(net.Policy(net.Features(net.Step(x, net.InitialState(1)), x)), 1)).ToArray();
            for (int a = 0; a < A; a++) Assert.True(Math.Abs(probs[a] - kinetic[k * A + a]) < 1e-5, $"step {k}, action {a}: {probs[a]} alone, {kinetic[k * A + a]} taught");
        }
        Assert.Contains(Enumerable.Range(0, kinetic.Length), i => Math.Abs(kinetic[i] - energy[i]) > 1e-3);

        // A task-knowing student cannot be taught (its row already holds the task).
        var e = Assert.Throws<SettingException>(() => new Rl2Trainer(arena, config with { TaskInput = true, Teachers = [new Rl2Teacher(group, path)] }, 5).PrepareTraining());
        Assert.Contains("task-knowing", e.Message);
    }

    [Fact]
    public void The_term_pulls_the_policy_toward_its_teacher_and_a_run_with_teachers_resumes_bit_identically()
    {
        // One teacher, of another size, for every kind, so that every trial is taught.
        var teacher = Teacher("teacher", Small with { Hidden = 16 }, 21, sharpen: 1000);
        var taught = Small with { Teachers = [.. TrainingGroups(2000).Distinct().Select(g => new Rl2Teacher(g, teacher))], LearningRate = 0.01, Iterations = 8 };
        double FinalKl(Rl2Config c)
        {
            var t = new Rl2Trainer(Rps, c, 4);
            Rl2IterationStats s = null!;
            for (int i = 0; i < c.Iterations; i++) s = t.RunIteration();
            return s.TeacherKl;
        }
        double pulled = FinalKl(taught with { TeacherCoef = 5, TeacherCoefFinal = 5 }), free = FinalKl(taught with { TeacherCoef = 0 });
        Assert.True(pulled < 0.5 * free, $"KL to the teacher {pulled} with the term, {free} without");
        Assert.True(free > 0.3, $"KL to the teacher without the term {free}"); // the teacher is one to be pulled toward

        // Resumed from a checkpoint, the teachers are read again and the run goes on as it would have.
        var straight = new Rl2Trainer(Rps, taught, 4);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        var first = new Rl2Trainer(Rps, taught, 4);
        first.RunIteration();
        var path = Path.Combine(_dir, "run.mrla");
        first.Save(path, new Dictionary<string, string>());
        var resumed = new Rl2Trainer(Rps, taught, 4);
        resumed.Load(TensorArchive.Load(path));
        resumed.RunIteration();
        resumed.RunIteration();
        Assert.Equal(SmallRps.Weights(straight), SmallRps.Weights(resumed));

        // A teacher replaced since the checkpoint was written: resuming is refused before anything trains, whether the
        // teachers are read before the checkpoint is loaded (a run directory) or after (a learner loaded, then trained).
        File.Copy(Teacher("replacement", Small with { Hidden = 16 }, 22, sharpen: 1000), teacher, overwrite: true);
        var early = new Rl2Trainer(Rps, taught, 4);
        early.PrepareTraining();
        var before = SmallRps.Weights(early);
        Assert.Contains("teachers have changed", Assert.Throws<CheckpointException>(() => early.Load(TensorArchive.Load(path))).Message);
        Assert.Equal(before, SmallRps.Weights(early));
        Assert.Equal(0, early.Iteration);
        var late = new Rl2Trainer(Rps, taught, 4);
        late.Load(TensorArchive.Load(path));
        var loaded = SmallRps.Weights(late);
        Assert.Contains("teachers have changed", Assert.Throws<CheckpointException>(() => late.RunIteration()).Message);
        Assert.Equal(loaded, SmallRps.Weights(late));
        Assert.Equal(1, late.Iteration);

        // Without teachers there is no KL to report; the multi-task and oracle counterparts are trained without them.
        Assert.True(double.IsNaN(new Rl2Trainer(Rps, Small, 4).RunIteration().TeacherKl));
        var counterpart = new Rl2Algorithm().Counterpart("multi-task", taught.ToSettings());
        Assert.Equal("none", counterpart["teachers"]);
        Assert.Equal("false", counterpart["memory"]);
        Assert.Equal("none", new Rl2Algorithm().Counterpart("oracle", taught.ToSettings())["teachers"]);
    }

    [Fact]
    public void The_setting_is_read_as_group_checkpoint_pairs_and_recorded_with_absolute_paths()
    {
        var c = Rl2Config.DefaultsFor("rps-bots").With(new Dictionary<string, string> { ["teachers"] = "cycle=a.mrla, copy = runs/b" }, out _);
        Assert.Equal([new Rl2Teacher("cycle", Path.GetFullPath("a.mrla")), new Rl2Teacher("copy", Path.GetFullPath("runs/b"))], c.Teachers);
        Assert.Equal($"cycle={Path.GetFullPath("a.mrla")},copy={Path.GetFullPath("runs/b")}", c.ToSettings()["teachers"]);
        Assert.Empty(new Rl2Config().With(new Dictionary<string, string> { ["teachers"] = "none" }, out _).Teachers);
        Assert.Equal("none", new Rl2Config().ToSettings()["teachers"]);

        foreach (var (text, expected) in new[] { ("cycle", "group=checkpoint"), ("=a.mrla", "group=checkpoint"), ("cycle=", "group=checkpoint"), ("a=x,a=y", "'a' twice") })
        {
            var e = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["teachers"] = text }, out _));
            Assert.Contains("teachers", e.Message);
            Assert.Contains(expected, e.Message);
        }
        var trpo = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["teachers"] = "a=x", ["update"] = "trpo" }, out _));
        Assert.Contains("update=ppo", trpo.Message);
        var memoryless = Assert.Throws<SettingException>(() => new Rl2Config().With(new Dictionary<string, string> { ["teachers"] = "a=x", ["memory"] = "false" }, out _));
        Assert.Contains("memory=true", memoryless.Message);
    }

    [Fact]
    public void Teachers_that_cannot_teach_this_run_are_refused_by_name()
    {
        string group = CommonGroup();
        var fine = Teacher("fine", Small, 2);
        SettingException Refused(TaskDistribution tasks, Rl2Config c) => Assert.Throws<SettingException>(() => new Rl2Trainer(tasks, c, 1).PrepareTraining());

        // A group no training task has: a held-out kind.
        var heldOut = RpsBotsTasks.HeldOutKinds[0].Name;
        var e = Refused(Rps, Small with { Teachers = [new Rl2Teacher(heldOut, fine)] });
        Assert.Contains($"'{heldOut}'", e.Message);
        Assert.Contains("training opponents:", e.Message);
        Assert.Contains(group, e.Message);

        // A family without groups.
        Assert.Contains("forms none", Refused(new BernoulliBanditDistribution(3, 5), Small with { Teachers = [new Rl2Teacher("a", fine)] }).Message);

        // A checkpoint that does not exist, one of another family, one reading other inputs.
        var missing = Path.Combine(_dir, "missing.mrla");
        Assert.Contains(missing, Refused(Rps, Small with { Teachers = [new Rl2Teacher(group, missing)] }).Message);
        var bandit = new Rl2Learner(new BernoulliBanditDistribution(3, 5), new Dictionary<string, string>(), Small, 1);
        var banditPath = Path.Combine(_dir, "bandit.mrla");
        bandit.Save(banditPath);
        Assert.Contains("on 'rps-bots'", Refused(Rps, Small with { Teachers = [new Rl2Teacher(group, banditPath)] }).Message);
        var timed = Teacher("timed", Small with { TimeInput = true }, 2);
        Assert.Contains("other inputs", Refused(Rps, Small with { Teachers = [new Rl2Teacher(group, timed)] }).Message);

        // A file that is no checkpoint.
        var junk = Path.Combine(_dir, "junk.mrla");
        File.WriteAllText(junk, "not a checkpoint");
        Assert.Throws<CheckpointException>(() => new Rl2Trainer(Rps, Small with { Teachers = [new Rl2Teacher(group, junk)] }, 1).PrepareTraining());

        // A training run refuses them before it writes anything.
        var run = Path.Combine(_dir, "run");
        var settings = new Dictionary<string, string>(SmallRps.Settings) { ["hidden"] = "8", ["teachers"] = $"{heldOut}={fine}" };
        Assert.Contains($"'{heldOut}'", Assert.Throws<SettingException>(() => RunDirectory.Create(run, "rl2", "rps-bots", settings, 1)).Message);
        Assert.False(Directory.Exists(run));
    }

    [Fact]
    public void A_taught_policy_loads_evaluates_and_plays_without_its_teachers_and_is_not_trained_on_without_them()
    {
        string group = CommonGroup();
        var teacher = Teacher("teacher", Small, 2);
        var learner = new Rl2Learner(Rps, SmallRps.Settings, Small with { Teachers = [new Rl2Teacher(group, teacher)] }, 3);
        learner.RunIteration();
        var path = Path.Combine(_dir, "taught.mrla");
        learner.Save(path);
        var fingerprint = TensorArchive.Load(path).Metadata["teachers"];
        File.Delete(teacher);

        // Loaded whole (as an application takes it) or for evaluation on other tasks than the teacher's group's: it plays
        // as it was trained, and saved again it keeps the record of its teachers.
        var loaded = MetaLearners.Load(path);
        var evaluated = new Rl2Algorithm().LoadForEvaluation(TensorArchive.Load(path), new Dictionary<string, string> { ["held-out"] = "kinds" }, path);
        var options = new MetaTestOptions(Trials: 20, Seed: 5);
        var expected = MetaTest.Run(learner.Agent(), evaluated.Tasks, options).MeanTotalReturn;
        Assert.Equal(expected, MetaTest.Run(evaluated.Agent(), evaluated.Tasks, options).MeanTotalReturn);
        Assert.Equal(expected, MetaTest.Run(loaded.Agent(), evaluated.Tasks, options).MeanTotalReturn);
        var again = Path.Combine(_dir, "again.mrla");
        loaded.Save(again);
        Assert.Equal(fingerprint, TensorArchive.Load(again).Metadata["teachers"]);

        // Training on needs the teachers: refused, naming the missing file, before anything changes.
        var weights = SmallRps.Weights(((Rl2Learner)loaded).Trainer);
        Assert.Contains(teacher, Assert.Throws<SettingException>(() => loaded.RunIteration()).Message);
        Assert.Equal(weights, SmallRps.Weights(((Rl2Learner)loaded).Trainer));
        Assert.Equal(1, loaded.Iteration);
    }
}
