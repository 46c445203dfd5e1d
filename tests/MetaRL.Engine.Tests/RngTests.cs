namespace MetaRL.Engine.Tests;

/// <summary>The generator's distributions match their definitions and its state round-trips.</summary>
public class RngTests
{
    private static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2));

    // Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
    private static double Erfc(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }

    [Fact]
    public void Normal_draws_follow_the_standard_normal()
    {
        const int n = 1_000_000;
        var rng = new Rng(42);
        var xs = new double[n];
        double sum = 0, sq = 0, fourth = 0;
        int beyond3 = 0, beyondR = 0;
        for (int i = 0; i < n; i++)
        {
            double x = xs[i] = rng.Normal();
            sum += x; sq += x * x; fourth += x * x * x * x;
            if (Math.Abs(x) > 3) beyond3++;
            if (Math.Abs(x) > 3.442619855899) beyondR++; // draws from the ziggurat's tail
        }
        double mean = sum / n, variance = sq / n - mean * mean;
        Assert.InRange(mean, -0.005, 0.005);          // standard error 0.001
        Assert.InRange(variance, 0.995, 1.005);        // standard error 0.0014
        Assert.InRange(fourth / n, 2.97, 3.03);        // kurtosis 3, standard error ≈ 0.0096
        // P(|X| > 3) = 0.0026998: expect 2700 ± 52.
        Assert.InRange(beyond3, 2700 - 260, 2700 + 260);
        // P(|X| > 3.4426) = 5.76e-4: expect 576 ± 24, all from the tail branch.
        Assert.InRange(beyondR, 576 - 120, 576 + 120);

        // Kolmogorov–Smirnov against the normal CDF: the 1 % critical value for n = 10⁶ is 1.63/√n.
        Array.Sort(xs);
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double f = NormalCdf(xs[i]);
            d = Math.Max(d, Math.Max(Math.Abs(f - (double)i / n), Math.Abs((i + 1.0) / n - f)));
        }
        Assert.True(d < 1.63 / Math.Sqrt(n), $"KS distance {d}");
    }

    [Fact]
    public void Normal_covers_both_signs_symmetrically_in_every_layer_region()
    {
        var rng = new Rng(7);
        var counts = new int[16];
        const int n = 400_000;
        for (int i = 0; i < n; i++)
        {
            double x = rng.Normal();
            int bin = Math.Clamp((int)Math.Floor(x * 2) + 8, 0, 15); // half-unit bins on [−4, 4]
            counts[bin]++;
        }
        for (int b = 0; b < 16; b++)
        {
            double lo = b == 0 ? double.NegativeInfinity : (b - 8) / 2.0, hi = b == 15 ? double.PositiveInfinity : (b - 7) / 2.0;
            double expected = n * (NormalCdf(hi) - NormalCdf(lo));
            Assert.True(Math.Abs(counts[b] - expected) < 5 * Math.Sqrt(expected) + 5, $"bin {b}: {counts[b]} vs {expected:F0}");
        }
    }

    [Fact]
    public void State_round_trips_and_continues_the_same_stream()
    {
        var a = new Rng(3);
        for (int i = 0; i < 11; i++) a.Normal();
        var state = a.GetState();
        var b = new Rng(99);
        b.SetState(state);
        for (int i = 0; i < 100; i++) Assert.Equal(a.Normal(), b.Normal());
        Assert.Throws<ArgumentException>(() => b.SetState(new ulong[6]));
        Assert.Throws<ArgumentException>(() => b.SetState(new ulong[3]));
    }
}
