using MetaRL.Engine;
using MetaRL.Engine.Autodiff;

namespace MetaRL.Algorithms.Maml;

/// <summary>One task of a meta-batch: its pre-adaptation (train) and post-adaptation (valid) trajectories and the sampling policy's outputs on the latter.</summary>
internal sealed record MamlTaskData(TrajectoryBatch Train, TrajectoryBatch Valid, Tensor<float> OldOutput, Tensor<float>? OldLogStd, Tensor<float> OldLogProb)
{
    /// <summary>The rows the TRPO step's curvature uses (<see cref="MamlConfig.CurvatureSubsample"/>); null: all of them.</summary>
    public MamlTaskData? CurvatureRows { get; init; }

    /// <summary>The data the curvature products use: <see cref="CurvatureRows"/>, or the whole task.</summary>
    public MamlTaskData Curvature => CurvatureRows ?? this;

    /// <summary>
    /// This task with a uniform draw without replacement of round(<paramref name="fraction"/>·steps) rows (at least one)
    /// of each batch as its <see cref="CurvatureRows"/>, the rows kept in order.
    /// </summary>
    public MamlTaskData WithCurvatureRows(double fraction, Rng rng)
    {
        if (fraction >= 1) return this;
        int[] Draw(int n)
        {
            var rows = new int[n];
            for (int i = 0; i < n; i++) rows[i] = i;
            rng.Shuffle(rows.AsSpan());
            var kept = rows.AsSpan(0, Math.Max(1, (int)Math.Round(fraction * n))).ToArray();
            Array.Sort(kept);
            return kept;
        }
        var train = Draw(Train.Steps);
        var valid = Draw(Valid.Steps);
        return WithCurvatureRows(train, valid);
    }

    /// <summary>The rows of <see cref="CurvatureRows"/> in each batch (null: all of them).</summary>
    public (int[] Train, int[] Valid)? CurvatureRowIndices { get; private init; }

    /// <summary>This task with the given rows of each batch as its <see cref="CurvatureRows"/>.</summary>
    public MamlTaskData WithCurvatureRows(int[] train, int[] valid)
    {
        static Tensor<float> Rows(Tensor<float> t, int[] rows)
        {
            int width = t.Size / t.Shape[0];
            var data = new float[rows.Length * width];
            for (int i = 0; i < rows.Length; i++) t.Data.Slice(rows[i] * width, width).CopyTo(data.AsSpan(i * width, width));
            var shape = t.Shape.ToArray();
            shape[0] = rows.Length;
            return Tensor.FromArray(data, shape);
        }
        return this with
        {
            CurvatureRows = new MamlTaskData(Train.Rows(train), Valid.Rows(valid), Rows(OldOutput, valid), OldLogStd, Rows(OldLogProb, valid)),
            CurvatureRowIndices = (train, valid),
        };
    }

    /// <summary>The task's data as bytes for a learner elsewhere (<see cref="Read"/> gives back an equal record).</summary>
    public byte[] ToBytes()
    {
        var w = new Rollouts.BlobWriter();
        Write(w, Train);
        Write(w, Valid);
        Write(w, OldOutput);
        w.Int(OldLogStd is null ? 0 : 1);
        if (OldLogStd is not null) Write(w, OldLogStd);
        Write(w, OldLogProb);
        w.Int(CurvatureRowIndices is null ? 0 : 1);
        if (CurvatureRowIndices is { } rows) { w.Ints(rows.Train); w.Ints(rows.Valid); }
        return w.ToArray();
    }

    /// <summary>Reads what <see cref="ToBytes"/> wrote for batches of <paramref name="trajectories"/> × <paramref name="horizon"/> steps.</summary>
    public static MamlTaskData Read(byte[] bytes, int trajectories, int horizon, int obs, int act)
    {
        var r = new Rollouts.BlobReader(bytes, "MAML task result");
        var train = ReadBatch(r, trajectories, horizon, obs, act);
        var valid = ReadBatch(r, trajectories, horizon, obs, act);
        var output = ReadTensor(r);
        var logStd = r.Int() == 1 ? ReadTensor(r) : null;
        var logProb = ReadTensor(r);
        var task = new MamlTaskData(train, valid, output, logStd, logProb);
        if (r.Int() == 1)
        {
            var (tr, va) = (r.Ints(), r.Ints());
            if (tr.Any(i => i < 0 || i >= train.Steps) || va.Any(i => i < 0 || i >= valid.Steps))
                throw new InvalidDataException("The MAML task result is malformed: a curvature row out of range.");
            task = task.WithCurvatureRows(tr, va);
        }
        r.End();
        return task;
    }

    private static void Write(Rollouts.BlobWriter w, TrajectoryBatch b)
    {
        w.Floats(b.Observations); w.Floats(b.Actions); w.Floats(b.Rewards); w.Floats(b.Mask); w.Floats(b.Returns); w.Floats(b.Advantages);
    }

    private static TrajectoryBatch ReadBatch(Rollouts.BlobReader r, int trajectories, int horizon, int obs, int act)
    {
        var b = new TrajectoryBatch(trajectories, horizon, obs, act);
        int n = b.Steps;
        r.Floats(n * obs, "observations").CopyTo(b.Observations, 0);
        r.Floats(n * act, "actions").CopyTo(b.Actions, 0);
        r.Floats(n, "rewards").CopyTo(b.Rewards, 0);
        r.Floats(n, "mask").CopyTo(b.Mask, 0);
        r.Floats(n, "returns").CopyTo(b.Returns, 0);
        r.Floats(n, "advantages").CopyTo(b.Advantages, 0);
        return b;
    }

    private static void Write(Rollouts.BlobWriter w, Tensor<float> t)
    {
        w.Ints(t.Shape);
        w.Floats(t.Data);
    }

    private static Tensor<float> ReadTensor(Rollouts.BlobReader r)
    {
        var shape = r.Ints();
        if (shape.Length is < 1 or > 4 || shape.Any(d => d < 0)) throw new InvalidDataException("The MAML task result is malformed: a tensor's shape.");
        long size = shape.Aggregate(1L, (a, d) => a * d);
        return Tensor.FromArray(r.Floats((int)Math.Min(size, int.MaxValue), "a tensor"), shape);
    }
}

/// <summary>
/// MAML's outer objective on a sampled meta-batch, as a function of the initial weights θ: the post-adaptation surrogate
/// and mean KL through the inner step. <see cref="Objective"/> is the reference (one autodiff graph through the inner
/// step); <see cref="Values"/> gives the values alone for line searches, by the hand-derived forward passes once the
/// TRPO step's fast path has loaded its workspaces (<see cref="AnalyticAlpha"/> set), else without graphs.
/// </summary>
internal sealed class MamlMetaObjective(MlpPolicy<float> policy, MamlConfig config, MamlTaskData[] data)
{
    private static ParallelOptions Cores => MetaRL.Core.Compute.ParallelOptions;

    public MlpPolicy<float> Policy => policy;
    public MamlConfig Config => config;
    public MamlTaskData[] Data => data;

    /// <summary>Set by the fast path once the workspaces hold this meta-batch: the step size their values use.</summary>
    public double AnalyticAlpha { get; set; } = double.NaN;
    public GaussianMlpCurvature<float>[]? InnerWorkspaces { get; set; }
    public GaussianMlpCurvature<float>[]? KlWorkspaces { get; set; }

    // Surrogate and KL as functions of θ, through the inner step.
    public (Tensor<float> Surrogate, Tensor<float> Kl) Objective(IReadOnlyList<Tensor<float>> at)
    {
        Tensor<float>? s = null, k = null;
        foreach (var d in Data)
        {
            var adapted = AdaptFor(at, d.Train, graph: true);
            var si = MamlMath.Surrogate(Policy, adapted, d.Valid, d.OldLogProb);
            var ki = MamlMath.Kl(Policy, adapted, d.Valid, d.OldOutput, d.OldLogStd);
            s = s is null ? si : s + si;
            k = k is null ? ki : k + ki;
        }
        return (s! / Data.Length, k! / Data.Length);
    }

    /// <summary>
    /// The mean KL over each task's curvature rows as a function of θ, whose Hessian at θ is the TRPO step's curvature:
    /// with every row it is the objective's KL; with a subsample the adapted weights keep the values of the inner step on
    /// every training step while their derivative in θ comes from the subsampled ones,
    /// θ'ₖ₊₁ = θ'ₖ − α∇L_S(θ'ₖ) + ⊥(α∇L_S(θ'ₖ) − α∇L(θ'ₖ)), so the KL is still expanded where old and new policy coincide.
    /// </summary>
    public Tensor<float> CurvatureKl(IReadOnlyList<Tensor<float>> at)
    {
        Tensor<float>? k = null;
        foreach (var d in Data)
        {
            var c = d.Curvature;
            var adapted = ReferenceEquals(c, d) || Config.FirstOrder || Config.InnerSteps == 0
                ? AdaptFor(at, d.Train, graph: true)
                : AdaptWithCurvatureOf(at, d.Train, c.Train);
            var ki = MamlMath.Kl(Policy, adapted, c.Valid, c.OldOutput, c.OldLogStd);
            k = k is null ? ki : k + ki;
        }
        return k! / Data.Length;
    }

    private Tensor<float>[] AdaptWithCurvatureOf(IReadOnlyList<Tensor<float>> theta, TrajectoryBatch train, TrajectoryBatch rows)
    {
        var p = theta.ToArray();
        double alpha = Config.InnerLearningRate;
        for (int s = 0; s < Config.InnerSteps; s++)
        {
            var sub = Autograd.Grad([MamlMath.InnerLoss(Policy, p, rows, Config.LowVarianceCurvature)], p, createGraph: true, allowUnused: true);
            Tensor<float>?[] all;
            using (GradMode.EnableGrad())
            {
                var leaves = p.Select(x => Tensor.Parameter(x.Detach())).ToArray();
                all = Autograd.Grad([MamlMath.InnerLoss(Policy, leaves, train)], leaves, allowUnused: true);
            }
            p = p.Select((x, i) => sub[i] is null ? x : x - alpha * sub[i]! + (alpha * sub[i]!.Detach() - alpha * all[i]!).Detach()).ToArray();
        }
        return p;
    }

    // The same objective's values only (line search): tasks side by side, summed in task order. Once the fast path
    // has loaded hand-derived workspaces, they give the values without graphs (the curvature products are done by then).
    public (double Surrogate, double Kl) Values(IReadOnlyList<Tensor<float>> at)
    {
        var values = new (double S, double K)[Data.Length];
        Parallel.For(0, Data.Length, Cores, i =>
        {
            using var serial = MetaRL.Engine.Kernels.Gemm.Serial();
            if (!double.IsNaN(AnalyticAlpha))
            {
                values[i] = MamlTaskCurvature.Values(at, Data[i], AnalyticAlpha, InnerWorkspaces![i], KlWorkspaces![i]);
                return;
            }
            var adapted = AdaptFor(at, Data[i].Train, graph: false);
            using var _ = GradMode.NoGrad();
            values[i] = (MamlMath.Surrogate(Policy, adapted, Data[i].Valid, Data[i].OldLogProb).ToScalar(),
                MamlMath.Kl(Policy, adapted, Data[i].Valid, Data[i].OldOutput, Data[i].OldLogStd).ToScalar());
        });
        double s = 0, k = 0;
        foreach (var (si, ki) in values) { s += si; k += ki; }
        return (s / Data.Length, k / Data.Length);
    }

    public Tensor<float>[] AdaptFor(IReadOnlyList<Tensor<float>> theta, TrajectoryBatch train, bool graph)
    {
        if (Config.InnerSteps == 0) return theta.ToArray();
        if (!graph)
        {
            using var _ = GradMode.EnableGrad();
            var leaves = theta.Select(p => Tensor.Parameter(p.Detach())).ToArray();
            return MamlMath.Adapt(Policy, leaves, train, Config.InnerLearningRate, Config.InnerSteps, createGraph: false).Select(p => p.Detach()).ToArray();
        }
        if (!Config.FirstOrder) return MamlMath.Adapt(Policy, theta, train, Config.InnerLearningRate, Config.InnerSteps, createGraph: true, Config.LowVarianceCurvature);
        // First order: θ' = θ + (θ'_detached − θ_detached), so dθ'/dθ = I.
        var fo = MamlMath.Adapt(Policy, theta.Select(p => Tensor.Parameter(p.Detach())).ToArray(), train, Config.InnerLearningRate, Config.InnerSteps, createGraph: false);
        return theta.Select((p, i) => p + (fo[i].Detach() - p.Detach())).ToArray();
    }

    /// <summary>Σᵢ scale·partsᵢ, summed in index order so the result does not depend on scheduling.</summary>
    public static Tensor<float>[] SumInOrder(Tensor<float>[][] parts, IReadOnlyList<Tensor<float>> like, double scale)
    {
        var sum = like.Select(p => new float[p.Size]).ToArray();
        foreach (var part in parts)
            for (int i = 0; i < sum.Length; i++)
            {
                var src = part[i].Data;
                for (int j = 0; j < src.Length; j++) sum[i][j] += (float)(scale * src[j]);
            }
        return sum.Select((a, i) => Tensor.FromArray(a, like[i].Shape.ToArray())).ToArray();
    }
}
