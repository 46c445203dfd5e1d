using System.Globalization;
using MetaRL.Core.Tasks;

namespace MetaRL.Tasks.Glucose;

/// <summary>
/// A logged day replayed on a virtual patient: per minute the carbohydrate announced (g) and the insulin rate held over
/// that minute (U/min), as in the reference trace's columns <c>minute,cho_announced_g,insulin_u_per_min</c>; the
/// result is the patient's glucose at the start of each of those minutes.
/// </summary>
public static class GlucoseReplay
{
    /// <summary>One minute of a log.</summary>
    public readonly record struct Minute(int Index, double Carbs, double Insulin);

    /// <summary>
    /// Reads a log: a header naming at least <c>minute</c>, <c>cho_announced_g</c> and <c>insulin_u_per_min</c> (other
    /// columns are ignored), then one row per minute, the minutes consecutive from the first.
    /// </summary>
    /// <exception cref="SettingException">A column is missing, a value is not a finite number, carbohydrate or insulin is negative, or the minutes do not count up by one; the message names the line.</exception>
    public static IReadOnlyList<Minute> Read(TextReader log, string source = "the log")
    {
        ArgumentNullException.ThrowIfNull(log);
        var header = CsvRows.Header(log) ?? throw new SettingException($"{source} is empty.");
        int Column(string name) => Array.IndexOf(header, name) is int i and >= 0 ? i
            : throw new SettingException($"{source} has no '{name}' column; its header must name minute, cho_announced_g and insulin_u_per_min.");
        int minuteAt = Column("minute"), carbsAt = Column("cho_announced_g"), insulinAt = Column("insulin_u_per_min");
        var minutes = new List<Minute>();
        foreach (var (lineNumber, cells) in CsvRows.Rows(log, source, header.Length))
        {
            double Value(int at, string name)
                => double.TryParse(cells[at], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
                    : throw new SettingException($"{source}, line {lineNumber}: {name} '{cells[at].Trim()}' is not a finite number.");
            double minute = Value(minuteAt, "minute"), carbs = Value(carbsAt, "cho_announced_g"), insulin = Value(insulinAt, "insulin_u_per_min");
            if (minute != Math.Floor(minute)) throw new SettingException($"{source}, line {lineNumber}: minute {cells[minuteAt].Trim()} is not a whole minute.");
            if (minutes.Count > 0 && minute != minutes[^1].Index + 1)
                throw new SettingException($"{source}, line {lineNumber}: minute {minute.ToString(CultureInfo.InvariantCulture)} follows minute {minutes[^1].Index.ToString(CultureInfo.InvariantCulture)}; the minutes must count up by one.");
            if (carbs < 0) throw new SettingException($"{source}, line {lineNumber}: cho_announced_g is negative ({cells[carbsAt].Trim()}).");
            if (insulin < 0) throw new SettingException($"{source}, line {lineNumber}: insulin_u_per_min is negative ({cells[insulinAt].Trim()}).");
            minutes.Add(new Minute((int)minute, carbs, insulin));
        }
        if (minutes.Count == 0) throw new SettingException($"{source} has no minutes after its header.");
        return minutes;
    }

    /// <summary>The patient's glucose (mg/dL) at the start of each minute of <paramref name="log"/>, starting from its steady state.</summary>
    public static double[] Run(VirtualPatient patient, IReadOnlyList<Minute> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var sim = new PatientSimulator(patient);
        var glucose = new double[log.Count];
        for (int i = 0; i < log.Count; i++)
        {
            glucose[i] = sim.Glucose;
            sim.Step(log[i].Carbs, log[i].Insulin);
        }
        return glucose;
    }

    /// <summary>Writes <c>minute,bg_mg_dl</c>, one row per minute of the log.</summary>
    public static void Write(TextWriter output, IReadOnlyList<Minute> log, IReadOnlyList<double> glucose)
    {
        output.WriteLine("minute,bg_mg_dl");
        for (int i = 0; i < log.Count; i++) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{log[i].Index},{glucose[i]:R}"));
    }
}
