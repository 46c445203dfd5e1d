using MetaRL.Engine;

namespace MetaRL.Tasks.Bandits;

/// <summary>The prior over arm probabilities a Bayesian bandit agent assumes, and its posterior after some pulls.</summary>
public abstract class BanditPrior
{
    /// <summary>Independent arms, each p ~ Beta(1, 1) = U[0, 1].</summary>
    public static BanditPrior IndependentUniform { get; } = new Independent();

    /// <summary>Two arms with p₂ = 1 − p₁ and p₁ uniform on the given support points.</summary>
    public static BanditPrior DependentGrid(double[] support) => new Dependent(support);

    /// <summary>Posterior mean reward of every arm given successes and failures per arm.</summary>
    public abstract void PosteriorMeans(ReadOnlySpan<int> successes, ReadOnlySpan<int> failures, Span<double> means);

    /// <summary>One draw of every arm's probability from the posterior (Thompson sampling).</summary>
    public abstract void Sample(ReadOnlySpan<int> successes, ReadOnlySpan<int> failures, Rng rng, Span<double> probabilities);

    private sealed class Independent : BanditPrior
    {
        public override void PosteriorMeans(ReadOnlySpan<int> s, ReadOnlySpan<int> f, Span<double> means)
        {
            for (int i = 0; i < means.Length; i++) means[i] = (s[i] + 1.0) / (s[i] + f[i] + 2.0);
        }

        public override void Sample(ReadOnlySpan<int> s, ReadOnlySpan<int> f, Rng rng, Span<double> p)
        {
            for (int i = 0; i < p.Length; i++) p[i] = rng.Beta(s[i] + 1, f[i] + 1);
        }
    }

    internal sealed class Dependent(double[] support) : BanditPrior
    {
        public double[] Support { get; } = support;

        /// <summary>Posterior weights over the support after x outcomes that favour p₁ and y that favour 1 − p₁.</summary>
        public void Weights(int x, int y, Span<double> w)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < Support.Length; j++)
            {
                double p = Support[j];
                w[j] = x * Math.Log(p) + y * Math.Log(1 - p);
                max = Math.Max(max, w[j]);
            }
            double sum = 0;
            for (int j = 0; j < Support.Length; j++) sum += w[j] = Math.Exp(w[j] - max);
            for (int j = 0; j < Support.Length; j++) w[j] /= sum;
        }

        /// <summary>E[p₁ | x, y].</summary>
        public double MeanP1(int x, int y)
        {
            Span<double> w = Support.Length <= 2048 ? stackalloc double[Support.Length] : new double[Support.Length];
            Weights(x, y, w);
            double m = 0;
            for (int j = 0; j < w.Length; j++) m += w[j] * Support[j];
            return m;
        }

        // Success on arm 1 or failure on arm 2 is evidence for p₁; the reverse for 1 − p₁.
        private static (int X, int Y) Evidence(ReadOnlySpan<int> s, ReadOnlySpan<int> f) => (s[0] + f[1], f[0] + s[1]);

        public override void PosteriorMeans(ReadOnlySpan<int> s, ReadOnlySpan<int> f, Span<double> means)
        {
            var (x, y) = Evidence(s, f);
            means[0] = MeanP1(x, y);
            means[1] = 1 - means[0];
        }

        public override void Sample(ReadOnlySpan<int> s, ReadOnlySpan<int> f, Rng rng, Span<double> p)
        {
            var (x, y) = Evidence(s, f);
            Span<double> w = Support.Length <= 2048 ? stackalloc double[Support.Length] : new double[Support.Length];
            Weights(x, y, w);
            double u = rng.NextDouble(), acc = 0;
            int pick = w.Length - 1;
            for (int j = 0; j < w.Length; j++)
            {
                acc += w[j];
                if (u < acc) { pick = j; break; }
            }
            p[0] = Support[pick];
            p[1] = 1 - p[0];
        }
    }
}
