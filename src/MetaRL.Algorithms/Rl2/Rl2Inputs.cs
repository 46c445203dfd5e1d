using MetaRL.Engine;

namespace MetaRL.Algorithms.Rl2;

/// <summary>Builds the RL² input row (observation, previous action, previous reward, done flag) and samples actions.</summary>
internal static class Rl2Inputs
{
    /// <summary>Where a slot is in its trial: episode index and step within the episode, with the trial's sizes.</summary>
    public readonly record struct TrialClock(int Episode, int Step, int Episodes, int Horizon)
    {
        public float EpisodeFraction => Episodes > 0 ? (float)Episode / Episodes : 0;
        public float StepFraction => Horizon > 0 ? (float)Step / Horizon : 0;
    }

    /// <summary>
    /// Writes one input row: obs (scaled by the network's observation statistics, if it keeps them) | one-hot or raw previous action | previous reward | previous-episode-ended flag
    /// [| episode / episodes | step / horizon when the network takes time inputs] [| previous observation, scaled as obs is,
    /// when it takes that] [| previous observation ⊗ previous action, then the same times the previous reward, for the pair
    /// input] [| task features for a task-knowing oracle].
    /// </summary>
    public static void Write(Rl2Network net, Span<float> row, ReadOnlySpan<float> obs, ReadOnlySpan<float> prevAction, float prevReward, bool prevDone, bool hasPrevious,
        in TrialClock clock, ReadOnlySpan<float> taskFeatures = default, ReadOnlySpan<float> prevObs = default)
    {
        WriteObservation(net, obs, row);
        bool previous = hasPrevious && net.Memory;
        var a = row.Slice(net.ObservationSize, net.ActionSize);
        a.Clear();
        if (previous)
        {
            if (net.Discrete) a[(int)prevAction[0]] = 1;
            else prevAction.CopyTo(a);
        }
        row[net.ObservationSize + net.ActionSize] = previous ? prevReward : 0;
        row[net.ObservationSize + net.ActionSize + 1] = prevDone && net.Memory ? 1 : 0;
        int k = net.ObservationSize + net.ActionSize + 2;
        if (net.TimeInput)
        {
            row[k++] = clock.EpisodeFraction;
            row[k++] = clock.StepFraction;
        }
        if (previous && net.ReadsPreviousObservation && prevObs.Length != net.ObservationSize)
            throw new ArgumentException($"This network reads the previous observation ({net.ObservationSize} values); got {prevObs.Length}.");
        if (net.PreviousObservation)
        {
            var p = row.Slice(k, net.ObservationSize);
            k += net.ObservationSize;
            if (previous) WriteObservation(net, prevObs, p);
            else p.Clear();
        }
        if (net.PairInput)
        {
            var pair = row.Slice(k, net.PairSize);
            k += net.PairSize;
            pair.Clear();
            if (previous)
            {
                int n = net.ObservationSize * net.ActionSize;
                var plain = pair[..n];
                var paid = pair[n..];
                Span<float> o = net.ObservationSize <= 256 ? stackalloc float[net.ObservationSize] : new float[net.ObservationSize];
                WriteObservation(net, prevObs, o);
                // The previous action as the row already holds it: one-hot for discrete actions, raw otherwise.
                for (int s = 0; s < o.Length; s++)
                {
                    if (o[s] == 0) continue;
                    for (int j = 0; j < net.ActionSize; j++)
                    {
                        plain[s * net.ActionSize + j] = o[s] * a[j];
                        paid[s * net.ActionSize + j] = o[s] * a[j] * prevReward;
                    }
                }
            }
        }
        if (net.PolicyTaskFeatures > 0)
        {
            if (taskFeatures.Length != net.PolicyTaskFeatures)
                throw new ArgumentException($"This network reads {net.PolicyTaskFeatures} task features; got {taskFeatures.Length}.");
            taskFeatures.CopyTo(row.Slice(k, net.PolicyTaskFeatures));
        }
    }

    /// <summary>An observation as the network reads it: scaled by its observation statistics, if it keeps them.</summary>
    private static void WriteObservation(Rl2Network net, ReadOnlySpan<float> observation, Span<float> destination)
    {
        if (net.ObservationNormalizer is { } norm) norm.Normalize(observation, destination);
        else observation.CopyTo(destination);
    }

    /// <summary>Chooses an action for one row of policy output and returns its log-probability.</summary>
    public static float Act(Rl2Network net, ReadOnlySpan<float> policyRow, ReadOnlySpan<float> logStd, Rng rng, bool deterministic, Span<float> action)
    {
        if (net.Discrete)
        {
            var (pick, logProb) = ActionSampling.Categorical(policyRow, rng, deterministic);
            action[0] = pick;
            return (float)logProb;
        }
        double logp = 0;
        for (int j = 0; j < policyRow.Length; j++)
        {
            double std = Math.Exp(logStd[j]);
            double z = deterministic ? 0 : rng.Normal();
            action[j] = (float)(policyRow[j] + std * z);
            logp += -0.5 * z * z - logStd[j] - 0.5 * Math.Log(2 * Math.PI);
        }
        return (float)logp;
    }
}
