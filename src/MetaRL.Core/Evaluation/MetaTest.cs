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
public sealed record MetaTestOptions(int Trials = 1000, ulong Seed = 1, int Batch = 500, TaskSplit Split = TaskSplit.Test)
{
    public void Validate()
    {
        if (Trials < 1) throw new ArgumentOutOfRangeException(nameof(Trials), Trials, "The number of trials must be at least 1.");
        if (Batch < 1) throw new ArgumentOutOfRangeException(nameof(Batch), Batch, "The batch must be at least 1.");
    }
}

/// <summary>A mean difference of total return between two agents over the same trials, with its 95% CI half-width.</summary>
public sealed record PairedLead(double Mean, double Ci95);

/// <summary>The adaptation curve of one agent on held-out tasks.</summary>
public sealed class MetaTestResult
{
    public required string Agent { get; init; }
    public required string Task { get; init; }
    public required int Trials { get; init; }
    public required int EpisodesPerTrial { get; init; }
    public required ulong Seed { get; init; }

    /// <summary>Mean return in episode 1, 2, … of a trial.</summary>
    public required double[] EpisodeReturns { get; init; }

    /// <summary>Half-width of the 95% confidence interval of each entry of <see cref="EpisodeReturns"/>.</summary>
    public required double[] EpisodeCi95 { get; init; }

    /// <summary>Mean over trials of the total return of a trial.</summary>
    public required double MeanTotalReturn { get; init; }

    /// <summary>Half-width of the 95% confidence interval of <see cref="MeanTotalReturn"/>.</summary>
    public required double Ci95 { get; init; }

    /// <summary>Mean total return of the task-knowing optimum on the same tasks, when the family can compute it.</summary>
    public double? OracleTotalReturn { get; init; }

    /// <summary><see cref="OracleTotalReturn"/> − <see cref="MeanTotalReturn"/>.</summary>
    public double? Regret => OracleTotalReturn - MeanTotalReturn;

    /// <summary>Total return of each trial, in trial order (the same tasks and random streams for every agent given the same options).</summary>
    [JsonIgnore]
    public double[] TrialTotals { get; init; } = [];

    /// <summary>Set on a compared agent's result: the evaluated agent's total return minus this one's, paired trial by trial.</summary>
    public PairedLead? LeadOfEvaluatedAgent { get; set; }

    /// <summary>
    /// <paramref name="first"/>'s total return minus <paramref name="other"/>'s over the same trials: both met the same
    /// tasks and environment random streams, so task-to-task spread cancels from the difference.
    /// </summary>
    public static PairedLead Lead(MetaTestResult first, MetaTestResult other)
    {
        if (first.Trials != other.Trials || first.Seed != other.Seed || first.TrialTotals.Length != first.Trials || other.TrialTotals.Length != other.Trials)
            throw new ArgumentException($"'{first.Agent}' and '{other.Agent}' did not play the same trials; a paired comparison needs both.");
        var (mean, ci) = MetaTest.MeanCi(first.TrialTotals.Zip(other.TrialTotals, (a, b) => a - b).ToArray());
        return new PairedLead(mean, ci);
    }

    /// <summary>Extra per-agent details (tuned constants, training figures).</summary>
    public Dictionary<string, string> Details { get; init; } = [];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static string ToJson(IEnumerable<MetaTestResult> results) => JsonSerializer.Serialize(results.ToArray(), JsonOptions);
}

/// <summary>
/// The one meta-test protocol every agent goes through: held-out tasks, one trial of
/// <see cref="TaskDistribution.EpisodesPerTrial"/> episodes per task, return per episode index with
/// 95% confidence intervals, total return, and regret against the oracle where one exists.
/// </summary>
public static class MetaTest
{
    public static MetaTestResult Run(IMetaAgent agent, TaskDistribution tasks, MetaTestOptions options)
    {
        ArgumentNullException.ThrowIfNull(agent);
        ArgumentNullException.ThrowIfNull(tasks);
        options.Validate();
        int n = tasks.EpisodesPerTrial;
        var returns = new double[options.Trials, n];
        var oracle = new double?[options.Trials];
        var allTasks = Tasks(tasks, options.Seed, options.Trials, options.Split);
        for (int t = 0; t < options.Trials; t++) oracle[t] = tasks.OracleEpisodeReturn(allTasks[t]) * n;

        var agentRng = new Rng(options.Seed ^ 0xA6E47UL);
        int obsSize = tasks.ObservationSpace.Size, actSize = tasks.ActionSpace.Size;
        for (int start = 0; start < options.Trials; start += options.Batch)
        {
            int b = Math.Min(options.Batch, options.Trials - start);
            var session = agent.Begin(b, tasks, agentRng.Split());
            var envs = new IEnv[b];
            var envRngs = new Rng[b];
            var obs = new float[b * obsSize];
            var actions = new float[b * actSize];
            var rewards = new float[b];
            var ended = new bool[b];
            var active = new bool[b];
            var episode = new int[b];
            var steps = new int[b];
            var episodeReturn = new double[b];
            for (int i = 0; i < b; i++)
            {
                envs[i] = tasks.CreateEnv();
                envs[i].SetTask(allTasks[start + i]);
                envRngs[i] = EnvironmentStream(options.Seed, start + i);
                envs[i].Reset(envRngs[i], obs.AsSpan(i * obsSize, obsSize));
                session.StartTrial(i, allTasks[start + i]);
                active[i] = true;
            }
            var stepper = new EnvBatchStepper(envs, envRngs, obsSize, actSize);
            int remaining = b;
            while (remaining > 0)
            {
                session.Act(obs, active, actions);
                for (int i = 0; i < b; i++)
                    if (active[i]) tasks.ActionSpace.Validate(actions.AsSpan(i * actSize, actSize), $"action of agent '{agent.Name}'");
                stepper.Step(actions, active, obs);
                for (int i = 0; i < b; i++)
                {
                    if (!active[i]) { ended[i] = false; rewards[i] = 0; continue; }
                    var r = stepper.Results[i];
                    steps[i]++;
                    rewards[i] = (float)r.Reward;
                    episodeReturn[i] += r.Reward;
                    ended[i] = r.Done || steps[i] >= tasks.Horizon;
                }
                session.Observe(actions, rewards, obs, ended, active);
                for (int i = 0; i < b; i++)
                {
                    if (!active[i] || !ended[i]) continue;
                    returns[start + i, episode[i]] = episodeReturn[i];
                    episodeReturn[i] = 0;
                    steps[i] = 0;
                    if (++episode[i] == n)
                    {
                        active[i] = false;
                        remaining--;
                    }
                    else envs[i].Reset(envRngs[i], obs.AsSpan(i * obsSize, obsSize));
                }
            }
        }
        return Summarise(agent.Name, tasks, options, returns, oracle);
    }

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

    /// <summary>The random stream the environment of trial <paramref name="trial"/> (0, 1, …) of a meta-test with <paramref name="seed"/> steps with.</summary>
    public static Rng EnvironmentStream(ulong seed, int trial) => new(seed * 0x2545F4914F6CDD1DUL + (ulong)trial + 1);

    internal static MetaTestResult Summarise(string name, TaskDistribution tasks, MetaTestOptions options, double[,] returns, double?[] oracle)
    {
        int trials = returns.GetLength(0), n = returns.GetLength(1);
        var mean = new double[n];
        var ci = new double[n];
        var totals = new double[trials];
        for (int e = 0; e < n; e++)
        {
            var column = new double[trials];
            for (int t = 0; t < trials; t++)
            {
                column[t] = returns[t, e];
                totals[t] += returns[t, e];
            }
            (mean[e], ci[e]) = MeanCi(column);
        }
        var (total, totalCi) = MeanCi(totals);
        double? oracleTotal = oracle.All(o => o.HasValue) ? oracle.Average(o => o!.Value) : null;
        return new MetaTestResult
        {
            Agent = name,
            Task = tasks.Name,
            Trials = trials,
            EpisodesPerTrial = n,
            Seed = options.Seed,
            EpisodeReturns = mean,
            EpisodeCi95 = ci,
            MeanTotalReturn = total,
            Ci95 = totalCi,
            TrialTotals = totals,
            OracleTotalReturn = oracleTotal,
        };
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
