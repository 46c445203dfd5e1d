using System.Globalization;
using MetaRL.Core.Evaluation;
using MetaRL.Reports;
using Spectre.Console;

namespace MetaRL.Cli.Reports;

/// <summary>The console side of reports: the library's tables in Spectre (coloured leads, split to the terminal) and where an evaluation's files go.</summary>
internal static class Report
{
    /// <summary>
    /// The library's results table (<see cref="EvaluationReport.Table"/>) on the console, paired leads coloured by the sign
    /// of their interval; on a terminal too narrow for it, split as <see cref="ReportTable.FitTo"/> does.
    /// </summary>
    public static void PrintTable(IReadOnlyList<MetaTestResult> results, string title)
    {
        if (results.Count == 0) return;
        Print(EvaluationReport.Table(results, title));
    }

    /// <summary>A library table on the console, split as <see cref="ReportTable.FitTo"/> does on a terminal too narrow for it.</summary>
    public static void Print(ReportTable report)
    {
        foreach (var t in report.FitTo(AnsiConsole.Profile.Width))
        {
            var table = new Table().Title(Markup.Escape(t.Title)).Caption(Markup.Escape(t.Caption));
            for (int c = 0; c < t.Columns.Count; c++)
            {
                var column = new TableColumn(Markup.Escape(t.Columns[c]));
                table.AddColumn(c == 0 || t.Columns[c] is "agent" or "acts" or "baseline" ? column : column.RightAligned());
            }
            foreach (var row in t.Rows) table.AddRow(row.Select(Cell).ToArray());
            AnsiConsole.Write(table);
        }
    }

    /// <summary>A cell as Spectre markup: a paired lead green when its interval is above zero, red below, yellow across it.</summary>
    public static string Cell(ReportCell cell)
        => cell.Lead is not { } sign ? Markup.Escape(cell.Text) : $"[{(sign > 0 ? "green" : sign < 0 ? "red" : "yellow")}]{Markup.Escape(cell.Text)}[/]";

    /// <summary>
    /// The file stem of an evaluation's outputs in a run directory: it names the trials, the seed and any overrides,
    /// so evaluations with different arguments never overwrite each other (the same arguments give the same results).
    /// </summary>
    public static string EvalStem(int? trials, ulong seed, IReadOnlyDictionary<string, string> overrides, bool baselines)
    {
        var parts = new List<string> { "eval" };
        if (trials is { } t) parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"trials{t}"));
        parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"seed{seed}"));
        foreach (var (k, v) in overrides.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            parts.Add(FileSafe($"{k}={v}", '='));
        if (baselines) parts.Add("baselines");
        return string.Join('-', parts);
    }

    /// <summary>
    /// Where an evaluation of <paramref name="runOrCheckpoint"/> writes its outputs: inside a run directory, or beside a
    /// checkpoint file under the file's own name (so two checkpoints in one folder do not overwrite each other).
    /// </summary>
    public static string OutputPath(string runOrCheckpoint, string stem, string? outDir = null)
    {
        bool file = File.Exists(runOrCheckpoint);
        string folder = outDir ?? (file ? Path.GetDirectoryName(Path.GetFullPath(runOrCheckpoint))! : runOrCheckpoint);
        return Path.Combine(folder, file ? FileSafe(Path.GetFileNameWithoutExtension(runOrCheckpoint)) + "-" + stem : stem);
    }

    /// <summary>A run directory's name, made safe for a file name (for outputs that name the runs they compare).</summary>
    public static string FileLabel(string dir)
        => FileSafe(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))));

    /// <summary><paramref name="text"/> with every character but letters, digits, '-', '_', '.' and <paramref name="alsoKept"/> replaced by '_'.</summary>
    private static string FileSafe(string text, params char[] alsoKept)
        => new(text.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' || alsoKept.Contains(c) ? c : '_').ToArray());
}
