using System.Globalization;
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
}
