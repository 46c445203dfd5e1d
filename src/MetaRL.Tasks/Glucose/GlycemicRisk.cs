namespace MetaRL.Tasks.Glucose;

/// <summary>
/// Kovatchev's blood glucose risk: f = 1.509·(ln(BG)^1.084 − 5.381), risk = 10·f², counted as low-glucose risk when
/// f &lt; 0 and high-glucose risk when f &gt; 0 (zero near 112.5 mg/dL); glucose at or below 20 mg/dL counts as risk 100
/// low, at or above 600 as 100 high.
/// </summary>
public static class GlycemicRisk
{
    /// <summary>The (low, high) risk of one glucose value (mg/dL); one of the two is zero.</summary>
    public static (double Low, double High) Of(double glucose)
    {
        if (double.IsNaN(glucose)) throw new ArgumentOutOfRangeException(nameof(glucose), glucose, "Glucose is not a number.");
        if (glucose <= 20) return (100, 0);
        if (glucose >= 600) return (0, 100);
        double f = 1.509 * (Math.Pow(Math.Log(glucose), 1.084) - 5.381);
        double risk = 10 * f * f;
        return f < 0 ? (risk, 0) : (0, risk);
    }

    /// <summary>The total risk (low plus high) of one glucose value.</summary>
    public static double Total(double glucose)
    {
        var (low, high) = Of(glucose);
        return low + high;
    }
}

/// <summary>
/// The clinical summary of a glucose trace (mg/dL, equally spaced): the percentage of time in range 70–180, below 70
/// and 54, above 180 and 250, the mean low and high blood glucose indices and the mean glucose.
/// </summary>
public sealed record ClinicalMetrics(double TimeInRange, double TimeBelow70, double TimeBelow54, double TimeAbove180, double TimeAbove250, double Lbgi, double Hbgi,
    double MeanGlucose)
{
    /// <exception cref="ArgumentException">The trace is empty.</exception>
    public static ClinicalMetrics Of(IReadOnlyList<double> glucose)
    {
        ArgumentNullException.ThrowIfNull(glucose);
        if (glucose.Count == 0) throw new ArgumentException("A glucose trace needs at least one value.", nameof(glucose));
        var sum = new Accumulator();
        foreach (var g in glucose) sum.Add(g);
        return sum.Result();
    }

    /// <summary>The metrics in the order of <see cref="GlucoseInsulinTasks.Metrics"/>.</summary>
    public void CopyTo(Span<double> values)
    {
        ReadOnlySpan<double> all = [TimeInRange, TimeBelow70, TimeBelow54, TimeAbove180, TimeAbove250, Lbgi, Hbgi, MeanGlucose];
        all.CopyTo(values);
    }

    /// <summary>The same summary built one value at a time, without keeping the trace.</summary>
    public struct Accumulator
    {
        private int _n, _inRange, _below70, _below54, _above180, _above250;
        private double _low, _high, _sum;

        public readonly int Count => _n;

        /// <summary>Adds one glucose value (mg/dL) and returns its (low, high) risk.</summary>
        public (double Low, double High) Add(double glucose)
        {
            var (low, high) = GlycemicRisk.Of(glucose);
            _n++;
            if (glucose >= 70 && glucose <= 180) _inRange++;
            if (glucose < 70) _below70++;
            if (glucose < 54) _below54++;
            if (glucose > 180) _above180++;
            if (glucose > 250) _above250++;
            (_low, _high, _sum) = (_low + low, _high + high, _sum + glucose);
            return (low, high);
        }

        /// <exception cref="InvalidOperationException">No value was added.</exception>
        public readonly ClinicalMetrics Result()
        {
            if (_n == 0) throw new InvalidOperationException("A glucose trace needs at least one value.");
            double n = _n;
            return new ClinicalMetrics(100 * _inRange / n, 100 * _below70 / n, 100 * _below54 / n, 100 * _above180 / n, 100 * _above250 / n, _low / n, _high / n, _sum / n);
        }
    }
}
