using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
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

    // For the recorder: the rollout's family, network, settings and shared stream.
    private TaskDistribution Tasks => tasks;
    private Rl2Network Net => network;
    private Rl2Config Config => config;
    private Rng Rng => rng;

    /// <summary>
    /// Plays one trial on each of <see cref="Rl2Config.TrialsPerIteration"/> freshly drawn training tasks with the current
    /// network (actions sampled), then normalises rewards and computes advantages. The observation statistics move only
    /// after the rollout, so all of its inputs were scaled alike.
    /// </summary>
    public Rl2Collected Collect()
    {
        int B = config.TrialsPerIteration, n = tasks.EpisodesPerTrial;
        var data = new Rl2Batch(_T, B, network.InputSize, network.StateSize, _act) { TaskFeatures = new float[B * _F] };
        var trialTasks = new ITask[B];
        var streams = new Rng[B];
        for (int i = 0; i < B; i++)
        {
            trialTasks[i] = tasks.SampleTask(taskRng, TaskSplit.Train);
            if (_F > 0) tasks.WriteTaskFeatures(trialTasks[i], data.TaskFeatures.AsSpan(i * _F, _F));
            streams[i] = rng.Split();
        }
        var recorder = new Recorder(this, data, B);
        TrialSampler.Play(recorder, tasks, trialTasks, streams, new TrialPlan(n, CheckActions: false));
        // The statistics move only between rollouts: this iteration's inputs were all scaled alike.
        if (recorder.Seen is { } seen) network.ObservationNormalizer!.Update(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seen));
        if (config.NormalizeRewards) NormalizeRewards(data, B);
        ComputeAdvantages(data, B);
        return new Rl2Collected(data, recorder.TrialReturns, recorder.EpisodeSums.Select(s => s / B).ToArray(), recorder.Steps);
    }

    /// <summary>
    /// The training session <see cref="TrialSampler"/> plays: it writes each step's input row (observation, previous
    /// action, reward and done, trial clock, task features), recurrent state, sampled action, log-probability and value
    /// into the batch at row t · B + trial, and each outcome's scaled reward and early-termination padding.
    /// </summary>
    private sealed class Recorder : IAgentSession, IStepResultReader
    {
        private readonly Rl2Rollout _r;
        private readonly Rl2Batch _data;
        private readonly int _b, _n, _inputSize, _stateSize;
        private readonly float[] _input, _prevObs, _prevAction, _prevReward;
        private readonly bool[] _prevDone;
        private readonly int[] _episode, _steps;
        private readonly Tensor<float>? _taskFeatures;
        private Tensor<float> _state;
        private StepResult[] _results = [];
        private int _t;

        public Recorder(Rl2Rollout rollout, Rl2Batch data, int b)
        {
            (_r, _data, _b) = (rollout, data, b);
            var net = rollout.Net;
            (_n, _inputSize, _stateSize) = (rollout.Tasks.EpisodesPerTrial, net.InputSize, net.StateSize);
            _input = new float[b * _inputSize];
            _prevObs = net.ReadsPreviousObservation ? new float[b * rollout._obs] : [];
            _prevAction = new float[b * rollout._act];
            _prevReward = new float[b];
            _prevDone = new bool[b];
            _episode = new int[b];
            _steps = new int[b];
            _state = net.InitialState(b);
            _taskFeatures = net.CriticTaskFeatures > 0 ? Tensor.FromArray(data.TaskFeatures, b, rollout._F) : null;
            Seen = net.ObservationNormalizer is null ? null : new List<float>(rollout._T * b * rollout._obs);
            TrialReturns = new double[b];
            EpisodeSums = new double[_n];
        }

        /// <summary>Every observation acted on, for the observation statistics (null without normalisation).</summary>
        public List<float>? Seen { get; }
        public double[] TrialReturns { get; }
        public double[] EpisodeSums { get; }
        public long Steps { get; private set; }

        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            var net = _r.Net;
            int obs = _r._obs, act = _r._act, F = _r._F, t = _t;
            using var noGrad = GradMode.NoGrad();
            for (int i = 0; i < _b; i++)
            {
                if (active[i] && Seen is not null) Seen.AddRange(observations.Slice(i * obs, obs));
                Rl2Inputs.Write(net, _input.AsSpan(i * _inputSize, _inputSize), observations.Slice(i * obs, obs), _prevAction.AsSpan(i * act, act), _prevReward[i], _prevDone[i], t > 0,
                    new Rl2Inputs.TrialClock(_episode[i], _steps[i], _n, _r.Tasks.Horizon),
                    net.PolicyTaskFeatures > 0 ? _data.TaskFeatures.AsSpan(i * F, F) : default,
                    net.ReadsPreviousObservation ? _prevObs.AsSpan(i * obs, obs) : default);
            }
            _input.CopyTo(_data.Inputs.AsSpan(t * _b * _inputSize));
            _state.Data.CopyTo(_data.States.AsSpan(t * _b * _stateSize));
            var x = Tensor.FromArray((float[])_input.Clone(), _b, _inputSize);
            _state = net.Step(x, _state);
            var features = net.Features(_state, x);
            var policy = net.Policy(features);
            var value = net.Value(features, _taskFeatures);
            var logStd = net.LogStd?.ToArray() ?? [];
            for (int i = 0; i < _b; i++)
            {
                if (!active[i]) continue;
                int k = t * _b + i;
                _data.Mask[k] = 1;
                _data.Values[k] = value.Data[i];
                var action = actions.Slice(i * act, act);
                _data.LogProbs[k] = Rl2Inputs.Act(net, policy.Data.Slice(i * net.ActionSize, net.ActionSize), logStd, _r.Rng, false, action);
                action.CopyTo(_data.Actions.AsSpan(k * act, act));
            }
            if (net.ReadsPreviousObservation) observations.CopyTo(_prevObs);
        }

        public void SeeStepResults(ReadOnlySpan<StepResult> results, ReadOnlySpan<bool> active)
        {
            if (_results.Length != results.Length) _results = new StepResult[results.Length];
            results.CopyTo(_results);
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            int act = _r._act, t = _t, horizon = _r.Tasks.Horizon;
            for (int i = 0; i < _b; i++)
            {
                if (!active[i]) continue;
                int k = t * _b + i;
                var r = _results[i];
                Steps++;
                _steps[i]++;
                _data.Rewards[k] = (float)(r.Reward * _r.Config.RewardScale);
                TrialReturns[i] += r.Reward;
                EpisodeSums[_episode[i]] += r.Reward;
                actions.Slice(i * act, act).CopyTo(_prevAction.AsSpan(i * act, act));
                _prevReward[i] = (float)r.Reward;
                bool ended = episodeEnded[i];
                _prevDone[i] = ended;
                if (!ended) continue;
                if (_r.Config.PadTerminated && r.Terminated && _episode[i] + 1 < _n) _data.Skipped[k] = horizon - _steps[i];
                _steps[i] = 0;
                _episode[i]++;
            }
            _t++;
        }
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
