using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Trading;

/// <summary>
/// A task of <c>regime-trading</c>: one market, a Markov-switching model of daily log-returns (Hamilton 1989) whose
/// parameters are hidden from the agent. In regime k a day's log-return is <c>Drift[k] + Volatility[k]·√h·z</c>, z of
/// unit variance (normal, or Student-t with <see cref="TailDof"/> degrees of freedom) and h a GARCH(1,1) multiplier of
/// mean one (<see cref="Arch"/>, <see cref="Garch"/>; 1 throughout when both are zero); the regime moves each day by
/// the row-stochastic <see cref="Switching"/> matrix. All in daily units.
/// </summary>
/// <param name="Drift">Mean daily log-return of each regime, in regime order (bull, bear[, crisis]).</param>
/// <param name="Volatility">Standard deviation of the daily log-return of each regime.</param>
/// <param name="Switching">K × K, row-major: the probability of moving from regime i to regime j from one day to the next.</param>
/// <param name="TailDof">Degrees of freedom of the Student-t innovations; infinity for normal ones.</param>
/// <param name="Arch">GARCH α: weight of yesterday's squared standardised shock in today's variance multiplier.</param>
/// <param name="Garch">GARCH β: weight of yesterday's multiplier.</param>
/// <param name="Wide">Drawn from the wider, out-of-distribution prior (higher volatility, faster switching).</param>
public sealed record RegimeMarket(double[] Drift, double[] Volatility, double[] Switching, double TailDof, double Arch, double Garch, bool Wide) : ITask
{
    /// <summary>Trading days in a year, for annualised figures.</summary>
    public const double DaysPerYear = 252;

    /// <summary>Number of regimes.</summary>
    public int Regimes => Drift.Length;

    /// <summary>Volatility clusters within a regime (a GARCH multiplier); without it the multiplier stays 1.</summary>
    public bool Clustering => Arch > 0 || Garch > 0;

    /// <summary>
    /// Tomorrow's GARCH(1,1) variance multiplier, 1 − α − β + α·e² + β·h (mean one), from today's <paramref name="h"/> and
    /// today's squared shock on the regime's own scale, <paramref name="squaredShock"/> = ((r − μ) / σ)² = h·z².
    /// </summary>
    public double NextMultiplier(double h, double squaredShock) => 1 - Arch - Garch + Arch * squaredShock + Garch * h;

    /// <summary>The probability of moving from regime <paramref name="from"/> to <paramref name="to"/> in a day.</summary>
    public double P(int from, int to) => Switching[from * Regimes + to];

    /// <summary>The long-run share of days spent in each regime (the switching matrix's stationary distribution).</summary>
    public double[] Stationary()
    {
        // Solve π (P − I) = 0 with Σ π = 1: the transposed system with its last equation replaced by the sum.
        int k = Regimes;
        var a = new double[k, k + 1];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < k; i++) a[j, i] = P(i, j) - (i == j ? 1 : 0);
        for (int i = 0; i < k; i++) a[k - 1, i] = 1;
        a[k - 1, k] = 1;
        for (int c = 0; c < k; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < k; r++) if (Math.Abs(a[r, c]) > Math.Abs(a[pivot, c])) pivot = r;
            for (int x = 0; x <= k; x++) (a[c, x], a[pivot, x]) = (a[pivot, x], a[c, x]);
            for (int r = 0; r < k; r++)
            {
                if (r == c) continue;
                double f = a[r, c] / a[c, c];
                for (int x = c; x <= k; x++) a[r, x] -= f * a[c, x];
            }
        }
        var pi = new double[k];
        for (int i = 0; i < k; i++) pi[i] = Math.Max(0, a[i, k] / a[i, i]);
        double sum = pi.Sum();
        for (int i = 0; i < k; i++) pi[i] /= sum;
        return pi;
    }

    /// <summary>
    /// The position a mean-variance investor would hold in regime k if it knew it would stay there: drift over variance,
    /// μ/σ². Its change across a switch is the direction a trader should move when the regime switches.
    /// </summary>
    public double Exposure(int regime) => Drift[regime] / (Volatility[regime] * Volatility[regime]);

    /// <summary>Each regime's annual drift and volatility, for plot titles ("bull +14%/16%, bear −22%/35%").</summary>
    public string Label => string.Join(", ", Enumerable.Range(0, Regimes).Select(k =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{RegimeNames[k]} {Drift[k] * DaysPerYear:+0%;−0%}/{Volatility[k] * Math.Sqrt(DaysPerYear):0%}")));

    /// <summary>The regimes' names in order.</summary>
    public static readonly string[] RegimeNames = ["bull", "bear", "crisis"];

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
    {
        var d = new List<KeyValuePair<string, double>> { KeyValuePair.Create("regimes", (double)Regimes) };
        var names = RegimeNames;
        for (int k = 0; k < Regimes; k++)
        {
            d.Add(KeyValuePair.Create($"{names[k]} drift (annual)", Drift[k] * DaysPerYear));
            d.Add(KeyValuePair.Create($"{names[k]} volatility (annual)", Volatility[k] * Math.Sqrt(DaysPerYear)));
            d.Add(KeyValuePair.Create($"{names[k]} mean duration (days)", 1 / Math.Max(1e-12, 1 - P(k, k))));
        }
        if (double.IsFinite(TailDof)) d.Add(KeyValuePair.Create("tail dof", TailDof));
        if (Arch > 0) d.Add(KeyValuePair.Create("garch alpha", Arch));
        if (Garch > 0) d.Add(KeyValuePair.Create("garch beta", Garch));
        return d;
    }

    /// <summary>The generator state of this market's return process: the regime, the variance multiplier and the last standardised shock.</summary>
    public struct Process
    {
        public int Regime;
        public double Multiplier, LastShock;

        /// <summary>A process started in a regime drawn from the stationary distribution, its multiplier at its mean.</summary>
        public static Process Start(RegimeMarket market, Rng rng)
        {
            var pi = market.Stationary();
            return new Process { Regime = Draw(pi, rng), Multiplier = 1, LastShock = 1 };
        }

        /// <summary>Moves the regime one day on and draws that day's log-return.</summary>
        public double Next(RegimeMarket m, Rng rng)
        {
            Regime = Draw(m.Switching.AsSpan(Regime * m.Regimes, m.Regimes), rng);
            // NextMultiplier(h, h·z²), its arithmetic grouped as the simulator has always drawn it.
            if (m.Clustering) Multiplier = 1 - m.Arch - m.Garch + (m.Arch * LastShock * LastShock + m.Garch) * Multiplier;
            double z = rng.Normal();
            if (double.IsFinite(m.TailDof))
            {
                // Student-t scaled to unit variance: z / √(χ²_ν / ν) · √((ν − 2) / ν).
                double chi2 = 2 * rng.Gamma(m.TailDof / 2);
                z *= Math.Sqrt((m.TailDof - 2) / chi2);
            }
            LastShock = z;
            return m.Drift[Regime] + m.Volatility[Regime] * Math.Sqrt(Multiplier) * z;
        }

        // An index drawn with the probabilities p.
        private static int Draw(ReadOnlySpan<double> p, Rng rng)
        {
            double u = rng.NextDouble();
            for (int i = 0; i < p.Length - 1; i++)
            {
                u -= p[i];
                if (u < 0) return i;
            }
            return p.Length - 1;
        }
    }
}

/// <summary>Which markets the prior of <c>regime-trading</c> draws: its options and how it draws one.</summary>
/// <param name="Regimes">2, 3, or 0 for either (half each).</param>
/// <param name="FatTails">Student-t innovations with 3.5–10 degrees of freedom instead of normal ones.</param>
/// <param name="Clustering">A GARCH(1,1) volatility multiplier within each regime (α 0.03–0.10, α + β 0.90–0.97).</param>
/// <param name="SwitchingSpread">
/// s ≥ 1: every switching probability of a market from this prior is multiplied by one factor, log-uniform on [1/s, s],
/// so that how long a regime lasts differs from market to market (1: Hardy's rates as drawn). The wide prior keeps its ×3.
/// </param>
/// <param name="Wider">Every market is drawn from the wide prior, training markets and the filter's alike (see <see cref="Draw"/>).</param>
/// <remarks>
/// Centred on Hardy (2001)'s two-regime lognormal fit to monthly S&amp;P 500 returns: bull μ = 0.012, σ = 0.035; bear
/// μ = −0.016, σ = 0.078; leaving bull 0.04 and bear 0.21 per month. Rescaled to 21 trading days a month: drift μ/21,
/// volatility σ/√21, daily switching 1 − (1 − p)^(1/21). Each market scales drift and volatility together by a level s
/// (log-uniform; Sharpe ratios stay Hardy-like while the volatility that marks a bear market differs by market), and
/// draws each parameter around its centre (see docs/tasks/regime-trading.md for every range). The third regime is a
/// short crisis (our own addition): a much higher volatility, a steep negative drift, entered mostly from the bear regime.
/// The wide prior (held-out=wider) draws the level from higher up and switches three times as often.
/// </remarks>
public sealed record MarketPrior(int Regimes = 0, bool FatTails = false, bool Clustering = false, double SwitchingSpread = 1, bool Wider = false)
{
    /// <summary>Trading days per month, the rescaling from Hardy's monthly figures.</summary>
    public const double DaysPerMonth = 21;

    /// <summary>Draws a market; <paramref name="wide"/> (or <see cref="Wider"/>) from the wide prior, the held-out=wider one.</summary>
    public RegimeMarket Draw(Rng rng, bool wide)
    {
        wide |= Wider;
        int k = Regimes != 0 ? Regimes : rng.NextDouble() < 0.5 ? 2 : 3;
        double level = Math.Exp(wide ? rng.Uniform(Math.Log(1.0), Math.Log(3.0)) : rng.Uniform(Math.Log(0.5), Math.Log(2.0)));
        // No draw for the plain prior, so its markets stay those drawn before the spread existed.
        double speed = wide ? 3 : SwitchingSpread > 1 ? Math.Exp(rng.Uniform(-Math.Log(SwitchingSpread), Math.Log(SwitchingSpread))) : 1;
        // Monthly figures, then rescaled.
        double bullMu = rng.Normal(0.012, 0.004), bearMu = rng.Normal(-0.016, 0.008);
        double bullSigma = 0.035 * Math.Exp(rng.Normal(0, 0.1)), bearSigma = bullSigma * rng.Uniform(1.6, 3.0);
        double leaveBull = rng.Uniform(0.02, 0.08) * speed, leaveBear = Math.Min(0.9, rng.Uniform(0.10, 0.35) * speed);
        double[] mu, sigma, monthly;
        if (k == 2)
        {
            (mu, sigma) = ([bullMu, bearMu], [bullSigma, bearSigma]);
            monthly = [1 - leaveBull, leaveBull, leaveBear, 1 - leaveBear];
        }
        else
        {
            double crisisMu = rng.Normal(-0.06, 0.02), crisisSigma = bearSigma * rng.Uniform(1.5, 2.5);
            double bullToCrisis = 0.1 * leaveBull, bearToCrisis = rng.Uniform(0.03, 0.10) * speed, leaveCrisis = Math.Min(0.95, rng.Uniform(0.4, 0.8) * speed);
            double crisisToBull = 0.25 * leaveCrisis;
            (mu, sigma) = ([bullMu, bearMu, crisisMu], [bullSigma, bearSigma, crisisSigma]);
            monthly =
            [
                1 - leaveBull - bullToCrisis, leaveBull, bullToCrisis,
                leaveBear, 1 - leaveBear - bearToCrisis, bearToCrisis,
                crisisToBull, leaveCrisis - crisisToBull, 1 - leaveCrisis,
            ];
        }
        var drift = mu.Select(m => level * m / DaysPerMonth).ToArray();
        var vol = sigma.Select(s => level * s / Math.Sqrt(DaysPerMonth)).ToArray();
        var daily = Daily(monthly, k);
        double dof = FatTails ? rng.Uniform(3.5, 10) : double.PositiveInfinity;
        double arch = 0, garch = 0;
        if (Clustering)
        {
            arch = rng.Uniform(0.03, 0.10);
            garch = rng.Uniform(0.90, 0.97) - arch;
        }
        return new RegimeMarket(drift, vol, daily, dof, arch, garch, wide);
    }

    // A monthly switching matrix as a daily one: each off-diagonal probability p becomes 1 − (1 − p)^(1/21), the diagonal the rest.
    private static double[] Daily(double[] monthly, int k)
    {
        var d = new double[k * k];
        for (int i = 0; i < k; i++)
        {
            double stay = 1;
            for (int j = 0; j < k; j++)
                if (j != i)
                {
                    d[i * k + j] = 1 - Math.Pow(1 - monthly[i * k + j], 1 / DaysPerMonth);
                    stay -= d[i * k + j];
                }
            d[i * k + i] = stay;
        }
        return d;
    }
}
