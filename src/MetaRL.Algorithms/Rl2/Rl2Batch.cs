using MetaRL.Engine;

namespace MetaRL.Algorithms.Rl2;

/// <summary>
/// One iteration's trials as the rollout collected them, laid out [step, trial]: the network's inputs and recurrent state
/// before each step, actions, their log-probabilities, values, rewards, masks, and (after <see cref="Rl2Rollout"/>) the
/// advantages and returns the updates learn from.
/// </summary>
internal sealed class Rl2Batch(int T, int B, int I, int S, int act)
{
    public readonly float[] Inputs = new float[T * B * I];
    public readonly float[] States = new float[T * B * S]; // recurrent state before each step
    public readonly float[] Actions = new float[T * B * act];
    public readonly float[] LogProbs = new float[T * B];
    public readonly float[] Values = new float[T * B];
    public readonly float[] Rewards = new float[T * B];
    public readonly float[] Mask = new float[T * B];
    public readonly int[] Skipped = new int[T * B];         // steps an early termination forfeits (see PadTerminated)
    public readonly byte[] Replaced = new byte[T * B];      // 1: the environment played another action than the one sampled
    public readonly float[] Advantages = new float[T * B];
    public readonly float[] Returns = new float[T * B];
    public float[] TaskFeatures = [];                      // [B, F] for a task-aware critic or a task-knowing oracle
    // With teachers (Rl2Teachers.Annotate): their action probabilities [T, B, act], Σ p log p per step, and 1 where a teacher read the step.
    public float[] TeacherProbs = [];
    public float[] TeacherNegEntropy = [];
    public byte[] Taught = [];
}

/// <summary>Steps t0 … t0+len−1 of some trials, laid out [len, trials] for one pass through the recurrent core.</summary>
internal sealed class Rl2Chunk(int len, int mb, int I, int S, int act, int F)
{
    public readonly int Length = len, Trials = mb, N = len * mb;
    public readonly float[] Inputs = new float[len * mb * I];
    public readonly float[] State0 = new float[mb * S];
    public readonly float[] Actions = new float[len * mb * act];
    public readonly float[] OldLogProbs = new float[len * mb];
    public readonly float[] Advantages = new float[len * mb];
    public readonly float[] Returns = new float[len * mb];
    public readonly float[] Mask = new float[len * mb];
    public readonly byte[] Replaced = new byte[len * mb];
    public readonly float[] TaskFeatures = new float[len * mb * F];
    // With teachers: their action probabilities [N, act] (zero rows where none taught), Σ p log p, and the taught steps.
    public float[] TeacherProbs = [];
    public float[] TeacherNegEntropy = [];
    public byte[] Taught = [];
    public double Valid;
}

/// <summary>
/// What RL²'s PPO and TRPO updates both evaluate on a batch: its trials cut into chunks of <see cref="Rl2Config.Bptt"/>
/// steps and run through the recurrent core from their stored states, the policy's log-probabilities, entropies and
/// KLs, and the task head's loss.
/// </summary>
internal sealed class Rl2Objective(Rl2Network network, Rl2Config config, int trialSteps, int actionSize, int taskFeatures)
{
    public Rl2Network Network => network;
    public Rl2Config Config => config;

    /// <summary>Steps of a trial (episodes × horizon).</summary>
    public int T => trialSteps;
    public int Act => actionSize;

    /// <summary>Task features per trial (for a task-aware critic, task input or task prediction; 0 without).</summary>
    public int F => taskFeatures;

    /// <summary>
    /// How many fixed parts a batch of trials is split into for gradients and curvature products computed side by side
    /// (two: this machine's cores; more cores still get two, so a seed gives the same run everywhere). Settable for tests.
    /// </summary>
    public int Shards { get; set; } = 2;

    private int ChunkLength => Config.ChunkLength(T);

    /// <summary>The chunks an update over <paramref name="trials"/> walks through, in time order.</summary>
    public IEnumerable<Rl2Chunk> Chunks(Rl2Batch data, int[] trials)
    {
        for (int t0 = 0; t0 < T; t0 += ChunkLength) yield return MakeChunk(data, trials, t0, Math.Min(ChunkLength, T - t0));
    }

    private Rl2Chunk MakeChunk(Rl2Batch data, int[] trials, int t0, int len)
    {
        int B = Config.TrialsPerIteration, I = Network.InputSize, S = Network.StateSize, mb = trials.Length;
        var c = new Rl2Chunk(len, mb, I, S, Act, F);
        bool taught = data.Taught.Length > 0;
        if (taught) (c.TeacherProbs, c.TeacherNegEntropy, c.Taught) = (new float[len * mb * Network.ActionSize], new float[len * mb], new byte[len * mb]);
        for (int k = 0; k < mb; k++)
        {
            int b = trials[k];
            data.States.AsSpan((t0 * B + b) * S, S).CopyTo(c.State0.AsSpan(k * S, S));
            for (int t = 0; t < len; t++)
            {
                int src = (t0 + t) * B + b, dst = t * mb + k;
                data.Inputs.AsSpan(src * I, I).CopyTo(c.Inputs.AsSpan(dst * I, I));
                data.Actions.AsSpan(src * Act, Act).CopyTo(c.Actions.AsSpan(dst * Act, Act));
                c.OldLogProbs[dst] = data.LogProbs[src];
                c.Advantages[dst] = data.Advantages[src];
                c.Returns[dst] = data.Returns[src];
                c.Mask[dst] = data.Mask[src];
                c.Replaced[dst] = data.Replaced[src];
                c.Valid += c.Mask[dst];
                if (F > 0) data.TaskFeatures.AsSpan(b * F, F).CopyTo(c.TaskFeatures.AsSpan(dst * F, F));
                if (taught)
                {
                    int A = Network.ActionSize;
                    data.TeacherProbs.AsSpan(src * A, A).CopyTo(c.TeacherProbs.AsSpan(dst * A, A));
                    c.TeacherNegEntropy[dst] = data.TeacherNegEntropy[src];
                    c.Taught[dst] = data.Taught[src];
                }
            }
        }
        return c;
    }

    /// <summary>The features the heads read at a chunk's steps, [N, F], from its stored starting states.</summary>
    public Tensor<float> Features(Rl2Chunk c)
    {
        var features = Network.Sequence(Tensor.FromArray(c.Inputs, c.Length, c.Trials, Network.InputSize), Tensor.FromArray(c.State0, c.Trials, Network.StateSize));
        return Ops.Reshape(features, c.N, Network.FeatureSize);
    }

    /// <summary>
    /// The task head's loss summed over the rows of <paramref name="prediction"/> [n, F] that <paramref name="mask"/>
    /// marks valid (null: all): half the squared error against <paramref name="targets"/> [n, F], averaged over the task
    /// features. With another prediction as the targets it is also the KL between the two as Gaussians of unit variance
    /// (per feature, averaged), the prediction's share of TRPO's KL.
    /// </summary>
    public Tensor<float> TaskLossSum(Tensor<float> prediction, float[] targets, float[]? mask)
    {
        int n = prediction.Shape[0];
        var squared = Ops.Square(prediction - Tensor.FromArray(targets, n, F));
        if (mask is not null)
        {
            var maskF = new float[n * F];
            for (int j = 0; j < n; j++) maskF.AsSpan(j * F, F).Fill(mask[j]);
            squared = squared * Tensor.FromArray(maskF, n, F);
        }
        return Ops.Sum(squared) * (0.5 / F);
    }

    /// <summary>Per-step KL(old ‖ new) [N] between the sampling policy's outputs and the current ones.</summary>
    public Tensor<float> KlFromOld(Tensor<float> oldOutput, Tensor<float>? oldLogStd, Tensor<float> policy) =>
        PolicyDistributions.Kl(Network.Discrete, oldOutput, oldLogStd, policy, Network.LogStd);

    public (Tensor<float> LogProb, Tensor<float> Entropy) LogProbAndEntropy(Tensor<float> policy, float[] actions, int n)
    {
        if (!Network.Discrete) return PolicyDistributions.LogProbAndEntropy(false, policy, Network.LogStd, Tensor.FromArray(actions, n, Network.ActionSize), null);
        var indices = new int[n];
        for (int j = 0; j < n; j++) indices[j] = (int)actions[j];
        return PolicyDistributions.LogProbAndEntropy(true, policy, null, null, indices);
    }
}
