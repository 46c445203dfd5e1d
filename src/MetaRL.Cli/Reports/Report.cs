using System.Globalization;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
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

    /// <summary>
    /// What the main table leaves out, where it applies: the evaluated agent's lead per episode (trials of 2–10 episodes)
    /// and in each period of the first episode (a month of the first trading year),
    /// the family's metrics per episode of the trial, each agent's gain over its first episode, every group of tasks (cohort) apart in the trial's last episode,
    /// and the evaluated agent's lead on each group apart in the family's headline metric.
    /// </summary>
    public static void PrintDetails(IReadOnlyList<MetaTestResult> results, TaskDistribution tasks)
    {
        if (results.Count == 0) return;
        var first = results[0];
        var metrics = tasks.EpisodeMetrics;
        if (results.Count > 1 && first.EpisodesPerTrial is > 1 and <= 10 && results.Skip(1).All(r => r.LeadOfEvaluatedAgent?.PerEpisode is not null))
            Print(EvaluationReport.EpisodeLeadTable(results));
        if (results.Count > 1 && results.Skip(1).All(r => r.LeadOfEvaluatedAgent?.PerPeriod is not null))
            Print(EvaluationReport.PeriodLeadTable(results));
        if (metrics.Count > 0 && results.All(r => r.Metrics is not null))
        {
            Print(EvaluationReport.MetricsTable(results, metrics, $"{tasks.Name}: {string.Join(", ", metrics.Select(m => m.Label))} per {first.EpisodeName} of the trial"));
            if (results.Count > 1 && results.Skip(1).All(r => r.LeadOfEvaluatedAgent?.LastEpisodeMetrics is not null))
                Print(EvaluationReport.MetricLeadTable(results, metrics));
        }
        if (first.EpisodesPerTrial is > 1 and <= 10 && results.All(r => r.GainOverFirst is not null))
            Print(EvaluationReport.GainTable(results, metrics));
        if (results.All(r => r.Groups is { Count: > 1 }))
        {
            Print(EvaluationReport.GroupTable(results, metrics, first.EpisodesPerTrial - 1, $"{tasks.Name}: each {first.GroupName} apart"));
            Print(EvaluationReport.WorstGroupTable(results, metrics, $"{tasks.Name}: each agent's worst {first.GroupName}"));
            if (results.Count > 1 && results.Skip(1).All(r => r.LeadOfEvaluatedAgent?.Groups is not null))
                Print(EvaluationReport.GroupLeadTable(results, metrics.Count > 0 ? metrics[0] : null));
        }
    }

    /// <summary>Other agents a trace plot draws beside the evaluated one (more would hide each other).</summary>
    public const int TracedOthers = 4;

    /// <summary>
    /// The trial's last episode of the first held-out task as the evaluated agent played it and as the best
    /// <see cref="TracedOthers"/> of the other agents (by total return) did (<c>STEM-trace.png</c>): the family's trace
    /// channels over the episode's time.
    /// </summary>
    public static void WriteTrace(string path, TaskDistribution tasks, MetaTestOptions options, IReadOnlyList<MetaTestResult> results, IReadOnlyList<IMetaAgent> agents)
    {
        var task = MetaTest.Tasks(tasks, options.Seed, 1, options.Split)[0];
        var chosen = new List<IMetaAgent> { agents[0] };
        var others = Enumerable.Range(1, results.Count - 1).Where(i => agents[i].EpisodesPerRound == 1).OrderByDescending(i => results[i].MeanTotalReturn).Take(TracedOthers);
        chosen.AddRange(others.Select(i => agents[i]));
        var traces = chosen.Select(a => (a.Name, MetaTest.Trace(a, tasks, task, options.Seed)[^1])).ToArray();
        int steps = traces.Min(t => t.Item2.Length) / tasks.TraceChannels.Count;
        var (unit, perStep) = tasks.StepTime;
        var x = Enumerable.Range(1, steps).Select(i => i * perStep).ToArray();
        string name = task.Label ?? string.Join(", ", task.Describe().Select(kv => $"{kv.Key} {kv.Value:G3}"));
        EvaluationReport.WriteTracePlot(path, $"{tasks.Name}: {name}, {tasks.EpisodeName} {tasks.EpisodesPerTrial} of the trial", tasks.TraceChannels, $"{unit} of the {tasks.EpisodeName}", x,
            traces.Select(t => (t.Name, t.Item2[..(steps * tasks.TraceChannels.Count)])).ToArray());
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
                table.AddColumn(IsText(t, c) ? column : column.RightAligned());
            }
            foreach (var row in t.Rows) table.AddRow(row.Select(Cell).ToArray());
            AnsiConsole.Write(table);
        }
    }

    // Names (agents, acting rules, groups) read from the left; numbers line up on the right.
    private static bool IsText(ReportTable t, int column)
        => column == 0 || t.Rows.Any(r => r[column].Text is [var c, ..] and not ("n/a" or "NaN") && !(char.IsDigit(c) || c is '-' or '+' or '−' or '.' or '∞'));

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

    /// <summary>
    /// A run directory's name, made safe for a file name (for outputs and labels that name the runs they compare); a
    /// checkpoint file is named with its run's directory ("arena-kite-best" for arena-kite/best.mrla), since "best" alone
    /// would not say whose.
    /// </summary>
    public static string FileLabel(string runOrCheckpoint)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(runOrCheckpoint));
        return FileSafe(File.Exists(full)
            ? $"{Path.GetFileName(Path.GetDirectoryName(full))}-{Path.GetFileNameWithoutExtension(full)}"
            : Path.GetFileName(full));
    }

    /// <summary><paramref name="text"/> with every character but letters, digits, '-', '_', '.' and <paramref name="alsoKept"/> replaced by '_'.</summary>
    private static string FileSafe(string text, params char[] alsoKept)
        => new(text.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' || alsoKept.Contains(c) ? c : '_').ToArray());
}
