namespace MetaRL.Tasks.Glucose;

/// <summary>
/// One virtual patient's glucose–insulin dynamics, minute by minute: the 13-compartment UVA/Padova model (MODEL.md's
/// equations: stomach and gut, plasma and tissue glucose, plasma, liver and subcutaneous insulin, insulin action,
/// subcutaneous glucose) with the inputs held over each minute, integrated by classical Runge–Kutta steps of
/// 1/<see cref="Substeps"/> minute. Announced meals are eaten at 5 g/min, and the gastric emptying rate follows the
/// size of the meal being eaten, as in the published model. Allocation-free after construction.
/// </summary>
public sealed class PatientSimulator
{
    /// <summary>The model's 13 compartments.</summary>
    public const int StateSize = 13;

    /// <summary>How fast an announced meal is eaten (g/min).</summary>
    public const double EatingRate = 5;

    private readonly Parameters _p;
    private readonly double[] _state = new double[StateSize];
    private readonly double[] _k1 = new double[StateSize], _k2 = new double[StateSize], _k3 = new double[StateSize], _k4 = new double[StateSize], _tmp = new double[StateSize];
    private double _toEat, _lastEaten, _stomachAtMealStart, _eatenThisMeal;

    /// <param name="substeps">Runge–Kutta steps per minute (at least 1; one already meets the reference trace within 0.01 mg/dL).</param>
    public PatientSimulator(VirtualPatient patient, int substeps = 1)
    {
        ArgumentNullException.ThrowIfNull(patient);
        ArgumentOutOfRangeException.ThrowIfLessThan(substeps, 1);
        Patient = patient;
        Substeps = substeps;
        _p = new Parameters(patient);
        Reset();
    }

    public VirtualPatient Patient { get; }

    public int Substeps { get; }

    /// <summary>Minutes simulated since <see cref="Reset"/>.</summary>
    public int Minute { get; private set; }

    /// <summary>Blood glucose as the model reports it, the subcutaneous glucose Gs / Vg (mg/dL).</summary>
    public double Glucose => _state[12] / _p.Vg;

    /// <summary>The compartments (read-only view).</summary>
    public ReadOnlySpan<double> State => _state;

    /// <summary>Carbohydrate announced and not yet eaten (g).</summary>
    public double MealLeft => _toEat;

    /// <summary>Back to the patient's steady state, nothing to eat, minute 0.</summary>
    public void Reset()
    {
        Patient.InitialState.CopyTo(_state, 0);
        (_toEat, _lastEaten, _stomachAtMealStart, _eatenThisMeal, Minute) = (0, 0, 0, 0, 0);
    }

    /// <summary>
    /// One minute: <paramref name="announcedCarbs"/> grams join the meal being eaten (at 5 g/min), and insulin flows at
    /// <paramref name="insulinRate"/> U/min throughout the minute.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An input is negative or not finite.</exception>
    public void Step(double announcedCarbs, double insulinRate)
    {
        if (!(announcedCarbs >= 0) || !double.IsFinite(announcedCarbs))
            throw new ArgumentOutOfRangeException(nameof(announcedCarbs), announcedCarbs, "Carbohydrate must be a finite number of grams, at least 0.");
        if (!(insulinRate >= 0) || !double.IsFinite(insulinRate))
            throw new ArgumentOutOfRangeException(nameof(insulinRate), insulinRate, "Insulin must be a finite rate in U/min, at least 0.");
        _toEat += announcedCarbs;
        double eaten = Math.Min(EatingRate, _toEat);
        _toEat = Math.Max(0, _toEat - EatingRate);
        // A meal starts when eating resumes after a minute without: the stomach's content then and the grams eaten
        // since set the size of meal the gastric emptying rate follows.
        if (eaten > 0 && _lastEaten <= 0) (_stomachAtMealStart, _eatenThisMeal) = (_state[0] + _state[1], 0);
        if (eaten > 0) _eatenThisMeal += eaten;
        _lastEaten = eaten;
        var inputs = Inputs.For(_p, 1000 * eaten, insulinRate * 6000 / _p.BW, _stomachAtMealStart + 1000 * _eatenThisMeal);
        double h = 1.0 / Substeps;
        for (int s = 0; s < Substeps; s++) RungeKutta(h, inputs);
        Minute++;
    }

    private void RungeKutta(double h, in Inputs u)
    {
        var x = _state;
        Derivative(_p, u, x, _k1);
        for (int i = 0; i < StateSize; i++) _tmp[i] = x[i] + 0.5 * h * _k1[i];
        Derivative(_p, u, _tmp, _k2);
        for (int i = 0; i < StateSize; i++) _tmp[i] = x[i] + 0.5 * h * _k2[i];
        Derivative(_p, u, _tmp, _k3);
        for (int i = 0; i < StateSize; i++) _tmp[i] = x[i] + h * _k3[i];
        Derivative(_p, u, _tmp, _k4);
        for (int i = 0; i < StateSize; i++) x[i] += h / 6 * (_k1[i] + 2 * _k2[i] + 2 * _k3[i] + _k4[i]);
    }

    /// <summary>
    /// What the model is driven by over one minute: glucose eaten (mg/min), insulin (pmol/kg/min), and the gastric
    /// emptying curve's constants for the meal size D̄ (mg), which hold for the whole minute.
    /// </summary>
    private readonly record struct Inputs(double Carbs, double Insulin, bool Meal, double Alpha, double Beta, double BD, double DD)
    {
        public static Inputs For(in Parameters p, double carbs, double insulin, double mealSize)
            => mealSize > 0
                ? new(carbs, insulin, true, 5 / (2 * mealSize * (1 - p.B)), 5 / (2 * mealSize * p.D), p.B * mealSize, p.D * mealSize)
                : new(carbs, insulin, false, 0, 0, 0, 0);
    }

    /// <summary>The model's right-hand side (MODEL.md, "Equations").</summary>
    private static void Derivative(in Parameters p, in Inputs u, ReadOnlySpan<double> x, Span<double> dx)
    {
        // Stomach (solid, liquid) and gut; gastric emptying slows as the stomach empties, relative to the meal size.
        double qsto = x[0] + x[1];
        double kgut = u.Meal ? p.Kmin + (p.Kmax - p.Kmin) / 2 * (Tanh(u.Alpha * (qsto - u.BD)) - Tanh(u.Beta * (qsto - u.DD)) + 2) : p.Kmax;
        dx[0] = -p.Kmax * x[0] + u.Carbs;
        dx[1] = p.Kmax * x[0] - kgut * x[1];
        dx[2] = kgut * x[1] - p.Kabs * x[2];

        // Glucose: appearance from the gut, endogenous production, renal excretion, use.
        double ra = p.AppearancePerGut * x[2];
        double egp = Math.Max(0, p.Kp1 - p.Kp2 * x[3] - p.Kp3 * x[8]);
        double renal = x[3] > p.Ke2 ? p.Ke1 * (x[3] - p.Ke2) : 0;
        dx[3] = NonNegative(x[3], egp + ra - p.Fsnc - renal - p.K1 * x[3] + p.K2 * x[4]);
        double uid = (p.Vm0 + p.Vmx * x[6]) * x[4] / (p.Km0 + x[4]);
        dx[4] = NonNegative(x[4], -uid + p.K1 * x[3] - p.K2 * x[4]);

        // Insulin: plasma, action on use and on production, liver, subcutaneous depots.
        dx[5] = NonNegative(x[5], -(p.M2 + p.M4) * x[5] + p.M1 * x[9] + p.Ka1 * x[10] + p.Ka2 * x[11]);
        double plasma = x[5] * p.InverseVi;
        dx[6] = -p.P2u * x[6] + p.P2u * (plasma - p.Ib);
        dx[7] = -p.Ki * (x[7] - plasma);
        dx[8] = -p.Ki * (x[8] - x[7]);
        dx[9] = NonNegative(x[9], -(p.M1 + p.M30) * x[9] + p.M2 * x[5]);
        dx[10] = NonNegative(x[10], u.Insulin - (p.Ka1 + p.Kd) * x[10]);
        dx[11] = NonNegative(x[11], p.Kd * x[10] - p.Ka2 * x[11]);

        // Subcutaneous glucose follows plasma glucose (what a CGM reads).
        dx[12] = NonNegative(x[12], p.Ksc * (x[3] - x[12]));
    }

    // tanh through one exponential, 1 − 2 / (e^2x + 1): equal to Math.Tanh within a few units in the last place, and about
    // twice as fast; the gastric emptying curve calls it eight times a minute.
    private static double Tanh(double x) => x > 20 ? 1 : x < -20 ? -1 : 1 - 2 / (Math.Exp(2 * x) + 1);

    // The model holds a compartment still while it is negative.
    private static double NonNegative(double state, double derivative) => state >= 0 ? derivative : 0;

    /// <summary>The patient's parameters as plain fields, for the inner loop.</summary>
    private readonly struct Parameters(VirtualPatient v)
    {
        public readonly double BW = v.BW, Vg = v.Vg, Vi = v.Vi, Kabs = v.Kabs, Kmax = v.Kmax, Kmin = v.Kmin, B = v.B, D = v.D, F = v.F;
        public readonly double Kp1 = v.Kp1, Kp2 = v.Kp2, Kp3 = v.Kp3, Fsnc = v.Fsnc, Ke1 = v.Ke1, Ke2 = v.Ke2, K1 = v.K1, K2 = v.K2;
        public readonly double Vm0 = v.Vm0, Vmx = v.Vmx, Km0 = v.Km0, M1 = v.M1, M2 = v.M2, M30 = v.M30, M4 = v.M4, P2u = v.P2u, Ib = v.Ib;
        public readonly double Ki = v.Ki, Ka1 = v.Ka1, Ka2 = v.Ka2, Kd = v.Kd, Ksc = v.Ksc;

        // Quotients the inner loop would otherwise divide out at every evaluation.
        public readonly double AppearancePerGut = v.F * v.Kabs / v.BW, InverseVi = 1 / v.Vi;
    }
}
