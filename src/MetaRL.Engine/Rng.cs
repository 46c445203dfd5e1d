namespace MetaRL.Engine;

/// <summary>
/// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64).
/// Its sequence depends only on the seed, never on the runtime version, so every run
/// that starts from the same seed draws the same numbers.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>The state for checkpoints: the four generator words and two reserved words (zero).</summary>
    public ulong[] GetState() => [_s0, _s1, _s2, _s3, 0UL, 0UL];

    /// <summary>Restores a state captured by <see cref="GetState"/>.</summary>
    public void SetState(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 6) throw new ArgumentException($"An Rng state has 6 words, got {state.Length}.", nameof(state));
        if ((state[0] | state[1] | state[2] | state[3]) == 0) throw new ArgumentException("An all-zero Rng state is invalid.", nameof(state));
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
    }

    /// <summary>A new generator whose stream is independent of this one (for per-worker streams).</summary>
    public Rng Split() => new(NextULong() ^ 0x9E3779B97F4A7C15UL);

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextULong()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 bits of precision.</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "The upper bound must be positive.");
        // Lemire's nearly-divisionless method, exact (no modulo bias).
        ulong m = (ulong)(uint)NextULong() * (ulong)n;
        uint low = (uint)m;
        if (low < (uint)n)
        {
            uint threshold = (uint)(-n) % (uint)n;
            while (low < threshold)
            {
                m = (ulong)(uint)NextULong() * (ulong)n;
                low = (uint)m;
            }
        }
        return (int)(m >> 32);
    }

    /// <summary>
    /// Standard normal draw by the ziggurat method (Marsaglia and Tsang 2000) with 128 layers: one 64-bit draw
    /// gives the layer (7 bits), the sign (1 bit) and a 53-bit uniform; about 99 % of draws need nothing more.
    /// </summary>
    public double Normal()
    {
        while (true)
        {
            ulong bits = NextULong();
            int layer = (int)(bits & 127);
            double sign = (bits & 128) != 0 ? -1.0 : 1.0;
            double u = (bits >> 11) * (1.0 / (1UL << 53));
            double z = u * Ziggurat.X[layer];
            if (z < Ziggurat.X[layer + 1]) return sign * z;
            if (layer == 0)
            {
                // The tail beyond r (Marsaglia 1964).
                double a, b;
                do
                {
                    a = -Math.Log(1 - NextDouble()) / Ziggurat.R;
                    b = -Math.Log(1 - NextDouble());
                } while (b + b < a * a);
                return sign * (Ziggurat.R + a);
            }
            // The wedge between the layer's rectangle and the curve.
            double y = Ziggurat.F[layer] + NextDouble() * (Ziggurat.F[layer + 1] - Ziggurat.F[layer]);
            if (y < Math.Exp(-0.5 * z * z)) return sign * z;
        }
    }

    /// <summary>Layer edges X[0..128] (X[0] = V/f(R) for the base layer with its tail, X[128] = 0) and f(X) = exp(−X²/2).</summary>
    private static class Ziggurat
    {
        public const double R = 3.442619855899, V = 9.91256303526217e-3;
        public static readonly double[] X = new double[129], F = new double[129];

        static Ziggurat()
        {
            X[0] = V / Math.Exp(-0.5 * R * R);
            X[1] = R;
            for (int i = 1; i < 127; i++)
                X[i + 1] = Math.Sqrt(-2 * Math.Log(Math.Min(1, Math.Exp(-0.5 * X[i] * X[i]) + V / X[i])));
            X[128] = 0;
            for (int i = 0; i <= 128; i++) F[i] = Math.Exp(-0.5 * X[i] * X[i]);
        }
    }

    public double Normal(double mean, double std) => mean + std * Normal();

    /// <summary>Gamma(shape, 1) draw (Marsaglia–Tsang), used for Dirichlet and Beta samples.</summary>
    public double Gamma(double shape)
    {
        if (!(shape > 0)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "The gamma shape must be positive.");
        if (shape < 1)
        {
            double u = NextDouble();
            return Gamma(shape + 1) * Math.Pow(u == 0 ? double.Epsilon : u, 1 / shape);
        }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal();
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    /// <summary>Beta(a, b) draw.</summary>
    public double Beta(double a, double b)
    {
        double x = Gamma(a), y = Gamma(b);
        return x / (x + y);
    }

    /// <summary>Fills <paramref name="dest"/> with a Dirichlet(alpha, …, alpha) draw.</summary>
    public void Dirichlet(double alpha, Span<double> dest)
    {
        double sum = 0;
        for (int i = 0; i < dest.Length; i++) sum += dest[i] = Gamma(alpha);
        for (int i = 0; i < dest.Length; i++) dest[i] /= sum;
    }

    /// <summary>In-place Fisher–Yates shuffle.</summary>
    public void Shuffle<TItem>(Span<TItem> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
