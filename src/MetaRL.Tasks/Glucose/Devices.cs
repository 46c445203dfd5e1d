using MetaRL.Engine;

namespace MetaRL.Tasks.Glucose;

/// <summary>
/// A continuous glucose monitor (the Dexcom row of sensor_params.csv by default): a reading every
/// <see cref="SampleMinutes"/> minutes, the true glucose plus correlated, skewed noise, clipped to the sensor's range.
/// The noise is a first-order autoregressive sequence at 15-minute knots, e₀ = n₀, eₖ = PACF·(eₖ₋₁ + nₖ) with
/// nₖ ~ N(0, 1), put through the Johnson SU transform ε = ξ + λ·sinh((e − γ)/δ) and interpolated cubically
/// (Catmull–Rom) to each sample's time.
/// </summary>
public sealed class Cgm
{
    private const double KnotMinutes = 15;
    private readonly double _pacf, _gamma, _lambda, _delta, _xi;
    private readonly double[] _knots = new double[4];
    private double _e;
    private int _knotIndex;
    private Rng _rng;

    /// <param name="sensor">A row of sensor_params.csv: Dexcom, GuardianRT or Navigator.</param>
    public Cgm(Rng rng, string sensor = "Dexcom")
    {
        var row = VirtualPatient.Row("sensor_params.csv", sensor, "CGM sensor");
        double N(string c) => VirtualPatient.Number(row, c, sensor);
        (_pacf, _gamma, _lambda, _delta, _xi) = (N("PACF"), N("gamma"), N("lambda"), N("delta"), N("xi"));
        (SampleMinutes, Min, Max) = (N("sample_time"), N("min"), N("max"));
        _rng = rng;
        Reset(rng);
    }

    /// <summary>Minutes between readings.</summary>
    public double SampleMinutes { get; }

    /// <summary>The sensor's range (mg/dL); readings are clipped to it.</summary>
    public double Min { get; }
    public double Max { get; }

    /// <summary>A new noise sequence from <paramref name="rng"/>, starting at minute 0.</summary>
    public void Reset(Rng rng)
    {
        _rng = rng;
        _e = _rng.Normal();
        // Knots at −15, 0, 15 and 30 minutes; the one before 0 continues the sequence backwards in distribution only.
        _knots[0] = Transform(_pacf * (_e + _rng.Normal()));
        _knots[1] = Transform(_e);
        _knots[2] = Transform(Next());
        _knots[3] = Transform(Next());
        _knotIndex = 0;
    }

    /// <summary>The noise (mg/dL) at <paramref name="minute"/> since the reset; minutes must not go backwards by more than one knot.</summary>
    public double Noise(double minute)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minute);
        while (minute >= (_knotIndex + 1) * KnotMinutes)
        {
            _knots[0] = _knots[1];
            _knots[1] = _knots[2];
            _knots[2] = _knots[3];
            _knots[3] = Transform(Next());
            _knotIndex++;
        }
        double t = (minute - _knotIndex * KnotMinutes) / KnotMinutes;
        double p0 = _knots[0], p1 = _knots[1], p2 = _knots[2], p3 = _knots[3];
        return 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t + (-p0 + 3 * p1 - 3 * p2 + p3) * t * t * t);
    }

    /// <summary>The reading at <paramref name="minute"/> of a patient whose glucose is <paramref name="glucose"/> mg/dL.</summary>
    public double Read(double glucose, double minute) => Math.Clamp(glucose + Noise(minute), Min, Max);

    private double Next() => _e = _pacf * (_e + _rng.Normal());

    private double Transform(double e) => _xi + _lambda * Math.Sinh((e - _gamma) / _delta);
}

/// <summary>
/// An insulin pump (the Insulet row of pump_params.csv by default): a requested rate is delivered in the pump's
/// increments (converted to pmol/min, rounded to the increment, converted back) and within its limits.
/// </summary>
public sealed class InsulinPump
{
    public InsulinPump(string pump = "Insulet")
    {
        var row = VirtualPatient.Row("pump_params.csv", pump, "insulin pump");
        double N(string c) => VirtualPatient.Number(row, c, pump);
        (Increment, MinRate, MaxRate) = (N("inc_basal"), N("min_basal"), N("max_basal"));
    }

    /// <summary>The delivery increment, in pmol/min (the table's unit).</summary>
    public double Increment { get; }

    /// <summary>The pump's limits (U/min).</summary>
    public double MinRate { get; }
    public double MaxRate { get; }

    /// <summary>The rate (U/min) the pump delivers when asked for <paramref name="requested"/> U/min.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The request is not a finite number.</exception>
    public double Deliver(double requested)
    {
        if (!double.IsFinite(requested)) throw new ArgumentOutOfRangeException(nameof(requested), requested, "An insulin rate must be a finite number of U/min.");
        double pmol = Math.Round(requested * 6000 / Increment, MidpointRounding.AwayFromZero) * Increment;
        return Math.Clamp(pmol / 6000, MinRate, MaxRate);
    }
}
