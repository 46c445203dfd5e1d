using MetaRL.Algorithms.Common;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Kernels;
using MetaRL.Engine.Nn;
using MetaRL.Engine.Optim;

namespace MetaRL.Algorithms.Sac;

/// <summary>The settings soft actor-critic itself has (collection and scheduling are the caller's).</summary>
/// <param name="Hidden">Hidden layers of the policy and of each Q network.</param>
/// <param name="LearningRate">Adam's learning rate for the policy, the critics and the temperature.</param>
/// <param name="Gamma">Discount factor.</param>
/// <param name="Tau">Polyak factor of the target critics: θ' ← (1 − τ) θ' + τ θ after every update.</param>
/// <param name="RewardScale">Rewards are multiplied by this in the critics' targets.</param>
/// <param name="TargetEntropy">The entropy the temperature is tuned towards; null: −|A|.</param>
/// <param name="InitialAlpha">The temperature α at the start.</param>
/// <param name="AutoAlpha">Tune α towards the target entropy; false keeps it at its initial value.</param>
public sealed record SacSettings(int[] Hidden, double LearningRate = 3e-4, double Gamma = 0.99, double Tau = 0.005, double RewardScale = 1,
    double? TargetEntropy = null, double InitialAlpha = 1, bool AutoAlpha = true);

/// <summary>A batch of transitions in row-major arrays, reused from update to update.</summary>
public sealed class SacBatch(int rows, int observationSize, int actionSize)
{
    public int Rows { get; } = rows;
    public float[] Observations { get; } = new float[rows * observationSize];
    /// <summary>Actions in the policy's [−1, 1] units.</summary>
    public float[] Actions { get; } = new float[rows * actionSize];
    /// <summary>The rewards critics learn from.</summary>
    public float[] Rewards { get; } = new float[rows];
    public float[] Next { get; } = new float[rows * observationSize];
    /// <summary>1 where the transition ended the episode in a terminal state (no bootstrap), 0 otherwise (a time limit bootstraps).</summary>
    public float[] Terminals { get; } = new float[rows];
}

/// <summary>What one update measured.</summary>
public readonly record struct SacUpdateStats(double CriticLoss, double PolicyLoss, double Alpha, double Entropy, double MeanQ);

/// <summary>
/// Soft actor-critic (Haarnoja et al. 2018, with the twin critics, target critics and tuned temperature of its second
/// version): the policy maximises E[min(Q1, Q2) − α log π], each critic regresses on
/// r·scale + γ (1 − terminal) (min(Q1', Q2')(s′, a′) − α log π(a′ | s′)) with a′ drawn from the policy and Q' the target
/// critics, and log α follows −E[log α (log π + target entropy)]. Every network may also take a latent input per row
/// (PEARL's task variable z): the critics' loss differentiates through it, so an encoder upstream learns from the
/// critics, while the policy sees it as a constant.
/// </summary>
public sealed class SoftActorCritic
{
    private readonly Adam<float> _policyOptimizer, _criticOptimizer, _alphaOptimizer;
    private readonly Tensor<float>[] _criticParameters, _targetParameters;

    public SoftActorCritic(int observationSize, int actionSize, int latentSize, SacSettings settings, Rng rng)
    {
        if (settings.Hidden.Length == 0) throw new ArgumentException("Soft actor-critic needs at least one hidden layer.");
        (ObservationSize, ActionSize, LatentSize, Settings) = (observationSize, actionSize, latentSize, settings);
        int input = observationSize + latentSize;
        Policy = new TanhGaussianPolicy(input, actionSize, settings.Hidden, rng);
        Q1 = new QNetwork(input, actionSize, settings.Hidden, rng);
        Q2 = new QNetwork(input, actionSize, settings.Hidden, rng);
        Q1Target = new QNetwork(input, actionSize, settings.Hidden, rng);
        Q2Target = new QNetwork(input, actionSize, settings.Hidden, rng);
        Q1Target.CopyParametersFrom(Q1);
        Q2Target.CopyParametersFrom(Q2);
        LogAlpha = Tensor.Parameter(Tensor.Full<float>(Math.Log(settings.InitialAlpha), 1), "log-alpha");
        _criticParameters = [.. Q1.Parameters(), .. Q2.Parameters()];
        _targetParameters = [.. Q1Target.Parameters(), .. Q2Target.Parameters()];
        _policyOptimizer = new Adam<float>(Policy.Parameters(), settings.LearningRate);
        _criticOptimizer = new Adam<float>(_criticParameters, settings.LearningRate);
        _alphaOptimizer = new Adam<float>([LogAlpha], settings.LearningRate);
        TargetEntropy = settings.TargetEntropy ?? -actionSize;
    }

    public int ObservationSize { get; }
    public int ActionSize { get; }
    public int LatentSize { get; }
    public SacSettings Settings { get; }
    public double TargetEntropy { get; }
    public TanhGaussianPolicy Policy { get; }
    public QNetwork Q1 { get; }
    public QNetwork Q2 { get; }
    public QNetwork Q1Target { get; }
    public QNetwork Q2Target { get; }
    public Tensor<float> LogAlpha { get; }
    public double Alpha => Math.Exp(LogAlpha.Data[0]);

    /// <summary>Updates done so far.</summary>
    public long Updates => _criticOptimizer.Steps;

    /// <summary>
    /// The reference update, on the recorded graph: one step of the critics, the policy, the temperature and the target
    /// critics on <paramref name="batch"/>. <paramref name="latent"/> ([rows, latent size], or null without one) may
    /// depend on <paramref name="encoderParameters"/>: they are then trained by <paramref name="encoderOptimizer"/> on the
    /// critics' loss plus <paramref name="encoderLoss"/> (PEARL's KL term). <see cref="Update"/> computes the same on
    /// preallocated buffers.
    /// </summary>
    public SacUpdateStats UpdateReference(SacBatch batch, Rng rng, Tensor<float>? latent = null, Tensor<float>? encoderLoss = null,
        IReadOnlyList<Tensor<float>>? encoderParameters = null, Optimizer<float>? encoderOptimizer = null)
    {
        int n = batch.Rows;
        if ((latent is null) != (LatentSize == 0) || latent is not null && (latent.Rank != 2 || latent.Shape[0] != n || latent.Shape[1] != LatentSize))
            throw new ArgumentException($"This critic takes a latent of {LatentSize} numbers per row for {n} rows.", nameof(latent));
        var obs = Tensor.FromArray(batch.Observations, n, ObservationSize);
        var actions = Tensor.FromArray(batch.Actions, n, ActionSize);
        var next = Tensor.FromArray(batch.Next, n, ObservationSize);
        var fixedLatent = latent?.Detach();
        var input = WithLatent(obs, latent);
        var fixedInput = WithLatent(obs, fixedLatent);
        double alpha = Alpha, scale = Settings.RewardScale, gamma = Settings.Gamma;

        // The critics' target, a constant.
        Tensor<float> target;
        using (GradMode.NoGrad())
        {
            var nextInput = WithLatent(next, fixedLatent);
            var (nextAction, nextLogProb) = Policy.Sample(nextInput, rng);
            var nextQ = Ops.Minimum(Q1Target.Forward(nextInput, nextAction), Q2Target.Forward(nextInput, nextAction)) - alpha * nextLogProb;
            var y = new float[n];
            var q = nextQ.Data;
            for (int i = 0; i < n; i++) y[i] = (float)(scale * batch.Rewards[i] + gamma * (1 - batch.Terminals[i]) * q[i]);
            target = Tensor.FromArray(y, n, 1);
        }

        // Critics (and the encoder through the latent).
        var q1 = Q1.Forward(input, actions);
        var q2 = Q2.Forward(input, actions);
        var criticLoss = Ops.Mean(Ops.Square(q1 - target)) + Ops.Mean(Ops.Square(q2 - target));
        bool withEncoder = encoderParameters is { Count: > 0 };
        var encoderParams = withEncoder ? encoderParameters! : [];
        var total = encoderLoss is null ? criticLoss : criticLoss + encoderLoss;
        var grads = Autograd.Grad([total], [.. _criticParameters, .. encoderParams], allowUnused: true);
        Assign(grads, _criticParameters, 0);
        _criticOptimizer.Step();
        if (withEncoder)
        {
            Assign(grads, encoderParams, _criticParameters.Length);
            (encoderOptimizer ?? throw new ArgumentNullException(nameof(encoderOptimizer))).Step();
        }

        // Policy, against the critics just updated; the latent is a constant here.
        var (action, logProb) = Policy.Sample(fixedInput, rng);
        var qPolicy = Ops.Minimum(Q1.Forward(fixedInput, action), Q2.Forward(fixedInput, action));
        var policyLoss = Ops.Mean(alpha * logProb - qPolicy);
        var policyParameters = _policyOptimizer.Parameters;
        Assign(Autograd.Grad([policyLoss], policyParameters, allowUnused: true), policyParameters, 0);
        _policyOptimizer.Step();

        // Temperature: d/d log α of −E[log α (log π + H̄)] is −E[log π + H̄].
        double meanLogProb = Ops.Mean(logProb).ToDouble();
        if (Settings.AutoAlpha)
        {
            LogAlpha.Grad = Tensor.Full<float>(-(meanLogProb + TargetEntropy), 1);
            _alphaOptimizer.Step();
        }

        // Target critics.
        UpdateTargets();
        return new SacUpdateStats(criticLoss.ToDouble(), policyLoss.ToDouble(), alpha, -meanLogProb, Ops.Mean(q1).ToDouble());
    }

    /// <summary>
    /// One update of the critics, the policy, the temperature and the target critics on <paramref name="batch"/>, as
    /// <see cref="UpdateReference"/> computes it but on buffers kept from update to update. <paramref name="latent"/>
    /// holds the rows' latents ([rows × latent size]; empty without one); with a non-empty <paramref name="latentGradient"/>,
    /// the critics' loss's derivative by them is written there, for an encoder upstream to learn from.
    /// </summary>
    public SacUpdateStats Update(SacBatch batch, Rng rng, ReadOnlySpan<float> latent = default, Span<float> latentGradient = default)
    {
        int n = batch.Rows, o = ObservationSize, a = ActionSize, l = LatentSize, pin = o + l, qin = o + l + a;
        if (latent.Length != n * l) throw new ArgumentException($"This critic takes a latent of {l} numbers for each of {n} rows.", nameof(latent));
        if (!latentGradient.IsEmpty && latentGradient.Length != n * l) throw new ArgumentException($"The latent gradient has {l} numbers for each of {n} rows.", nameof(latentGradient));
        var w = _workspace is { Rows: var rows } && rows == n ? _workspace : _workspace = new FastWorkspace(this, n);
        double alpha = Alpha, scale = Settings.RewardScale, gamma = Settings.Gamma;

        // The critics' target.
        SamplePolicy(w, batch.Next, latent, rng, w.Q1Target, w.Q2Target);
        Twin(w.Q1Target.Forward, w.Q2Target.Forward);
        for (int r = 0; r < n; r++)
        {
            float next = Math.Min(w.Q1Target.Output[r], w.Q2Target.Output[r]) - (float)alpha * w.LogProb[r];
            w.Target[r] = (float)(scale * batch.Rewards[r] + gamma * (1 - batch.Terminals[r]) * next);
        }

        // Critics.
        for (int r = 0; r < n; r++)
        {
            batch.Observations.AsSpan(r * o, o).CopyTo(w.Q1.Input.Slice(r * qin, o));
            latent.Slice(r * l, l).CopyTo(w.Q1.Input.Slice(r * qin + o, l));
            batch.Actions.AsSpan(r * a, a).CopyTo(w.Q1.Input.Slice(r * qin + pin, a));
        }
        w.Q1.Input.CopyTo(w.Q2.Input);
        Twin(w.Q1.Forward, w.Q2.Forward);
        double loss1 = 0, loss2 = 0, meanQ = 0;
        for (int r = 0; r < n; r++)
        {
            float e1 = w.Q1.Output[r] - w.Target[r], e2 = w.Q2.Output[r] - w.Target[r];
            loss1 += e1 * e1;
            loss2 += e2 * e2;
            meanQ += w.Q1.Output[r];
            w.Grad1[r] = 2 * e1 / n;
            w.Grad2[r] = 2 * e2 / n;
        }
        bool wantLatent = !latentGradient.IsEmpty;
        Twin(() => w.Q1.Backward(w.Grad1, weights: true, wantLatent ? w.InputGrad1 : default),
            () => w.Q2.Backward(w.Grad2, weights: true, wantLatent ? w.InputGrad2 : default));
        if (wantLatent)
            for (int r = 0; r < n; r++)
                for (int j = 0; j < l; j++)
                    latentGradient[r * l + j] = w.InputGrad1[r * qin + o + j] + w.InputGrad2[r * qin + o + j];
        _criticOptimizer.Step();

        // Policy, against the critics just updated.
        SamplePolicy(w, batch.Observations, latent, rng, w.Q1, w.Q2);
        Twin(w.Q1.Forward, w.Q2.Forward);
        double policyLoss = 0, meanLogProb = 0;
        for (int r = 0; r < n; r++)
        {
            // min(q1, q2) = −max(−q1, −q2): the gradient goes to the first critic on a tie, as the graph's maximum sends it.
            bool first = -w.Q1.Output[r] >= -w.Q2.Output[r];
            policyLoss += alpha * w.LogProb[r] - Math.Min(w.Q1.Output[r], w.Q2.Output[r]);
            meanLogProb += w.LogProb[r];
            w.Grad1[r] = first ? -1f / n : 0;
            w.Grad2[r] = first ? 0 : -1f / n;
        }
        Twin(() => w.Q1.Backward(w.Grad1, weights: false, w.InputGrad1), () => w.Q2.Backward(w.Grad2, weights: false, w.InputGrad2));
        float logProbGrad = (float)(alpha / n);
        var heads = w.Policy.Output;
        for (int r = 0; r < n; r++)
            for (int j = 0; j < a; j++)
            {
                int k = r * a + j;
                float act = w.Action[k];
                float dAction = w.InputGrad1[r * qin + pin + j] + w.InputGrad2[r * qin + pin + j];
                // d log π / du = 2 tanh u (the squashing term) and d log π / d log σ = −1; u = mean + σ·noise.
                float du = dAction * (1 - act * act) + logProbGrad * 2 * act;
                float logStd = heads[r * 2 * a + a + j];
                float dLogStd = du * MathF.Exp(w.ClampedLogStd[k]) * w.Noise[k] - logProbGrad;
                w.HeadGrad[r * 2 * a + j] = du;
                w.HeadGrad[r * 2 * a + a + j] = logStd >= LogStdMin && logStd <= LogStdMax ? dLogStd : 0;
            }
        w.Policy.Backward(w.HeadGrad, weights: true, default);
        _policyOptimizer.Step();

        meanLogProb /= n;
        if (Settings.AutoAlpha)
        {
            LogAlpha.Grad = Tensor.Full<float>(-(meanLogProb + TargetEntropy), 1);
            _alphaOptimizer.Step();
        }
        UpdateTargets();
        return new SacUpdateStats(loss1 / n + loss2 / n, policyLoss / n, alpha, -meanLogProb, meanQ / n);
    }

    /// <summary>
    /// Runs the twin critics' work side by side, one core each with single-threaded products (each critic's numbers
    /// do not depend on which thread computes them), or one after the other when products may use one thread only.
    /// </summary>
    private static void Twin(Action first, Action second)
    {
        if (Gemm.MaxThreads < 2)
        {
            first();
            second();
            return;
        }
        Parallel.Invoke(() => { using var _ = Gemm.Serial(); first(); }, () => { using var _ = Gemm.Serial(); second(); });
    }

    private const float LogStdMin = (float)TanhGaussianPolicy.LogStdMin, LogStdMax = (float)TanhGaussianPolicy.LogStdMax;
    private static readonly float HalfLog2Pi = (float)(0.5 * Math.Log(2 * Math.PI)), Log2 = (float)Math.Log(2);

    /// <summary>
    /// Runs the policy on the rows [observation, latent], draws its squashed sample and log-density (into the workspace),
    /// and writes the rows [observation, latent, sampled action] into both critics' inputs.
    /// </summary>
    private void SamplePolicy(FastWorkspace w, ReadOnlySpan<float> observations, ReadOnlySpan<float> latent, Rng rng, MlpWorkspace first, MlpWorkspace second)
    {
        int n = w.Rows, o = ObservationSize, l = LatentSize, a = ActionSize, pin = o + l, qin = pin + a;
        for (int r = 0; r < n; r++)
        {
            observations.Slice(r * o, o).CopyTo(w.Policy.Input.Slice(r * pin, o));
            latent.Slice(r * l, l).CopyTo(w.Policy.Input.Slice(r * pin + o, l));
        }
        w.Policy.Forward();
        SampleSquashed(w, rng);
        for (int r = 0; r < n; r++)
        {
            w.Policy.Input.Slice(r * pin, pin).CopyTo(first.Input.Slice(r * qin, pin));
            w.Action.AsSpan(r * a, a).CopyTo(first.Input.Slice(r * qin + pin, a));
        }
        first.Input.CopyTo(second.Input);
    }

    /// <summary>Draws the policy's squashed sample and its log-density from the heads of the last policy forward pass.</summary>
    private void SampleSquashed(FastWorkspace w, Rng rng)
    {
        int a = ActionSize, n = w.Rows;
        var heads = w.Policy.Output;
        for (int k = 0; k < n * a; k++) w.Noise[k] = (float)rng.Normal();
        for (int r = 0; r < n; r++)
        {
            float sum = 0;
            for (int j = 0; j < a; j++)
            {
                int k = r * a + j;
                float mean = heads[r * 2 * a + j];
                float logStd = Math.Clamp(heads[r * 2 * a + a + j], LogStdMin, LogStdMax);
                float noise = w.Noise[k];
                float u = mean + MathF.Exp(logStd) * noise;
                float m = -2 * u;
                float softplus = Math.Max(m, 0) + MathF.Log(1 + MathF.Exp(-Math.Abs(m)));
                w.ClampedLogStd[k] = logStd;
                w.Action[k] = MathF.Tanh(u);
                sum += -0.5f * noise * noise - logStd - HalfLog2Pi - 2 * (Log2 - u - softplus);
            }
            w.LogProb[r] = sum;
        }
    }

    private FastWorkspace? _workspace;

    /// <summary>The buffers of <see cref="Update"/> for one batch size.</summary>
    private sealed class FastWorkspace
    {
        public FastWorkspace(SoftActorCritic sac, int rows)
        {
            Rows = rows;
            int a = sac.ActionSize, qin = sac.ObservationSize + sac.LatentSize + a;
            Policy = new MlpWorkspace(sac.Policy.Network, rows);
            Q1 = new MlpWorkspace(sac.Q1.Network, rows);
            Q2 = new MlpWorkspace(sac.Q2.Network, rows);
            Q1Target = new MlpWorkspace(sac.Q1Target.Network, rows);
            Q2Target = new MlpWorkspace(sac.Q2Target.Network, rows);
            (Noise, Action, ClampedLogStd) = (new float[rows * a], new float[rows * a], new float[rows * a]);
            (LogProb, Target, Grad1, Grad2) = (new float[rows], new float[rows], new float[rows], new float[rows]);
            (InputGrad1, InputGrad2) = (new float[rows * qin], new float[rows * qin]);
            HeadGrad = new float[rows * 2 * a];
        }

        public int Rows { get; }
        public MlpWorkspace Policy { get; }
        public MlpWorkspace Q1 { get; }
        public MlpWorkspace Q2 { get; }
        public MlpWorkspace Q1Target { get; }
        public MlpWorkspace Q2Target { get; }
        public float[] Noise { get; }
        public float[] Action { get; }
        public float[] ClampedLogStd { get; }
        public float[] LogProb { get; }
        public float[] Target { get; }
        public float[] Grad1 { get; }
        public float[] Grad2 { get; }
        public float[] InputGrad1 { get; }
        public float[] InputGrad2 { get; }
        public float[] HeadGrad { get; }
    }

    private static void Assign(Tensor<float>?[] grads, IReadOnlyList<Tensor<float>> parameters, int offset)
    {
        for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = grads[offset + i];
    }

    private void UpdateTargets()
    {
        float tau = (float)Settings.Tau, keep = 1 - tau;
        for (int i = 0; i < _targetParameters.Length; i++)
        {
            var t = _targetParameters[i].Data;
            var s = _criticParameters[i].Data;
            for (int j = 0; j < t.Length; j++) t[j] = keep * t[j] + tau * s[j];
        }
    }

    private static Tensor<float> WithLatent(Tensor<float> x, Tensor<float>? latent) => latent is null ? x : Ops.Concat([x, latent], 1);

    /// <summary>
    /// Actions for each row of <paramref name="input"/> (observation and latent), written to <paramref name="actions"/> in
    /// [−1, 1]: sampled from the policy, or its mean when <paramref name="deterministic"/>. Records no graph.
    /// </summary>
    public void Act(Tensor<float> input, Rng rng, bool deterministic, Span<float> actions)
    {
        using var _ = GradMode.NoGrad();
        var a = deterministic ? Policy.MeanAction(input) : Policy.Sample(input, rng).Action;
        a.Data.CopyTo(actions);
    }

    /// <summary>Writes every network and optimiser under <paramref name="prefix"/>.</summary>
    public void WriteTo(TensorArchive archive, string prefix)
    {
        Policy.AddTo(archive, prefix + "policy.");
        Q1.AddTo(archive, prefix + "q1.");
        Q2.AddTo(archive, prefix + "q2.");
        Q1Target.AddTo(archive, prefix + "q1-target.");
        Q2Target.AddTo(archive, prefix + "q2-target.");
        archive.Add(prefix + "log-alpha", LogAlpha);
        CheckpointMetadata.WriteOptimizer(archive, _policyOptimizer, prefix + "policy-optim.");
        CheckpointMetadata.WriteOptimizer(archive, _criticOptimizer, prefix + "critic-optim.");
        CheckpointMetadata.WriteOptimizer(archive, _alphaOptimizer, prefix + "alpha-optim.");
    }

    /// <summary>
    /// Checks that <see cref="WriteTo"/>'s entries fit these networks (the caller's probe of the same shape reads them
    /// first) and returns the restore to apply once everything else has been checked. With <paramref name="weightsOnly"/>
    /// the networks, their targets and the temperature are restored and the optimisers keep their own state (a warm start).
    /// </summary>
    public Action ReadFrom(TensorArchive archive, string prefix, string source, bool weightsOnly = false)
    {
        var probe = new SoftActorCritic(ObservationSize, ActionSize, LatentSize, Settings, new Rng(1));
        try
        {
            probe.Policy.LoadFrom(archive, prefix + "policy.");
            probe.Q1.LoadFrom(archive, prefix + "q1.");
            probe.Q2.LoadFrom(archive, prefix + "q2.");
            probe.Q1Target.LoadFrom(archive, prefix + "q1-target.");
            probe.Q2Target.LoadFrom(archive, prefix + "q2-target.");
        }
        catch (Exception e) when (e is not CheckpointException) { throw new CheckpointException($"{source}: the soft actor-critic networks do not fit ({e.Message}).", e); }
        if (!archive.Contains(prefix + "log-alpha") || archive.Get<float>(prefix + "log-alpha").Size != 1)
            throw new CheckpointException($"{source} lacks the temperature '{prefix}log-alpha'.");
        var logAlpha = archive.Get<float>(prefix + "log-alpha").Data[0];
        void CopyWeights()
        {
            Policy.CopyParametersFrom(probe.Policy);
            Q1.CopyParametersFrom(probe.Q1);
            Q2.CopyParametersFrom(probe.Q2);
            Q1Target.CopyParametersFrom(probe.Q1Target);
            Q2Target.CopyParametersFrom(probe.Q2Target);
            LogAlpha.Data[0] = logAlpha;
        }
        if (weightsOnly) return CopyWeights;
        var policyState = CheckpointMetadata.ReadOptimizerState(archive, _policyOptimizer, prefix + "policy-optim.");
        var criticState = CheckpointMetadata.ReadOptimizerState(archive, _criticOptimizer, prefix + "critic-optim.");
        var alphaState = CheckpointMetadata.ReadOptimizerState(archive, _alphaOptimizer, prefix + "alpha-optim.");
        return () =>
        {
            CopyWeights();
            _policyOptimizer.LoadState(policyState);
            _criticOptimizer.LoadState(criticState);
            _alphaOptimizer.LoadState(alphaState);
        };
    }
}
