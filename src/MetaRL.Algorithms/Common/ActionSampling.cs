using MetaRL.Engine;

namespace MetaRL.Algorithms.Common;

/// <summary>Drawing actions from policy outputs: one implementation for every learner.</summary>
public static class ActionSampling
{
    /// <summary>
    /// Picks an index from a row of logits (the most likely one when <paramref name="deterministic"/>, otherwise a
    /// draw from the softmax with one uniform) and returns it with its log-probability.
    /// </summary>
    public static (int Index, double LogProb) Categorical(ReadOnlySpan<float> logits, Rng rng, bool deterministic)
    {
        float max = float.NegativeInfinity;
        int arg = 0;
        for (int j = 0; j < logits.Length; j++)
            if (logits[j] > max) (max, arg) = (logits[j], j);
        double sum = 0;
        for (int j = 0; j < logits.Length; j++) sum += Math.Exp(logits[j] - max);
        int pick = arg;
        if (!deterministic)
        {
            double u = rng.NextDouble() * sum, acc = 0;
            pick = logits.Length - 1;
            for (int j = 0; j < logits.Length; j++)
            {
                acc += Math.Exp(logits[j] - max);
                if (u < acc) { pick = j; break; }
            }
        }
        return (pick, logits[pick] - (max + Math.Log(sum)));
    }
}
