using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Sac;

/// <summary>
/// A session of the shared trial sampler that plays a soft actor-critic policy (or uniform random actions, to fill a
/// buffer before learning starts) and records every transition into its slot's replay buffers, the critics' reward
/// from <see cref="TaskDistribution.TrainingReward"/>. A latent per slot (PEARL's z) joins the policy's input; the
/// owner sets it when an episode starts (<see cref="EpisodeStarting"/>).
/// </summary>
internal sealed class TransitionCollector : IAgentSession, IStepResultReader
{
    private readonly SoftActorCritic _sac;
    private readonly TaskDistribution _tasks;
    private readonly ActionMap _map;
    private readonly Rng _rng;
    private readonly bool _random;
    private readonly IReadOnlyList<ReplayBuffer>[] _buffers;
    private readonly ITask?[] _slotTasks;
    private readonly bool[] _starting;
    private readonly float[] _obs, _unitActions, _input;
    private readonly bool[] _terminated;
    private readonly int _o, _a, _latent;

    /// <param name="buffers">For each slot, the buffers its transitions go to.</param>
    /// <param name="latents">[slots × latent size], read at every step; null without a latent.</param>
    public TransitionCollector(SoftActorCritic sac, TaskDistribution tasks, ActionMap map, IReadOnlyList<ReplayBuffer>[] buffers, Rng rng, bool random, float[]? latents = null)
    {
        (_sac, _tasks, _map, _buffers, _rng, _random) = (sac, tasks, map, buffers, rng, random);
        int slots = buffers.Length;
        (_o, _a, _latent) = (sac.ObservationSize, sac.ActionSize, sac.LatentSize);
        Latents = latents ?? [];
        if (Latents.Length != slots * _latent) throw new ArgumentException($"One latent of {_latent} numbers per slot.", nameof(latents));
        _slotTasks = new ITask?[slots];
        _starting = new bool[slots];
        _obs = new float[slots * _o];
        _unitActions = new float[slots * _a];
        _input = new float[slots * (_o + _latent)];
        _terminated = new bool[slots];
    }

    /// <summary>The latents the policy sees, [slots × latent size].</summary>
    public float[] Latents { get; }

    /// <summary>Critics learn from the family's <see cref="TaskDistribution.TrainingReward"/> (true, the default) or from the reward the agent sees.</summary>
    public bool TrainingReward { get; init; } = true;

    /// <summary>
    /// With a discount γ: the critics' reward also gets γΦ(s′) − Φ(s), the family's <see cref="TaskDistribution.Potential"/>
    /// (Φ of a terminal next state counts as 0); null: no shaping.
    /// </summary>
    public double? ShapingDiscount { get; init; }

    /// <summary>Called with a slot whose episode is about to start (its first action), so the owner can set its latent.</summary>
    public Action<int, ITask>? EpisodeStarting { get; init; }

    public void StartTrial(int slot, ITask task)
    {
        _slotTasks[slot] = task;
        _starting[slot] = true;
    }

    public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
    {
        int slots = _buffers.Length, width = _o + _latent;
        observations.CopyTo(_obs);
        for (int i = 0; i < slots; i++)
        {
            if (!active[i] || !_starting[i]) continue;
            _starting[i] = false;
            EpisodeStarting?.Invoke(i, _slotTasks[i]!);
        }
        if (_random)
        {
            for (int j = 0; j < _unitActions.Length; j++) _unitActions[j] = (float)_rng.Uniform(-1, 1);
        }
        else
        {
            for (int i = 0; i < slots; i++)
            {
                observations.Slice(i * _o, _o).CopyTo(_input.AsSpan(i * width, _o));
                if (_latent > 0) Latents.AsSpan(i * _latent, _latent).CopyTo(_input.AsSpan(i * width + _o, _latent));
            }
            _sac.Act(Tensor.FromArray(_input, slots, width), _rng, deterministic: false, _unitActions);
        }
        for (int i = 0; i < slots; i++)
            if (active[i]) _map.ToEnv(_unitActions.AsSpan(i * _a, _a), actions.Slice(i * _a, _a));
    }

    public void SeeStepResults(ReadOnlySpan<StepResult> results, ReadOnlySpan<bool> active)
    {
        for (int i = 0; i < results.Length; i++)
            if (active[i]) _terminated[i] = results[i].Terminated;
    }

    public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
    {
        for (int i = 0; i < _buffers.Length; i++)
        {
            if (!active[i]) continue;
            var obs = _obs.AsSpan(i * _o, _o);
            var next = nextObservations.Slice(i * _o, _o);
            var unit = _unitActions.AsSpan(i * _a, _a);
            float reward = rewards[i];
            var task = _slotTasks[i]!;
            double critic = TrainingReward && _tasks.HasTrainingReward ? _tasks.TrainingReward(task, obs, actions.Slice(i * _a, _a), next, reward) : reward;
            if (ShapingDiscount is double gamma)
                critic += (_terminated[i] ? 0 : gamma * _tasks.Potential(task, next)) - _tasks.Potential(task, obs);
            foreach (var b in _buffers[i]) b.Add(obs, unit, reward, (float)critic, next, _terminated[i]);
            if (episodeEnded[i]) _starting[i] = true;
        }
    }
}
