using MetaRL.Engine;
using static MetaRL.Engine.Tests.GradCheck;

namespace MetaRL.Engine.Tests;

/// <summary>Every differentiable operation, first and second order, against finite differences (double).</summary>
public class OpGradientTests
{
    private static Rng R(int seed) => new((ulong)seed);
    private static Tensor<double> N(Rng r, params int[] shape) => Tensor.RandN<double>(r, 1.0, shape);

    public static TheoryData<int[], int[]> BroadcastPairs => new()
    {
        { new[] { 3, 4 }, new[] { 3, 4 } },
        { new[] { 3, 4 }, new[] { 4 } },
        { new[] { 3, 4 }, new[] { 1, 4 } },
        { new[] { 3, 4 }, new[] { 3, 1 } },
        { new[] { 2, 3, 4 }, new[] { 3, 1 } },
        { new[] { 1 }, new[] { 2, 3 } },
        { new[] { 4, 1, 2 }, new[] { 3, 1 } },
        { new int[0], new[] { 2, 2 } },
    };

    [Theory, MemberData(nameof(BroadcastPairs))]
    public void Add_broadcasting(int[] a, int[] b) { var r = R(1); Check(x => x[0] + x[1], N(r, a), N(r, b)); }

    [Theory, MemberData(nameof(BroadcastPairs))]
    public void Sub_broadcasting(int[] a, int[] b) { var r = R(2); Check(x => x[0] - x[1], N(r, a), N(r, b)); }

    [Theory, MemberData(nameof(BroadcastPairs))]
    public void Mul_broadcasting(int[] a, int[] b) { var r = R(3); Check(x => x[0] * x[1], N(r, a), N(r, b)); }

    [Theory, MemberData(nameof(BroadcastPairs))]
    public void Div_broadcasting(int[] a, int[] b) { var r = R(4); Check(x => x[0] / x[1], N(r, a), AwayFromZero(r, 0.5, b)); }

    [Fact] public void Maximum() { var r = R(5); Check(x => Ops.Maximum(x[0], x[1]), N(r, 3, 4), N(r, 4)); }
    [Fact] public void Minimum() { var r = R(5); Check(x => Ops.Minimum(x[0], x[1]), N(r, 3, 4), N(r, 3, 1)); }
    [Fact] public void Scalar_forms() { var r = R(6); Check(x => (2.5 * x[0] - 1.0) / 3.0 + 0.5 - (-x[0]), N(r, 5)); }
    [Fact] public void Exp() { var r = R(7); Check(x => Ops.Exp(x[0]), N(r, 3, 5)); }
    [Fact] public void Log() { var r = R(8); Check(x => Ops.Log(x[0]), Positive(r, 3, 5)); }
    [Fact] public void Sqrt() { var r = R(9); Check(x => Ops.Sqrt(x[0]), Positive(r, 7)); }
    [Fact] public void Pow_general() { var r = R(10); Check(x => Ops.Pow(x[0], 2.7), Positive(r, 6)); }
    [Fact] public void Pow_square() { var r = R(10); Check(x => Ops.Square(x[0]), N(r, 6)); }
    [Fact] public void Pow_negative_exponent() { var r = R(10); Check(x => Ops.Pow(x[0], -1.5), Positive(r, 6)); }
    [Fact] public void Abs() { var r = R(11); Check(x => Ops.Abs(x[0]), AwayFromZero(r, 0.1, 9)); }
    [Fact] public void Tanh() { var r = R(12); Check(x => Ops.Tanh(x[0]), N(r, 4, 33)); }
    [Fact] public void Sigmoid() { var r = R(13); Check(x => Ops.Sigmoid(x[0]), N(r, 4, 33)); }
    [Fact] public void Relu() { var r = R(14); Check(x => Ops.Relu(x[0]), AwayFromZero(r, 0.1, 4, 33)); }
    [Fact] public void Relu_then_smooth() { var r = R(14); Check(x => Ops.Exp(Ops.Relu(x[0]) * x[0]), AwayFromZero(r, 0.1, 17)); }
    [Fact] public void Softplus() { var r = R(15); Check(x => Ops.Softplus(x[0] * 10.0), N(r, 3, 7)); }
    [Fact] public void Clamp() { var r = R(16); Check(x => Ops.Clamp(x[0], -0.55, 0.75) * x[0], AwayFromZero(r, 0.05, 20)); }

    [Fact]
    public void Where()
    {
        var r = R(17);
        var cond = Tensor.From<double>([1, 0, 0, 1, 1, 0], 2, 3);
        Check(x => Ops.Where(cond, x[0] * x[1], Ops.Exp(x[1])), N(r, 2, 3), N(r, 2, 3));
    }

    [Fact] public void Sum_all() { var r = R(18); Check(x => Ops.Sum(x[0] * x[0]), N(r, 3, 4)); }
    [Fact] public void Mean_all() { var r = R(18); Check(x => Ops.Mean(Ops.Tanh(x[0])), N(r, 3, 4)); }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(-1, false)]
    [InlineData(2, true)]
    public void Sum_axis(int axis, bool keep) { var r = R(19); Check(x => Ops.Sum(x[0] * x[0], axis, keep), N(r, 2, 3, 4)); }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Mean_axis(int axis) { var r = R(20); Check(x => Ops.Mean(Ops.Sigmoid(x[0]), axis), N(r, 2, 3, 4)); }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-1)]
    public void Max_axis(int axis) { var r = R(21); Check(x => Ops.Max(x[0] * x[0], axis) * 1.5, N(r, 3, 4, 5)); }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    public void Softmax(int axis) { var r = R(22); Check(x => Ops.Softmax(x[0], axis), N(r, 3, 4, 5)); }

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void LogSoftmax(int axis) { var r = R(23); Check(x => Ops.LogSoftmax(x[0], axis), N(r, 3, 4, 5)); }

    [Fact]
    public void Gather_actions()
    {
        var r = R(24);
        int[] actions = [2, 0, 5, 5, 1];
        Check(x => Ops.Gather(Ops.LogSoftmax(x[0]), 1, actions), N(r, 5, 6));
    }

    [Fact]
    public void Gather_middle_axis()
    {
        var r = R(24);
        int[] idx = [0, 2, 1, 1, 2, 0];
        Check(x => Ops.Gather(x[0] * x[0], 1, idx), N(r, 2, 3, 3));
    }

    [Fact]
    public void IndexSelect_with_repeats()
    {
        var r = R(25);
        int[] idx = [3, 0, 3, 1];
        Check(x => Ops.IndexSelect(Ops.Tanh(x[0]), 0, idx), N(r, 4, 3));
    }

    [Fact]
    public void Concat_and_slice()
    {
        var r = R(26);
        Check(x =>
        {
            var c = Ops.Concat([x[0], Ops.Exp(x[1]), x[0] * x[1]], 1);
            return Ops.Slice(c, 1, 1, 5) * Ops.Slice(c, 1, 2, 5);
        }, N(r, 2, 3), N(r, 2, 3));
    }

    [Fact]
    public void Concat_axis0()
    {
        var r = R(26);
        Check(x => Ops.Tanh(Ops.Concat([x[0], x[1]], 0)), N(r, 2, 3), N(r, 4, 3));
    }

    [Fact]
    public void Reshape_infer()
    {
        var r = R(27);
        Check(x => Ops.Reshape(x[0], -1, 6) * Ops.Reshape(x[1], 2, 6), N(r, 3, 4), N(r, 12));
    }

    [Fact] public void Transpose_2d() { var r = R(28); Check(x => Ops.Transpose(x[0]) * x[1], N(r, 3, 5), N(r, 5, 3)); }
    [Fact] public void Transpose_3d() { var r = R(28); Check(x => Ops.Transpose(x[0] * x[0], 0, 2), N(r, 2, 3, 4)); }
    [Fact] public void BroadcastTo() { var r = R(29); Check(x => Ops.BroadcastTo(x[0] * x[0], new[] { 2, 3, 4 }), N(r, 3, 1)); }
    [Fact] public void SumTo() { var r = R(29); Check(x => Ops.SumTo(x[0] * x[0], new[] { 3, 1 }), N(r, 2, 3, 4)); }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void MatMul(bool ta, bool tb)
    {
        var r = R(30);
        int m = 4, k = 5, n = 3;
        var a = ta ? N(r, k, m) : N(r, m, k);
        var b = tb ? N(r, n, k) : N(r, k, n);
        Check(x => Ops.Tanh(Ops.MatMul(x[0], x[1], ta, tb)), a, b);
    }

    [Fact]
    public void MatMul_wide_and_narrow()
    {
        var r = R(31);
        Check(x => Ops.Tanh(Ops.MatMul(x[0], x[1])), N(r, 7, 20), N(r, 20, 2));
        Check(x => Ops.Tanh(Ops.MatMul(x[0], x[1])), N(r, 1, 20), N(r, 20, 35));
    }

    [Fact]
    public void Linear_with_bias_3d_input()
    {
        var r = R(32);
        Check(x => Ops.Tanh(Ops.Linear(x[0], x[1], x[2])), N(r, 2, 3, 4), N(r, 4, 5), N(r, 5));
    }

    [Fact]
    public void Linear_without_bias()
    {
        var r = R(32);
        Check(x => Ops.Sigmoid(Ops.Linear(x[0], x[1], null)), N(r, 3, 4), N(r, 4, 2));
    }

    [Fact]
    public void LayerNorm()
    {
        var r = R(33);
        Check(x => Ops.LayerNorm(x[0], x[1], x[2]), N(r, 3, 6), N(r, 6), N(r, 6));
    }

    [Fact]
    public void GruCell()
    {
        var r = R(34);
        int b = 2, i = 3, h = 4;
        Check(x => Ops.GruCell(x[0], x[1], x[2], x[3], x[4], x[5]),
            N(r, b, i), N(r, b, h), N(r, i, 3 * h), N(r, h, 3 * h), N(r, 3 * h), N(r, 3 * h));
    }

    [Fact]
    public void LstmCell()
    {
        var r = R(35);
        int b = 2, i = 3, h = 4;
        Check(x =>
        {
            var (hh, cc) = Ops.LstmCell(x[0], x[1], x[2], x[3], x[4], x[5], x[6]);
            return Ops.Concat([hh, cc], 1);
        }, N(r, b, i), N(r, b, h), N(r, b, h), N(r, i, 4 * h), N(r, h, 4 * h), N(r, 4 * h), N(r, 4 * h));
    }

    private static Tensor<double> ResetMask(int steps, int batch)
    {
        var m = Tensor.Ones<double>(steps, batch);
        m[2, 0] = 0; // row 0 restarts at step 2
        m[3, 1] = 0; // row 1 at step 3
        return m;
    }

    [Fact]
    public void GruSequence_fused_with_resets()
    {
        var r = R(36);
        int t = 5, b = 2, i = 3, h = 4;
        var mask = ResetMask(t, b);
        Check(x => Ops.GruSequence(x[0], x[1], x[2], x[3], x[4], x[5], mask),
            N(r, t, b, i), N(r, b, h), N(r, i, 3 * h), N(r, h, 3 * h), N(r, 3 * h), N(r, 3 * h));
    }

    [Fact]
    public void GruSequence_composite_with_resets()
    {
        var r = R(37);
        int t = 4, b = 2, i = 3, h = 3;
        var mask = ResetMask(t, b);
        Check(x => Ops.GruSequenceComposite(x[0], x[1], x[2], x[3], x[4], x[5], mask),
            N(r, t, b, i), N(r, b, h), N(r, i, 3 * h), N(r, h, 3 * h), N(r, 3 * h), N(r, 3 * h));
    }

    [Fact]
    public void LstmSequence_fused_with_resets()
    {
        var r = R(38);
        int t = 4, b = 2, i = 3, h = 3;
        var mask = ResetMask(t, b);
        Check(x =>
        {
            var (o, hh, cc) = Ops.LstmSequence(x[0], x[1], x[2], x[3], x[4], x[5], x[6], mask);
            return Ops.Concat([Ops.Reshape(o, -1), Ops.Reshape(hh, -1), Ops.Reshape(cc, -1)], 0);
        }, N(r, t, b, i), N(r, b, h), N(r, b, h), N(r, i, 4 * h), N(r, h, 4 * h), N(r, 4 * h), N(r, 4 * h));
    }

    [Fact]
    public void LstmSequence_composite_with_resets()
    {
        var r = R(39);
        int t = 4, b = 2, i = 3, h = 3;
        var mask = ResetMask(t, b);
        Check(x =>
        {
            var (o, hh, cc) = Ops.LstmSequenceComposite(x[0], x[1], x[2], x[3], x[4], x[5], x[6], mask);
            return Ops.Concat([Ops.Reshape(o, -1), Ops.Reshape(hh, -1), Ops.Reshape(cc, -1)], 0);
        }, N(r, t, b, i), N(r, b, h), N(r, b, h), N(r, i, 4 * h), N(r, h, 4 * h), N(r, 4 * h), N(r, 4 * h));
    }
}
