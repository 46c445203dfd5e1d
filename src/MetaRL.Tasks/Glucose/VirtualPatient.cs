using System.Globalization;
using MetaRL.Core.Tasks;

namespace MetaRL.Tasks.Glucose;

/// <summary>The cohorts of the UVA/Padova simulator's 30 published virtual patients.</summary>
public enum Cohort
{
    Adolescent,
    Adult,
    Child,
}

/// <summary>
/// One of the UVA/Padova simulator's virtual patients: the parameters of the glucose–insulin model (Dalla Man et al.
/// 2007, 2014), its initial (steady) state, and the therapy a clinician tuned for it (carbohydrate ratio, correction
/// factor). The tables are simglucose's (MIT licence, shipped beside them as <c>LICENSE-simglucose</c>).
/// </summary>
public sealed record VirtualPatient
{
    /// <summary>The published name, e.g. <c>adolescent#001</c>.</summary>
    public required string Name { get; init; }

    public required Cohort Cohort { get; init; }

    /// <summary>Body weight (kg).</summary>
    public required double BW { get; init; }

    /// <summary>Steady-state basal insulin (pmol/(L·kg)); the basal rate that holds the steady state is u2ss·BW/6000 U/min.</summary>
    public required double U2ss { get; init; }

    public required double Vg, Vi, Kabs, Kmax, Kmin, B, D, F, Kp1, Kp2, Kp3, Fsnc, Ke1, Ke2, K1, K2, Vm0, Vmx, Km0;
    public required double M1, M2, M30, M4, P2u, Ib, Ki, Ka1, Ka2, Kd, Ksc;

    /// <summary>The 13 compartments at the start of a day (the patient's steady state).</summary>
    public required double[] InitialState { get; init; }

    /// <summary>Carbohydrate ratio: grams covered by one unit of insulin (the patient's own, from Quest.csv).</summary>
    public required double CarbRatio { get; init; }

    /// <summary>Correction factor: mg/dL of glucose one unit of insulin lowers (the patient's own).</summary>
    public required double CorrectionFactor { get; init; }

    /// <summary>Age in years and total daily insulin (U), as Quest.csv records them.</summary>
    public required double Age, TotalDailyInsulin;

    /// <summary>The basal rate (U/min) that keeps this patient at its steady state without meals.</summary>
    public double BasalRate => U2ss * BW / 6000;

    /// <summary>The 30 published patients, adolescents, adults and children, in the tables' order.</summary>
    public static IReadOnlyList<VirtualPatient> All => Tables.Patients.Value;

    /// <summary>The patient called <paramref name="name"/> (e.g. <c>adult#007</c>).</summary>
    /// <exception cref="SettingException">No patient has that name; the message lists them.</exception>
    public static VirtualPatient Get(string name)
        => All.FirstOrDefault(p => p.Name == name)
           ?? throw new SettingException($"Unknown virtual patient '{name}'{SettingKeys.Suggestion(name, All.Select(p => p.Name))}. "
               + $"The patients are adolescent#001…010, adult#001…010 and child#001…010.");

    private static class Tables
    {
        public static readonly Lazy<IReadOnlyList<VirtualPatient>> Patients = new(Load);

        private static IReadOnlyList<VirtualPatient> Load()
        {
            var quest = Table("Quest.csv").ToDictionary(r => r["Name"], StringComparer.Ordinal);
            return Table("vpatient_params.csv").Select(r =>
            {
                string name = r["Name"];
                double P(string column) => Number(r, column, name);
                var q = quest.TryGetValue(name, out var row) ? row : throw new InvalidDataException($"Quest.csv has no row for {name}.");
                return new VirtualPatient
                {
                    Name = name,
                    Cohort = name.StartsWith("adolescent", StringComparison.Ordinal) ? Cohort.Adolescent
                        : name.StartsWith("adult", StringComparison.Ordinal) ? Cohort.Adult
                        : name.StartsWith("child", StringComparison.Ordinal) ? Cohort.Child
                        : throw new InvalidDataException($"vpatient_params.csv: '{name}' belongs to no cohort."),
                    BW = P("BW"), U2ss = P("u2ss"), Vg = P("Vg"), Vi = P("Vi"), Kabs = P("kabs"), Kmax = P("kmax"), Kmin = P("kmin"), B = P("b"), D = P("d"),
                    F = P("f"), Kp1 = P("kp1"), Kp2 = P("kp2"), Kp3 = P("kp3"), Fsnc = P("Fsnc"), Ke1 = P("ke1"), Ke2 = P("ke2"), K1 = P("k1"), K2 = P("k2"),
                    Vm0 = P("Vm0"), Vmx = P("Vmx"), Km0 = P("Km0"), M1 = P("m1"), M2 = P("m2"), M30 = P("m30"), M4 = P("m4"), P2u = P("p2u"), Ib = P("Ib"),
                    Ki = P("ki"), Ka1 = P("ka1"), Ka2 = P("ka2"), Kd = P("kd"), Ksc = P("ksc"),
                    InitialState = Enumerable.Range(1, 13).Select(i => P($"x0_{i,2}")).ToArray(),
                    CarbRatio = Number(q, "CR", name), CorrectionFactor = Number(q, "CF", name), Age = Number(q, "Age", name), TotalDailyInsulin = Number(q, "TDI", name),
                };
            }).ToArray();
        }

    }

    /// <summary>The rows of one of the embedded tables (vpatient_params, Quest, sensor_params, pump_params) as column → text.</summary>
    internal static List<Dictionary<string, string>> Table(string file)
    {
        using var stream = typeof(VirtualPatient).Assembly.GetManifestResourceStream("MetaRL.Tasks.Glucose." + file)
            ?? throw new InvalidDataException($"The table {file} is missing from MetaRL.Tasks.");
        using var reader = new StreamReader(stream);
        var header = (reader.ReadLine() ?? throw new InvalidDataException($"{file} is empty.")).Split(',');
        var rows = new List<Dictionary<string, string>>();
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            if (line.Length == 0) continue;
            var cells = line.Split(',');
            if (cells.Length != header.Length) throw new InvalidDataException($"{file}: a row has {cells.Length} cells, the header {header.Length}.");
            rows.Add(header.Zip(cells).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal));
        }
        return rows;
    }

    /// <summary>The row of <paramref name="file"/> whose Name is <paramref name="name"/>, or an error naming the <paramref name="kind"/> and the table's names.</summary>
    internal static Dictionary<string, string> Row(string file, string name, string kind)
    {
        var rows = Table(file);
        if (rows.FirstOrDefault(r => r["Name"] == name) is { } row) return row;
        var names = rows.Select(r => r["Name"]).ToArray();
        string list = names.Length == 1 ? names[0] : string.Join(", ", names[..^1]) + " and " + names[^1];
        throw new SettingException($"Unknown {kind} '{name}'; {file} has {list}.");
    }

    /// <summary>A finite number from a table row, or an error naming the table's row and column.</summary>
    internal static double Number(Dictionary<string, string> row, string column, string what)
        => row.TryGetValue(column, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw new InvalidDataException($"The tables give {what} no finite '{column}'.");
}
