using MetaRL.Core.Spaces;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.Nn;
using MetaRL.Algorithms.Common;
using MetaRL.Algorithms.Maml;
using MetaRL.Tasks.Navigation;

namespace MetaRL.Algorithms.Tests;

public class MamlTests
{
    /// <summary>A fixed batch of fake trajectories: random observations, actions and advantages.</summary>
    private static TrajectoryBatch FakeBatch(Rng rng, int k, int h, int obs, int act)
    {
        var b = new TrajectoryBatch(k, h, obs, act);
        for (int i = 0; i < b.Observations.Length; i++) b.Observations[i] = (float)rng.Normal();
        for (int i = 0; i < b.Actions.Length; i++) b.Actions[i] = (float)rng.Normal(0, 0.5);
        for (int i = 0; i < b.Steps; i++)
        {
            b.Mask[i] = 1;
            b.Advantages[i] = (float)rng.Normal();
        }
        return b;
    }

    [Theory]
    [InlineData(Activation.Tanh, false)]
    [InlineData(Activation.Relu, false)]
    [InlineData(Activation.Sigmoid, true)]
    public void The_samplers_buffered_forward_pass_gives_the_autodiff_outputs_bit_for_bit(Activation activation, bool discrete)
    {
        var rng = new Rng(12);
        Space actions = discrete ? new Discrete(5) : new Box(-1, 1, 3);
        var policy = new MlpPolicy<float>(new Box(-1, 1, 7), actions, [33, 17], rng, activation);
        // Other weights than the policy's own, as the sampler passes adapted ones.
        var weights = policy.Parameters().Select(p => Tensor.FromArray(p.Data.ToArray().Select(x => x + (float)rng.Normal(0, 0.1)).ToArray(), p.Shape.ToArray())).ToArray();
        var forward = new MlpPolicyForward<float>(policy, 20);
        for (int round = 0; round < 3; round++)
        {
            var obs = Enumerable.Range(0, 20 * 7).Select(_ => (float)rng.Normal()).ToArray();
            float[] expected;
            using (GradMode.NoGrad()) expected = Functional.Call(policy, weights, () => policy.Output(Tensor.FromArray(obs, 20, 7))).ToArray();
            Assert.Equal(expected, forward.Output(weights, obs).ToArray());
        }
        Assert.Throws<ArgumentException>(() => forward.Output(weights, new float[19 * 7]));
    }

    [Fact]
    public void Meta_gradient_through_the_inner_step_matches_finite_differences_and_differs_from_first_order()
    {
        var rng = new Rng(3);
        var space = new Box(-1, 1, 2);
        var policy = new MlpPolicy<double>(space, space, [6], rng);
        var train = FakeBatch(rng, 3, 4, 2, 2);
        var valid = FakeBatch(rng, 3, 4, 2, 2);
        var oldLogp = Tensor.RandN<double>(rng, 0.1, valid.Steps);
        var theta = policy.Parameters();
        const double alpha = 0.3;

        Tensor<double> Meta(IReadOnlyList<Tensor<double>> at, bool graph)
            => MamlMath.Surrogate(policy, MamlMath.Adapt(policy, at, train, alpha, 1, createGraph: graph), valid, oldLogp);

        var exact = Autograd.Grad([Meta(theta, true)], theta);
        var firstOrder = Autograd.Grad([Meta(theta, false)], theta, allowUnused: true);
        double maxRel = 0, foDiff = 0;
        const double h = 1e-6;
        for (int i = 0; i < theta.Count; i++)
            for (int j = 0; j < theta[i].Size; j++)
            {
                double orig = theta[i].Data[j];
                double up, down;
                using (GradMode.EnableGrad())
                {
                    theta[i].Data[j] = orig + h;
                    up = Meta(theta, false).ToScalar();
                    theta[i].Data[j] = orig - h;
                    down = Meta(theta, false).ToScalar();
                }
                theta[i].Data[j] = orig;
                double numeric = (up - down) / (2 * h);
                maxRel = Math.Max(maxRel, Math.Abs(exact[i]!.Data[j] - numeric) / Math.Max(1e-4, Math.Abs(numeric)));
                foDiff = Math.Max(foDiff, Math.Abs((firstOrder[i]?.Data[j] ?? 0) - numeric));
            }
        Assert.True(maxRel < 1e-6, $"relative error {maxRel:E2}");
        Assert.True(foDiff > 1e-4, $"first-order gradient should differ (max diff {foDiff:E2})");
    }

    private static float[] Weights(MamlTrainer t) => t.Policy.Parameters().SelectMany(p => p.ToArray()).ToArray();

    // Three conjugate-gradient iterations: enough to exercise the solver; with more, CG on an ill-conditioned
    // curvature amplifies float rounding and two mathematically equal paths drift apart by a few percent.
    // No validation unless a test asks for it (it would only slow the others down).
    private static MamlConfig Small => new() { Hidden = [16, 16], MetaBatch = 4, Trajectories = 5, Iterations = 3, CgIterations = 3, ValidateEvery = 0 };

    [Theory]
    [InlineData(1, false, 1.0)]
    [InlineData(1, true, 1.0)] // the low-variance curvature by hand and through the graph
    [InlineData(0, false, 1.0)] // a multi-task policy: plain TRPO through the same fast path with α = 0
    [InlineData(1, true, 0.3)] // the curvature on a subsample of the rows, by hand and through the graph
    [InlineData(0, false, 0.3)]
    public void Fast_one_step_curvature_equals_the_full_graph_and_steps_respect_the_kl_limit(int innerSteps, bool lvc, double subsample)
    {
        var d = new Navigation2DDistribution(horizon: 15);
        var fast = new MamlTrainer(d, Small with { InnerSteps = innerSteps, LowVarianceCurvature = lvc, CurvatureSubsample = subsample }, 4);
        var full = new MamlTrainer(d, Small with { InnerSteps = innerSteps, LowVarianceCurvature = lvc, CurvatureSubsample = subsample, ForceFullGraph = true }, 4);
        var before = Weights(fast);
        var a = fast.RunIteration();
        var b = full.RunIteration();
        Assert.True(a.Accepted && b.Accepted);
        Assert.True(a.Kl <= Small.MaxKl && b.Kl <= Small.MaxKl, $"KL {a.Kl} / {b.Kl}");
        Assert.Equal(a.LineSearchSteps, b.LineSearchSteps);
        // Same samples, same update up to float rounding: compare the two steps relative to their size.
        var wa = Weights(fast);
        var wb = Weights(full);
        double diff = Math.Sqrt(wa.Zip(wb, (x, y) => (double)(x - y) * (x - y)).Sum());
        double step = Math.Sqrt(wa.Zip(before, (x, y) => (double)(x - y) * (x - y)).Sum());
        Assert.True(diff < 1e-3 * step, $"fast and full-graph steps differ by {diff:E2} for a step of {step:E2}");
    }

    [Fact]
    public void A_curvature_subsample_draws_distinct_rows_in_order_and_changes_only_the_curvature()
    {
        var rng = new Rng(3);
        var train = FakeBatch(rng, 4, 25, 2, 2);
        var valid = FakeBatch(rng, 4, 25, 2, 2);
        var oldOutput = Tensor.RandN<float>(rng, 1, valid.Steps, 2);
        var oldLogProb = Tensor.RandN<float>(rng, 1, valid.Steps);
        var data = new MamlTaskData(train, valid, oldOutput, Tensor.Zeros<float>(2), oldLogProb);
        Assert.Same(data, data.WithCurvatureRows(1, new Rng(1)));
        Assert.Same(data, data.Curvature);
        var sub = data.WithCurvatureRows(0.2, new Rng(1)).Curvature;
        Assert.Equal(20, sub.Train.Steps);
        Assert.Equal(20, sub.Valid.Steps);
        // Each kept row is a row of the batch, each at most once, in the batch's order; the old outputs follow the rows.
        int last = -1;
        for (int i = 0; i < sub.Valid.Steps; i++)
        {
            int r = Enumerable.Range(0, valid.Steps).Single(j => valid.Observations[2 * j] == sub.Valid.Observations[2 * i] && valid.Actions[2 * j] == sub.Valid.Actions[2 * i]);
            Assert.True(r > last);
            last = r;
            Assert.Equal(valid.Advantages[r], sub.Valid.Advantages[i]);
            Assert.Equal(oldOutput[r, 1], sub.OldOutput[i, 1]);
            Assert.Equal(oldLogProb[r], sub.OldLogProb[i]);
        }
        // The same stream draws the same rows; another draws others.
        Assert.Equal(sub.Train.Observations, data.WithCurvatureRows(0.2, new Rng(1)).Curvature.Train.Observations);
        Assert.NotEqual(sub.Train.Observations, data.WithCurvatureRows(0.2, new Rng(2)).Curvature.Train.Observations);

        // In training, the subsample leaves the sampled batches, and so the returns, as they are; only the step differs.
        var d = new Navigation2DDistribution(horizon: 15);
        var exact = new MamlTrainer(d, Small, 4);
        var approx = new MamlTrainer(d, Small with { CurvatureSubsample = 0.25 }, 4);
        var a = exact.RunIteration();
        var b = approx.RunIteration();
        Assert.Equal(a.PreAdaptationReturn, b.PreAdaptationReturn);
        Assert.Equal(a.PostAdaptationReturn, b.PostAdaptationReturn);
        Assert.True(b.Accepted && b.Kl <= Small.MaxKl, $"KL {b.Kl}");
        Assert.NotEqual(Weights(exact), Weights(approx));
    }

    [Fact]
    public void A_failed_line_search_leaves_the_policy_unchanged()
    {
        var d = new Navigation2DDistribution(horizon: 10);
        var t = new MamlTrainer(d, Small with { LineSearchSteps = 0 }, 5);
        var before = Weights(t);
        var s = t.RunIteration();
        Assert.False(s.Accepted);
        Assert.Equal(before, Weights(t));
    }

    [Fact]
    public void Maml_training_is_deterministic_and_improves_post_adaptation_return()
    {
        var d = new Navigation2DDistribution(horizon: 20);
        var cfg = Small with { MetaBatch = 6, Trajectories = 8 };
        var a = new MamlTrainer(d, cfg, 9);
        var b = new MamlTrainer(d, cfg, 9);
        var first = a.RunIteration();
        b.RunIteration();
        MamlIterationStats last = first;
        for (int i = 0; i < 7; i++) { last = a.RunIteration(); b.RunIteration(); }
        Assert.Equal(Weights(a), Weights(b));
        Assert.True(last.PostAdaptationReturn > first.PostAdaptationReturn, $"{first.PostAdaptationReturn:F2} → {last.PostAdaptationReturn:F2}");
    }

    [Fact]
    public void Conjugate_gradient_solves_a_positive_definite_system_and_reports_A_x()
    {
        // A = MᵀM + I (5×5, positive definite); 5 CG steps solve it up to rounding.
        var rng = new MetaRL.Engine.Rng(3);
        var m = new double[25];
        for (int i = 0; i < 25; i++) m[i] = rng.Normal();
        var a = new double[25];
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
            {
                double sum = i == j ? 1 : 0;
                for (int k = 0; k < 5; k++) sum += m[k * 5 + i] * m[k * 5 + j];
                a[i * 5 + j] = sum;
            }
        MetaRL.Engine.Tensor<float>[] Times(MetaRL.Engine.Tensor<float>[] v)
        {
            var r = new float[5];
            for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) r[i] += (float)(a[i * 5 + j] * v[0].Data[j]);
            return [MetaRL.Engine.Tensor.FromArray(r, 5)];
        }
        var g = new[] { MetaRL.Engine.Tensor.FromArray(new float[] { 1, -2, 0.5f, 3, -1 }, 5) };
        var x = TrustRegion.ConjugateGradient(Times, g, 5, out var ax);
        var direct = Times(x)[0].ToArray();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(g[0].Data[i], direct[i], 1e-3);
            Assert.Equal(direct[i], ax[0].Data[i], 1e-3);
        }
    }

    [Fact]
    public void The_outer_surrogates_bound_an_action_the_acting_policy_all_but_never_took()
    {
        // MAML's PPO and TRPO outer objectives read the ratio of the adapted policy to the one that acted. Rows 0 and 1
        // had probability e^-70 under the acting policy (an environment played them in place of the sampled action):
        // their ratio is read as e^20, and PPO's term is 3·A for a negative advantage, (1 + ε)·A for a positive one.
        var rng = new Rng(3);
        var policy = new MlpPolicy<double>(new Box(-1, 1, 3), new Discrete(4), [8], rng);
        var b = FakeBatch(rng, 2, 5, 3, 1);
        for (int i = 0; i < b.Steps; i++) b.Actions[i] = i % 4;
        b.Advantages[0] = -1.5f;
        b.Advantages[1] = 2f;
        var theta = policy.Parameters();
        double[] logp;
        using (GradMode.NoGrad()) logp = MamlMath.LogProb(policy, theta, b).ToArray();
        var old = logp.Select((l, i) => i < 2 ? l - 70 : l - 0.05).ToArray();
        var oldT = Tensor.FromArray(old, b.Steps);
        double ppo = 0, trpo = 0;
        for (int i = 0; i < b.Steps; i++)
        {
            double a = b.Advantages[i], r = i < 2 ? Math.Exp(20) : Math.Exp(0.05);
            ppo += i == 0 ? 3 * a : Math.Min(r * a, Math.Clamp(r, 0.8, 1.2) * a);
            trpo += r * a;
        }
        var clipped = MamlMath.ClippedSurrogate(policy, theta, b, oldT, 0.2);
        Assert.Equal(ppo / b.Steps, clipped.ToScalar(), 9);
        Assert.Equal(trpo / b.Steps, MamlMath.Surrogate(policy, theta, b, oldT).ToScalar(), 6);
        var g = Autograd.Grad([clipped], theta);
        Assert.All(g, t => Assert.All(t!.Data.ToArray(), x => Assert.True(double.IsFinite(x))));
    }

    [Fact]
    public void Hand_derived_inner_gradient_surrogate_and_kl_equal_autodiff_in_double()
    {
        var rng = new Rng(12);
        var policy = new MlpPolicy<double>(new Box(-1, 1, 3), new Box(-1, 1, 2), [7, 5], rng);
        var train = FakeBatch(rng, 3, 5, 3, 2);
        var valid = FakeBatch(rng, 3, 5, 3, 2);
        train.Mask[7] = 0;
        train.Advantages[7] = 0;
        valid.Mask[4] = 0;
        valid.Advantages[4] = 0;
        var theta = policy.Parameters();
        policy.NamedParameters().First(n => n.Name == "log_std").Parameter.Data[1] = 0.4;

        // The inner loss's gradient (the inner step).
        var expected = Autograd.Grad([MamlMath.InnerLoss(policy, theta, train)], theta);
        var actual = GaussianMlpCurvature<double>.ForInnerLoss(policy, theta, train).Gradient();
        for (int i = 0; i < theta.Count; i++)
            for (int j = 0; j < theta[i].Size; j++)
                Assert.Equal(expected[i]!.Data[j], actual[i].Data[j], 10);

        // The surrogate and its gradient, with an old policy that differs (ratios away from 1), and the mean KL from it.
        int n = valid.Steps;
        var oldLogProb = Enumerable.Range(0, n).Select(_ => (float)rng.Normal(-2, 0.3)).ToArray();
        oldLogProb[0] = 40; // a ratio below e^-20, which both paths bound (the value then differs by ~1e-9 from the unbounded one)
        var oldOutput = Enumerable.Range(0, n * 2).Select(_ => (float)rng.Normal(0, 0.5)).ToArray();
        float[] oldLogStd = [-0.3f, 0.2f];
        var oldLogProbT = Tensor.FromArray(oldLogProb.Select(x => (double)x).ToArray(), n);
        var surrogate = MamlMath.Surrogate(policy, theta, valid, oldLogProbT);
        var surrogateGradient = Autograd.Grad([surrogate], theta);
        var kl = GaussianMlpCurvature<double>.ForKl(policy, theta, valid);
        var (value, gradient) = kl.Surrogate(valid, oldLogProb, withGradient: true);
        Assert.Equal(surrogate.ToScalar(), value, 10);
        Assert.Equal(value, kl.Surrogate(valid, oldLogProb, withGradient: false).Value, 12);
        for (int i = 0; i < theta.Count; i++)
            for (int j = 0; j < theta[i].Size; j++)
                Assert.Equal(surrogateGradient[i]!.Data[j], gradient![i].Data[j], 10);
        using (GradMode.NoGrad())
        {
            var klExpected = MamlMath.Kl(policy, theta, valid, Tensor.FromArray(oldOutput.Select(x => (double)x).ToArray(), n, 2),
                Tensor.FromArray(oldLogStd.Select(x => (double)x).ToArray(), 2));
            Assert.Equal(klExpected.ToScalar(), kl.KlFrom(oldOutput, oldLogStd), 10);
        }
        Assert.Throws<InvalidOperationException>(() => kl.Gradient());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // ProMP's low-variance curvature: the Hessian gains −Σ c ∇log π ∇log πᵀ
    public void Hand_derived_inner_hessian_and_fisher_products_equal_autodiff_in_double(bool lvc)
    {
        var rng = new Rng(11);
        var space = new Box(-1, 1, 2);
        var policy = new MlpPolicy<double>(new Box(-1, 1, 3), space, [7, 5], rng);
        var train = FakeBatch(rng, 3, 5, 3, 2);
        var valid = FakeBatch(rng, 3, 5, 3, 2);
        valid.Mask[4] = 0; // a masked step must not count
        train.Mask[7] = 0;
        train.Advantages[7] = 0;
        var theta = policy.Parameters();
        foreach (var p in theta) // move log σ away from 0 so its terms are exercised
            if (p.Rank == 1 && p.Size == 2 && ReferenceEquals(p, policy.NamedParameters().First(n => n.Name == "log_std").Parameter))
                p.Data[0] = -0.7;
        var v = theta.Select(p => Tensor.RandN<double>(rng, 1.0, p.Shape.ToArray())).ToArray();

        // Inner loss Hessian: autodiff double backward.
        var inner = MamlMath.InnerLoss(policy, theta, train, lvc);
        var g = Autograd.Grad([inner], theta, createGraph: true);
        Tensor<double>? dot = null;
        for (int i = 0; i < theta.Count; i++) { var t = Ops.Sum(g[i]! * v[i]); dot = dot is null ? t : dot + t; }
        var expected = Autograd.Grad([dot!], theta);
        var workspace = GaussianMlpCurvature<double>.ForInnerLoss(policy, theta, train, lvc);
        var actual = workspace.HessianTimes(v);
        for (int i = 0; i < theta.Count; i++)
            for (int j = 0; j < theta[i].Size; j++)
                Assert.Equal(expected[i]!.Data[j], actual[i].Data[j], 10);
        // Both forms take the same inner step: equal gradients, by autodiff and by hand.
        var plain = Autograd.Grad([MamlMath.InnerLoss(policy, theta, train)], theta);
        var byHand = workspace.Gradient();
        for (int i = 0; i < theta.Count; i++)
            for (int j = 0; j < theta[i].Size; j++)
            {
                Assert.Equal(plain[i]!.Data[j], g[i]!.Data[j], 12);
                Assert.Equal(plain[i]!.Data[j], byHand[i].Data[j], 10);
            }
        if (lvc)
        {
            // The added curvature is not nothing: it differs from the plain Hessian product.
            var plainH = GaussianMlpCurvature<double>.ForInnerLoss(policy, theta, train).HessianTimes(v);
            double gap = 0;
            for (int i = 0; i < theta.Count; i++)
                for (int j = 0; j < theta[i].Size; j++) gap = Math.Max(gap, Math.Abs(plainH[i].Data[j] - actual[i].Data[j]));
            Assert.True(gap > 1e-3, $"the low-variance curvature changed the product by only {gap:E2}");
        }

        // KL Hessian where the old policy equals the current one.
        using var _ = GradMode.EnableGrad();
        int n = valid.Steps;
        var obs = TrajectoryBatch.ToTensor<double>(valid.Observations, n, 3);
        Tensor<double> oldOut, oldStd;
        using (GradMode.NoGrad())
        {
            oldOut = policy.Output(obs).Detach();
            oldStd = policy.LogStd.Detach();
        }
        var kl = MamlMath.Kl(policy, theta, valid, oldOut, oldStd);
        var gk = Autograd.Grad([kl], theta, createGraph: true);
        Tensor<double>? dk = null;
        for (int i = 0; i < theta.Count; i++) { var t = Ops.Sum(gk[i]! * v[i]); dk = dk is null ? t : dk + t; }
        var fisherExpected = Autograd.Grad([dk!], theta);
        var fisher = GaussianMlpCurvature<double>.ForKl(policy, theta, valid).FisherTimes(v);
        for (int i = 0; i < theta.Count; i++)
            for (int j = 0; j < theta[i].Size; j++)
                Assert.Equal(fisherExpected[i]!.Data[j], fisher[i].Data[j], 10);
    }

    [Fact]
    public void Maml_ppo_improves_post_adaptation_return_resumes_bit_identically_and_rejects_bad_settings()
    {
        var d = new Navigation2DDistribution(horizon: 20);
        var cfg = Small with { Outer = MamlOuter.Ppo, PpoEpochs = 3, OuterLearningRate = 3e-3, MetaBatch = 6, Trajectories = 8 };
        var a = new MamlTrainer(d, cfg, 2);
        var first = a.RunIteration();
        var straight = new MamlTrainer(d, cfg, 2);
        for (int i = 0; i < 8; i++) straight.RunIteration();

        var path = Path.Combine(Path.GetTempPath(), $"maml-ppo-{Guid.NewGuid():N}.mrla");
        try
        {
            for (int i = 0; i < 3; i++) a.RunIteration();
            a.Save(path, new Dictionary<string, string>());
            var resumed = new MamlTrainer(d, cfg, 2);
            resumed.Load(MetaRL.Engine.IO.TensorArchive.Load(path));
            MamlIterationStats last = first;
            for (int i = 0; i < 4; i++) last = resumed.RunIteration();
            Assert.Equal(Weights(straight), Weights(resumed));
            Assert.True(last.PostAdaptationReturn > first.PostAdaptationReturn, $"{first.PostAdaptationReturn:F2} → {last.PostAdaptationReturn:F2}");
            // A TRPO trainer has no optimiser state to restore, but a PPO checkpoint loads into it only if it names none missing.
            var trpo = new MamlTrainer(d, Small, 2);
            trpo.Save(path, new Dictionary<string, string>());
            Assert.Throws<MetaRL.Engine.IO.CheckpointException>(() => new MamlTrainer(d, cfg, 2).Load(MetaRL.Engine.IO.TensorArchive.Load(path)));
        }
        finally { File.Delete(path); }

        var bad = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => new MamlConfig().With(new Dictionary<string, string> { ["outer"] = "sgd" }, out _));
        Assert.Contains("ppo", bad.Message);
    }

    [Fact]
    public void Normalised_actions_map_the_unit_box_onto_the_action_box_and_batches_keep_policy_coordinates()
    {
        var box = new Box([-0.1f, 2f], [0.1f, 6f]);
        var policy = new MlpPolicy<float>(new Box(-1, 1, 2), box, [4], new Rng(1), normalizeActions: true);
        Assert.True(policy.NormalizedActions);
        var env = new float[2];
        policy.ToEnvironmentAction([-1f, 1f], env);
        Assert.Equal([-0.1f, 6f], env);
        policy.ToEnvironmentAction([0f, 0f], env);
        Assert.Equal([0f, 4f], env);
        var raw = new MlpPolicy<float>(new Box(-1, 1, 2), box, [4], new Rng(1));
        raw.ToEnvironmentAction([0.5f, 3f], env);
        Assert.Equal([0.5f, 3f], env);
        var unbounded = Assert.Throws<ArgumentException>(() => new MlpPolicy<float>(new Box(-1, 1, 2), new Box(float.NegativeInfinity, 1, 2), [4], new Rng(1), normalizeActions: true));
        Assert.Contains("bounded", unbounded.Message);

        // Navigation: the policy acts with σ = 1 in [−1, 1] units; every move is 0.1 × the stored action, clipped to ±0.1.
        var d = new Navigation2DDistribution(horizon: 30);
        var nav = new MlpPolicy<float>(d.ObservationSpace, d.ActionSpace, [8], new Rng(2), normalizeActions: true);
        var batch = TrajectoryBatch.Sample(nav, nav.Parameters(), d, new GoalTask(0.4, -0.3), 4, new Rng(3), 0.99);
        double sq = 0;
        int n = 0;
        for (int k = 0; k < batch.Trajectories; k++)
            for (int t = 1; t < batch.Horizon && batch.Mask[k * batch.Horizon + t] == 1; t++)
                for (int j = 0; j < 2; j++)
                {
                    int prev = k * batch.Horizon + t - 1, cur = prev + 1;
                    float u = batch.Actions[prev * 2 + j];
                    float moved = batch.Observations[cur * 2 + j] - batch.Observations[prev * 2 + j];
                    Assert.True(Math.Abs(Math.Clamp(0.1 * u, -0.1, 0.1) - moved) < 1e-6, $"action {u} moved {moved}");
                    sq += u * u;
                    n++;
                }
        Assert.InRange(Math.Sqrt(sq / n), 0.6, 1.6); // σ = 1 in policy units (the mean is small at initialisation), not 0.1
    }

    [Fact]
    public void The_best_policy_is_the_one_ending_the_best_window_and_its_record_survives_a_resume()
    {
        var d = new Navigation2DDistribution(horizon: 20);
        var cfg = Small with { MetaBatch = 4, Trajectories = 4, BestWindow = 3 };
        var straight = new MamlTrainer(d, cfg, 5);
        var stats = Enumerable.Range(0, 9).Select(_ => straight.RunIteration()).ToArray();
        double best = double.NegativeInfinity;
        int bestIteration = 0;
        for (int i = 0; i < stats.Length; i++)
        {
            bool expected = false;
            if (i >= 2)
            {
                double mean = (stats[i].PostAdaptationReturn + stats[i - 1].PostAdaptationReturn + stats[i - 2].PostAdaptationReturn) / 3;
                if (mean > best) (best, bestIteration, expected) = (mean, i + 1, true);
            }
            Assert.Equal(expected, stats[i].NewBest);
        }
        Assert.Equal(best, straight.BestScore, 12);
        Assert.Equal(bestIteration, straight.BestIteration);

        var (resumed, rest) = Resumed(d, cfg, 5, before: 4, after: 5);
        Assert.Equal(stats.Skip(4).Select(s => s.NewBest), rest.Select(s => s.NewBest));
        Assert.Equal(straight.BestScore, resumed.BestScore);
        Assert.Equal(straight.BestIteration, resumed.BestIteration);
    }

    /// <summary>Trains <paramref name="before"/> iterations, saves, loads the checkpoint into a new trainer and trains <paramref name="after"/> more.</summary>
    private static (MamlTrainer Trainer, MamlIterationStats[] Stats) Resumed(Navigation2DDistribution d, MamlConfig cfg, ulong seed, int before, int after)
    {
        var path = Path.Combine(Path.GetTempPath(), $"maml-resume-{Guid.NewGuid():N}.mrla");
        try
        {
            var a = new MamlTrainer(d, cfg, seed);
            for (int i = 0; i < before; i++) a.RunIteration();
            a.Save(path, new Dictionary<string, string>());
            var resumed = new MamlTrainer(d, cfg, seed);
            resumed.Load(MetaRL.Engine.IO.TensorArchive.Load(path));
            return (resumed, Enumerable.Range(0, after).Select(_ => resumed.RunIteration()).ToArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Validation_scores_fixed_training_distribution_tasks_picks_the_best_policy_and_leaves_training_unchanged()
    {
        var d = new Navigation2DDistribution(horizon: 20);
        var cfg = Small with { MetaBatch = 4, Trajectories = 4, Iterations = 7, ValidateEvery = 3, ValidationTasks = 3 };
        var validated = new MamlTrainer(d, cfg, 5);
        var plain = new MamlTrainer(d, cfg with { ValidateEvery = 0 }, 5);
        var stats = new MamlIterationStats[cfg.Iterations];
        double best = double.NegativeInfinity;
        int bestIteration = 0;
        for (int i = 0; i < stats.Length; i++)
        {
            stats[i] = validated.RunIteration();
            var reference = plain.RunIteration();
            // Validation uses streams of its own: the training is the same step for step.
            Assert.Equal(Weights(plain), Weights(validated));
            Assert.Equal(reference.PostAdaptationReturn, stats[i].PostAdaptationReturn);
            int iteration = i + 1;
            bool due = iteration % 3 == 0 || iteration == cfg.Iterations;
            Assert.Equal(due, !double.IsNaN(stats[i].ValidationReturn));
            if (!due) { Assert.False(stats[i].NewBest); continue; }
            // The same tasks and streams every time: scoring again gives the same number.
            Assert.Equal(stats[i].ValidationReturn, validated.Validate());
            bool expected = stats[i].ValidationReturn > best;
            if (expected) (best, bestIteration) = (stats[i].ValidationReturn, iteration);
            Assert.Equal(expected, stats[i].NewBest);
        }
        Assert.Equal(best, validated.BestScore);
        Assert.Equal(bestIteration, validated.BestIteration);
        Assert.Equal(Weights(plain), Weights(validated));
        // An adapting policy is scored by the meta-test's curve after 1, 2, 3 steps (later ones at Finn et al.'s half step when the scale is "auto").
        var curve = MamlEvaluation.RunValidation(validated.Policy, d, validated.ValidationTaskList, validated.Adaptation(0.5), 3, 5);
        Assert.Equal(curve.StepReturns!.Skip(1).Average(), validated.Validate(), 10);

        // The score is the mean return after the training's inner steps on the validation tasks: a policy with every
        // weight but log σ at zero stays at the origin, so with σ → 0 it scores minus the goals' mean distance times H.
        var still = new MamlTrainer(d, cfg with { InnerSteps = 0 }, 5);
        foreach (var (name, p) in still.Policy.NamedParameters()) p.Data.Fill(name == "log_std" ? -30f : 0f);
        double expectedStill = -still.ValidationTaskList.Cast<GoalTask>().Average(g => Math.Sqrt(g.X * g.X + g.Y * g.Y)) * d.Horizon;
        Assert.Equal(expectedStill, still.Validate(), 4);

        // Validation tasks come from the training distribution on a stream of their own: neither the training tasks nor the held-out ones.
        var validation = MetaRL.Core.Evaluation.MetaTest.ValidationTasks(d, 5, 4).Cast<GoalTask>().Select(g => (g.X, g.Y)).ToArray();
        var trainRng = MetaRL.Core.Tasks.TaskDistribution.TaskStream(5, MetaRL.Core.Tasks.TaskSplit.Train);
        var testRng = MetaRL.Core.Tasks.TaskDistribution.TaskStream(5, MetaRL.Core.Tasks.TaskSplit.Test);
        var training = Enumerable.Range(0, 4).Select(_ => (GoalTask)d.SampleTask(trainRng, MetaRL.Core.Tasks.TaskSplit.Train)).Select(g => (g.X, g.Y));
        var heldOut = Enumerable.Range(0, 4).Select(_ => (GoalTask)d.SampleTask(testRng, MetaRL.Core.Tasks.TaskSplit.Test)).Select(g => (g.X, g.Y));
        Assert.Empty(validation.Intersect(training));
        Assert.Empty(validation.Intersect(heldOut));
        Assert.Equal(validation, MetaRL.Core.Evaluation.MetaTest.ValidationTasks(d, 5, 4).Cast<GoalTask>().Select(g => (g.X, g.Y)));

        // A resumed run keeps its record and validates on the same tasks.
        var (resumed, rest) = Resumed(d, cfg, 5, before: 4, after: 3);
        Assert.Equal(stats.Skip(4).Select(s => s.ValidationReturn), rest.Select(s => s.ValidationReturn));
        Assert.Equal(stats.Skip(4).Select(s => s.NewBest), rest.Select(s => s.NewBest));
        Assert.Equal(best, resumed.BestScore);
        Assert.Equal(bestIteration, resumed.BestIteration);
    }

    [Fact]
    public void The_later_step_scale_is_the_candidate_with_the_best_validation_return_after_the_first_step()
    {
        var d = new Navigation2DDistribution(horizon: 15);
        var t = new MamlTrainer(d, Small with { Trajectories = 4 }, 3);
        for (int i = 0; i < 2; i++) t.RunIteration();
        var validation = MetaRL.Core.Evaluation.MetaTest.ValidationTasks(d, 3, 3);
        var adaptation = new MamlAdaptation(0.1, 4, 0.99);
        var (scale, scores) = MamlEvaluation.ChooseLaterStepScale(t.Policy, d, validation, adaptation, 3, 3);
        Assert.Equal(MamlEvaluation.LaterStepScales.Length, scores.Length);
        for (int i = 0; i < scores.Length; i++)
        {
            var curve = MamlEvaluation.RunValidation(t.Policy, d, validation, adaptation with { LaterStepScale = MamlEvaluation.LaterStepScales[i] }, 3, 3);
            Assert.Equal(LaterStepsEffect(curve), scores[i], 10);
        }
        Assert.Equal(MamlEvaluation.LaterStepScales[Array.IndexOf(scores, scores.Max())], scale);
        // The candidates differ only after the first step.
        var c1 = MamlEvaluation.RunValidation(t.Policy, d, validation, adaptation, 3, 3);
        var c2 = MamlEvaluation.RunValidation(t.Policy, d, validation, adaptation with { LaterStepScale = 0.125 }, 3, 3);
        Assert.Equal(c1.StepReturns!.Take(2), c2.StepReturns!.Take(2));
        Assert.NotEqual(c1.StepReturns![2], c2.StepReturns![2]);
        var one = MamlEvaluation.ChooseLaterStepScale(t.Policy, d, validation, adaptation, 1, 3);
        Assert.Equal(1.0, one.Scale);
        Assert.Empty(one.Scores);

        static double LaterStepsEffect(MetaRL.Core.Evaluation.MetaTestResult r) => r.StepReturns!.Skip(2).Average();
    }

    [Theory]
    [InlineData("auto", null)]
    [InlineData("0.25", 0.25)]
    public void The_later_step_scale_setting_reads_auto_or_a_number_and_round_trips(string text, double? expected)
    {
        var c = new MamlConfig().With(new Dictionary<string, string> { ["eval-lr-decay"] = text }, out _);
        Assert.Equal(expected, c.EvalLearningRateDecay);
        Assert.Equal(text, c.ToSettings()["eval-lr-decay"]);
        Assert.Equal(c.EvalLearningRateDecay, new MamlConfig().With(c.ToSettings().ToDictionary(), out _).EvalLearningRateDecay);
        Assert.Null(new MamlConfig().EvalLearningRateDecay);
        foreach (var bad in new[] { "half", "-1", "11", "NaN" })
        {
            var e = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => new MamlConfig().With(new Dictionary<string, string> { ["eval-lr-decay"] = bad }, out _));
            Assert.Contains("'eval-lr-decay'", e.Message);
            Assert.Contains("auto", e.Message);
        }
        var negative = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => new MamlConfig().With(new Dictionary<string, string> { ["validate-every"] = "-1" }, out _));
        Assert.Contains("'validate-every'", negative.Message);
        var none = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => new MamlConfig().With(new Dictionary<string, string> { ["validation-tasks"] = "0" }, out _));
        Assert.Contains("'validation-tasks'", none.Message);
    }

    [Fact]
    public void The_paired_lead_per_round_cancels_the_spread_between_tasks_and_compares_best_rounds()
    {
        // Rounds of one episode here, so each trial's row is its return per round.
        static MetaRL.Core.Evaluation.MetaTestResult Result(string name, double[][] perTask, ulong seed = 1) => new()
        {
            Agent = name, Task = "t", Trials = perTask.Length, EpisodesPerTrial = perTask[0].Length, Seed = seed, TrialEpisodeReturns = perTask,
            TrialTotals = perTask.Select(r => r.Sum()).ToArray(), MeanTotalReturn = perTask.Average(r => r.Sum()), Ci95 = 0,
            EpisodeReturns = Enumerable.Range(0, perTask[0].Length).Select(k => perTask.Average(r => r[k])).ToArray(),
            EpisodeCi95 = new double[perTask[0].Length],
            StepReturns = Enumerable.Range(0, perTask[0].Length).Select(k => perTask.Average(r => r[k])).ToArray(),
            StepCi95 = new double[perTask[0].Length],
        };
        // Tasks differ by hundreds, but A is exactly 2 ahead of B's step-0 return after one step on every task.
        var a = Result("a", [[100, 102], [-300, -298], [50, 52]]);
        var b = Result("b", [[101, 90], [-299, -310], [51, 40]]);
        var lead = MetaRL.Core.Evaluation.MetaTestResult.Lead(a, b);
        Assert.Equal(-1, lead.PerStep![0], 12);
        Assert.Equal(12, lead.PerStep[1], 12);
        Assert.Equal(0, lead.PerStepCi95![0], 12);
        Assert.Equal((1, 0), (lead.BestStep!.Value, lead.OtherBestStep!.Value));
        Assert.Equal(1, lead.BestVsBest!.Value, 12);
        Assert.Equal(0, lead.BestVsBestCi95!.Value, 12);
        Assert.Equal(11, lead.Mean, 12);
        var ex = Assert.Throws<ArgumentException>(() => MetaRL.Core.Evaluation.MetaTestResult.Lead(a, Result("c", [[1, 2], [3, 4], [5, 6]], seed: 2)));
        Assert.Contains("same trials", ex.Message);
    }

    [Fact]
    public void The_maml_agent_plays_rounds_side_by_side_and_steps_as_the_trainers_inner_loop_does()
    {
        var d = new Navigation2DDistribution(horizon: 6);
        var policy = new MlpPolicy<float>(d.ObservationSpace, d.ActionSpace, [8], new Rng(4));
        var agent = new MamlAgent(policy, new MamlAdaptation(0.3, Trajectories: 3, Gamma: 0.9, LaterStepScale: 0.5), "maml");
        var steps = new List<(double MeanReturn, double Lr)>();
        agent.OnAdapted = (batch, before, after, lr) =>
        {
            // The agent's step is the trainer's: MamlMath.Adapt on the same round, to the last bit.
            var reference = MamlMath.Adapt(policy, before, batch, lr, 1, createGraph: false);
            for (int i = 0; i < reference.Length; i++) Assert.Equal(reference[i].ToArray(), after[i].ToArray());
            Assert.Equal(3 * 6, (int)batch.Mask.Sum()); // three whole episodes (navigation never terminates early)
            lock (steps) steps.Add((batch.MeanReturn, lr));
        };
        var result = MetaRL.Core.Evaluation.MetaTest.Run(agent, d, MamlEvaluation.Options(1, 9, 3, 2));
        // One trial, two steps: the rounds before each step are the curve's first two points, α then α × 0.5.
        Assert.Equal([0.3, 0.15], steps.Select(s => s.Lr));
        Assert.Equal(9, result.EpisodesPerTrial);
        Assert.Equal(3, result.EpisodesPerRound);
        Assert.Equal(3, result.StepReturns!.Length);
        for (int k = 0; k < 2; k++) Assert.Equal(steps[k].MeanReturn, result.StepReturns[k], 4);
        Assert.Equal(result.StepReturns.Sum() * 3, result.MeanTotalReturn, 3);
        Assert.Equal("sampled", result.ActingRule);
        // Under the same seed every result is the same; the policy's own weights never move.
        Assert.Equal(result.TrialTotals, MamlEvaluation.Run("maml", policy, d, 1, agent.Adaptation, 2, seed: 9).TrialTotals);
        Assert.Equal(new MlpPolicy<float>(d.ObservationSpace, d.ActionSpace, [8], new Rng(4)).Parameters().Select(p => p.ToArray()), policy.Parameters().Select(p => p.ToArray()));
        // A trial that is not a whole number of rounds is refused.
        var ex = Assert.Throws<ArgumentException>(() => MetaRL.Core.Evaluation.MetaTest.Run(agent, d, new MetaRL.Core.Evaluation.MetaTestOptions(2, 1, Episodes: 4)));
        Assert.Contains("rounds of 3 episodes", ex.Message);
    }

    [Fact]
    public void Played_step_by_step_the_maml_agent_adapts_after_each_round_of_episodes()
    {
        var d = new Navigation2DDistribution(horizon: 5);
        var policy = new MlpPolicy<float>(d.ObservationSpace, d.ActionSpace, [8], new Rng(6));
        var agent = new MamlAgent(policy, new MamlAdaptation(0.2, Trajectories: 2, Gamma: 0.99), "maml");
        var rounds = new List<double>();
        agent.OnAdapted = (batch, _, _, _) => rounds.Add(batch.MeanReturn);
        var player = new MetaRL.Core.Evaluation.AgentPlayer(agent, d, seed: 3);
        var env = d.CreateEnv();
        var rng = new Rng(8);
        env.SetTask(d.SampleTask(rng, MetaRL.Core.Tasks.TaskSplit.Test));
        player.Reset();
        var obs = new float[d.ObservationSpace.Size];
        var episodeReturns = new List<double>();
        for (int episode = 0; episode < 5; episode++)
        {
            env.Reset(rng, obs);
            double total = 0;
            bool done = false;
            while (!done)
            {
                var r = env.Step(player.Act(obs).ToArray(), rng, obs);
                total += r.Reward;
                done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
            }
            episodeReturns.Add(total);
        }
        // Five episodes: two whole rounds were learnt from (the fifth's step waits for its next action).
        Assert.Equal(2, rounds.Count);
        Assert.Equal((episodeReturns[0] + episodeReturns[1]) / 2, rounds[0], 4);
        Assert.Equal((episodeReturns[2] + episodeReturns[3]) / 2, rounds[1], 4);
    }

    [Fact]
    public void A_fixed_policy_plays_every_episode_of_a_trial_alike_and_refuses_another_family()
    {
        var d = new Navigation2DDistribution(horizon: 8, episodes: 3);
        var policy = new MlpPolicy<float>(d.ObservationSpace, d.ActionSpace, [8], new Rng(2));
        var opt = new MetaRL.Core.Evaluation.MetaTestOptions(12, 4);
        // Navigation starts every episode at the origin, so a memoryless policy acting by its mean repeats itself exactly.
        var r = MetaRL.Core.Evaluation.MetaTest.Run(new FixedPolicyAgent(policy, deterministic: true, "fixed"), d, opt);
        Assert.Equal(r.EpisodeReturns[0], r.EpisodeReturns[1], 9);
        Assert.Equal(r.EpisodeReturns[0], r.EpisodeReturns[2], 9);
        // Sampling from the Gaussian makes the episodes differ.
        var s = MetaRL.Core.Evaluation.MetaTest.Run(new FixedPolicyAgent(policy, deterministic: false, "sampled"), d, opt);
        Assert.NotEqual(s.EpisodeReturns[0], s.EpisodeReturns[1]);
        var other = new MlpPolicy<float>(new Box(-1, 1, 3), d.ActionSpace, [8], new Rng(2));
        var ex = Assert.Throws<ArgumentException>(() => MetaRL.Core.Evaluation.MetaTest.Run(new FixedPolicyAgent(other, true, "wrong"), d, opt));
        Assert.Contains("observations of size 3", ex.Message);
    }
}
