using MetaRL.Engine;

namespace MetaRL.Tasks.Trading;

/// <summary>
/// A Bayesian filter for a market whose model is unknown but drawn from a known prior: it carries
/// <see cref="Markets"/> markets drawn from the prior, runs Hamilton's forward filter for each (the probability of each
/// regime given the returns so far) and weighs them by the likelihood of the returns (Bayesian model averaging over a
/// Monte-Carlo sample of the prior). Its predictive mean and variance of the next day's simple return are the mixture's.
/// With volatility clustering each market's GARCH multiplier is updated with the shock's posterior mean square (the
/// regime-collapsing approximation of Gray 1996).
/// </summary>
public sealed class RegimeFilterModel
{
    /// <summary>Markets drawn from the prior by default.</summary>
    public const int DefaultMarkets = 500;

    internal readonly RegimeMarket[] Markets;
    // Per market, 3 slots (one per regime): the stationary regime probabilities.
    private readonly double[] _stationary;
    // Per market and regime, 3 values each: the next simple return's mean and second moment, and the regime's expected stay (multiplier 1).
    private readonly double[] _moments;
    // Per market and regime: the log and the inverse of the density's scale (σ, or σ·√((ν − 2)/ν) for Student-t).
    private readonly double[] _logScale, _invScale;
    // Per market: the density's normalising constant.
    private readonly double[] _logConst;

    /// <summary>Draws <paramref name="count"/> markets from <paramref name="prior"/> (the training prior) with <paramref name="seed"/>.</summary>
    public RegimeFilterModel(MarketPrior prior, int count = DefaultMarkets, ulong seed = 0xF17E7UL)
    {
        ArgumentNullException.ThrowIfNull(prior);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var rng = new Rng(seed);
        Markets = new RegimeMarket[count];
        for (int i = 0; i < count; i++) Markets[i] = prior.Draw(rng, wide: false);
        _logConst = new double[count];
        _stationary = new double[count * 3];
        _moments = new double[count * 9];
        (_logScale, _invScale) = (new double[count * 3], new double[count * 3]);
        Span<double> one = stackalloc double[3];
        for (int i = 0; i < count; i++)
        {
            var market = Markets[i];
            double nu = market.TailDof;
            market.Stationary().CopyTo(_stationary, i * 3);
            _logConst[i] = double.IsFinite(nu) ? LogGamma((nu + 1) / 2) - LogGamma(nu / 2) - 0.5 * Math.Log(nu * Math.PI) : -0.5 * Math.Log(2 * Math.PI);
            for (int j = 0; j < market.Regimes; j++)
            {
                double scale = market.Volatility[j] * (double.IsFinite(nu) ? Math.Sqrt((nu - 2) / nu) : 1);
                (_logScale[i * 3 + j], _invScale[i * 3 + j]) = (Math.Log(scale), 1 / scale);
                one.Clear();
                one[j] = 1;
                var (mean, second, stay) = RegimeFilter.Moments(market, one, 1);
                (_moments[(i * 3 + j) * 3], _moments[(i * 3 + j) * 3 + 1], _moments[(i * 3 + j) * 3 + 2]) = (mean, second, stay);
            }
        }
    }

    /// <summary>
    /// Mean and second moment of the next simple return and the expected stay given tomorrow's regime probabilities, for
    /// market <paramref name="i"/> with multiplier <paramref name="h"/> (each regime's moments cached where h is always 1).
    /// </summary>
    internal (double Mean, double Second, double Horizon) Moments(int i, ReadOnlySpan<double> pred, double h)
    {
        var m = Markets[i];
        if (m.Clustering) return RegimeFilter.Moments(m, pred, h);
        double mean = 0, second = 0, horizon = 0;
        for (int j = 0; j < m.Regimes; j++)
        {
            int at = (i * 3 + j) * 3;
            (mean, second, horizon) = (mean + pred[j] * _moments[at], second + pred[j] * _moments[at + 1], horizon + pred[j] * _moments[at + 2]);
        }
        return (mean, second, horizon);
    }

    /// <summary>Each market's stationary regime probabilities, three slots per market.</summary>
    internal ReadOnlySpan<double> StationaryProbabilities => _stationary;

    /// <summary>Number of markets in the sample.</summary>
    public int Count => Markets.Length;

    /// <summary>A filter at the start of a trial: each market's regimes at their stationary probabilities, the markets equally likely.</summary>
    public RegimeFilter Start() => new(this);

    /// <summary>
    /// Log-densities of log-return <paramref name="r"/> under each regime of market <paramref name="i"/> with variance
    /// multiplier <paramref name="h"/>, into <paramref name="logf"/>.
    /// </summary>
    internal void LogDensities(int i, double r, double h, Span<double> logf)
    {
        var m = Markets[i];
        double nu = m.TailDof, logH = h == 1 ? 0 : 0.5 * Math.Log(h), invSqrtH = h == 1 ? 1 : 1 / Math.Sqrt(h);
        for (int k = 0; k < m.Regimes; k++)
        {
            int at = i * 3 + k;
            double z = (r - m.Drift[k]) * _invScale[at] * invSqrtH;
            logf[k] = double.IsFinite(nu)
                ? _logConst[i] - _logScale[at] - logH - (nu + 1) / 2 * Math.Log(1 + z * z / nu)
                : _logConst[i] - _logScale[at] - logH - 0.5 * z * z;
        }
    }

    // Lanczos approximation (g = 7, 9 terms), accurate to ~1e-15 for the arguments used here (> 1).
    private static double LogGamma(double x)
    {
        ReadOnlySpan<double> c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        x -= 1;
        double a = c[0], t = x + 7.5;
        for (int i = 1; i < 9; i++) a += c[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }
}

/// <summary>
/// One trial's state of a <see cref="RegimeFilterModel"/>: each market's regime probabilities, log-weight and variance
/// multiplier. A market whose posterior weight falls below e^−<see cref="PruneBelow"/> of the best one's is dropped for the
/// rest of the trial (it cannot matter to the predictive moments), which keeps the cost per day near that of the few
/// markets that still explain the returns.
/// </summary>
public sealed class RegimeFilter
{
    /// <summary>Markets more than this far below the best in log posterior weight are dropped.</summary>
    public const double PruneBelow = 25;

    private readonly RegimeFilterModel _model;
    private readonly double[] _alpha, _logWeight, _h;
    private readonly int[] _live;
    private int _liveCount;

    internal RegimeFilter(RegimeFilterModel model)
    {
        _model = model;
        int n = model.Count;
        (_alpha, _logWeight, _h, _live) = (new double[n * 3], new double[n], new double[n], new int[n]);
        model.StationaryProbabilities.CopyTo(_alpha);
        Array.Fill(_h, 1.0);
        for (int i = 0; i < n; i++) _live[i] = i;
        _liveCount = n;
    }

    /// <summary>Markets still carried (not pruned).</summary>
    public int LiveMarkets => _liveCount;

    /// <summary>Takes in a day's log-return.</summary>
    public void Update(double r)
    {
        Span<double> pred = stackalloc double[3], logf = stackalloc double[3];
        double best = double.NegativeInfinity;
        for (int n = 0; n < _liveCount; n++)
        {
            int i = _live[n];
            var m = _model.Markets[i];
            int k = m.Regimes;
            var a = _alpha.AsSpan(i * 3, 3);
            Predict(m, a, pred);
            _model.LogDensities(i, r, _h[i], logf);
            double top = double.NegativeInfinity;
            for (int j = 0; j < k; j++) top = Math.Max(top, logf[j]);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += a[j] = pred[j] * Math.Exp(logf[j] - top);
            if (!(sum > 0))
            {
                _logWeight[i] = double.NegativeInfinity;
                continue;
            }
            double shock2 = 0;
            for (int j = 0; j < k; j++)
            {
                a[j] /= sum;
                if (m.Clustering)
                {
                    // h·z², the squared shock on the regime's own scale.
                    double e = (r - m.Drift[j]) / m.Volatility[j];
                    shock2 += a[j] * e * e;
                }
            }
            _logWeight[i] += top + Math.Log(sum);
            best = Math.Max(best, _logWeight[i]);
            if (m.Clustering) _h[i] = m.NextMultiplier(_h[i], shock2);
        }
        int kept = 0;
        for (int n = 0; n < _liveCount; n++)
            if (_logWeight[_live[n]] >= best - PruneBelow) _live[kept++] = _live[n];
        _liveCount = kept;
    }

    /// <summary>
    /// The predictive mean and variance of the next day's simple return, and the expected number of days the regime it
    /// falls in will last (the mixture of each regime's 1 / (1 − stay probability)).
    /// </summary>
    public (double Mean, double Variance, double Horizon) Predict()
    {
        double top = double.NegativeInfinity;
        for (int n = 0; n < _liveCount; n++) top = Math.Max(top, _logWeight[_live[n]]);
        Span<double> pred = stackalloc double[3];
        double total = 0, mean = 0, second = 0, horizon = 0;
        for (int n = 0; n < _liveCount; n++)
        {
            int i = _live[n];
            double w = Math.Exp(_logWeight[i] - top);
            var m = _model.Markets[i];
            Predict(m, _alpha.AsSpan(i * 3, 3), pred);
            var (mi, si, hi) = _model.Moments(i, pred, _h[i]);
            (total, mean, second, horizon) = (total + w, mean + w * mi, second + w * si, horizon + w * hi);
        }
        (mean, second, horizon) = (mean / total, second / total, horizon / total);
        return (mean, Math.Max(1e-12, second - mean * mean), horizon);
    }

    /// <summary>The effective number of markets the posterior still spreads over (1 / Σ w²).</summary>
    public double EffectiveMarkets()
    {
        double top = double.NegativeInfinity, s = 0, s2 = 0;
        for (int n = 0; n < _liveCount; n++) top = Math.Max(top, _logWeight[_live[n]]);
        for (int n = 0; n < _liveCount; n++)
        {
            double w = Math.Exp(_logWeight[_live[n]] - top);
            (s, s2) = (s + w, s2 + w * w);
        }
        return s * s / s2;
    }

    /// <summary>Tomorrow's regime probabilities from today's: <paramref name="a"/> · P.</summary>
    internal static void Predict(RegimeMarket m, ReadOnlySpan<double> a, Span<double> pred)
    {
        int k = m.Regimes;
        for (int j = 0; j < k; j++)
        {
            double s = 0;
            for (int i = 0; i < k; i++) s += a[i] * m.P(i, j);
            pred[j] = s;
        }
    }

    /// <summary>Mean and second moment of the next simple return e^r − 1 given tomorrow's regime probabilities, and the expected stay.</summary>
    internal static (double Mean, double Second, double Horizon) Moments(RegimeMarket m, ReadOnlySpan<double> pred, double h)
    {
        double mean = 0, second = 0, horizon = 0;
        for (int j = 0; j < m.Regimes; j++)
        {
            double mu = m.Drift[j], v = m.Volatility[j] * m.Volatility[j] * h;
            double e1 = Math.Exp(mu + v / 2), e2 = Math.Exp(2 * mu + 2 * v);
            mean += pred[j] * (e1 - 1);
            second += pred[j] * (e2 - 2 * e1 + 1);
            horizon += pred[j] / Math.Max(1e-9, 1 - m.P(j, j));
        }
        return (mean, second, horizon);
    }
}
