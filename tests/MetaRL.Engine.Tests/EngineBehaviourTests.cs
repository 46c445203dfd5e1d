using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Engine.Nn;
using MetaRL.Engine.Optim;

namespace MetaRL.Engine.Tests;

/// <summary>Autodiff semantics, error messages, optimisers, initialisation and the meta-gradient through an inner step.</summary>
public class EngineBehaviourTests
{
    [Fact]
    public void Shape_mismatch_names_both_shapes_and_the_op()
    {
        var a = Tensor.Zeros<float>(3, 4);
        var b = Tensor.Zeros<float>(5);
        var ex = Assert.Throws<ShapeMismatchException>(() => Ops.Add(a, b));
        Assert.Contains("[3, 4]", ex.Message);
        Assert.Contains("[5]", ex.Message);
        Assert.Contains("Add", ex.Message);

        var mm = Assert.Throws<ShapeMismatchException>(() => Ops.MatMul(Tensor.Zeros<float>(2, 3), Tensor.Zeros<float>(4, 5)));
        Assert.Contains("MatMul", mm.Message);
        Assert.Contains("[2, 3]", mm.Message);
        Assert.Contains("[4, 5]", mm.Message);
    }

    [Fact]
    public void Backward_accumulates_into_leaves_until_cleared()
    {
        var x = Tensor.Parameter(Tensor.From<double>([1, 2, 3], 3));
        Ops.Sum(x * x).Backward();
        Assert.Equal([2.0, 4, 6], x.Grad!.ToArray());
        Ops.Sum(x * 3.0).Backward();
        Assert.Equal([5.0, 7, 9], x.Grad!.ToArray());
        x.Grad = null;
        Ops.Sum(x).Backward();
        Assert.Equal([1.0, 1, 1], x.Grad!.ToArray());
    }

    [Fact]
    public void NoGrad_records_nothing_and_Detach_cuts_the_graph()
    {
        var x = Tensor.Parameter(Tensor.From<double>([1, 2], 2));
        Tensor<double> y;
        using (GradMode.NoGrad()) y = x * x;
        Assert.False(y.RequiresGrad);

        var z = Ops.Sum(x.Detach() * x);
        z.Backward();
        Assert.Equal([1.0, 2], x.Grad!.ToArray()); // only the non-detached factor contributes
    }

    [Fact]
    public void Grad_reports_unused_inputs_unless_allowed()
    {
        var x = Tensor.Parameter(Tensor.From<double>([1, 2], 2));
        var unused = Tensor.Parameter(Tensor.From<double>([5], 1));
        var loss = Ops.Sum(x * x);
        Assert.Throws<InvalidOperationException>(() => Autograd.Grad([loss], [x, unused]));
        var g = Autograd.Grad([Ops.Sum(x * x)], [x, unused], allowUnused: true);
        Assert.Null(g[1]);
        Assert.Equal([2.0, 4], g[0]!.ToArray());
    }

    [Fact]
    public void Grad_with_create_graph_is_differentiable_again()
    {
        // f(x) = x³ : f' = 3x², f'' = 6x, f''' = 6.
        var x = Tensor.Parameter(Tensor.From<double>([2], 1));
        var y = Ops.Sum(x * x * x);
        var g1 = Autograd.Grad([y], [x], createGraph: true)[0]!;
        Assert.Equal(12.0, g1.ToArray()[0], 12);
        var g2 = Autograd.Grad([Ops.Sum(g1)], [x], createGraph: true)[0]!;
        Assert.Equal(12.0, g2.ToArray()[0], 12);
        var g3 = Autograd.Grad([Ops.Sum(g2)], [x])[0]!;
        Assert.Equal(6.0, g3.ToArray()[0], 12);
    }

    [Fact]
    public void Maml_meta_gradient_through_an_inner_step_matches_finite_differences()
    {
        // Meta-loss L_val(θ − α ∇L_train(θ)) of a small MLP regressor; exact second-order gradient vs central differences.
        var rng = new Rng(7);
        var net = new Mlp<double>([2, 8, 1], rng, Activation.Tanh);
        var xTrain = Tensor.RandN<double>(rng, 1.0, 5, 2);
        var yTrain = Tensor.RandN<double>(rng, 1.0, 5, 1);
        var xVal = Tensor.RandN<double>(rng, 1.0, 6, 2);
        var yVal = Tensor.RandN<double>(rng, 1.0, 6, 1);
        const double alpha = 0.3;
        var theta = net.Parameters();

        Tensor<double> MetaLoss(IReadOnlyList<Tensor<double>> ps, bool createGraph)
        {
            var trainLoss = Functional.Call(net, ps, () => Ops.Mean(Ops.Square(net.Forward(xTrain) - yTrain)));
            var grads = Autograd.Grad([trainLoss], ps, createGraph: createGraph);
            var adapted = ps.Select((p, i) => p - alpha * grads[i]!).ToArray();
            return Functional.Call(net, adapted, () => Ops.Mean(Ops.Square(net.Forward(xVal) - yVal)));
        }

        var exact = Autograd.Grad([MetaLoss(theta, createGraph: true)], theta);
        var firstOrder = Autograd.Grad([MetaLoss(theta, createGraph: false)], theta, allowUnused: true);

        double maxRel = 0, foDiff = 0;
        const double h = 1e-6;
        for (int i = 0; i < theta.Count; i++)
        {
            for (int k = 0; k < theta[i].Size; k++)
            {
                double orig = theta[i].Data[k];
                theta[i].Data[k] = orig + h;
                double up = MetaLoss(theta, false).ToScalar();
                theta[i].Data[k] = orig - h;
                double down = MetaLoss(theta, false).ToScalar();
                theta[i].Data[k] = orig;
                double numeric = (up - down) / (2 * h);
                double a = exact[i]!.Data[k];
                maxRel = Math.Max(maxRel, Math.Abs(a - numeric) / Math.Max(1e-3, Math.Abs(numeric)));
                foDiff = Math.Max(foDiff, Math.Abs((firstOrder[i]?.Data[k] ?? 0) - numeric));
            }
        }
        Assert.True(maxRel < 1e-6, $"meta-gradient relative error {maxRel:E2}");
        Assert.True(foDiff > 1e-4, $"first-order MAML should differ from the exact meta-gradient (max diff {foDiff:E2})");
    }

    [Fact]
    public void Functional_call_rejects_wrong_count_and_shapes()
    {
        var net = new Linear<double>(3, 2, new Rng(1));
        Assert.Throws<ArgumentException>(() => Functional.Call(net, [Tensor.Zeros<double>(3, 2)], () => 0));
        var ex = Assert.Throws<ShapeMismatchException>(() => Functional.Call(net, [Tensor.Zeros<double>(2, 3), Tensor.Zeros<double>(2)], () => 0));
        Assert.Contains("weight", ex.Message);
    }

    [Fact]
    public void Module_parameters_have_dotted_names()
    {
        var mlp = new Mlp<float>([4, 8, 2], new Rng(1));
        var names = mlp.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(4, names.Length);
        Assert.All(names, n => Assert.Contains('.', n));
        Assert.Equal(4 * 8 + 8 + 8 * 2 + 2, mlp.ParameterCount);
    }

    [Fact]
    public void Adam_matches_the_textbook_update()
    {
        var p = Tensor.Parameter(Tensor.From<double>([1.0, -2.0], 2));
        var opt = new Adam<double>([p], learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8);
        double[] x = [1.0, -2.0], m = new double[2], v = new double[2];
        for (int t = 1; t <= 5; t++)
        {
            opt.ZeroGrad();
            Ops.Sum(Ops.Square(p) * 0.5 + p * 3.0).Backward(); // grad = x + 3
            opt.Step();
            for (int i = 0; i < 2; i++)
            {
                double g = x[i] + 3;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double mh = m[i] / (1 - Math.Pow(0.9, t)), vh = v[i] / (1 - Math.Pow(0.999, t));
                x[i] -= 0.1 * mh / (Math.Sqrt(vh) + 1e-8);
            }
            Assert.Equal(x[0], p.Data[0], 10);
            Assert.Equal(x[1], p.Data[1], 10);
        }
        Assert.Equal(5, opt.Steps);
    }

    [Fact]
    public void Sgd_momentum_matches_the_textbook_update()
    {
        var p = Tensor.Parameter(Tensor.From<double>([2.0], 1));
        var opt = new Sgd<double>([p], learningRate: 0.1, momentum: 0.9);
        double x = 2, vel = 0;
        for (int t = 0; t < 4; t++)
        {
            opt.ZeroGrad();
            Ops.Sum(Ops.Square(p)).Backward();
            opt.Step();
            vel = 0.9 * vel + 2 * x;
            x -= 0.1 * vel;
            Assert.Equal(x, p.Data[0], 12);
        }
    }

    [Fact]
    public void Optimizer_state_round_trips_and_rejects_mismatches()
    {
        var p = Tensor.Parameter(Tensor.From<double>([1, 2, 3], 3));
        var a = new Adam<double>([p], 0.01);
        Ops.Sum(p * p).Backward();
        a.Step();
        var state = a.State().ToDictionary(s => s.Name, s => s.Value.Clone());

        var q = Tensor.Parameter(Tensor.From<double>([1, 2, 3], 3));
        var b = new Adam<double>([q], 0.01);
        b.LoadState(state);
        Assert.Equal(1, b.Steps);

        var r = Tensor.Parameter(Tensor.From<double>([1, 2], 2));
        var c = new Adam<double>([r], 0.01);
        var ex = Assert.Throws<InvalidDataException>(() => c.LoadState(state));
        Assert.Contains("adam.m.0", ex.Message);
    }

    [Fact]
    public void Global_norm_clipping_scales_jointly_and_reports_the_norm()
    {
        var a = Tensor.Parameter(Tensor.Zeros<double>(2));
        var b = Tensor.Parameter(Tensor.Zeros<double>(1));
        a.Grad = Tensor.From<double>([3, 0], 2);
        b.Grad = Tensor.From<double>([4], 1);
        double norm = GradClip.ClipGlobalNorm([a, b], 1.0);
        Assert.Equal(5.0, norm, 12);
        Assert.Equal(0.6, a.Grad.Data[0], 5);
        Assert.Equal(0.8, b.Grad.Data[0], 5);

        a.Grad = Tensor.From<double>([double.NaN, 1], 2);
        Assert.True(double.IsNaN(GradClip.ClipGlobalNorm([a], 1.0)));
        Assert.Equal(1.0, a.Grad.Data[1]); // untouched
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(5, 12)]
    [InlineData(12, 5)]
    public void Orthogonal_init_is_orthonormal(int rows, int cols)
    {
        var w = Init.Orthogonal<double>(new Rng(3), rows, cols, gain: 2.0);
        bool byRows = rows <= cols;
        int n = Math.Min(rows, cols), len = Math.Max(rows, cols);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int k = 0; k < len; k++)
                    dot += byRows ? w.Data[i * cols + k] * w.Data[j * cols + k] : w.Data[k * cols + i] * w.Data[k * cols + j];
                Assert.Equal(i == j ? 4.0 : 0.0, dot, 9);
            }
    }

    [Fact]
    public void Memory_bias_sets_the_gate_that_keeps_the_state()
    {
        // With every weight zero and a zero input, one step keeps exactly the gate's share of the state:
        // GRU h' = z·h with z = σ(update bias) (n = tanh(0) = 0); LSTM c' = σ(1 + extra)·c (g = tanh(0) = 0).
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        var rng = new Rng(3);
        foreach (double b in new[] { 0.0, 1.0, -0.5 })
        {
            var gru = new Gru<double>(3, 4, rng, updateBias: b);
            var gb = gru.BiasIh.ToArray();
            for (int i = 0; i < gb.Length; i++) Assert.Equal(i >= 4 && i < 8 ? b : 0.0, gb[i]);
            gru.WeightIh.Data.Clear();
            gru.WeightHh.Data.Clear();
            var h = gru.Step(Tensor.Zeros<double>(2, 3), Tensor.Ones<double>(2, 4)).ToArray();
            Assert.All(h, v => Assert.Equal(Sigmoid(b), v, 12));

            var lstm = new Lstm<double>(3, 4, rng, extraForgetBias: b);
            lstm.WeightIh.Data.Clear();
            lstm.WeightHh.Data.Clear();
            var (_, c) = lstm.Step(Tensor.Zeros<double>(2, 3), Tensor.Zeros<double>(2, 4), Tensor.Ones<double>(2, 4));
            Assert.All(c.ToArray(), v => Assert.Equal(Sigmoid(1 + b), v, 12));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new Gru<float>(3, 4, rng, updateBias: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Lstm<float>(3, 4, rng, extraForgetBias: double.PositiveInfinity));
    }

    [Fact]
    public void Gru_reset_mask_clears_the_state_at_boundaries()
    {
        // Running [T, B, I] with a reset at step 3 must equal running steps 3.. from a zero state.
        var rng = new Rng(11);
        var gru = new Gru<double>(3, 5, rng);
        var x = Tensor.RandN<double>(rng, 1.0, 6, 2, 3);
        var h0 = Tensor.RandN<double>(rng, 1.0, 2, 5);
        var mask = Tensor.Ones<double>(6, 2);
        mask.Data[3 * 2 + 0] = 0; mask.Data[3 * 2 + 1] = 0;
        var full = gru.Forward(x, h0, mask);
        var tail = gru.Forward(Ops.Slice(x, 0, 3, 3), gru.InitialState(2));
        var a = Ops.Slice(full, 0, 3, 3).ToArray();
        var b = tail.ToArray();
        for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 12);

        var lstm = new Lstm<double>(3, 4, rng);
        var (h, c) = lstm.InitialState(2);
        var (outFull, _, _) = lstm.Forward(x, Ops.AddScalar(h, 1), Ops.AddScalar(c, 1), mask);
        var (outTail, _, _) = lstm.Forward(Ops.Slice(x, 0, 3, 3), h, c);
        var la = Ops.Slice(outFull, 0, 3, 3).ToArray();
        var lb = outTail.ToArray();
        for (int i = 0; i < la.Length; i++) Assert.Equal(lb[i], la[i], 12);
    }

    [Fact]
    public void Same_seed_gives_bit_identical_training()
    {
        static float[] Train()
        {
            var rng = new Rng(2024);
            var gru = new Gru<float>(4, 16, rng);
            var head = new Linear<float>(16, 3, rng);
            var ps = gru.Parameters().Concat(head.Parameters()).ToArray();
            var opt = new Adam<float>(ps, 1e-2);
            for (int it = 0; it < 5; it++)
            {
                var x = Tensor.RandN<float>(rng, 1.0, 10, 4, 4);
                var h = gru.Forward(x, gru.InitialState(4));
                var loss = Ops.Mean(Ops.Square(head.Forward(Ops.Reshape(h, 40, 16))));
                opt.ZeroGrad();
                loss.Backward();
                GradClip.ClipGlobalNorm(ps, 0.5);
                opt.Step();
            }
            return ps.SelectMany(p => p.ToArray()).ToArray();
        }
        var first = Train();
        var second = Train();
        Assert.Equal(first.Length, second.Length);
        for (int i = 0; i < first.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(first[i]), BitConverter.SingleToInt32Bits(second[i]));
    }
}
