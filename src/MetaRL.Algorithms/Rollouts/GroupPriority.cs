using System.Globalization;
using System.Text.Json;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Rollouts;

/// <summary>
/// Prioritised task sampling over a family's groups of tasks (<see cref="TaskDistribution.GroupOf"/>: arena's player
/// styles, rps-bots' opponent kinds): a share of each iteration's training trials is drawn for the groups the policy
/// currently does worst on, so that a group it starts to lose gets more of the training before it is forgotten.
/// <para>
/// Each group's score is a moving average of the mean return of its trials (each iteration's mean weighs
/// <see cref="Smoothing"/>; a group's first iteration sets it). A prioritised trial picks a group by rank, the worst
/// first: the k-th worst with weight 1/k (rank-based, so the scale of returns does not matter), and its task is the
/// first draw of the family's own sampler that belongs to that group. The other trials are drawn as the family draws
/// them. Until two groups have a score, every trial is drawn as the family draws it.
/// </para>
/// </summary>
internal sealed class GroupPriority
{
    /// <summary>How much one iteration's mean return moves a group's score.</summary>
    public const double Smoothing = 0.1;

    /// <summary>Draws of the family's sampler a prioritised trial may take to find its group before it gives up.</summary>
    public const int MaxDraws = 100_000;

    private readonly TaskDistribution _tasks;
    private readonly SortedDictionary<string, double> _scores = new(StringComparer.Ordinal);

    /// <param name="tasks">The family; it must form groups (<see cref="TaskDistribution.GroupName"/>) when <paramref name="share"/> is above 0.</param>
    /// <param name="share">The share of trials drawn for the worst groups, in [0, 1]; 0 draws every task as the family does.</param>
    /// <param name="algorithm">The algorithm whose setting <c>task-priority</c> gave the share, for errors ("rl2").</param>
    public GroupPriority(TaskDistribution tasks, double share, string algorithm)
    {
        if (!(share >= 0 && share <= 1)) throw new SettingException($"{algorithm}: 'task-priority' must be in [0, 1], got {share.ToString(CultureInfo.InvariantCulture)}.");
        if (share > 0 && tasks.GroupName is null)
            throw new SettingException($"{algorithm}: 'task-priority' needs a task family whose tasks form groups; '{tasks.Name}' has none.");
        (_tasks, Share) = (tasks, share);
    }

    public double Share { get; }

    /// <summary>Each group's score so far (the moving average of its trials' mean return), by name.</summary>
    public IReadOnlyDictionary<string, double> Scores => _scores;

    /// <summary>The scored groups worst first (the lowest score; ties by name), the ranking prioritised draws weigh by 1/k.</summary>
    public IEnumerable<KeyValuePair<string, double>> WorstFirst() => _scores.OrderBy(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal);

    /// <summary>
    /// The group the next trial is drawn for, or null to draw it as the family does. Draws from <paramref name="rng"/> only
    /// when the share is above 0 and two groups have scores, so with share 0 the task stream is the family's own.
    /// </summary>
    public string? Target(Rng rng)
    {
        if (Share == 0 || _scores.Count < 2) return null;
        if (rng.NextDouble() >= Share) return null;
        var worstFirst = WorstFirst().Select(s => s.Key).ToArray();
        double total = 0;
        for (int k = 0; k < worstFirst.Length; k++) total += 1.0 / (k + 1);
        double u = rng.NextDouble() * total;
        for (int k = 0; k < worstFirst.Length; k++)
        {
            u -= 1.0 / (k + 1);
            if (u < 0) return worstFirst[k];
        }
        return worstFirst[^1];
    }

    /// <summary>
    /// Moves <paramref name="rng"/> to the state from which the family's next draw is a task of <paramref name="group"/>
    /// (draws of other groups are skipped); returns that task.
    /// </summary>
    public ITask DrawFor(string group, Rng rng, out ulong[] state)
    {
        for (int n = 0; n < MaxDraws; n++)
        {
            state = rng.GetState();
            var task = _tasks.SampleTask(rng, TaskSplit.Train);
            if (_tasks.GroupOf(task) == group) return task;
        }
        throw new InvalidOperationException($"{_tasks.Name}: no training task of {_tasks.GroupName} '{group}' in {MaxDraws} draws.");
    }

    /// <summary>Takes one iteration's trials into the scores: each trial's group (null: none) and return.</summary>
    public void Observe(IReadOnlyList<string?> groups, IReadOnlyList<double> returns)
    {
        if (Share == 0) return;
        if (groups.Count != returns.Count) throw new ArgumentException("A group and a return per trial.", nameof(returns));
        foreach (var batch in Enumerable.Range(0, groups.Count).Where(i => groups[i] is not null).GroupBy(i => groups[i]!, StringComparer.Ordinal)
                     .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            double mean = batch.Average(i => returns[i]);
            if (!double.IsFinite(mean)) continue;
            _scores[batch.Key] = _scores.TryGetValue(batch.Key, out double s) ? s + Smoothing * (mean - s) : mean;
        }
    }

    /// <summary>The scores as a checkpoint's metadata value (JSON, exact doubles).</summary>
    public string Format() => JsonSerializer.Serialize(_scores.ToDictionary(s => s.Key, s => s.Value.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Reads scores <see cref="Format"/> wrote; throws <see cref="CheckpointException"/> naming <paramref name="source"/> if they are malformed.</summary>
    public static SortedDictionary<string, double> Parse(string text, string source)
    {
        Dictionary<string, string>? raw;
        try { raw = JsonSerializer.Deserialize<Dictionary<string, string>>(text); }
        catch (JsonException e) { throw new CheckpointException($"{source}'s group priority scores are malformed ({e.Message}).", e); }
        var scores = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var (group, value) in raw ?? throw new CheckpointException($"{source}'s group priority scores are malformed."))
            scores[group] = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x)
                ? x : throw new CheckpointException($"{source}'s group priority score of '{group}' is malformed ('{value}').");
        return scores;
    }

    /// <summary>Replaces the scores (a resumed run's, read by <see cref="Parse"/>).</summary>
    public void Restore(SortedDictionary<string, double> scores)
    {
        _scores.Clear();
        foreach (var (k, v) in scores) _scores[k] = v;
    }
}
