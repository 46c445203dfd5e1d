using System.Text.Json;
using System.Text.Json.Serialization;
using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Evaluation;

/// <summary>Settings of one meta-test.</summary>
/// <param name="Trials">Held-out tasks, one trial each.</param>
/// <param name="Seed">Seeds the held-out tasks and the environments; the same seed gives every agent the same tasks.</param>
/// <param name="Batch">Trials played side by side.</param>
/// <param name="Split">Held-out tasks (the default) or training tasks (for tuning baselines' constants).</param>
/// <param name="Episodes">Episodes per trial; null: the family's <see cref="TaskDistribution.EpisodesPerTrial"/>.</param>
/// <param name="PlayOracle">Play the family's <see cref="TaskDistribution.OracleAgent"/> on the same trials for the regret (false:
/// skip it, e.g. while tuning a baseline's constants, or while tuning the oracle itself).</param>
public sealed record MetaTestOptions(int Trials = 1000, ulong Seed = 1, int Batch = 500, TaskSplit Split = TaskSplit.Test, int? Episodes = null, bool PlayOracle = true)
{
    public void Validate()
    {
        if (Trials < 1) throw new ArgumentOutOfRangeException(nameof(Trials), Trials, "The number of trials must be at least 1.");
        if (Batch < 1) throw new ArgumentOutOfRangeException(nameof(Batch), Batch, "The batch must be at least 1.");
        if (Episodes is < 1) throw new ArgumentOutOfRangeException(nameof(Episodes), Episodes, "A trial has at least one episode.");
    }
}

/// <summary>
/// One agent's total return minus another's over the same trials (both met the same tasks and random streams), with its
/// 95% CI half-width; for agents that play in rounds, the same per round, and each at its best round against the other at its.
/// </summary>
public sealed record PairedLead(double Mean, double Ci95)
{
    /// <summary>Per episode of the trial (1, 2, …): the difference of the return, with its 95% CI half-width.</summary>
    public double[]? PerEpisode { get; init; }
    public double[]? PerEpisodeCi95 { get; init; }

    /// <summary>
    /// Per period of the trial (<see cref="MetaTestResult.PeriodReturns"/>: each month of each episode, in order): the
    /// difference of the return summed over the period, with its 95% CI half-width. Null when the family has no periods.
    /// </summary>
    public double[]? PerPeriod { get; init; }
    public double[]? PerPeriodCi95 { get; init; }

    /// <summary>Per round (after 0, 1, 2, … updates): the difference of the mean return per episode.</summary>
    public double[]? PerStep { get; init; }
    public double[]? PerStepCi95 { get; init; }

    /// <summary>
    /// Per metric of the family (<see cref="TaskDistribution.EpisodeMetrics"/>), in the trial's last episode: the first
    /// agent's value minus the other's, paired trial by trial (trials where either could not measure it left out), as
    /// [mean, 95% CI half-width]. Null when the family has no metrics.
    /// </summary>
    public Dictionary<string, double[]>? LastEpisodeMetrics { get; init; }

    /// <summary>
    /// The same over each group's trials alone (<see cref="MetaTestResult.Groups"/>: a style, an opponent, a cohort), in
    /// the groups' order; null when the family has no groups.
    /// </summary>
    public IReadOnlyList<GroupLead>? Groups { get; init; }

    /// <summary>The round at which each agent's mean return is highest, and the first's there minus the other's there.</summary>
    public int? BestStep { get; init; }
    public int? OtherBestStep { get; init; }
    public double? BestVsBest { get; init; }
    public double? BestVsBestCi95 { get; init; }
}

/// <summary>
/// One agent's lead over another on one group's trials alone, paired trial by trial: the return and each of the family's
/// metrics per episode of the trial (trials where either could not measure a metric left out), with 95% CI half-widths.
/// </summary>
public sealed record GroupLead(string Name, int Trials, double[] PerEpisode, double[] PerEpisodeCi95,
    Dictionary<string, double[]>? Metrics, Dictionary<string, double[]>? MetricsCi95);

/// <summary>
/// What one agent scored in the meta-test protocol: the return per episode of a trial (its adaptation curve), the
/// total per trial, regret against the task-knowing optimum, and for agents that learn in rounds of several episodes
/// (MAML) the return after 0, 1, 2, … updates. Every agent, of every family, is reported in this one shape.
/// </summary>
public sealed class MetaTestResult
{
    public required string Agent { get; init; }
    public required string Task { get; init; }
    public required int Trials { get; init; }
    public required int EpisodesPerTrial { get; init; }
    public required ulong Seed { get; init; }

    /// <summary>How the agent chose its actions ("greedy", "sampled", …), when it says.</summary>
    public string? ActingRule { get; init; }

    /// <summary>What the task family calls an episode ("episode", "pull"; <see cref="TaskDistribution.EpisodeName"/>), for reports.</summary>
    public string EpisodeName { get; init; } = "episode";

    /// <summary>Episodes of a round: played with the same knowledge, then learnt from together (1 for most agents; MAML's trajectories per step).</summary>
    public int EpisodesPerRound { get; init; } = 1;

    /// <summary>Mean return in episode 1, 2, … of a trial.</summary>
    public required double[] EpisodeReturns { get; init; }

    /// <summary>Half-width of the 95% confidence interval of each entry of <see cref="EpisodeReturns"/>.</summary>
    public required double[] EpisodeCi95 { get; init; }

    /// <summary>
    /// For an agent playing rounds of several episodes: the mean return per episode of round 0, 1, 2, … (after that many
    /// updates; MAML's "return after k gradient steps"), with CIs over trials. Null for agents that play one episode per round.
    /// </summary>
    public double[]? StepReturns { get; init; }
    public double[]? StepCi95 { get; init; }

    /// <summary>Mean over trials of the total return of a trial.</summary>
    public required double MeanTotalReturn { get; init; }

    /// <summary>Half-width of the 95% confidence interval of <see cref="MeanTotalReturn"/>.</summary>
    public required double Ci95 { get; init; }

    /// <summary>Mean total return of the task-knowing optimum on the same tasks, when the family can compute it.</summary>
    public double? OracleTotalReturn { get; init; }

    /// <summary>The agent whose play on the same trials gave <see cref="OracleTotalReturn"/>; null when it is the family's closed form.</summary>
    public string? OracleAgent { get; init; }

    /// <summary><see cref="OracleTotalReturn"/> − <see cref="MeanTotalReturn"/>.</summary>
    public double? Regret => OracleTotalReturn - MeanTotalReturn;

    /// <summary>Total return of each trial (each held-out task), in trial order: the same tasks and random streams for every agent given the same options.</summary>
    public double[] TrialTotals { get; init; } = [];

    /// <summary>Return of each episode of each trial, [trial][episode] (for paired comparisons per round).</summary>
    [JsonIgnore]
    public double[][] TrialEpisodeReturns { get; init; } = [];

    /// <summary>Set on a compared agent's result: the evaluated agent's total return minus this one's, paired trial by trial.</summary>
    public PairedLead? LeadOfEvaluatedAgent { get; set; }

    /// <summary>
    /// <paramref name="first"/>'s total return minus <paramref name="other"/>'s over the same trials: both met the same
    /// tasks and environment random streams, so task-to-task spread cancels from the difference. When both played the
    /// same rounds, the lead per round and best round against best round too.
    /// </summary>
    public static PairedLead Lead(MetaTestResult first, MetaTestResult other)
    {
        if (first.Trials != other.Trials || first.Seed != other.Seed || first.TrialTotals.Length != first.Trials || other.TrialTotals.Length != other.Trials)
            throw new ArgumentException($"'{first.Agent}' and '{other.Agent}' did not play the same trials; a paired comparison needs both.");
        var (mean, ci) = MetaTest.MeanCi(first.TrialTotals.Zip(other.TrialTotals, (a, b) => a - b).ToArray());
        double[]? perEpisode = null, perEpisodeCi = null;
        if (first.EpisodesPerTrial == other.EpisodesPerTrial && first.TrialEpisodeReturns.Length == first.Trials && other.TrialEpisodeReturns.Length == other.Trials)
            (perEpisode, perEpisodeCi) = PairedColumns(first.TrialEpisodeReturns, other.TrialEpisodeReturns, first.EpisodesPerTrial);
        var metricLeads = MetricLeads(first, other);
        var groupLeads = GroupLeads(first, other);
        double[]? perPeriod = null, perPeriodCi = null;
        if (first.PeriodReturns is { } fp && other.PeriodReturns is { } op && fp.Length == op.Length && first.PeriodSteps == other.PeriodSteps
            && first.TrialPeriodReturns.Length == first.Trials && other.TrialPeriodReturns.Length == other.Trials)
            (perPeriod, perPeriodCi) = PairedColumns(first.TrialPeriodReturns, other.TrialPeriodReturns, fp.Length);
        if (first.StepReturns is null || other.StepReturns is null || first.StepReturns.Length != other.StepReturns.Length
            || first.TrialEpisodeReturns.Length != first.Trials || other.TrialEpisodeReturns.Length != other.Trials)
            return new PairedLead(mean, ci)
            {
                PerEpisode = perEpisode, PerEpisodeCi95 = perEpisodeCi, PerPeriod = perPeriod, PerPeriodCi95 = perPeriodCi, LastEpisodeMetrics = metricLeads, Groups = groupLeads,
            };
        int steps = first.StepReturns.Length;
        var a = first.StepReturnsPerTrial();
        var b = other.StepReturnsPerTrial();
        var (perStep, perStepCi) = PairedColumns(a, b, steps);
        int ka = ArgMax(first.StepReturns), kb = ArgMax(other.StepReturns);
        var (best, bestCi) = MetaTest.MeanCi(Enumerable.Range(0, first.Trials).Select(t => a[t][ka] - b[t][kb]).ToArray());
        return new PairedLead(mean, ci)
        {
            PerEpisode = perEpisode, PerEpisodeCi95 = perEpisodeCi, PerPeriod = perPeriod, PerPeriodCi95 = perPeriodCi,
            PerStep = perStep, PerStepCi95 = perStepCi, BestStep = ka, OtherBestStep = kb, BestVsBest = best, BestVsBestCi95 = bestCi,
            LastEpisodeMetrics = metricLeads, Groups = groupLeads,
        };
    }

    // Column k of a minus column k of b, row by row (trial by trial), for k < columns: each difference's mean and 95% CI.
    private static (double[] Mean, double[] Ci95) PairedColumns(double[][] a, double[][] b, int columns)
    {
        var (mean, ci) = (new double[columns], new double[columns]);
        for (int k = 0; k < columns; k++)
            (mean[k], ci[k]) = MetaTest.MeanCi(Enumerable.Range(0, a.Length).Select(t => a[t][k] - b[t][k]).ToArray());
        return (mean, ci);
    }

    // The return and each metric per episode, paired over each group's trials (both agents played the same tasks, so
    // the groups match trial by trial).
    private static GroupLead[]? GroupLeads(MetaTestResult first, MetaTestResult other)
    {
        if (first.Groups is null || first.TrialGroups.Length != first.Trials || !first.TrialGroups.SequenceEqual(other.TrialGroups)
            || first.EpisodesPerTrial != other.EpisodesPerTrial || first.TrialEpisodeReturns.Length != first.Trials || other.TrialEpisodeReturns.Length != other.Trials)
            return null;
        int n = first.EpisodesPerTrial;
        var keys = first.Metrics?.Keys.ToArray() ?? [];
        bool withMetrics = keys.Length > 0 && other.Metrics is not null && keys.SequenceEqual(other.Metrics.Keys)
            && first.TrialEpisodeMetrics.Length == first.Trials && other.TrialEpisodeMetrics.Length == other.Trials;
        // Trial by trial, the first's return and metrics minus the other's; a metric either could not measure stays NaN.
        var returns = Enumerable.Range(0, first.Trials).Select(t => Difference(first.TrialEpisodeReturns[t], other.TrialEpisodeReturns[t])).ToArray();
        var metrics = withMetrics ? Enumerable.Range(0, first.Trials).Select(t => Difference(first.TrialEpisodeMetrics[t], other.TrialEpisodeMetrics[t])).ToArray() : [];
        return first.Groups.Select(group =>
        {
            var summary = MetaTest.GroupSummary(group.Name, withMetrics ? keys : [], returns, metrics, first.TrialGroups, n);
            return new GroupLead(group.Name, summary.Trials, summary.EpisodeReturns, summary.EpisodeCi95, summary.Metrics, summary.MetricsCi95);
        }).ToArray();

        static double[] Difference(double[] a, double[] b) => a.Zip(b, (x, y) => x - y).ToArray();
    }

    // Each metric's paired difference in the last episode, over the trials where both measured it.
    private static Dictionary<string, double[]>? MetricLeads(MetaTestResult first, MetaTestResult other)
    {
        if (first.Metrics is null || other.Metrics is null || first.EpisodesPerTrial != other.EpisodesPerTrial
            || first.TrialEpisodeMetrics.Length != first.Trials || other.TrialEpisodeMetrics.Length != other.Trials || first.Trials == 0)
            return null;
        var keys = first.Metrics.Keys.ToArray();
        int m = keys.Length, e = first.EpisodesPerTrial - 1;
        if (first.TrialEpisodeMetrics[0].Length != first.EpisodesPerTrial * m || !keys.SequenceEqual(other.Metrics.Keys)) return null;
        var result = new Dictionary<string, double[]>();
        for (int k = 0; k < m; k++)
        {
            var d = Enumerable.Range(0, first.Trials).Select(t => first.TrialEpisodeMetrics[t][e * m + k] - other.TrialEpisodeMetrics[t][e * m + k]).Where(v => !double.IsNaN(v)).ToArray();
            var (mean, ci) = MetaTest.MeanCi(d);
            result[keys[k]] = [mean, ci];
        }
        return result;
    }

    /// <summary>For an agent playing rounds of several episodes: per trial (held-out task, in order), the mean return per episode of each round.</summary>
    public double[][]? TrialStepReturns => StepReturns is null ? null : StepReturnsPerTrial();

    private double[][] StepReturnsPerTrial()
    {
        int k = EpisodesPerRound, rounds = EpisodesPerTrial / k;
        return TrialEpisodeReturns.Select(row => Enumerable.Range(0, rounds).Select(r => row.Skip(r * k).Take(k).Average()).ToArray()).ToArray();
    }

    private static int ArgMax(double[] v)
    {
        int k = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[k]) k = i;
        return k;
    }

    /// <summary>
    /// The family's <see cref="TaskDistribution.EpisodeMetrics"/> by key: the mean over trials in episode 1, 2, … of a trial
    /// (e.g. <c>timeInRange</c> per day). Null when the family reports none.
    /// </summary>
    public Dictionary<string, double[]>? Metrics { get; init; }

    /// <summary>Half-width of the 95% confidence interval of each entry of <see cref="Metrics"/>.</summary>
    public Dictionary<string, double[]>? MetricsCi95 { get; init; }

    /// <summary>
    /// Whether the agent gets better as the trial goes on: each episode's return (key <c>return</c>) and each of the
    /// family's metrics minus the same trial's first episode, paired trial by trial (trials that could not measure a
    /// metric in either episode left out); the first entry is 0. Null for a trial of one episode.
    /// </summary>
    public Dictionary<string, double[]>? GainOverFirst { get; init; }

    /// <summary>Half-width of the 95% confidence interval of each entry of <see cref="GainOverFirst"/>.</summary>
    public Dictionary<string, double[]>? GainOverFirstCi95 { get; init; }

    /// <summary>The key of the return in <see cref="GainOverFirst"/>.</summary>
    public const string ReturnKey = "return";

    /// <summary>Each metric of each episode of each trial, [trial][episode · m + metric] in the family's order, for analyses per trial (a metric paired across agents).</summary>
    [JsonIgnore]
    public double[][] TrialEpisodeMetrics { get; init; } = [];

    /// <summary>What the family calls a period of an episode ("month"; <see cref="TaskDistribution.Period"/>), when it has periods.</summary>
    public string? PeriodName { get; init; }

    /// <summary>Steps in a period (the last of an episode may be shorter), when the family has periods.</summary>
    public int? PeriodSteps { get; init; }

    /// <summary>Periods in each episode of <see cref="PeriodReturns"/> (0 without periods).</summary>
    [JsonIgnore]
    public int PeriodsPerEpisode => (PeriodReturns?.Length ?? 0) / EpisodesPerTrial;

    /// <summary>
    /// The mean over trials of the return summed over each period of the trial: the periods of episode 1, then those of
    /// episode 2, …; the curve of adaptation inside an episode. Null when the family has no periods.
    /// </summary>
    public double[]? PeriodReturns { get; init; }

    /// <summary>Half-width of the 95% confidence interval of each entry of <see cref="PeriodReturns"/>.</summary>
    public double[]? PeriodCi95 { get; init; }

    /// <summary>The return of each period of each trial, [trial][period] (for paired comparisons per period).</summary>
    [JsonIgnore]
    public double[][] TrialPeriodReturns { get; init; } = [];

    /// <summary>What the family calls its groups of tasks ("cohort"), when it has groups (<see cref="TaskDistribution.GroupName"/>).</summary>
    public string? GroupName { get; init; }

    /// <summary>The same figures over each group's trials alone (a cohort of patients), groups in name order; null without groups.</summary>
    public IReadOnlyList<GroupResult>? Groups { get; init; }

    /// <summary>Each trial's group name, in trial order (for comparisons per group); empty when the family has no groups.</summary>
    [JsonIgnore]
    public string?[] TrialGroups { get; init; } = [];

    /// <summary>Extra per-agent details (tuned constants, training figures, MAML's step size after the first).</summary>
    public Dictionary<string, string> Details { get; init; } = [];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // A metric no trial could measure (no regime switch among a few trials) is NaN, written as "NaN".
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static string ToJson(IEnumerable<MetaTestResult> results) => JsonSerializer.Serialize(results.ToArray(), JsonOptions);
}

/// <summary>One group's part of a <see cref="MetaTestResult"/>: its trials' mean return and metrics per episode.</summary>
public sealed record GroupResult(string Name, int Trials, double[] EpisodeReturns, double[] EpisodeCi95, double MeanTotalReturn, double Ci95,
    Dictionary<string, double[]>? Metrics, Dictionary<string, double[]>? MetricsCi95);

/// <summary>
/// The one meta-test protocol every agent goes through: held-out tasks, one trial of
/// <see cref="TaskDistribution.EpisodesPerTrial"/> episodes per task, return per episode index with
/// 95% confidence intervals, total return, and regret against the oracle where one exists. An agent that learns in
/// rounds of K episodes (<see cref="IMetaAgent.EpisodesPerRound"/>) plays each round's K episodes side by side, each in an
/// environment of its own; the next round starts when all K have ended.
/// </summary>
public static class MetaTest
{
    public static MetaTestResult Run(IMetaAgent agent, TaskDistribution tasks, MetaTestOptions options)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        options.Validate();
        return Run(agent, tasks, Tasks(tasks, options.Seed, options.Trials, options.Split), options);
    }

    /// <summary>
    /// The protocol on the given tasks (e.g. validation tasks, or an application's own cases), one trial each in order;
    /// <paramref name="options"/>' seed derives the environments' and the agent's random streams, its trial count is not used.
    /// </summary>
    public static MetaTestResult Run(IMetaAgent agent, TaskDistribution tasks, IReadOnlyList<ITask> trialTasks, MetaTestOptions options)
        => Play(agent, tasks, trialTasks, options, playOracle: options.PlayOracle);

    private static MetaTestResult Play(IMetaAgent agent, TaskDistribution tasks, IReadOnlyList<ITask> trialTasks, MetaTestOptions options, bool playOracle)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(trialTasks);
        options = options with { Trials = trialTasks.Count };
        options.Validate();
        int n = options.Episodes ?? tasks.EpisodesPerTrial, lanesPerTrial = agent.EpisodesPerRound;
        if (lanesPerTrial < 1) throw new ArgumentException($"Agent '{agent.Name}' plays {lanesPerTrial} episodes per round; at least 1.");
        if (n % lanesPerTrial != 0)
            throw new ArgumentException($"Agent '{agent.Name}' plays rounds of {lanesPerTrial} episodes; a trial of {n} episodes is not a whole number of rounds (use a multiple of {lanesPerTrial}).");
        int rounds = n / lanesPerTrial;
        var returns = new double[options.Trials][];
        int metricCount = tasks.EpisodeMetrics.Count;
        var metrics = new double[options.Trials][];
        for (int t = 0; t < options.Trials; t++) metrics[t] = new double[n * metricCount];
        int periodCount = n * (tasks.Period?.PerEpisode(tasks.Horizon) ?? 0);
        var periods = new double[tasks.Period is null ? 0 : options.Trials][];
        for (int t = 0; t < periods.Length; t++) periods[t] = new double[periodCount];
        var oracle = new double?[options.Trials];
        for (int t = 0; t < options.Trials; t++) oracle[t] = tasks.OracleEpisodeReturn(trialTasks[t]) * n;

        // Without a closed form the family's oracle agent plays the same trials (same tasks, same environment streams).
        string? oracleAgent = null;
        if (playOracle && oracle.Any(o => o is null) && tasks.OracleAgent is { } o)
        {
            var played = Play(o, tasks, trialTasks, options, playOracle: false);
            for (int t = 0; t < options.Trials; t++) oracle[t] = played.TrialTotals[t] * n / played.EpisodesPerTrial;
            oracleAgent = o.Name;
        }

        var agentRng = AgentStream(options.Seed);
        var plan = new TrialPlan(n, lanesPerTrial, AgentName: agent.Name);
        var taskArray = trialTasks as ITask[] ?? trialTasks.ToArray();
        for (int start = 0; start < options.Trials; start += options.Batch)
        {
            int b = Math.Min(options.Batch, options.Trials - start);
            var session = agent.Begin(b, tasks, agentRng.Split(), lanesPerTrial);
            var streams = new Rng[b * lanesPerTrial];
            for (int i = 0; i < streams.Length; i++) streams[i] = EnvironmentStream(options.Seed, start + i / lanesPerTrial, i % lanesPerTrial);
            var played = TrialSampler.Play(session, tasks, new ArraySegment<ITask>(taskArray, start, b), streams, plan,
                metrics: metricCount > 0 ? metrics[start..(start + b)] : null, periods: periods.Length > 0 ? periods[start..(start + b)] : null);
            for (int i = 0; i < b; i++) returns[start + i] = played[i];
        }
        return Summarise(agent, tasks, taskArray, options, returns, metrics, periods, oracle, lanesPerTrial, oracleAgent);
    }

    /// <summary>The agents' own random stream of a meta-test with <paramref name="seed"/>; each batch of trials takes the next split of it.</summary>
    public static Rng AgentStream(ulong seed) => new(seed ^ 0xA6E47UL);

    /// <summary>The tasks of a meta-test with <paramref name="seed"/>, in trial order (held-out ones by default).</summary>
    public static ITask[] Tasks(TaskDistribution tasks, ulong seed, int count, TaskSplit split = TaskSplit.Test)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var rng = TaskDistribution.TaskStream(seed, split);
        var result = new ITask[count];
        for (int t = 0; t < count; t++) result[t] = tasks.SampleTask(rng, split);
        return result;
    }

    /// <summary>
    /// <paramref name="count"/> tasks from the training distribution on a stream of their own (never the training stream,
    /// never the held-out one), the same for a given <paramref name="seed"/>: for choosing a policy or a step size during
    /// training without looking at held-out tasks.
    /// </summary>
    public static ITask[] ValidationTasks(TaskDistribution tasks, ulong seed, int count)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one validation task.");
        var rng = TaskDistribution.TaskStream(seed ^ ValidationStream, TaskSplit.Train);
        return Enumerable.Range(0, count).Select(_ => tasks.SampleTask(rng, TaskSplit.Train)).ToArray();
    }

    /// <summary>Validation's options: the protocol with random streams of their own derived from the run's <paramref name="seed"/>.</summary>
    public static MetaTestOptions ValidationOptions(ulong seed, int? episodes = null) => new(Seed: seed ^ ValidationStream, Episodes: episodes);

    private const ulong ValidationStream = 0x7A11_DA7E_5EEDUL;

    /// <summary>The random stream the environment of trial <paramref name="trial"/> (0, 1, …) of a meta-test with <paramref name="seed"/> steps with.</summary>
    public static Rng EnvironmentStream(ulong seed, int trial) => new(seed * 0x2545F4914F6CDD1DUL + (ulong)trial + 1);

    /// <summary>The random stream of lane <paramref name="lane"/> (0 … K − 1) of trial <paramref name="trial"/>, for agents playing rounds of K episodes side by side; lane 0's is <see cref="EnvironmentStream(ulong, int)"/>.</summary>
    public static Rng EnvironmentStream(ulong seed, int trial, int lane)
        => lane == 0 ? EnvironmentStream(seed, trial) : new((seed * 0x2545F4914F6CDD1DUL + (ulong)trial + 1) ^ ((ulong)lane * 0x9E3779B97F4A7C15UL));

    /// <summary>
    /// Plays one trial of <paramref name="task"/> as the meta-test's trial <paramref name="trial"/> with <paramref name="seed"/>
    /// (the same environment stream) and records the family's <see cref="TaskDistribution.TraceChannels"/> after every
    /// step: [episode][step · channels + channel]. For plots of how an agent played, e.g. a patient's day.
    /// </summary>
    public static double[][] Trace(IMetaAgent agent, TaskDistribution tasks, ITask task, ulong seed, int trial = 0)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(task);
        if (tasks.TraceChannels.Count == 0) throw new InvalidOperationException($"{tasks.Name} records no trace channels.");
        if (agent.EpisodesPerRound != 1) throw new NotSupportedException($"'{agent.Name}' plays rounds of {agent.EpisodesPerRound} episodes; a trace follows one episode at a time.");
        int n = tasks.EpisodesPerTrial;
        var session = agent.Begin(1, tasks, AgentStream(seed).Split(), 1);
        var traces = new[] { new List<double>[n] };
        TrialSampler.Play(session, tasks, [task], [EnvironmentStream(seed, trial)], new TrialPlan(n, AgentName: agent.Name), traces: traces);
        return traces[0].Select(l => (l ?? []).ToArray()).ToArray();
    }

    private static MetaTestResult Summarise(IMetaAgent agent, TaskDistribution tasks, ITask[] trialTasks, MetaTestOptions options, double[][] returns, double[][] metrics,
        double[][] periods, double?[] oracle, int perRound, string? oracleAgent)
    {
        int trials = returns.Length, n = returns[0].Length, rounds = n / perRound;
        var mean = new double[n];
        var ci = new double[n];
        var totals = new double[trials];
        var column = new double[trials];
        for (int e = 0; e < n; e++)
        {
            for (int t = 0; t < trials; t++)
            {
                column[t] = returns[t][e];
                totals[t] += returns[t][e];
            }
            (mean[e], ci[e]) = MeanCi(column);
        }
        double[]? stepMean = null, stepCi = null;
        if (perRound > 1)
        {
            (stepMean, stepCi) = (new double[rounds], new double[rounds]);
            for (int r = 0; r < rounds; r++)
            {
                for (int t = 0; t < trials; t++) column[t] = returns[t].AsSpan(r * perRound, perRound).ToArray().Average();
                (stepMean[r], stepCi[r]) = MeanCi(column);
            }
        }
        var (total, totalCi) = MeanCi(totals);
        double? oracleTotal = oracle.All(o => o.HasValue) ? oracle.Average(o => o!.Value) : null;
        var metricKeys = tasks.EpisodeMetrics.Select(m => m.Key).ToArray();
        var (metricMean, metricCi) = MetricSummary(metricKeys, metrics, Enumerable.Range(0, trials).ToArray(), n);
        string?[] groupOf = tasks.GroupName is null ? [] : trialTasks.Select(tasks.GroupOf).ToArray();
        GroupResult[]? groups = tasks.GroupName is null ? null
            : groupOf.OfType<string>().Distinct().Order(StringComparer.Ordinal).Select(name => GroupSummary(name, metricKeys, returns, metrics, groupOf, n)).ToArray();
        var (gain, gainCi) = n > 1 ? GainSummary(tasks, returns, metrics) : (null, null);
        double[]? periodMean = null, periodCi = null;
        if (periods.Length > 0)
        {
            (periodMean, periodCi) = (new double[periods[0].Length], new double[periods[0].Length]);
            for (int k = 0; k < periodMean.Length; k++)
            {
                for (int t = 0; t < trials; t++) column[t] = periods[t][k];
                (periodMean[k], periodCi[k]) = MeanCi(column);
            }
        }
        return new MetaTestResult
        {
            Agent = agent.Name,
            Task = tasks.Name,
            Trials = trials,
            EpisodesPerTrial = n,
            Seed = options.Seed,
            ActingRule = string.IsNullOrEmpty(agent.ActingRule) ? null : agent.ActingRule,
            EpisodeName = tasks.EpisodeName,
            EpisodesPerRound = perRound,
            EpisodeReturns = mean,
            EpisodeCi95 = ci,
            StepReturns = stepMean,
            StepCi95 = stepCi,
            MeanTotalReturn = total,
            Ci95 = totalCi,
            TrialTotals = totals,
            TrialEpisodeReturns = returns,
            OracleTotalReturn = oracleTotal,
            OracleAgent = oracleTotal is null ? null : oracleAgent,
            Metrics = metricMean,
            MetricsCi95 = metricCi,
            TrialEpisodeMetrics = tasks.EpisodeMetrics.Count > 0 ? metrics : [],
            GainOverFirst = gain,
            GainOverFirstCi95 = gainCi,
            PeriodName = periodMean is null ? null : tasks.Period!.Name,
            PeriodSteps = periodMean is null ? null : tasks.Period!.Steps,
            PeriodReturns = periodMean,
            PeriodCi95 = periodCi,
            TrialPeriodReturns = periods,
            GroupName = groups is null ? null : tasks.GroupName,
            Groups = groups,
            TrialGroups = groupOf,
        };
    }

    // Per metric key, the mean and CI over the given trials in each episode (over those that measured it; NaN if none did).
    private static (Dictionary<string, double[]>?, Dictionary<string, double[]>?) MetricSummary(IReadOnlyList<string> declared, double[][] metrics, int[] trials, int episodes)
    {
        if (declared.Count == 0) return (null, null);
        var (mean, ci) = (new Dictionary<string, double[]>(), new Dictionary<string, double[]>());
        var column = new List<double>(trials.Length);
        for (int m = 0; m < declared.Count; m++)
        {
            var (mu, half) = (new double[episodes], new double[episodes]);
            for (int e = 0; e < episodes; e++)
            {
                // An episode that could not measure the metric (no regime switch to react to) wrote NaN: it is left out.
                column.Clear();
                foreach (int t in trials)
                    if (metrics[t][e * declared.Count + m] is var v && !double.IsNaN(v)) column.Add(v);
                (mu[e], half[e]) = MeanCi(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(column));
            }
            (mean[declared[m]], ci[declared[m]]) = (mu, half);
        }
        return (mean, ci);
    }

    // Each episode's return and metrics minus the first episode's, trial by trial (MetaTestResult.GainOverFirst).
    private static (Dictionary<string, double[]>, Dictionary<string, double[]>) GainSummary(TaskDistribution tasks, double[][] returns, double[][] metrics)
    {
        int trials = returns.Length, n = returns[0].Length, m = tasks.EpisodeMetrics.Count;
        var (mean, ci) = (new Dictionary<string, double[]>(), new Dictionary<string, double[]>());
        var column = new List<double>(trials);
        void Add(string key, Func<int, int, double> value)
        {
            var (mu, half) = (new double[n], new double[n]);
            for (int e = 1; e < n; e++)
            {
                column.Clear();
                for (int t = 0; t < trials; t++)
                    if (value(t, e) - value(t, 0) is var d && !double.IsNaN(d)) column.Add(d);
                (mu[e], half[e]) = MeanCi(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(column));
            }
            (mean[key], ci[key]) = (mu, half);
        }
        Add(MetaTestResult.ReturnKey, (t, e) => returns[t][e]);
        for (int k = 0; k < m; k++)
        {
            int metric = k;
            Add(tasks.EpisodeMetrics[k].Key, (t, e) => metrics[t][e * m + metric]);
        }
        return (mean, ci);
    }

    // One group's trials (those whose entry of groupOf is its name) summarised alone: return and metrics per episode.
    internal static GroupResult GroupSummary(string name, IReadOnlyList<string> metricKeys, double[][] returns, double[][] metrics, string?[] groupOf, int episodes)
    {
        var members = Enumerable.Range(0, groupOf.Length).Where(t => groupOf[t] == name).ToArray();
        var (mean, ci) = (new double[episodes], new double[episodes]);
        for (int e = 0; e < episodes; e++) (mean[e], ci[e]) = MeanCi(members.Select(t => returns[t][e]).ToArray());
        var (total, totalCi) = MeanCi(members.Select(t => returns[t].Sum()).ToArray());
        var (mm, mc) = MetricSummary(metricKeys, metrics, members, episodes);
        return new GroupResult(name, members.Length, mean, ci, total, totalCi, mm, mc);
    }

    /// <summary>The mean and the half-width of its normal-approximation 95% confidence interval.</summary>
    public static (double Mean, double Ci95) MeanCi(ReadOnlySpan<double> values)
    {
        if (values.Length == 0) return (double.NaN, double.NaN);
        double mean = 0;
        foreach (var v in values) mean += v;
        mean /= values.Length;
        if (values.Length < 2) return (mean, 0);
        double ss = 0;
        foreach (var v in values) ss += (v - mean) * (v - mean);
        return (mean, 1.96 * Math.Sqrt(ss / (values.Length - 1) / values.Length));
    }
}
