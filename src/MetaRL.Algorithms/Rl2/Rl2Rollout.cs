using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Algorithms.Common;
using MetaRL.Algorithms.Rollouts;

namespace MetaRL.Algorithms.Rl2;

/// <summary>A rollout's batch with the figures the iteration reports: each trial's return, the mean return per episode index, the steps taken.</summary>
internal sealed record Rl2Collected(Rl2Batch Data, double[] TrialReturns, double[] EpisodeMeans, long Steps);

/// <summary>
/// What playing some trials recorded, before the learner assembles an iteration from it: the batch rows of these
/// trials ([step, trial] over them alone), the raw observations acted on ([step, trial, observation]; empty without
/// observation statistics), each trial's return and return per episode, the steps taken.
/// </summary>
internal sealed record Rl2TrialRecords(Rl2Batch Data, float[] Observations, double[] TrialReturns, double[] EpisodeReturns, long Steps)
{
    public int Trials => TrialReturns.Length;

    /// <summary>
    /// The records as bytes for the learner. Of the recurrent states only those the updates read go (each chunk's first
    /// step, every <paramref name="chunk"/> steps): the rest are never used, and are most of the batch.
    /// </summary>
    public byte[] ToBytes(int steps, int chunk)
    {
        var w = new BlobWriter();
        w.Int(Trials);
        w.Floats(Data.Inputs); w.Floats(ChunkStates(Data.States, steps, chunk, Trials)); w.Floats(Data.Actions); w.Floats(Data.LogProbs); w.Floats(Data.Values);
        w.Floats(Data.Rewards); w.Floats(Data.Mask); w.Ints(Data.Skipped); w.Bytes(Data.Replaced); w.Floats(Data.TaskFeatures);
        w.Floats(Observations); w.Doubles(TrialReturns); w.Doubles(EpisodeReturns); w.Long(Steps);
        return w.ToArray();
    }

    /// <summary>The states at steps 0, <paramref name="chunk"/>, 2·<paramref name="chunk"/>, … of [steps, trials, S] states.</summary>
    private static float[] ChunkStates(float[] states, int steps, int chunk, int trials)
    {
        int row = states.Length / steps; // trials · S
        var kept = new float[(steps + chunk - 1) / chunk * row];
        for (int t0 = 0, i = 0; t0 < steps; t0 += chunk, i++) Array.Copy(states, t0 * row, kept, i * row, row);
        return kept;
    }

    /// <summary>Reads records of <paramref name="trials"/> trials shaped as <paramref name="shape"/> says; anything else is refused.</summary>
    public static Rl2TrialRecords Read(byte[] bytes, int trials, Rl2Rollout shape)
    {
        var r = new BlobReader(bytes, "RL² rollout result");
        if (r.Int() != trials) throw new InvalidDataException($"The RL² rollout result is for another piece: {trials} trials expected.");
        var d = shape.NewBatch(trials);
        r.Floats(d.Inputs.Length, "inputs").CopyTo(d.Inputs, 0);
        int S = d.States.Length / (shape.Steps * trials), chunk = shape.ChunkLength;
        var states = r.Floats((shape.Steps + chunk - 1) / chunk * trials * S, "states");
        for (int t0 = 0, i = 0; t0 < shape.Steps; t0 += chunk, i++)
            Array.Copy(states, i * trials * S, d.States, t0 * trials * S, trials * S);
        r.Floats(d.Actions.Length, "actions").CopyTo(d.Actions, 0);
        r.Floats(d.LogProbs.Length, "log-probabilities").CopyTo(d.LogProbs, 0);
        r.Floats(d.Values.Length, "values").CopyTo(d.Values, 0);
        r.Floats(d.Rewards.Length, "rewards").CopyTo(d.Rewards, 0);
        r.Floats(d.Mask.Length, "mask").CopyTo(d.Mask, 0);
        r.Ints(d.Skipped.Length, "skipped steps").CopyTo(d.Skipped, 0);
        r.Bytes(d.Replaced.Length, "replaced actions").CopyTo(d.Replaced, 0);
        r.Floats(d.TaskFeatures.Length, "task features").CopyTo(d.TaskFeatures, 0);
        var obs = r.Floats(shape.RecordsObservations ? shape.Steps * trials * shape.ObservationSize : 0, "observations");
        var returns = r.Doubles(trials, "trial returns");
        var episodes = r.Doubles(trials * shape.Episodes, "episode returns");
        long steps = r.Long();
        r.End();
        return new Rl2TrialRecords(d, obs, returns, episodes, steps);
    }
}

/// <summary>
/// RL²'s experience collection (Stable-Baselines3's <c>collect_rollouts</c>): trials on training tasks with the recurrent
/// state carried across the episodes of a trial, the running reward normalisation, and GAE over the whole trial
/// (episode ends inside a trial are not terminal: later episodes' rewards belong to the same objective).
/// Draws each trial's task from <paramref name="taskRng"/> and its environment and action streams from
/// <paramref name="rng"/>, which the trainer shares with its update, in that order. A trial depends only on those and on
/// the network, so trials can be played in any grouping, here or by <see cref="IRolloutWorkers"/>, with the same result.
/// </summary>
internal sealed class Rl2Rollout(TaskDistribution tasks, Rl2Network network, Rl2Config config, Rng rng, Rng taskRng, int taskFeatures)
{
    private readonly int _T = tasks.EpisodesPerTrial * tasks.Horizon, _obs = tasks.ObservationSpace.Size, _act = tasks.ActionSpace.Size, _F = taskFeatures;

    // For the recorder: the rollout's family, network and settings.
    private TaskDistribution Tasks => tasks;
    private Rl2Network Net => network;
    private Rl2Config Config => config;

    /// <summary>Steps of a trial, observation size, episodes per trial, and whether observations are recorded (for the statistics).</summary>
    public int Steps => _T;
    public int ObservationSize => _obs;
    public int Episodes => tasks.EpisodesPerTrial;
    public bool RecordsObservations => network.ObservationNormalizer is not null;

    /// <summary>Steps per chunk of the updates (<see cref="Rl2Config.Bptt"/>, or the whole trial): they read the recurrent state only at a chunk's first step.</summary>
    public int ChunkLength => config.ChunkLength(_T);

    /// <summary>Draws a share of each iteration's trials for the groups of tasks doing worst (<see cref="Rl2Config.TaskPriority"/>); null: none.</summary>
    public GroupPriority? Priority { get; init; }

    /// <summary>Teachers to run over their groups' trials after each rollout (<see cref="Rl2Config.Teachers"/>); null: none, or not read yet.</summary>
    public Rl2Teachers? Teachers { get; set; }

    /// <summary>An empty batch of <paramref name="b"/> trials.</summary>
    public Rl2Batch NewBatch(int b) => new(_T, b, network.InputSize, network.StateSize, _act) { TaskFeatures = new float[b * _F] };

    /// <summary>
    /// Plays one trial on each of <see cref="Rl2Config.TrialsPerIteration"/> freshly drawn training tasks with the current
    /// network (actions sampled), here or, with <paramref name="workers"/>, in pieces elsewhere (<paramref name="job"/>
    /// gives the policy they need); then, with teachers, records their action probabilities on their groups' trials,
    /// normalises rewards and computes advantages. The observation statistics move only after the rollout, so all of its
    /// inputs were scaled alike.
    /// </summary>
    public Rl2Collected Collect(IRolloutWorkers? workers = null, Func<RolloutJob>? job = null)
    {
        int B = config.TrialsPerIteration;
        // Each trial's environment stream, then its action stream.
        var seeds = TrialSeed.Draw(B, tasks, taskRng, rng, streams: 2, Priority);
        Rl2TrialRecords[] parts;
        Range[] ranges;
        if (workers is null)
        {
            ranges = [0..B];
            parts = [Play(seeds)];
        }
        else
        {
            var played = workers.PlayPieces(job!(), seeds);
            ranges = played.Select(p => p.Trials).ToArray();
            parts = played.Select(p => Rl2TrialRecords.Read(p.Result, p.Trials.GetOffsetAndLength(B).Length, this)).ToArray();
        }
        var (data, observations) = Assemble(parts, ranges, B);
        var trialTasks = Priority is { Share: > 0 } || Teachers is not null ? seeds.Select(s => s.DrawTask(tasks)).ToArray() : null;
        var groups = trialTasks?.Select(tasks.GroupOf).ToArray();
        Teachers?.Annotate(data, observations, trialTasks!, groups!);
        // The statistics move only between rollouts: this iteration's inputs were all scaled alike.
        if (RecordsObservations) network.ObservationNormalizer!.Update(ActedOn(data, observations, B));
        if (config.NormalizeRewards) NormalizeRewards(data, B);
        ComputeAdvantages(data, B);
        int n = tasks.EpisodesPerTrial;
        var trialReturns = parts.SelectMany(p => p.TrialReturns).ToArray();
        if (Priority is { Share: > 0 }) Priority.Observe(groups!, trialReturns);
        var episodeReturns = parts.SelectMany(p => p.EpisodeReturns).ToArray();
        var means = new double[n];
        for (int e = 0; e < n; e++)
        {
            double sum = 0;
            for (int i = 0; i < B; i++) sum += episodeReturns[i * n + e];
            means[e] = sum / B;
        }
        return new Rl2Collected(data, trialReturns, means, parts.Sum(p => p.Steps));
    }

    /// <summary>Plays the trials <paramref name="seeds"/> name side by side with the network, recording them.</summary>
    public Rl2TrialRecords Play(IReadOnlyList<TrialSeed> seeds)
    {
        int b = seeds.Count;
        var data = NewBatch(b);
        var trialTasks = new ITask[b];
        var streams = new Rng[b];
        var actionStreams = new Rng[b];
        for (int i = 0; i < b; i++)
        {
            trialTasks[i] = seeds[i].DrawTask(tasks);
            if (_F > 0) tasks.WriteTaskFeatures(trialTasks[i], data.TaskFeatures.AsSpan(i * _F, _F));
            streams[i] = TrialSeed.Generator(seeds[i].Streams[0]);
            actionStreams[i] = TrialSeed.Generator(seeds[i].Streams[1]);
        }
        var recorder = new Recorder(this, data, b, actionStreams);
        TrialSampler.Play(recorder, tasks, trialTasks, streams, new TrialPlan(tasks.EpisodesPerTrial, CheckActions: false));
        return new Rl2TrialRecords(data, recorder.Observations, recorder.TrialReturns, recorder.EpisodeReturns, recorder.Steps);
    }

    /// <summary>The iteration's batch from the parts (part p holds trials <paramref name="ranges"/>[p]), and the raw observations alike.</summary>
    private (Rl2Batch Data, float[] Observations) Assemble(Rl2TrialRecords[] parts, Range[] ranges, int B)
    {
        if (parts.Length == 1) return (parts[0].Data, parts[0].Observations);
        var d = NewBatch(B);
        var obs = RecordsObservations ? new float[_T * B * _obs] : [];
        int I = network.InputSize, S = network.StateSize, act = _act, F = _F;
        for (int p = 0; p < parts.Length; p++)
        {
            var s = parts[p].Data;
            var (at, b) = ranges[p].GetOffsetAndLength(B);
            Array.Copy(s.TaskFeatures, 0, d.TaskFeatures, at * F, b * F);
            for (int t = 0; t < _T; t++)
            {
                int from = t * b, to = t * B + at;
                Array.Copy(s.Inputs, from * I, d.Inputs, to * I, b * I);
                Array.Copy(s.States, from * S, d.States, to * S, b * S);
                Array.Copy(s.Actions, from * act, d.Actions, to * act, b * act);
                Array.Copy(s.LogProbs, from, d.LogProbs, to, b);
                Array.Copy(s.Values, from, d.Values, to, b);
                Array.Copy(s.Rewards, from, d.Rewards, to, b);
                Array.Copy(s.Mask, from, d.Mask, to, b);
                Array.Copy(s.Skipped, from, d.Skipped, to, b);
                Array.Copy(s.Replaced, from, d.Replaced, to, b);
                if (obs.Length > 0) Array.Copy(parts[p].Observations, from * _obs, obs, to * _obs, b * _obs);
            }
        }
        return (d, obs);
    }

    /// <summary>Every observation acted on, step by step and trial by trial, for the observation statistics.</summary>
    private float[] ActedOn(Rl2Batch d, float[] observations, int B)
    {
        int acted = 0;
        for (int k = 0; k < _T * B; k++) if (d.Mask[k] > 0) acted++;
        var rows = new float[acted * _obs];
        for (int k = 0, at = 0; k < _T * B; k++)
            if (d.Mask[k] > 0) observations.AsSpan(k * _obs, _obs).CopyTo(rows.AsSpan(at++ * _obs));
        return rows;
    }

    /// <summary>
    /// The training session <see cref="TrialSampler"/> plays: it writes each step's input row (observation, previous
    /// action, reward and done, trial clock, task features), recurrent state, sampled action (from the trial's own
    /// stream), log-probability and value into the batch at row t · b + trial, and each outcome's scaled reward and
    /// early-termination padding.
    /// </summary>
    private sealed class Recorder : IAgentSession, IStepResultReader
    {
        private readonly Rl2Rollout _r;
        private readonly Rl2Batch _data;
        private readonly Rng[] _actionStreams;
        private readonly int _b, _n, _inputSize, _stateSize;
        private readonly float[] _input, _prevObs, _prevAction, _prevReward, _policyRows;
        private readonly bool[] _prevDone;
        private readonly int[] _episode, _steps;
        private readonly Tensor<float>? _taskFeatures;
        private Tensor<float> _state;
        private StepResult[] _results = [];
        private int _t;

        public Recorder(Rl2Rollout rollout, Rl2Batch data, int b, Rng[] actionStreams)
        {
            (_r, _data, _b, _actionStreams) = (rollout, data, b, actionStreams);
            var net = rollout.Net;
            (_n, _inputSize, _stateSize) = (rollout.Tasks.EpisodesPerTrial, net.InputSize, net.StateSize);
            _input = new float[b * _inputSize];
            _prevObs = net.ReadsPreviousObservation ? new float[b * rollout._obs] : [];
            _prevAction = new float[b * rollout._act];
            _policyRows = new float[b * net.ActionSize];
            _prevReward = new float[b];
            _prevDone = new bool[b];
            _episode = new int[b];
            _steps = new int[b];
            _state = net.InitialState(b);
            _taskFeatures = net.CriticTaskFeatures > 0 ? Tensor.FromArray(data.TaskFeatures, b, rollout._F) : null;
            Observations = rollout.RecordsObservations ? new float[rollout._T * b * rollout._obs] : [];
            TrialReturns = new double[b];
            EpisodeReturns = new double[b * _n];
        }

        /// <summary>Every observation acted on, [step, trial, observation] (empty without observation statistics).</summary>
        public float[] Observations { get; }
        public double[] TrialReturns { get; }
        /// <summary>Each trial's return per episode, [trial, episode].</summary>
        public double[] EpisodeReturns { get; }
        public long Steps { get; private set; }

        public void StartTrial(int slot, ITask task) { }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            var net = _r.Net;
            int obs = _r._obs, act = _r._act, F = _r._F, t = _t;
            using var noGrad = GradMode.NoGrad();
            if (Observations.Length > 0) observations[..(_b * obs)].CopyTo(Observations.AsSpan(t * _b * obs));
            for (int i = 0; i < _b; i++)
            {
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
            policy.Data[..(_b * net.ActionSize)].CopyTo(_policyRows);
            for (int i = 0; i < _b; i++)
            {
                if (!active[i]) continue;
                int k = t * _b + i;
                _data.Mask[k] = 1;
                _data.Values[k] = value.Data[i];
                var action = actions.Slice(i * act, act);
                _data.LogProbs[k] = Rl2Inputs.Act(net, policy.Data.Slice(i * net.ActionSize, net.ActionSize), logStd, _actionStreams[i], false, action);
                action.CopyTo(_data.Actions.AsSpan(k * act, act));
            }
            if (net.ReadsPreviousObservation) observations.CopyTo(_prevObs);
        }

        public void SeeStepResults(ReadOnlySpan<StepResult> results, ReadOnlySpan<bool> active)
        {
            if (_results.Length != results.Length) _results = new StepResult[results.Length];
            results.CopyTo(_results);
        }

        /// <summary>The log-probability of <paramref name="action"/> under the policy that acted in slot <paramref name="i"/> this step, as the update computes it.</summary>
        private float LogProb(int i, ReadOnlySpan<float> action)
        {
            var net = _r.Net;
            int size = net.ActionSize;
            using var noGrad = GradMode.NoGrad();
            var row = Tensor.FromArray(_policyRows.AsSpan(i * size, size).ToArray(), 1, size);
            var logp = net.Discrete
                ? PolicyDistributions.LogProb(true, row, null, null, [(int)action[0]])
                : PolicyDistributions.LogProb(false, row, net.LogStd, Tensor.FromArray(action.ToArray(), 1, action.Length), null);
            return logp.ToArray()[0];
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            int act = _r._act, t = _t, horizon = _r.Tasks.Horizon;
            for (int i = 0; i < _b; i++)
            {
                if (!active[i]) continue;
                int k = t * _b + i;
                var r = _results[i];
                // An environment that played another action than the one sampled (IEnv.WritePlayedAction): the step is
                // learnt as the played action's, with its probability under the policy that acted.
                var played = actions.Slice(i * act, act);
                if (!played.SequenceEqual(_data.Actions.AsSpan(k * act, act)))
                {
                    played.CopyTo(_data.Actions.AsSpan(k * act, act));
                    _data.Replaced[k] = 1;
                    _data.LogProbs[k] = LogProb(i, played);
                }
                Steps++;
                _steps[i]++;
                _data.Rewards[k] = (float)(r.Reward * _r.Config.RewardScale);
                TrialReturns[i] += r.Reward;
                EpisodeReturns[i * _n + _episode[i]] += r.Reward;
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
        // A batch in which no step was rewarded has nothing to teach the policy: its advantages are the critic's error
        // alone, which normalising would blow up to unit size, and a policy pushed about by that noise collapses to one
        // that no longer explores. Its policy learns only from the entropy bonus (and teachers), its critic from the
        // targets.
        bool rewarded = false;
        for (int k = 0; k < d.Mask.Length && !rewarded; k++) rewarded = d.Mask[k] > 0 && d.Rewards[k] != 0;
        if (!rewarded)
        {
            Array.Clear(d.Advantages);
            return;
        }
        // Normalise advantages over the valid steps of the batch.
        double sum = 0, sq = 0, count = 0;
        for (int k = 0; k < d.Mask.Length; k++)
            if (d.Mask[k] > 0) { sum += d.Advantages[k]; sq += (double)d.Advantages[k] * d.Advantages[k]; count++; }
        double mean = sum / Math.Max(1, count), std = Math.Sqrt(Math.Max(0, sq / Math.Max(1, count) - mean * mean)) + 1e-8;
        for (int k = 0; k < d.Mask.Length; k++) d.Advantages[k] = d.Mask[k] > 0 ? (float)((d.Advantages[k] - mean) / std) : 0;
    }
}
