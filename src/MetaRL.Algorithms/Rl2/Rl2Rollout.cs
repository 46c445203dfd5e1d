using MetaRL.Core.Envs;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Rl2;

/// <summary>A rollout's batch with the figures the iteration reports: each trial's return, the mean return per episode index, the steps taken.</summary>
internal sealed record Rl2Collected(Rl2Batch Data, double[] TrialReturns, double[] EpisodeMeans, long Steps);

/// <summary>
/// RL²'s experience collection (Stable-Baselines3's <c>collect_rollouts</c>): trials on training tasks with the recurrent
/// state carried across the episodes of a trial, the running reward normalisation, and GAE over the whole trial
/// (episode ends inside a trial are not terminal: later episodes' rewards belong to the same objective).
/// Draws tasks from <paramref name="taskRng"/> and environment streams and actions from <paramref name="rng"/>, which the
/// trainer shares with its update, in that order.
/// </summary>
internal sealed class Rl2Rollout(TaskDistribution tasks, Rl2Network network, Rl2Config config, Rng rng, Rng taskRng, int taskFeatures)
{
    private readonly int _T = tasks.EpisodesPerTrial * tasks.Horizon, _obs = tasks.ObservationSpace.Size, _act = tasks.ActionSpace.Size, _F = taskFeatures;

    /// <summary>
    /// Plays one trial on each of <see cref="Rl2Config.TrialsPerIteration"/> freshly drawn training tasks with the current
    /// network (actions sampled), then normalises rewards and computes advantages. The observation statistics move only
    /// after the rollout, so all of its inputs were scaled alike.
    /// </summary>
    public Rl2Collected Collect()
    {
        int B = config.TrialsPerIteration, I = network.InputSize, S = network.StateSize, n = tasks.EpisodesPerTrial;
        var data = new Rl2Batch(_T, B, I, S, _act);
        var envs = new IEnv[B];
        var envRngs = new Rng[B];
        var obs = new float[B * _obs];
        var prevObs = network.ReadsPreviousObservation ? new float[B * _obs] : [];
        var prevAction = new float[B * _act];
        var prevReward = new float[B];
        var prevDone = new bool[B];
        var active = new bool[B];
        var episode = new int[B];
        var steps = new int[B];
        var trialReturn = new double[B];
        var episodeSums = new double[n];
        data.TaskFeatures = new float[B * _F];
        for (int i = 0; i < B; i++)
        {
            envs[i] = tasks.CreateEnv();
            var task = tasks.SampleTask(taskRng, TaskSplit.Train);
            envs[i].SetTask(task);
            if (_F > 0) tasks.WriteTaskFeatures(task, data.TaskFeatures.AsSpan(i * _F, _F));
            envRngs[i] = rng.Split();
            envs[i].Reset(envRngs[i], obs.AsSpan(i * _obs, _obs));
            active[i] = true;
        }
        var state = network.InitialState(B);
        var taskFeatures = network.CriticTaskFeatures > 0 ? Tensor.FromArray(data.TaskFeatures, B, _F) : null;
        var input = new float[B * I];
        var stepActions = new float[B * _act];
        var stepper = new EnvBatchStepper(envs, envRngs, _obs, _act);
        var seen = network.ObservationNormalizer is null ? null : new List<float>(_T * B * _obs);
        long total = 0;
        using var noGrad = GradMode.NoGrad();
        for (int t = 0; t < _T; t++)
        {
            bool any = false;
            for (int i = 0; i < B; i++)
            {
                any |= active[i];
                if (active[i] && seen is not null) seen.AddRange(obs.AsSpan(i * _obs, _obs));
                Rl2Inputs.Write(network, input.AsSpan(i * I, I), obs.AsSpan(i * _obs, _obs), prevAction.AsSpan(i * _act, _act), prevReward[i], prevDone[i], t > 0,
                    new Rl2Inputs.TrialClock(episode[i], steps[i], n, tasks.Horizon),
                    network.PolicyTaskFeatures > 0 ? data.TaskFeatures.AsSpan(i * _F, _F) : default,
                    network.ReadsPreviousObservation ? prevObs.AsSpan(i * _obs, _obs) : default);
            }
            if (!any) break;
            input.CopyTo(data.Inputs.AsSpan(t * B * I));
            state.Data.CopyTo(data.States.AsSpan(t * B * S));
            var x = Tensor.FromArray((float[])input.Clone(), B, I);
            state = network.Step(x, state);
            var features = network.Features(state, x);
            var policy = network.Policy(features);
            var value = network.Value(features, taskFeatures);
            var logStd = network.LogStd?.ToArray() ?? [];
            for (int i = 0; i < B; i++)
            {
                if (!active[i]) continue;
                int k = t * B + i;
                data.Mask[k] = 1;
                data.Values[k] = value.Data[i];
                var action = stepActions.AsSpan(i * _act, _act);
                data.LogProbs[k] = Rl2Inputs.Act(network, policy.Data.Slice(i * network.ActionSize, network.ActionSize), logStd, rng, false, action);
                action.CopyTo(data.Actions.AsSpan(k * _act, _act));
            }
            // Environments step on every core when their steps are costly; each uses only its own stream.
            if (network.ReadsPreviousObservation) obs.CopyTo(prevObs, 0);
            stepper.Step(stepActions, active, obs);
            for (int i = 0; i < B; i++)
            {
                if (!active[i]) continue;
                int k = t * B + i;
                var r = stepper.Results[i];
                total++;
                steps[i]++;
                data.Rewards[k] = (float)(r.Reward * config.RewardScale);
                trialReturn[i] += r.Reward;
                episodeSums[episode[i]] += r.Reward;
                stepActions.AsSpan(i * _act, _act).CopyTo(prevAction.AsSpan(i * _act, _act));
                prevReward[i] = (float)r.Reward;
                bool ended = r.Done || steps[i] >= tasks.Horizon;
                prevDone[i] = ended;
                if (!ended) continue;
                if (config.PadTerminated && r.Terminated && episode[i] + 1 < n) data.Skipped[k] = tasks.Horizon - steps[i];
                steps[i] = 0;
                if (++episode[i] == n) active[i] = false;
                else envs[i].Reset(envRngs[i], obs.AsSpan(i * _obs, _obs));
            }
        }
        // The statistics move only between rollouts: this iteration's inputs were all scaled alike.
        if (seen is not null) network.ObservationNormalizer!.Update(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seen));
        if (config.NormalizeRewards) NormalizeRewards(data, B);
        ComputeAdvantages(data, B);
        return new Rl2Collected(data, trialReturn, episodeSums.Select(s => s / B).ToArray(), total);
    }

    // Running statistics of the discounted return, for reward normalisation (saved in checkpoints).
    private double _retCount, _retMean, _retM2;

    /// <summary>The running (count, mean, M2) of the discounted return that reward normalisation divides by.</summary>
    public (double Count, double Mean, double M2) ReturnStatistics
    {
        get => (_retCount, _retMean, _retM2);
        set => (_retCount, _retMean, _retM2) = value;
    }

    /// <summary>
    /// The discount from step k to the next step of its trial: γ, or γ^(1+m) after an episode that terminated m steps
    /// before its horizon when <see cref="Rl2Config.PadTerminated"/> is set.
    /// </summary>
    private double Discount(Rl2Batch d, int k) => d.Skipped[k] == 0 ? config.Gamma : Math.Pow(config.Gamma, 1 + d.Skipped[k]);

    private void NormalizeRewards(Rl2Batch d, int B)
    {
        double n = 0, mean = 0, m2 = 0;
        for (int i = 0; i < B; i++)
        {
            double ret = 0;
            for (int t = 0; t < _T; t++)
            {
                int k = t * B + i;
                if (d.Mask[k] == 0) break;
                ret = (t > 0 ? Discount(d, k - B) : 1) * ret + d.Rewards[k];
                n++;
                double delta = ret - mean;
                mean += delta / n;
                m2 += delta * (ret - mean);
            }
        }
        if (n > 0)
        {
            // Chan et al.'s parallel merge of (count, mean, M2).
            double total = _retCount + n, delta = mean - _retMean;
            _retM2 += m2 + delta * delta * _retCount * n / total;
            _retMean += delta * n / total;
            _retCount = total;
        }
        double std = _retCount > 1 ? Math.Sqrt(_retM2 / _retCount) : 1;
        float inv = (float)(1 / (std + 1e-8));
        for (int k = 0; k < d.Rewards.Length; k++) d.Rewards[k] *= inv;
    }

    private void ComputeAdvantages(Rl2Batch d, int B)
    {
        float lambda = (float)config.GaeLambda;
        for (int i = 0; i < B; i++)
        {
            float next = 0, adv = 0;
            for (int t = _T - 1; t >= 0; t--)
            {
                int k = t * B + i;
                if (d.Mask[k] == 0) { next = 0; adv = 0; continue; }
                float gamma = (float)Discount(d, k);
                float delta = d.Rewards[k] + gamma * next - d.Values[k];
                adv = delta + gamma * lambda * adv;
                d.Advantages[k] = adv;
                d.Returns[k] = adv + d.Values[k];
                next = d.Values[k];
            }
        }
        // Normalise advantages over the valid steps of the batch.
        double sum = 0, sq = 0, count = 0;
        for (int k = 0; k < d.Mask.Length; k++)
            if (d.Mask[k] > 0) { sum += d.Advantages[k]; sq += (double)d.Advantages[k] * d.Advantages[k]; count++; }
        double mean = sum / Math.Max(1, count), std = Math.Sqrt(Math.Max(0, sq / Math.Max(1, count) - mean * mean)) + 1e-8;
        for (int k = 0; k < d.Mask.Length; k++) d.Advantages[k] = d.Mask[k] > 0 ? (float)((d.Advantages[k] - mean) / std) : 0;
    }
}
