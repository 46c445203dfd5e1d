using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Core.Evaluation;

/// <summary>How <see cref="TrialSampler"/> plays a batch of trials.</summary>
/// <param name="Episodes">Episodes per trial.</param>
/// <param name="LanesPerTrial">Environments each trial plays side by side: a round's episodes (1: one after another).</param>
/// <param name="Stepping">When environment steps go to other cores (Never inside work that is already spread over them).</param>
/// <param name="CheckActions">Validate every action against the action space, naming <paramref name="AgentName"/> in the error.</param>
/// <param name="AgentName">The agent named in errors.</param>
public sealed record TrialPlan(int Episodes, int LanesPerTrial = 1, StepParallelism Stepping = StepParallelism.Auto, bool CheckActions = true, string AgentName = "agent");

/// <summary>
/// A session that records what each step returned beyond the reward (whether the episode terminated or was cut off),
/// for training: <see cref="TrialSampler"/> calls it after every step, before <see cref="IAgentSession.Observe"/>.
/// </summary>
public interface IStepResultReader
{
    /// <summary><paramref name="results"/> holds one entry per lane; only active lanes' entries are this step's.</summary>
    void SeeStepResults(ReadOnlySpan<StepResult> results, ReadOnlySpan<bool> active);
}

/// <summary>
/// The one loop that plays trials, for evaluation and for training alike: each trial is one task played for
/// <see cref="TrialPlan.Episodes"/> episodes, its episodes in rounds of <see cref="TrialPlan.LanesPerTrial"/> side by side;
/// an episode ends when the environment says so or at the family's horizon; the next round starts when every lane of
/// the trial has ended its episode; the session keeps whatever it learns across the trial's episodes. The meta-test
/// protocol (<see cref="MetaTest"/>), RL²'s rollouts and MAML's trajectory batches are this loop with their own sessions.
/// </summary>
public static class TrialSampler
{
    /// <summary>
    /// Plays one trial of each of <paramref name="trialTasks"/> (slot i of <paramref name="session"/> plays trial i) and
    /// returns each trial's episode returns, [trial][episode]. Lane l (trial l / lanes) steps with
    /// <paramref name="laneStreams"/>[l] alone; <paramref name="envs"/>, when given, are reused (a simulator is costly to
    /// create) and must hold one entry per lane (null entries are created). With <paramref name="metrics"/> (one array per
    /// trial), episode e's <see cref="TaskDistribution.EpisodeMetrics"/> go to [trial][e · m … e · m + m − 1]; with
    /// <paramref name="traces"/> (one list per trial), each step's <see cref="TaskDistribution.TraceChannels"/> are
    /// appended to [trial][episode]. With <paramref name="periods"/> (one array per trial, of episodes ×
    /// <see cref="TrialPeriod.PerEpisode"/> entries) and the family's <see cref="TaskDistribution.Period"/>, each step's
    /// reward is added to [trial][episode · periods per episode + step / period steps].
    /// </summary>
    public static double[][] Play(IAgentSession session, TaskDistribution tasks, IReadOnlyList<ITask> trialTasks, IReadOnlyList<Rng> laneStreams, TrialPlan plan,
        IEnv?[]? envs = null, double[][]? metrics = null, List<double>[][]? traces = null, double[][]? periods = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(trialTasks);
        ArgumentNullException.ThrowIfNull(laneStreams);
        ArgumentNullException.ThrowIfNull(plan);
        int per = plan.LanesPerTrial, b = trialTasks.Count, lanes = b * per;
        if (per < 1) throw new ArgumentOutOfRangeException(nameof(plan), per, "At least one lane per trial.");
        if (plan.Episodes < 1 || plan.Episodes % per != 0)
            throw new ArgumentException($"A trial of {plan.Episodes} episodes is not a whole number of rounds of {per}.", nameof(plan));
        if (laneStreams.Count != lanes) throw new ArgumentException($"One random stream per lane: {lanes} lanes, {laneStreams.Count} streams.", nameof(laneStreams));
        if (envs is not null && envs.Length != lanes) throw new ArgumentException($"One environment per lane: {lanes} lanes, {envs.Length} environments.", nameof(envs));
        int rounds = plan.Episodes / per, obsSize = tasks.ObservationSpace.Size, actSize = tasks.ActionSpace.Size, hiddenSize = tasks.HiddenStateSize;
        int metricCount = tasks.EpisodeMetrics.Count, channels = tasks.TraceChannels.Count;
        if (metrics is not null && (metrics.Length != b || metrics.Any(m => m is null || m.Length != plan.Episodes * metricCount)))
            throw new ArgumentException($"One array of {plan.Episodes} × {metricCount} metrics per trial.", nameof(metrics));
        if (traces is not null && (traces.Length != b || traces.Any(t => t is null || t.Length != plan.Episodes)))
            throw new ArgumentException($"One list per episode of each of the {b} trials.", nameof(traces));
        var traceRow = new double[channels];
        var period = tasks.Period;
        int periodsPerEpisode = period?.PerEpisode(tasks.Horizon) ?? 0, periodSteps = period?.Steps ?? 1;
        if (periods is not null && (period is null || periods.Length != b || periods.Any(p => p is null || p.Length != plan.Episodes * periodsPerEpisode)))
            throw new ArgumentException(period is null ? $"{tasks.Name} has no periods." : $"One array of {plan.Episodes} × {periodsPerEpisode} periods per trial.", nameof(periods));

        var returns = new double[b][];
        var lane = new IEnv[lanes];
        var streams = new Rng[lanes];
        var obs = new float[lanes * obsSize];
        var actions = new float[lanes * actSize];
        var rewards = new float[lanes];
        var ended = new bool[lanes];
        var active = new bool[lanes];
        var round = new int[b];
        var waiting = new int[b];
        var steps = new int[lanes];
        var episodeReturn = new double[lanes];
        for (int i = 0; i < b; i++)
        {
            returns[i] = new double[plan.Episodes];
            for (int j = 0; j < per; j++)
            {
                int l = i * per + j;
                lane[l] = envs?[l] ?? tasks.CreateEnv();
                if (envs is not null) envs[l] = lane[l];
                lane[l].SetTask(trialTasks[i]);
                streams[l] = laneStreams[l];
                lane[l].Reset(streams[l], obs.AsSpan(l * obsSize, obsSize));
                active[l] = true;
            }
            session.StartTrial(i, trialTasks[i]);
        }
        var stepper = new EnvBatchStepper(lane, streams, obsSize, actSize, plan.Stepping);
        var hiddenReader = hiddenSize > 0 ? session as IHiddenStateReader : null;
        var hidden = hiddenReader is null ? [] : new float[lanes * hiddenSize];
        var resultReader = session as IStepResultReader;
        int remaining = b;
        while (remaining > 0)
        {
            if (hiddenReader is not null)
            {
                for (int l = 0; l < lanes; l++)
                    if (active[l]) lane[l].WriteHiddenState(hidden.AsSpan(l * hiddenSize, hiddenSize));
                hiddenReader.SeeHiddenState(hidden, active);
            }
            session.Act(obs, active, actions);
            if (plan.CheckActions)
                for (int l = 0; l < lanes; l++)
                    if (active[l]) tasks.ActionSpace.Validate(actions.AsSpan(l * actSize, actSize), $"action of agent '{plan.AgentName}'");
            stepper.Step(actions, active, obs);
            for (int l = 0; l < lanes; l++)
            {
                if (!active[l]) { ended[l] = false; rewards[l] = 0; continue; }
                // The session learns from what was played, when the environment played another action than it was given.
                lane[l].WritePlayedAction(actions.AsSpan(l * actSize, actSize));
                var r = stepper.Results[l];
                if (periods is not null)
                {
                    int trial = l / per;
                    periods[trial][(round[trial] * per + l % per) * periodsPerEpisode + steps[l] / periodSteps] += r.Reward;
                }
                steps[l]++;
                rewards[l] = (float)r.Reward;
                episodeReturn[l] += r.Reward;
                ended[l] = r.Done || steps[l] >= tasks.Horizon;
                if (traces is not null && channels > 0)
                {
                    lane[l].WriteTrace(traceRow);
                    int trial = l / per;
                    (traces[trial][round[trial] * per + l % per] ??= []).AddRange(traceRow);
                }
            }
            resultReader?.SeeStepResults(stepper.Results, active);
            session.Observe(actions, rewards, obs, ended, active);
            for (int l = 0; l < lanes; l++)
            {
                if (!active[l] || !ended[l]) continue;
                int trial = l / per;
                int episode = round[trial] * per + l % per;
                returns[trial][episode] = episodeReturn[l];
                if (metrics is not null && metricCount > 0) lane[l].WriteEpisodeMetrics(metrics[trial].AsSpan(episode * metricCount, metricCount));
                episodeReturn[l] = 0;
                steps[l] = 0;
                active[l] = false;
                if (++waiting[trial] < per) continue; // the round goes on in the trial's other lanes
                waiting[trial] = 0;
                if (++round[trial] == rounds) { remaining--; continue; }
                for (int j = trial * per; j < (trial + 1) * per; j++)
                {
                    lane[j].Reset(streams[j], obs.AsSpan(j * obsSize, obsSize));
                    active[j] = true;
                }
            }
        }
        return returns;
    }
}
