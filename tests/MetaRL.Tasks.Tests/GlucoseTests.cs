using System.Globalization;
using MetaRL.Core.Evaluation;
using MetaRL.Tasks.Glucose;

namespace MetaRL.Tasks.Tests;

/// <summary>The UVA/Padova simulator against the reference implementation, and its patient tables.</summary>
public sealed class GlucoseTests
{
    /// <summary>simglucose's 24-hour trace of adolescent#001 (its inputs per minute and the glucose at each minute's start), copied with its licence.</summary>
    internal static (double[] Carbs, double[] Insulin, double[] Glucose) ReferenceTrace()
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Data", "reference-trace-adolescent001.csv"));
        Assert.Equal("minute,cho_announced_g,insulin_u_per_min,bg_mg_dl", lines[0]);
        var rows = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        return (rows.Select(r => r[1]).ToArray(), rows.Select(r => r[2]).ToArray(), rows.Select(r => r[3]).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Fed_the_reference_traces_inputs_the_glucose_matches_it_within_half_a_mg_dl_at_every_minute(int substeps)
    {
        var (carbs, insulin, glucose) = ReferenceTrace();
        Assert.Equal(1441, glucose.Length);
        var sim = new PatientSimulator(VirtualPatient.Get("adolescent#001"), substeps);
        double worst = 0;
        int worstAt = 0;
        for (int m = 0; m < glucose.Length; m++)
        {
            double error = Math.Abs(sim.Glucose - glucose[m]);
            if (error > worst) (worst, worstAt) = (error, m);
            sim.Step(carbs[m], insulin[m]);
        }
        Assert.True(worst <= 0.5, $"{substeps} Runge–Kutta step(s) a minute: off by {worst:F4} mg/dL at minute {worstAt}");
    }

    [Fact]
    public void The_tables_hold_thirty_patients_ten_per_cohort_each_with_its_own_therapy()
    {
        Assert.Equal(30, VirtualPatient.All.Count);
        Assert.All(Enum.GetValues<Cohort>(), c => Assert.Equal(10, VirtualPatient.All.Count(p => p.Cohort == c)));
        var a = VirtualPatient.Get("adolescent#001");
        // The reference trace's basal rate is this patient's steady-state rate.
        Assert.Equal(ReferenceTrace().Insulin[0], a.BasalRate, 12);
        Assert.Equal((12, 15.0360283441), (a.CarbRatio, a.CorrectionFactor));
        Assert.Equal(13, a.InitialState.Length);
        var unknown = Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => VirtualPatient.Get("child#11"));
        Assert.StartsWith("Unknown virtual patient 'child#11' (did you mean", unknown.Message);
    }

    [Fact]
    public void Every_patient_rests_at_its_steady_state_on_its_basal_rate_and_refuses_bad_inputs()
    {
        foreach (var p in VirtualPatient.All)
        {
            var sim = new PatientSimulator(p);
            double start = sim.Glucose;
            for (int m = 0; m < 1440; m++) sim.Step(0, p.BasalRate);
            Assert.True(Math.Abs(sim.Glucose - start) < 0.5, $"{p.Name}: {start:F2} → {sim.Glucose:F2} mg/dL in a day of basal insulin alone");
        }
        var s = new PatientSimulator(VirtualPatient.Get("adult#001"));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Step(-1, 0.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Step(0, double.NaN));
        Assert.Equal(0, s.Minute);
    }

    [Fact]
    public void A_meal_is_eaten_at_five_grams_a_minute_and_raises_glucose_which_insulin_then_lowers()
    {
        var p = VirtualPatient.Get("adult#001");
        double Peak(double bolus)
        {
            var sim = new PatientSimulator(p);
            double peak = 0;
            for (int m = 0; m < 300; m++)
            {
                sim.Step(m == 0 ? 50 : 0, p.BasalRate + (m == 0 ? bolus : 0));
                if (m == 0) Assert.Equal(45, sim.MealLeft);
                if (m == 9) Assert.Equal(0, sim.MealLeft);
                peak = Math.Max(peak, sim.Glucose);
            }
            return peak;
        }
        double none = Peak(0), covered = Peak(50 / p.CarbRatio);
        Assert.True(none > p.InitialState[12] / p.Vg + 30, $"a 50 g meal without a bolus peaks at {none:F1} mg/dL");
        Assert.True(covered < none - 20, $"with the patient's own bolus the peak is {covered:F1}, without {none:F1}");
    }

    [Fact]
    public void Kovatchev_risk_is_zero_near_112_and_splits_into_low_and_high()
    {
        Assert.True(GlycemicRisk.Total(112.5) < 0.01);
        var (low, high) = GlycemicRisk.Of(50);
        Assert.True(low > 10 && high == 0, $"50 mg/dL: low {low}, high {high}");
        (low, high) = GlycemicRisk.Of(300);
        Assert.True(high > 10 && low == 0, $"300 mg/dL: low {low}, high {high}");
        Assert.Equal((100.0, 0.0), GlycemicRisk.Of(20));
        Assert.Equal((0.0, 100.0), GlycemicRisk.Of(600));
        // f = 1.509 (ln(BG)^1.084 − 5.381): at 200 mg/dL, ln 200 = 5.298, f = 1.078 and 10 f² ≈ 11.6.
        double f = 1.509 * (Math.Pow(Math.Log(200), 1.084) - 5.381);
        Assert.Equal(10 * f * f, GlycemicRisk.Of(200).High, 12);
        Assert.InRange(GlycemicRisk.Of(200).High, 11.5, 11.7);
    }

    [Fact]
    public void Clinical_metrics_count_time_in_each_range_as_a_percentage()
    {
        var m = ClinicalMetrics.Of([50, 60, 100, 150, 200, 260, 120, 110, 90, 80]);
        Assert.Equal(60, m.TimeInRange);
        Assert.Equal(20, m.TimeBelow70);
        Assert.Equal(10, m.TimeBelow54);
        Assert.Equal(20, m.TimeAbove180);
        Assert.Equal(10, m.TimeAbove250);
        Assert.Equal(122, m.MeanGlucose);
        Assert.True(m.Lbgi > 0 && m.Hbgi > 0);
        Assert.Throws<ArgumentException>(() => ClinicalMetrics.Of([]));
    }

    [Fact]
    public void The_pump_delivers_in_its_increments_and_within_its_limits()
    {
        var pump = new InsulinPump();
        Assert.Equal(0.05, pump.Increment);
        Assert.Equal(0, pump.Deliver(-1));
        Assert.Equal(30, pump.Deliver(1000));
        // 0.0139355889 U/min is 83.6135 pmol/min: delivered as 83.60.
        Assert.Equal(83.60 / 6000, pump.Deliver(0.0139355889), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => pump.Deliver(double.NaN));
    }

    [Fact]
    public void The_cgm_reads_every_three_minutes_with_smooth_skewed_noise_clipped_to_its_range()
    {
        var cgm = new Cgm(new MetaRL.Engine.Rng(3));
        Assert.Equal((3.0, 39.0, 600.0), (cgm.SampleMinutes, cgm.Min, cgm.Max));
        var noise = Enumerable.Range(0, 20_000).Select(i => cgm.Noise(i * 3.0)).ToArray();
        double mean = noise.Average(), std = Math.Sqrt(noise.Average(v => (v - mean) * (v - mean)));
        // ε = ξ + λ sinh((e − γ)/δ) with e of variance PACF²/(1 − PACF²) ≈ 0.96: mean ≈ ξ + λ sinh(−γ/δ)·E[cosh(e/δ)] ≈ 0.1, spread ≈ 10 mg/dL.
        Assert.InRange(mean, -3, 3);
        Assert.InRange(std, 6, 16);
        // Correlated: neighbouring readings (3 minutes apart) differ far less than the spread.
        double step = Math.Sqrt(noise.Zip(noise.Skip(1)).Average(p => (p.First - p.Second) * (p.First - p.Second)));
        Assert.True(step < std / 3, $"3-minute change {step:F2} against a spread of {std:F2}");
        Assert.Equal(39, cgm.Read(0, 60_000));
        Assert.Equal(600, cgm.Read(5000, 60_003));
        // The same seed gives the same readings.
        var again = new Cgm(new MetaRL.Engine.Rng(3));
        Assert.Equal(noise.Take(50), Enumerable.Range(0, 50).Select(i => again.Noise(i * 3.0)));
    }

    [Fact]
    public void A_random_day_of_meals_takes_each_slot_with_its_probability_in_its_window()
    {
        var rng = new MetaRL.Engine.Rng(11);
        var days = Enumerable.Range(0, 4000).Select(_ => MealScenario.Day(rng)).ToArray();
        int Count(double fromHour, double toHour) => days.Count(d => d.Any(m => m.Minute >= fromHour * 60 && m.Minute < toHour * 60 && m.Carbs > 25));
        Assert.InRange(Count(5, 9.01) / 4000.0, 0.92, 0.98);   // breakfast 0.95
        Assert.InRange(Count(16, 20.01) / 4000.0, 0.92, 0.98); // dinner 0.95
        Assert.All(days.SelectMany(d => d), m => Assert.True(m.Minute >= 300 && m.Minute <= 23 * 60 && m.Carbs > 0));
        var dinners = days.SelectMany(d => d).Where(m => m.Minute >= 16 * 60 && m.Minute <= 20 * 60 && m.Carbs > 40).Select(m => m.Carbs).ToArray();
        Assert.InRange(dinners.Average(), 78, 82);
    }
}

/// <summary>The glucose-insulin task family: its patients, its day, its dosing action and its baselines.</summary>
public sealed class GlucoseInsulinTests
{
    // A new environment on the patient's day drawn with the seed: the environment, its stream and the first observation.
    private static (GlucoseInsulinEnv Env, MetaRL.Engine.Rng Rng, float[] Observation) StartDay(string patient, ulong seed)
    {
        var env = new GlucoseInsulinEnv();
        env.SetTask(new PatientTask(VirtualPatient.Get(patient)));
        var rng = new MetaRL.Engine.Rng(seed);
        var obs = new float[5];
        env.Reset(rng, obs);
        return (env, rng, obs);
    }

    private static (ClinicalMetrics Metrics, double Return) Day(string patient, Func<VirtualPatient, float[]> dose, ulong seed = 5)
    {
        var p = VirtualPatient.Get(patient);
        var (env, rng, obs) = StartDay(patient, seed);
        var glucose = new List<double>();
        double total = 0;
        var action = dose(p);
        for (int t = 0; t < GlucoseInsulinEnv.StepsPerDay; t++)
        {
            var r = env.Step(action, rng, obs);
            total += r.Reward;
            glucose.Add(env.Glucose);
            if (r.Terminated) break;
        }
        return (ClinicalMetrics.Of(glucose), total);
    }

    private static float[] Therapy(VirtualPatient p, double basal, double cr, double cf)
    {
        var pop = Dosing.Population;
        return [Dosing.ActionFor(basal, pop.Basal), Dosing.ActionFor(1 / cr, pop.Ratio), Dosing.ActionFor(1 / cf, pop.Correction)];
    }

    [Fact]
    public void Patients_one_to_seven_of_each_cohort_train_and_eight_to_ten_are_held_out()
    {
        Assert.Equal(21, GlucoseInsulinTasks.Patients(MetaRL.Core.Tasks.TaskSplit.Train, null).Count);
        var held = GlucoseInsulinTasks.Patients(MetaRL.Core.Tasks.TaskSplit.Test, null).Select(p => p.Name).ToArray();
        Assert.Equal(["adolescent#008", "adolescent#009", "adolescent#010", "adult#008", "adult#009", "adult#010", "child#008", "child#009", "child#010"], held);
        Assert.Equal(3, GlucoseInsulinTasks.Patients(MetaRL.Core.Tasks.TaskSplit.Test, Cohort.Child).Count);
        var tasks = GlucoseInsulinTasks.FromSettings(new Dictionary<string, string> { ["cohort"] = "adult", ["episodes"] = "2" });
        var rng = new MetaRL.Engine.Rng(1);
        Assert.All(Enumerable.Range(0, 50), _ => Assert.StartsWith("adult#00", ((PatientTask)tasks.SampleTask(rng, MetaRL.Core.Tasks.TaskSplit.Train)).Patient.Name));
        Assert.Throws<MetaRL.Core.Tasks.SettingException>(() => GlucoseInsulinTasks.FromSettings(new Dictionary<string, string> { ["cohort"] = "elderly" }));
    }

    [Fact]
    public void The_patients_own_basal_bolus_keeps_a_day_mostly_in_range_and_better_than_basal_alone_or_a_suspended_pump()
    {
        foreach (var name in new[] { "adolescent#001", "adult#003" })
        {
            var own = Day(name, p => Therapy(p, p.BasalRate, p.CarbRatio, p.CorrectionFactor));
            var basalOnly = Day(name, p => [Dosing.ActionFor(p.BasalRate, Dosing.Population.Basal), -1, -1]);
            var suspended = Day(name, _ => [-1, -1, -1]);
            Assert.True(own.Metrics.TimeInRange > 60, $"{name}: own therapy {own.Metrics.TimeInRange:F0}% in range");
            Assert.Equal(0, own.Metrics.TimeBelow54);
            Assert.True(basalOnly.Metrics.MeanGlucose > own.Metrics.MeanGlucose + 20, $"{name}: basal only {basalOnly.Metrics.MeanGlucose:F0}, own {own.Metrics.MeanGlucose:F0} mg/dL");
            Assert.True(suspended.Metrics.MeanGlucose > basalOnly.Metrics.MeanGlucose, $"{name}: suspended {suspended.Metrics.MeanGlucose:F0}, basal only {basalOnly.Metrics.MeanGlucose:F0} mg/dL");
            Assert.True(own.Return > basalOnly.Return, $"{name}: own therapy earns {own.Return:F0}, basal only {basalOnly.Return:F0}");
        }
    }

    [Fact]
    public void A_day_is_480_samples_and_a_meal_is_announced_at_the_sample_it_starts_in()
    {
        var (env, rng, obs) = StartDay("child#001", 8);
        int announced = 0;
        for (int t = 0; t < GlucoseInsulinEnv.StepsPerDay; t++)
        {
            if (obs[1] > 0) announced++;
            Assert.InRange(obs[3] * obs[3] + obs[4] * obs[4], 0.999, 1.001);
            env.Step([0, 0, 0], rng, obs);
        }
        Assert.InRange(announced, 2, 6);
        Assert.Equal(480, GlucoseInsulinEnv.StepsPerDay);

        // A reused environment plays a day exactly as a new one does from the same stream.
        var fresh = new GlucoseInsulinEnv();
        fresh.SetTask(new PatientTask(VirtualPatient.Get("child#001")));
        var a = new float[5];
        var b = new float[5];
        env.Reset(new MetaRL.Engine.Rng(21), a);
        fresh.Reset(new MetaRL.Engine.Rng(21), b);
        Assert.Equal(a, b);
    }

    [Fact]
    public void The_meta_test_reports_the_clinical_metrics_per_day_and_per_cohort()
    {
        var tasks = new GlucoseInsulinTasks(days: 2);
        var result = MetaTest.Run(BasalBolusAgent.OwnTherapy(), tasks, new MetaTestOptions(Trials: 12, Seed: 4));
        Assert.Equal(["timeInRange", "timeBelow70", "timeBelow54", "timeAbove180", "timeAbove250", "lbgi", "hbgi", "meanGlucose"], result.Metrics!.Keys);
        Assert.All(result.Metrics.Values, v => Assert.Equal(2, v.Length));
        for (int d = 0; d < 2; d++)
        {
            // In range, below 70 and above 180 split the day.
            Assert.Equal(100, result.Metrics["timeInRange"][d] + result.Metrics["timeBelow70"][d] + result.Metrics["timeAbove180"][d], 6);
            Assert.True(result.Metrics["timeBelow54"][d] <= result.Metrics["timeBelow70"][d]);
        }
        Assert.Equal("cohort", result.GroupName);
        var groups = result.Groups ?? throw new Xunit.Sdk.XunitException("no groups");
        Assert.Equal(12, groups.Sum(g => g.Trials));
        Assert.Subset(new HashSet<string> { "adolescent", "adult", "child" }, groups.Select(g => g.Name).ToHashSet());
        double weighted = groups.Sum(g => g.Trials * g.Metrics!["meanGlucose"][1]) / 12;
        Assert.Equal(result.Metrics["meanGlucose"][1], weighted, 6);
    }

    [Fact]
    public void A_day_that_ends_early_counts_its_remaining_minutes_at_its_last_glucose()
    {
        // Maximal basal, ratio and correction on a child: the glucose falls below 10 mg/dL and the day ends early.
        var (env, rng, obs) = StartDay("child#002", 3);
        int steps = 0;
        while (steps < GlucoseInsulinEnv.StepsPerDay && !env.Step([1, 1, 1], rng, obs).Terminated) steps++;
        Assert.True(steps < GlucoseInsulinEnv.StepsPerDay - 10, $"the day lasted {steps} samples");
        var metrics = new double[8];
        env.WriteEpisodeMetrics(metrics);
        double lived = 100.0 * (steps + 1) * GlucoseInsulinEnv.SampleMinutes / 1440;
        Assert.True(metrics[2] >= 100 - lived, $"below 54 for {metrics[2]:F1}% of the day; it lived {lived:F1}%");
        Assert.True(metrics[0] <= lived);
    }

    [Fact]
    public void A_trace_follows_the_glucose_the_insulin_and_the_meals_of_a_day()
    {
        var tasks = new GlucoseInsulinTasks(days: 1);
        var patient = new PatientTask(VirtualPatient.Get("adult#009"));
        var trace = MetaTest.Trace(BasalBolusAgent.BasalOnly(), tasks, patient, seed: 2)[0];
        int channels = tasks.TraceChannels.Count;
        Assert.Equal(GlucoseInsulinEnv.StepsPerDay * channels, trace.Length);
        var insulin = Enumerable.Range(0, GlucoseInsulinEnv.StepsPerDay).Select(i => trace[i * channels + 1]).ToArray();
        var meals = Enumerable.Range(0, GlucoseInsulinEnv.StepsPerDay).Select(i => trace[i * channels + 2]).Where(g => g > 0).ToArray();
        // Basal alone: the same rate all day (U/h), within the pump's increment, and no bolus at the meals.
        Assert.All(insulin, u => Assert.Equal(patient.Patient.BasalRate * 60, u, 0.05));
        Assert.InRange(meals.Length, 2, 6);
        Assert.InRange(trace[(GlucoseInsulinEnv.StepsPerDay - 1) * channels], 100, 600);
    }

    [Fact]
    public void The_pid_loop_with_no_gains_is_the_cohort_basal_and_meal_bolus_and_tuned_it_keeps_held_out_patients_in_range_longer()
    {
        var tasks = new GlucoseInsulinTasks(days: 1);
        var options = new MetaTestOptions(Trials: 18, Seed: 6);
        var open = MetaTest.Run(new PidAgent(0, 0, 0), tasks, options);
        var bolusOnly = new BasalBolusAgent("cohort basal and bolus, no correction", p =>
        {
            var (basal, cr, _) = BasalBolusAgent.CohortTherapy(p.Cohort);
            return (basal, cr, double.PositiveInfinity);
        });
        Assert.Equal(MetaTest.Run(bolusOnly, tasks, options).TrialTotals, open.TrialTotals);
        var tuned = PidAgent.Tune(tasks, seed: 1);
        Assert.NotEqual((0.0, 0.0, 0.0), tuned.Gains);
        Assert.Contains(tuned.Gains.Kp, PidAgent.KpGrid);
        var closed = MetaTest.Run(tuned, tasks, options);
        var cohort = MetaTest.Run(BasalBolusAgent.CohortAverage(), tasks, options);
        Assert.True(closed.Metrics!["timeInRange"][0] > cohort.Metrics!["timeInRange"][0] + 3,
            $"PID {closed.Metrics["timeInRange"][0]:F1}% in range, cohort basal–bolus {cohort.Metrics["timeInRange"][0]:F1}%");
        Assert.True(closed.Metrics["timeAbove180"][0] < open.Metrics!["timeAbove180"][0],
            $"PID {closed.Metrics["timeAbove180"][0]:F1}% above 180, without its loop {open.Metrics["timeAbove180"][0]:F1}%");
    }
}
