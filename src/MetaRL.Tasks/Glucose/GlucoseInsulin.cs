using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Glucose;

/// <summary>A task of <c>glucose-insulin</c>: one virtual patient, whose whole physiology is hidden from the agent.</summary>
public sealed record PatientTask(VirtualPatient Patient) : ITask
{
    public string Label => Patient.Name;

    public IReadOnlyList<KeyValuePair<string, double>> Describe() =>
    [
        KeyValuePair.Create("basal-rate", Patient.BasalRate), KeyValuePair.Create("carb-ratio", Patient.CarbRatio),
        KeyValuePair.Create("correction-factor", Patient.CorrectionFactor), KeyValuePair.Create("body-weight", Patient.BW),
    ];
}

/// <summary>
/// How the agent doses, as a pump programmed by a clinician is set: three numbers in [−1, 1] scale the population's
/// basal rate, insulin-to-carbohydrate ratio and correction (1/CF) by 2^(2a), from about a quarter to four times (the 30
/// patients' own values lie well within that range of the population's geometric means); at or below −0.95 a part
/// is off (the pump suspends basal, or gives no bolus). At a meal announcement the pump
/// gives the bolus carbs × ratio + (CGM &gt; 150) · (CGM − 140) × correction over the sample period; otherwise the basal
/// rate. A raw insulin rate would span a hundredfold between basal and bolus and make the policy learn to spike at
/// meal times; with scales the thing to learn is the patient's sensitivity, which is what a trial reveals.
/// </summary>
public static class Dosing
{
    /// <summary>The training patients' geometric means: basal rate (U/min), insulin per gram (U/g), insulin per mg/dL above target (U per mg/dL).</summary>
    public static readonly (double Basal, double Ratio, double Correction) Population = Means(GlucoseInsulinTasks.Patients(TaskSplit.Train, null));

    private static (double, double, double) Means(IReadOnlyList<VirtualPatient> ps)
        => (Math.Exp(ps.Average(p => Math.Log(p.BasalRate))), Math.Exp(ps.Average(p => Math.Log(1 / p.CarbRatio))), Math.Exp(ps.Average(p => Math.Log(1 / p.CorrectionFactor))));

    /// <summary>The action value in [−1, 1] that scales <paramref name="population"/> to <paramref name="value"/> (clipped to the range).</summary>
    public static float ActionFor(double value, double population) => value <= 0 ? -1 : (float)Math.Clamp(Math.Log2(value / population) / 2, -0.94, 1);

    /// <summary>Below this action value a part is switched off: no basal (the pump suspends), no meal bolus, no correction.</summary>
    public const float Off = -0.95f;

    /// <summary>The factor an action value applies: 2^(2a), or 0 at or below <see cref="Off"/>.</summary>
    public static double Scale(float action) => action <= Off ? 0 : Math.Pow(2, 2 * Math.Clamp((double)action, -1, 1));
}

/// <summary>
/// A day of one patient under the dosing agent: a step is one CGM sample (3 minutes of the simulator), the day's meals
/// are simglucose's random scenario, announced to the pump when eating starts. Observation: the CGM reading / 200,
/// the grams announced at this sample / 100, the insulin on board (units, exponential decay with a 2-hour constant)
/// / 5, and the time of day as a sine and cosine. Reward: minus a tenth of the Kovatchev risk of the patient's glucose
/// after the step (0 at 112.5 mg/dL, −10 at 20 or 600), and −100 more each time the glucose falls below 40 mg/dL (an
/// event, not a rate: a per-step penalty of that size buries every other signal in the returns' variance); the day
/// ends early below 10 or above 600 mg/dL, charging the rest of the day at the final glucose's risk, so that ending a
/// day is never a way out of its remaining risk. (simglucose's default, the fall in risk from one reading to the next, sums over a day to the first
/// reading's risk minus the last's whatever happened between; minus the risk sums to the day's mean risk, which is
/// what LBGI + HBGI measure.)
/// </summary>
public sealed class GlucoseInsulinEnv : Env<PatientTask>
{
    public const int SampleMinutes = 3, StepsPerDay = 1440 / SampleMinutes;
    private const double InsulinOnBoardMinutes = 120;

    private PatientSimulator? _sim;
    private readonly InsulinPump _pump = new();
    private Cgm? _cgm;
    private IReadOnlyList<MealScenario.Meal> _meals = [];
    private int _minute, _nextMeal;
    private double _reading, _insulinOnBoard, _lastRate, _lastCarbs;
    private ClinicalMetrics.Accumulator _day;
    private bool _below40;

    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 5);
    public override Space ActionSpace { get; } = new Box(-1, 1, 3);

    /// <summary>The simulated patient's glucose now (mg/dL), for reports.</summary>
    public double Glucose => _sim?.Glucose ?? double.NaN;

    protected override void OnTaskSet(PatientTask task) => _sim = new PatientSimulator(task.Patient);

    public override void Reset(Rng rng, Span<float> observation)
    {
        var sim = _sim ?? throw new InvalidOperationException("glucose-insulin: set a patient before the day starts.");
        sim.Reset();
        // The sensor is built once on a placeholder stream and reset on the day's: every day draws the same amount
        // from the environment's stream, whether the environment is new or reused.
        _cgm ??= new Cgm(new Rng(0));
        _cgm.Reset(rng);
        _meals = MealScenario.Day(rng);
        (_minute, _nextMeal, _insulinOnBoard, _lastRate, _lastCarbs, _day, _below40) = (0, 0, 0, 0, 0, default, false);
        _reading = _cgm.Read(sim.Glucose, 0);
        Observe(observation, AnnouncedNow());
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        var sim = _sim!;
        var (population, basal) = (Dosing.Population, Dosing.Population.Basal * Dosing.Scale(action[0]));
        double carbs = AnnouncedNow();
        double bolus = carbs > 0
            ? carbs * population.Ratio * Dosing.Scale(action[1]) + (_reading > 150 ? (_reading - 140) * population.Correction * Dosing.Scale(action[2]) : 0)
            : 0;
        if (carbs > 0) _nextMeal++;
        int falls = 0;
        double delivered = 0, risk = 0;
        for (int m = 0; m < SampleMinutes; m++)
        {
            double rate = _pump.Deliver(basal + bolus / SampleMinutes);
            sim.Step(m == 0 ? carbs : 0, rate);
            _insulinOnBoard = _insulinOnBoard * Math.Exp(-1 / InsulinOnBoardMinutes) + (rate - Dosing.Population.Basal);
            _minute++;
            if (sim.Glucose < 40 && !_below40) falls++;
            _below40 = sim.Glucose < 40;
            var (low, high) = _day.Add(sim.Glucose);
            risk = (low + high) / 10;
            delivered += rate;
        }
        (_lastRate, _lastCarbs) = (delivered / SampleMinutes, carbs);
        _reading = _cgm!.Read(sim.Glucose, _minute);
        // The risk of the sample's last minute, the glucose after the step.
        double reward = -risk - 100 * falls;
        bool ended = sim.Glucose < 10 || sim.Glucose > 600;
        if (ended) reward -= risk * (1440 - _minute) / SampleMinutes;
        Observe(observation, AnnouncedNow());
        return new StepResult(reward, Terminated: ended, Truncated: false);
    }

    /// <summary>
    /// The day's clinical metrics over the patient's glucose at every minute; a day that ended early counts its
    /// remaining minutes at the last glucose (a day cut short by a glucose below 10 mg/dL is not a short good day).
    /// </summary>
    public override void WriteEpisodeMetrics(Span<double> metrics)
    {
        var day = _day;
        double last = Glucose;
        for (int m = _minute; m < 1440; m++) day.Add(last);
        day.Result().CopyTo(metrics);
    }

    /// <summary>After each sample: the glucose (mg/dL), the insulin delivered (U/h, mean over the sample) and the grams announced at it.</summary>
    public override void WriteTrace(Span<double> values)
    {
        values[0] = Glucose;
        values[1] = _lastRate * 60;
        values[2] = _lastCarbs;
    }

    // The grams of the meal that starts within this sample, announced to the pump when eating starts.
    private double AnnouncedNow() => _nextMeal < _meals.Count && _meals[_nextMeal].Minute < _minute + SampleMinutes ? _meals[_nextMeal].Carbs : 0;

    private void Observe(Span<float> o, double announced)
    {
        double day = 2 * Math.PI * (_minute % 1440) / 1440;
        o[0] = (float)(_reading / 200);
        o[1] = (float)(announced / 100);
        o[2] = (float)(Math.Max(0, _insulinOnBoard) / 5);
        o[3] = (float)Math.Sin(day);
        o[4] = (float)Math.Cos(day);
    }
}

/// <summary>
/// <c>glucose-insulin</c>: personalised insulin dosing on the UVA/Padova virtual patients. A task is one patient; a trial
/// is <c>episodes</c> days of that patient (default 3), each a new random day of meals from the patient's steady
/// state. Patients #001–#007 of each cohort train; #008–#010 of each cohort are held out (always the evaluation).
/// </summary>
public sealed class GlucoseInsulinTasks : TaskDistribution
{
    public const int DefaultDays = 3;
    private static readonly string[] Cohorts = ["all", "adolescent", "adult", "child"];
    /// <summary>The one cohort trained and held out, or null for all three.</summary>
    public Cohort? Cohort { get; }

    public GlucoseInsulinTasks(int days = DefaultDays, Cohort? cohort = null)
    {
        if (days < 1) throw new SettingException($"glucose-insulin: 'episodes' must be at least 1, got {days}.");
        (EpisodesPerTrial, Cohort) = (days, cohort);
    }

    public static GlucoseInsulinTasks FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("glucose-insulin", values);
        int days = r.Int("episodes", DefaultDays, 1, 365);
        string cohort = r.Choice("cohort", "all", Cohorts);
        r.EnsureAllUsed();
        return new GlucoseInsulinTasks(days, cohort == "all" ? null : Enum.Parse<Cohort>(cohort, ignoreCase: true));
    }

    /// <summary>The patients of a split: numbers 001–007 of each cohort train, 008–010 are held out.</summary>
    public static IReadOnlyList<VirtualPatient> Patients(TaskSplit split, Cohort? cohort)
        => VirtualPatient.All.Where(p => (cohort is null || p.Cohort == cohort) && (int.Parse(p.Name[^3..], CultureInfo.InvariantCulture) <= 7) == (split == TaskSplit.Train)).ToArray();

    public override string Name => "glucose-insulin";
    public override string EpisodeName => "day";
    public override int Horizon => GlucoseInsulinEnv.StepsPerDay;
    public override int EpisodesPerTrial { get; }
    public override Space ObservationSpace { get; } = new Box(float.NegativeInfinity, float.PositiveInfinity, 5);
    public override Space ActionSpace { get; } = new Box(-1, 1, 3);

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var patients = Patients(split, Cohort);
        return new PatientTask(patients[rng.NextInt(patients.Count)]);
    }

    public override IEnv CreateEnv() => new GlucoseInsulinEnv();

    /// <summary>The clinical metrics of each day, over the patient's glucose every minute (see <see cref="GlucoseInsulinEnv.WriteEpisodeMetrics"/>).</summary>
    public static readonly IReadOnlyList<EpisodeMetric> Metrics =
    [
        new("timeInRange", "TIR %", "time in range 70–180 mg/dL, % of the day", "F1"),
        new("timeBelow70", "<70 %", "time below 70 mg/dL, % of the day", "F1"),
        new("timeBelow54", "<54 %", "time below 54 mg/dL, % of the day", "F1"),
        new("timeAbove180", ">180 %", "time above 180 mg/dL, % of the day", "F1"),
        new("timeAbove250", ">250 %", "time above 250 mg/dL, % of the day", "F1"),
        new("lbgi", "LBGI", "low blood glucose index: mean low part of Kovatchev's risk", "F2"),
        new("hbgi", "HBGI", "high blood glucose index: mean high part of Kovatchev's risk", "F2"),
        new("meanGlucose", "mean mg/dL", "mean glucose, mg/dL", "F0"),
    ];

    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics => Metrics;

    /// <summary>
    /// For training aids that may see the task (a task-aware critic, an auxiliary prediction, the oracle counterpart):
    /// the patient's own basal rate, insulin-to-carbohydrate ratio and correction in the action's units
    /// (<see cref="Dosing.ActionFor"/>), and log₂ of body weight / 50 kg, halved.
    /// </summary>
    public override int TaskFeatureSize => 4;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var p = ((PatientTask)task).Patient;
        var pop = Dosing.Population;
        features[0] = Dosing.ActionFor(p.BasalRate, pop.Basal);
        features[1] = Dosing.ActionFor(1 / p.CarbRatio, pop.Ratio);
        features[2] = Dosing.ActionFor(1 / p.CorrectionFactor, pop.Correction);
        features[3] = (float)(Math.Log2(p.BW / 50) / 2);
    }

    public override string GroupName => "cohort";

    public override string? GroupOf(ITask task) => task is PatientTask p ? p.Patient.Cohort.ToString().ToLowerInvariant() : null;

    public override (string Unit, double PerStep) StepTime => ("hour", GlucoseInsulinEnv.SampleMinutes / 60.0);

    public override IReadOnlyList<TraceChannel> TraceChannels { get; } =
        [new("glucose (mg/dL)", Band: (70, 180)), new("insulin (U/h)"), new("meal announced (g)", Events: true)];

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("episodes", EpisodesPerTrial.ToString(CultureInfo.InvariantCulture), "days per trial (one patient)"),
        new("cohort", Cohort?.ToString().ToLowerInvariant() ?? "all", "all, adolescent, adult or child: the patients trained and held out"),
    ];
}
