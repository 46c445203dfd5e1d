using MetaRL.Engine;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Sac;

/// <summary>
/// A ring of transitions (observation, action, reward, the critic's reward, next observation, terminal) in flat arrays:
/// adding copies into them, sampling copies out into the caller's buffers. The arrays grow by doubling up to the
/// capacity, so a short run does not reserve a long run's memory, and adding allocates nothing once they have grown.
/// When full, each new transition replaces the oldest.
/// </summary>
public sealed class ReplayBuffer
{
    private float[] _obs = [], _actions = [], _rewards = [], _criticRewards = [], _next = [], _terminals = [];
    private int _allocated, _start;

    public ReplayBuffer(int observationSize, int actionSize, int capacity)
    {
        if (observationSize < 1 || actionSize < 1) throw new ArgumentOutOfRangeException(nameof(observationSize), "A replay buffer needs positive observation and action sizes.");
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A replay buffer holds at least one transition.");
        (ObservationSize, ActionSize, Capacity) = (observationSize, actionSize, capacity);
    }

    public int ObservationSize { get; }
    public int ActionSize { get; }
    public int Capacity { get; }

    /// <summary>Transitions held now.</summary>
    public int Count { get; private set; }

    /// <summary>Transitions ever added (the oldest are gone once <see cref="Count"/> reaches the capacity).</summary>
    public long Added { get; private set; }

    /// <summary>Adds one transition; <paramref name="criticReward"/> is what critics learn from (the reward itself unless the family offers a denser one).</summary>
    public void Add(ReadOnlySpan<float> observation, ReadOnlySpan<float> action, float reward, float criticReward, ReadOnlySpan<float> next, bool terminal)
    {
        if (observation.Length != ObservationSize || next.Length != ObservationSize || action.Length != ActionSize)
            throw new ArgumentException($"A transition of this buffer has observations of {ObservationSize} and actions of {ActionSize} numbers.");
        int slot;
        if (Count < Capacity)
        {
            if (Count == _allocated) Grow();
            slot = Count++;
        }
        else
        {
            slot = _start;
            _start = (_start + 1) % Capacity;
        }
        observation.CopyTo(_obs.AsSpan(slot * ObservationSize, ObservationSize));
        action.CopyTo(_actions.AsSpan(slot * ActionSize, ActionSize));
        next.CopyTo(_next.AsSpan(slot * ObservationSize, ObservationSize));
        _rewards[slot] = reward;
        _criticRewards[slot] = criticReward;
        _terminals[slot] = terminal ? 1 : 0;
        Added++;
    }

    private void Grow()
    {
        int size = (int)Math.Min(Capacity, Math.Max(1024L, 2L * _allocated));
        Array.Resize(ref _obs, size * ObservationSize);
        Array.Resize(ref _next, size * ObservationSize);
        Array.Resize(ref _actions, size * ActionSize);
        Array.Resize(ref _rewards, size);
        Array.Resize(ref _criticRewards, size);
        Array.Resize(ref _terminals, size);
        _allocated = size;
    }

    /// <summary>Forgets every transition (the memory is kept for the next ones).</summary>
    public void Clear() => (Count, _start) = (0, 0);

    /// <summary>
    /// Draws <paramref name="count"/> transitions uniformly with replacement and writes them row by row; spans may be
    /// empty to skip a field. <paramref name="rewards"/> gets the reward the agent saw, <paramref name="criticRewards"/> the critic's.
    /// </summary>
    public void Sample(Rng rng, int count, Span<float> observations, Span<float> actions, Span<float> rewards, Span<float> criticRewards,
        Span<float> next, Span<float> terminals)
    {
        if (Count == 0) throw new InvalidOperationException("Cannot sample from an empty replay buffer.");
        int o = ObservationSize, a = ActionSize;
        for (int i = 0; i < count; i++)
        {
            int s = rng.NextInt(Count);
            if (!observations.IsEmpty) _obs.AsSpan(s * o, o).CopyTo(observations.Slice(i * o, o));
            if (!actions.IsEmpty) _actions.AsSpan(s * a, a).CopyTo(actions.Slice(i * a, a));
            if (!rewards.IsEmpty) rewards[i] = _rewards[s];
            if (!criticRewards.IsEmpty) criticRewards[i] = _criticRewards[s];
            if (!next.IsEmpty) _next.AsSpan(s * o, o).CopyTo(next.Slice(i * o, o));
            if (!terminals.IsEmpty) terminals[i] = _terminals[s];
        }
    }

    /// <summary>Writes the transitions held, slot by slot, and where the oldest is, under <paramref name="prefix"/>: a restored buffer samples as this one would.</summary>
    public void WriteTo(TensorArchive archive, string prefix)
    {
        int n = Count, o = ObservationSize, a = ActionSize;
        var obs = new float[n * o];
        var act = new float[n * a];
        var nxt = new float[n * o];
        var scalars = new float[n * 3];
        for (int i = 0; i < n; i++)
        {
            int s = i;
            _obs.AsSpan(s * o, o).CopyTo(obs.AsSpan(i * o));
            _actions.AsSpan(s * a, a).CopyTo(act.AsSpan(i * a));
            _next.AsSpan(s * o, o).CopyTo(nxt.AsSpan(i * o));
            scalars[3 * i] = _rewards[s];
            scalars[3 * i + 1] = _criticRewards[s];
            scalars[3 * i + 2] = _terminals[s];
        }
        archive.Add(prefix + "observations", Tensor.FromArray(obs, n, o));
        archive.Add(prefix + "actions", Tensor.FromArray(act, n, a));
        archive.Add(prefix + "next", Tensor.FromArray(nxt, n, o));
        archive.Add(prefix + "scalars", Tensor.FromArray(scalars, n, 3));
        archive.Metadata[prefix + "added"] = Added.ToString(System.Globalization.CultureInfo.InvariantCulture);
        archive.Metadata[prefix + "start"] = _start.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Checks that <see cref="WriteTo"/>'s entries under <paramref name="prefix"/> fit this buffer, and returns the restore to apply.</summary>
    public Action ReadFrom(TensorArchive archive, string prefix, string source)
    {
        Tensor<float> Get(string name)
            => archive.Contains(prefix + name) ? archive.Get<float>(prefix + name) : throw new CheckpointException($"{source} lacks the replay buffer entry '{prefix + name}'.");
        var obs = Get("observations");
        var act = Get("actions");
        var nxt = Get("next");
        var scalars = Get("scalars");
        int n = obs.Rank == 2 ? obs.Shape[0] : -1;
        if (n < 0 || n > Capacity || obs.Shape[1] != ObservationSize || act.Rank != 2 || act.Shape[0] != n || act.Shape[1] != ActionSize
            || nxt.Rank != 2 || nxt.Shape[0] != n || nxt.Shape[1] != ObservationSize || scalars.Rank != 2 || scalars.Shape[0] != n || scalars.Shape[1] != 3)
            throw new CheckpointException($"{source}: the replay buffer '{prefix}' does not fit {Capacity} transitions of observations of {ObservationSize} and actions of {ActionSize}.");
        if (!archive.Metadata.TryGetValue(prefix + "added", out var addedText) || !long.TryParse(addedText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long added) || added < n)
            throw new CheckpointException($"{source}: the replay buffer '{prefix}' lacks a valid count of transitions added.");
        if (!archive.Metadata.TryGetValue(prefix + "start", out var startText) || !int.TryParse(startText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int start)
            || start >= Math.Max(1, n) || (start > 0 && n < Capacity))
            throw new CheckpointException($"{source}: the replay buffer '{prefix}' lacks a valid position of its oldest transition.");
        return () =>
        {
            Clear();
            var s = scalars.Data;
            for (int i = 0; i < n; i++)
                Add(obs.Data.Slice(i * ObservationSize, ObservationSize), act.Data.Slice(i * ActionSize, ActionSize), s[3 * i], s[3 * i + 1],
                    nxt.Data.Slice(i * ObservationSize, ObservationSize), s[3 * i + 2] != 0);
            Added = added;
            _start = start;
        };
    }
}
