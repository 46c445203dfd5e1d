using MetaRL.Algorithms.Rl2;
using MetaRL.Algorithms.Rollouts;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.IO;
using MetaRL.Tasks.Bandits;
using MetaRL.Tasks.Games;

namespace MetaRL.Algorithms.Tests;

/// <summary>Prioritised task sampling over a family's groups (RL²'s <c>task-priority</c>).</summary>
public sealed class GroupPriorityTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-priority-" + Guid.NewGuid().ToString("N"));

    public GroupPriorityTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static RpsBotsTasks Rps => SmallRps.Tasks;

    private static readonly Rl2Config Small = new() { Hidden = 8, Iterations = 6, TrialsPerIteration = 12, Minibatches = 2, Epochs = 1 };

    private static float[] Weights(Rl2Trainer t) => SmallRps.Weights(t);

    [Fact]
    public void The_worst_groups_are_drawn_by_rank_and_each_task_is_redrawn_from_its_state()
    {
        var tasks = Rps;
        var priority = new GroupPriority(tasks, 1, "rl2");
        // Three groups scored −1, 0 and 1 (the k-th worst weighs 1/k).
        var groups = TrialSeedGroups(tasks, 40).Distinct().Take(3).Select(g => g!).ToArray();
        Assert.Equal(3, groups.Length);
        Assert.Null(priority.Target(new Rng(1))); // nothing scored yet: drawn as the family draws
        priority.Observe(groups, [-1.0, 0.0, 1.0]);
        Assert.Equal(-1.0, priority.Scores[groups[0]]);

        var rng = new Rng(9);
        var counts = groups.ToDictionary(g => g, _ => 0);
        const int n = 6000;
        for (int i = 0; i < n; i++) counts[priority.Target(rng)!]++;
        double total = 1 + 1 / 2.0 + 1 / 3.0;
        Assert.InRange(counts[groups[0]] / (double)n, 1 / total - 0.03, 1 / total + 0.03);
        Assert.InRange(counts[groups[1]] / (double)n, 0.5 / total - 0.03, 0.5 / total + 0.03);
        Assert.InRange(counts[groups[2]] / (double)n, 1 / 3.0 / total - 0.03, 1 / 3.0 / total + 0.03);

        // A prioritised draw is a task of its group, and the state it gives draws that task again.
        var taskRng = new Rng(4);
        foreach (var group in groups)
        {
            var task = priority.DrawFor(group, taskRng, out var state);
            Assert.Equal(group, tasks.GroupOf(task));
            Assert.Equal(task.Describe(), new TrialSeed(0, state, []).DrawTask(tasks).Describe());
        }

        // A later iteration moves a score by a tenth of the way to the new mean.
        priority.Observe([groups[2], groups[2], null], [3.0, 5.0, 100.0]);
        Assert.Equal(1 + GroupPriority.Smoothing * (4 - 1), priority.Scores[groups[2]], 12);
    }

    private static IEnumerable<string?> TrialSeedGroups(TaskDistribution tasks, int count)
    {
        var rng = new Rng(2);
        for (int i = 0; i < count; i++) yield return tasks.GroupOf(tasks.SampleTask(rng, TaskSplit.Train));
    }

    [Fact]
    public void Without_priority_the_task_stream_is_the_familys_own()
    {
        var tasks = Rps;
        var priority = new GroupPriority(tasks, 0, "rl2");
        priority.Observe(["a", "b"], [1.0, 2.0]);
        Assert.Empty(priority.Scores);
        var (a, b) = (new Rng(3), new Rng(3));
        var plain = TrialSeed.Draw(20, tasks, a, new Rng(5), 1);
        var none = TrialSeed.Draw(20, tasks, b, new Rng(5), 1, priority);
        Assert.Equal(plain.Select(s => s.Task), none.Select(s => s.Task));
        Assert.Equal(a.GetState(), b.GetState());
    }

    [Fact]
    public void Training_with_priority_draws_the_worst_kinds_more_and_resumes_bit_identically()
    {
        var tasks = Rps;
        var cfg = Small with { TaskPriority = 1 };
        var straight = new Rl2Trainer(tasks, cfg, 6);
        for (int i = 0; i < 3; i++) straight.RunIteration();
        var first = new Rl2Trainer(tasks, cfg, 6);
        first.RunIteration();
        var path = Path.Combine(_dir, "priority.mrla");
        first.Save(path, new Dictionary<string, string>());
        var resumed = new Rl2Trainer(tasks, cfg, 6);
        resumed.Load(TensorArchive.Load(path));
        resumed.RunIteration();
        resumed.RunIteration();
        Assert.Equal(Weights(straight), Weights(resumed));

        // The same seed without priority trains on other tasks from the second iteration.
        var plain = new Rl2Trainer(tasks, Small, 6);
        for (int i = 0; i < 3; i++) plain.RunIteration();
        Assert.NotEqual(Weights(straight), Weights(plain));

        // A checkpoint without scores is refused by a run that needs them, and nothing changes.
        var plainPath = Path.Combine(_dir, "plain.mrla");
        plain.Save(plainPath, new Dictionary<string, string>());
        var fresh = new Rl2Trainer(tasks, cfg, 6);
        var before = Weights(fresh);
        var e = Assert.Throws<CheckpointException>(() => fresh.Load(TensorArchive.Load(plainPath)));
        Assert.Contains("group-priority", e.Message);
        Assert.Equal(before, Weights(fresh));
        Assert.Equal(0, fresh.Iteration);
    }

    [Fact]
    public void The_progress_line_names_the_worst_group_once_two_are_scored()
    {
        var taskSettings = SmallRps.Settings;
        var learner = new Rl2Learner(Rps, taskSettings, Small with { TaskPriority = 0.5 }, 3);
        Assert.Empty(learner.Trainer.Priority!.Scores);
        var report = learner.RunIteration();
        var scores = learner.Trainer.Priority!.Scores;
        Assert.True(scores.Count >= 2);
        var worst = scores.MinBy(g => g.Value);
        Assert.EndsWith($"  worst {worst.Key} {worst.Value.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)}", report.Summary);

        // Without priority the field is not there.
        var plain = new Rl2Learner(Rps, taskSettings, Small, 3);
        Assert.Null(plain.Trainer.Priority);
        Assert.DoesNotContain("worst", plain.RunIteration().Summary);
    }

    [Fact]
    public void Priority_on_a_family_without_groups_or_out_of_range_is_refused_by_name()
    {
        var e = Assert.Throws<SettingException>(() => new Rl2Trainer(new BernoulliBanditDistribution(3, 5), Small with { TaskPriority = 0.5 }, 1));
        Assert.Contains("task-priority", e.Message);
        Assert.Contains("bandit", e.Message);
        var range = Assert.Throws<SettingException>(() => Rl2Config.DefaultsFor("rps-bots").With(new Dictionary<string, string> { ["task-priority"] = "1.5" }, out _));
        Assert.Contains("task-priority", range.Message);
    }
}
