using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Glucose;

/// <summary>
/// Basal–bolus therapy on the dosing action: the basal rate, carbohydrate ratio and correction factor of each patient
/// (what a tuned clinic achieves), of the patient's cohort on average (one size fits all), or basal alone.
/// </summary>
public sealed class BasalBolusAgent(string name, Func<VirtualPatient, (double Basal, double CarbRatio, double CorrectionFactor)> therapy) : IMetaAgent
{
    public string Name => name;

    /// <summary>The basal rate (U/min), carbohydrate ratio (g/U) and correction factor (mg/dL per U) this agent programs for a patient; infinite ratios give no bolus.</summary>
    public (double Basal, double CarbRatio, double CorrectionFactor) TherapyFor(VirtualPatient patient) => therapy(patient);

    public string ActingRule => "fixed";

    /// <summary>The patient's own therapy: a quasi-oracle.</summary>
    public static BasalBolusAgent OwnTherapy() => new("basal–bolus (own CR/CF)", p => (p.BasalRate, p.CarbRatio, p.CorrectionFactor));

    /// <summary>The cohort's average therapy (training patients), for every patient of that cohort.</summary>
    public static BasalBolusAgent CohortAverage() => new("basal–bolus (cohort average)", p => CohortTherapy(p.Cohort));

    /// <summary>The mean basal rate, carbohydrate ratio and correction factor of a cohort's training patients.</summary>
    public static (double Basal, double CarbRatio, double CorrectionFactor) CohortTherapy(Cohort cohort) => CohortMeans.Value[cohort];

    private static readonly Lazy<Dictionary<Cohort, (double, double, double)>> CohortMeans = new(() => Enum.GetValues<Cohort>().ToDictionary(c => c, c =>
    {
        var ps = GlucoseInsulinTasks.Patients(TaskSplit.Train, c);
        return (ps.Average(p => p.BasalRate), ps.Average(p => p.CarbRatio), ps.Average(p => p.CorrectionFactor));
    }));

    /// <summary>The patient's basal rate and no boluses.</summary>
    public static BasalBolusAgent BasalOnly() => new("basal only", p => (p.BasalRate, double.PositiveInfinity, double.PositiveInfinity));

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => new Session(this, batch);

    private sealed class Session(BasalBolusAgent agent, int batch) : IAgentSession
    {
        private readonly float[][] _actions = new float[batch][];

        public void StartTrial(int slot, ITask task)
        {
            var p = ((PatientTask)task).Patient;
            var (basal, cr, cf) = agent.TherapyFor(p);
            var pop = Dosing.Population;
            _actions[slot] = [Dosing.ActionFor(basal, pop.Basal), double.IsInfinity(cr) ? -1 : Dosing.ActionFor(1 / cr, pop.Ratio), double.IsInfinity(cf) ? -1 : Dosing.ActionFor(1 / cf, pop.Correction)];
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            for (int i = 0; i < _actions.Length; i++)
                if (active[i]) _actions[i].CopyTo(actions.Slice(i * 3, 3));
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
        }
    }
}

/// <summary>
/// A hybrid closed loop as insulin pumps run it: the patient announces meals and gets the cohort's average meal bolus,
/// and a PID controller on the CGM sets the basal rate between them, around the cohort's average basal:
/// rate = basal × (1 + Kp·e + Ki·∫e dt + Kd·de/dt) with e = CGM − 120 mg/dL (time in minutes), the integral held
/// within ±<see cref="IntegralLimit"/> (anti-windup), the rate suspended when the sum is not positive. Its gains are
/// the best of a grid on the training patients (<see cref="Tune"/>), never on the held-out ones.
/// </summary>
public sealed class PidAgent(double kp, double ki, double kd) : IMetaAgent
{
    /// <summary>The glucose the controller steers to (mg/dL).</summary>
    public const double Target = 120;

    /// <summary>The integral's bound (mg/dL · min): a day's stubborn error cannot wind the controller up without limit.</summary>
    public const double IntegralLimit = 20_000;

    /// <summary>The grids <see cref="Tune"/> searches: proportional (per mg/dL), integral (per mg/dL·min), derivative (per mg/dL/min).</summary>
    public static readonly double[] KpGrid = [0, 0.0025, 0.005, 0.01, 0.02], KiGrid = [0, 1e-5, 3e-5, 1e-4, 3e-4], KdGrid = [0, 0.1, 0.3, 1, 3];

    public (double Kp, double Ki, double Kd) Gains => (kp, ki, kd);

    public string Name => "PID on CGM + cohort meal bolus";

    public string ActingRule => "feedback";

    /// <summary>
    /// The gains of <see cref="KpGrid"/> × <see cref="KiGrid"/> × <see cref="KdGrid"/> with the highest mean return over one
    /// day of each training patient of <paramref name="tasks"/> (its cohort setting applies), the days drawn with <paramref name="seed"/>.
    /// </summary>
    public static PidAgent Tune(GlucoseInsulinTasks tasks, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var patients = GlucoseInsulinTasks.Patients(TaskSplit.Train, tasks.Cohort).Select(p => (ITask)new PatientTask(p)).ToArray();
        var options = new MetaTestOptions(Seed: seed ^ 0x9D1DUL, Split: TaskSplit.Train, Episodes: 1);
        PidAgent? best = null;
        double bestReturn = double.NegativeInfinity;
        foreach (var kp in KpGrid)
            foreach (var ki in KiGrid)
                foreach (var kd in KdGrid)
                {
                    var candidate = new PidAgent(kp, ki, kd);
                    double r = MetaTest.Run(candidate, tasks, patients, options).MeanTotalReturn;
                    if (r > bestReturn) (best, bestReturn) = (candidate, r);
                }
        return best!;
    }

    public IAgentSession Begin(int batch, TaskDistribution tasks, Rng rng) => new Session(this, batch);

    private sealed class Session(PidAgent agent, int batch) : IAgentSession
    {
        private readonly double[] _basal = new double[batch], _bolus = new double[batch], _integral = new double[batch], _previous = new double[batch];

        public void StartTrial(int slot, ITask task)
        {
            var (basal, cr, _) = BasalBolusAgent.CohortTherapy(((PatientTask)task).Patient.Cohort);
            (_basal[slot], _bolus[slot], _integral[slot], _previous[slot]) = (basal, Dosing.ActionFor(1 / cr, Dosing.Population.Ratio), 0, double.NaN);
        }

        public void Act(ReadOnlySpan<float> observations, ReadOnlySpan<bool> active, Span<float> actions)
        {
            const int dt = GlucoseInsulinEnv.SampleMinutes;
            for (int i = 0; i < _basal.Length; i++)
            {
                if (!active[i]) continue;
                double cgm = observations[i * 5] * 200.0, e = cgm - Target;
                _integral[i] = Math.Clamp(_integral[i] + e * dt, -IntegralLimit, IntegralLimit);
                double slope = double.IsNaN(_previous[i]) ? 0 : (cgm - _previous[i]) / dt;
                _previous[i] = cgm;
                double rate = _basal[i] * (1 + agent.Gains.Kp * e + agent.Gains.Ki * _integral[i] + agent.Gains.Kd * slope);
                actions[i * 3] = Dosing.ActionFor(rate, Dosing.Population.Basal);
                actions[i * 3 + 1] = (float)_bolus[i];
                actions[i * 3 + 2] = -1;
            }
        }

        public void Observe(ReadOnlySpan<float> actions, ReadOnlySpan<float> rewards, ReadOnlySpan<float> nextObservations, ReadOnlySpan<bool> episodeEnded, ReadOnlySpan<bool> active)
        {
            // A new day starts from the patient's steady state: the loop starts afresh too.
            for (int i = 0; i < _basal.Length; i++)
                if (active[i] && episodeEnded[i]) (_integral[i], _previous[i]) = (0, double.NaN);
        }
    }
}
