using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;

namespace MetaRL.Algorithms.Sac;

/// <summary>The affine map between a squashed policy's [−1, 1] actions and a family's bounded action box.</summary>
public sealed class ActionMap
{
    private readonly float[] _low, _half;

    private ActionMap(float[] low, float[] half) => (_low, _half) = (low, half);

    public int Size => _low.Length;

    /// <summary>The box's lower bounds and half-widths, for exporters.</summary>
    internal (float[] Low, float[] Half) Bounds => (_low, _half);

    /// <summary>The map for <paramref name="tasks"/>' action box; <paramref name="algorithm"/> names the learner in the error for any other action space.</summary>
    public static ActionMap For(TaskDistribution tasks, string algorithm)
    {
        if (tasks.ActionSpace is not Box box)
            throw new SettingException($"{algorithm} acts in a continuous box of actions; {tasks.Name}'s actions are {tasks.ActionSpace} (use rl2 or maml there).");
        var low = box.Low.ToArray();
        var high = box.High.ToArray();
        for (int i = 0; i < low.Length; i++)
            if (!float.IsFinite(low[i]) || !float.IsFinite(high[i]) || !(high[i] > low[i]))
                throw new SettingException($"{algorithm} needs a bounded action box; {tasks.Name}'s action {i} ranges over [{low[i]}, {high[i]}].");
        return new ActionMap(low, low.Zip(high, (l, h) => 0.5f * (h - l)).ToArray());
    }

    /// <summary>Writes the environment action for the policy action <paramref name="unit"/> (one row).</summary>
    public void ToEnv(ReadOnlySpan<float> unit, Span<float> action)
    {
        for (int i = 0; i < _low.Length; i++) action[i] = _low[i] + (Math.Clamp(unit[i], -1f, 1f) + 1f) * _half[i];
    }
}
