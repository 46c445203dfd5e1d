using System.Globalization;
using System.Text;
using MetaRL.Algorithms.Runs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;

namespace MetaRL.Reports;

/// <summary>One cell of a results table: its text, and for a paired lead the sign of its interval (for colour).</summary>
/// <param name="Text">The cell as printed.</param>
/// <param name="Lead">For a paired-lead cell: +1 when its 95% interval is above zero, −1 below, 0 across it; null otherwise.</param>
public readonly record struct ReportCell(string Text, int? Lead = null);

/// <summary>
/// A results table before rendering: a title, column headers (the first names the row, the rest are right-aligned), rows,
/// a caption; <see cref="Series"/> marks the run of per-episode (or per-step) columns a narrow terminal moves apart.
/// </summary>
public sealed record ReportTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<ReportCell>> Rows, string Caption)
{
    /// <summary>The per-episode or per-step columns: (first index, count); (0, 0) when there are none.</summary>
    public (int Start, int Count) Series { get; init; }

    /// <summary>The width the table takes with a border and one space of padding on each side of every column.</summary>
    public int BoxedWidth => ColumnWidths().Sum() + 3 * Columns.Count + 1;

    private int[] ColumnWidths() => Columns.Select((c, i) => Math.Max(c.Length, Rows.Count == 0 ? 0 : Rows.Max(r => r[i].Text.Length))).ToArray();

    /// <summary>
    /// The table as it fits <paramref name="width"/> columns with borders (<see cref="BoxedWidth"/>): itself when it does;
    /// otherwise a summary without the per-episode columns and those columns in tables of their own, as many as needed,
    /// each row numbered as in the summary, so that no number is ever split across lines. The first column (names) may
    /// still wrap.
    /// </summary>
    public IReadOnlyList<ReportTable> FitTo(int width)
    {
        if (BoxedWidth <= width || Series.Count == 0) return [this];
        var (start, count) = Series;
        string Number(int r) => (r + 1).ToString(CultureInfo.InvariantCulture);
        var kept = Enumerable.Range(0, Columns.Count).Where(c => c < start || c >= start + count).ToArray();
        var summary = new ReportTable(Title, ["#", .. kept.Select(c => Columns[c])],
            Rows.Select((r, i) => (IReadOnlyList<ReportCell>)[new ReportCell(Number(i)), .. kept.Select(c => r[c])]).ToArray(), Caption);
        ReportTable Part(int from, int n) => new($"{Columns[from]} … {Columns[from + n - 1]}", ["#", .. Columns.Skip(from).Take(n)],
            Rows.Select((r, i) => (IReadOnlyList<ReportCell>)[new ReportCell(Number(i)), .. r.Skip(from).Take(n)]).ToArray(), "rows numbered as above");
        // As many series columns as fit beside the row numbers (at least one), spread evenly over the fewest tables.
        int fit = 1;
        while (fit < count && Part(start, fit + 1).BoxedWidth <= width) fit++;
        int parts = (count + fit - 1) / fit, per = (count + parts - 1) / parts;
        var tables = new List<ReportTable> { summary };
        for (int first = start; first < start + count; first += per) tables.Add(Part(first, Math.Min(per, start + count - first)));
        return tables;
    }

    /// <summary>The table as plain fixed-width text (logs, services, files).</summary>
    public string ToText()
    {
        var widths = Columns.Select((c, i) => Math.Max(c.Length, Rows.Count == 0 ? 0 : Rows.Max(r => r[i].Text.Length))).ToArray();
        var sb = new StringBuilder();
        sb.AppendLine(Title);
        string Line(IEnumerable<string> cells) => string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd();
        sb.AppendLine(Line(Columns));
        sb.AppendLine(new string('-', widths.Sum() + 2 * (widths.Length - 1)));
        foreach (var r in Rows) sb.AppendLine(Line(r.Select(c => c.Text)));
        sb.AppendLine(Caption);
        return sb.ToString();
    }
}

/// <summary>
/// What an evaluation looks like for people and tools, for any agent of any algorithm: a table of the results, CSV (one
/// row per agent and episode, and per agent and round where agents learn in rounds), JSON (<see cref="MetaTestResult"/>'s
/// schema) and a plot of the adaptation curve. The CLI prints the same table; an application can write the same files.
/// </summary>
public static class EvaluationReport
{
    /// <summary>Whether every result plays in rounds of the same count (MAML's steps), so that rounds are the curve's axis.</summary>
    public static bool InRounds(IReadOnlyList<MetaTestResult> results)
        => results.Count > 0 && results.All(r => r.StepReturns is not null && r.StepReturns.Length == results[0].StepReturns!.Length);

    /// <summary>
    /// The results as a table: each agent with how it acts, its total return ± 95% CI, its return per episode (a sample of
    /// them past ten) or per round (after k steps), regret where the oracle is known, and the first agent's paired lead.
    /// </summary>
    public static ReportTable Table(IReadOnlyList<MetaTestResult> results, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0) return new ReportTable(title, ["agent"], [], "no results");
        var first = results[0];
        bool rounds = InRounds(results);
        var columns = new List<string> { "agent" };
        bool anyRule = results.Any(r => r.ActingRule is not null);
        if (anyRule) columns.Add("acts");
        columns.Add("total return");
        int[] shown = rounds ? Enumerable.Range(0, first.StepReturns!.Length).ToArray() : ShownEpisodes(first.EpisodesPerTrial);
        int seriesStart = columns.Count;
        columns.AddRange(shown.Select(e => rounds ? StepName(e) : $"ep {e + 1}"));
        bool anyRegret = results.Any(r => r.Regret.HasValue);
        if (anyRegret) columns.Add(results.FirstOrDefault(r => r.OracleAgent is not null) is { } o ? $"regret (vs {o.OracleAgent})" : "regret");
        bool anyLead = results.Any(r => r.LeadOfEvaluatedAgent is not null);
        if (anyLead) columns.Add($"{first.Agent} ahead by");
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results)
        {
            var row = new List<ReportCell> { new(r.Agent) };
            if (anyRule) row.Add(new(r.ActingRule ?? ""));
            row.Add(new($"{r.MeanTotalReturn.ToString("F3", CultureInfo.InvariantCulture)} ± {Ci(r.Ci95, r.Trials, 3)}"));
            var values = rounds ? r.StepReturns! : r.EpisodeReturns;
            row.AddRange(shown.Select(e => new ReportCell(values[e].ToString("F3", CultureInfo.InvariantCulture))));
            if (anyRegret) row.Add(new(r.Regret is { } g ? g.ToString("F3", CultureInfo.InvariantCulture) : ""));
            if (anyLead) row.Add(r.LeadOfEvaluatedAgent is { } l ? Signed(l.Mean, l.Ci95, r.Trials, 3) : new(""));
            rows.Add(row);
        }
        string per = rounds ? $"{first.EpisodesPerRound} {first.EpisodeName}s a round, mean return per {first.EpisodeName} after k steps" : $"mean return per {first.EpisodeName}";
        string caption = $"{first.Trials} held-out trials, seed {first.Seed}; {per}; ± 95% CI"
            + (anyLead ? $"; the last column is {first.Agent}'s total minus the row's, trial by trial on the same tasks" : "");
        return new ReportTable(title, columns, rows, caption) { Series = (seriesStart, shown.Length) };
    }

    /// <summary>
    /// Agents that learn in rounds (MAML's gradient steps) in detail: each agent's mean return per episode after k steps
    /// ± its 95% CI over trials, and the later-step learning-rate scale it used when its details record one.
    /// </summary>
    public static ReportTable StepTable(IReadOnlyList<MetaTestResult> results, string title, string caption)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (!InRounds(results)) throw new ArgumentException("Every result must play the same number of rounds (MetaTestResult.StepReturns).", nameof(results));
        int steps = results[0].StepReturns!.Length;
        bool scales = results.Any(r => r.Details.ContainsKey("later-step-scale"));
        string[] columns = ["agent", .. Enumerable.Range(0, steps).Select(StepName), .. scales ? new[] { "later steps" } : []];
        var rows = results.Select(r => (IReadOnlyList<ReportCell>)[new ReportCell(r.Agent),
            .. Enumerable.Range(0, steps).Select(k => new ReportCell($"{F2(r.StepReturns![k])} ± {Ci(r.StepCi95![k], r.Trials, 2)}")),
            .. scales ? new[] { new ReportCell(r.Details.TryGetValue("later-step-scale", out var a) ? $"α × {a}" : "") } : []]).ToArray();
        return new ReportTable(title, columns, rows, caption) { Series = (1, steps) };
    }

    /// <summary>
    /// The first agent minus each other, trial by trial on the same tasks, after each number of steps and best against
    /// best (each at its own best step): the between-task spread cancels, so a small lead can be told from noise.
    /// </summary>
    public static ReportTable StepLeadTable(IReadOnlyList<MetaTestResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (!InRounds(results)) throw new ArgumentException("Every result must play the same number of rounds (MetaTestResult.StepReturns).", nameof(results));
        int steps = results[0].StepReturns!.Length;
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results.Skip(1))
        {
            var a = r.LeadOfEvaluatedAgent ?? throw new ArgumentException($"'{r.Agent}' carries no paired lead (MetaTestResult.Lead).", nameof(results));
            rows.Add([new ReportCell(r.Agent), .. a.PerStep!.Select((d, k) => Signed(d, a.PerStepCi95![k], r.Trials, 2)),
                Signed(a.BestVsBest!.Value, a.BestVsBestCi95!.Value, r.Trials, 2), new ReportCell($"{a.BestStep} vs {a.OtherBestStep}")]);
        }
        return new ReportTable($"{results[0].Agent} minus each baseline, paired over the same tasks", ["baseline", .. Enumerable.Range(0, steps).Select(StepName), "best vs best", "steps"],
            rows, "mean difference ± 95% CI; positive = ahead. Best vs best: each agent at the step with its highest mean return") { Series = (1, steps) };
    }

    private static string StepName(int k) => $"{k} step{(k == 1 ? "" : "s")}";

    private static string F2(double v) => v.ToString("F2", CultureInfo.InvariantCulture);

    /// <summary>A paired difference ± its 95% CI, with the sign of the interval ("n/a" for the interval of a single trial).</summary>
    public static ReportCell Signed(double mean, double ci95, int trials, int decimals)
    {
        string digits = new('0', decimals);
        int sign = trials < 2 ? 0 : mean - ci95 > 0 ? 1 : mean + ci95 < 0 ? -1 : 0;
        // Rounded first, so that a difference that rounds to nothing reads 0.0 rather than with a sign.
        double shown = Math.Round(mean, decimals) + 0.0;
        return new ReportCell($"{shown.ToString($"+0.{digits};-0.{digits};0.{digits}", CultureInfo.InvariantCulture)} ± {Ci(ci95, trials, decimals)}", sign);
    }

    private static string Ci(double ci95, int trials, int decimals) => trials < 2 ? "n/a" : ci95.ToString($"F{decimals}", CultureInfo.InvariantCulture);

    private static int[] ShownEpisodes(int n)
    {
        if (n <= 10) return Enumerable.Range(0, n).ToArray();
        var set = new SortedSet<int> { 0, 1, 2, 4, 9, n / 4 - 1, n / 2 - 1, n - 1 };
        return set.Where(e => e >= 0 && e < n).ToArray();
    }

    /// <summary>
    /// One row per agent and episode (<c>agent,episode,mean_return,ci95</c>); then, where the family reports them, per agent,
    /// episode and metric (<c>agent,episode,metric,mean,ci95</c>) and per group (<c>group,agent,episode,metric,mean,ci95</c>,
    /// the return as metric <c>return</c>); per agent, episode and period where the family has periods
    /// (<c>agent,episode,month,mean_return,ci95</c>); then per agent and round (<c>agent,steps,…</c>) where agents play rounds.
    /// </summary>
    public static void WriteCsv(string path, IReadOnlyList<MetaTestResult> results)
    {
        using var w = new StreamWriter(path);
        w.WriteLine("agent,episode,mean_return,ci95");
        foreach (var r in results)
            for (int e = 0; e < r.EpisodeReturns.Length; e++)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Quoted(r.Agent)},{e + 1},{r.EpisodeReturns[e]:G8},{r.EpisodeCi95[e]:G8}"));
        if (results.All(r => r.Metrics is not null) && results.Count > 0)
        {
            w.WriteLine("agent,episode,metric,mean,ci95");
            foreach (var r in results)
                foreach (var (key, values) in r.Metrics!)
                    for (int e = 0; e < values.Length; e++)
                        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Quoted(r.Agent)},{e + 1},{key},{values[e]:G8},{r.MetricsCi95![key][e]:G8}"));
        }
        if (results.All(r => r.Groups is not null) && results.Count > 0)
        {
            w.WriteLine("group,agent,episode,metric,mean,ci95");
            foreach (var r in results)
                foreach (var g in r.Groups!)
                {
                    for (int e = 0; e < g.EpisodeReturns.Length; e++)
                        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Quoted(g.Name)},{Quoted(r.Agent)},{e + 1},return,{g.EpisodeReturns[e]:G8},{g.EpisodeCi95[e]:G8}"));
                    foreach (var (key, values) in g.Metrics ?? [])
                        for (int e = 0; e < values.Length; e++)
                            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Quoted(g.Name)},{Quoted(r.Agent)},{e + 1},{key},{values[e]:G8},{g.MetricsCi95![key][e]:G8}"));
                }
        }
        if (AllWithPeriods(results))
        {
            int per = results[0].PeriodsPerEpisode;
            w.WriteLine($"agent,episode,{results[0].PeriodName},mean_return,ci95");
            foreach (var r in results)
                for (int k = 0; k < r.PeriodReturns!.Length; k++)
                    w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Quoted(r.Agent)},{k / per + 1},{k % per + 1},{r.PeriodReturns[k]:G8},{r.PeriodCi95![k]:G8}"));
        }
        if (!InRounds(results)) return;
        w.WriteLine("agent,steps,mean_return,ci95");
        foreach (var r in results)
            for (int k = 0; k < r.StepReturns!.Length; k++)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Quoted(r.Agent)},{k},{r.StepReturns[k]:G8},{r.StepCi95![k]:G8}"));
    }

    // Whether every result carries as many periods as the first (and it some): what the month CSV and plot need.
    private static bool AllWithPeriods(IReadOnlyList<MetaTestResult> results)
        => results.Count > 0 && results.All(r => r.PeriodReturns is not null && r.PeriodReturns.Length == results[0].PeriodReturns!.Length);

    private static string Quoted(string text) => $"\"{text.Replace("\"", "\"\"")}\"";

    /// <summary>The adaptation curve: return per episode of the trial, or per round (after k steps) where agents play rounds; with the oracle where known.</summary>
    public static void WritePlot(string path, IReadOnlyList<MetaTestResult> results, string title)
    {
        if (results.Count == 0) return;
        var (xLabel, yLabel, x, curves) = PlotData(results);
        Plots.Curves(path, title, xLabel, yLabel, x, curves);
    }

    /// <summary>
    /// What the adaptation plot shows: the axes named in the family's unit ("pull of the trial", "gradient steps on the
    /// task"), the first result as the evaluated agent, the others as baselines, and the task-knowing oracle's level as
    /// a dashed reference unless an agent of that name is already among the results.
    /// </summary>
    public static (string XLabel, string YLabel, double[] X, IReadOnlyList<Curve> Curves) PlotData(IReadOnlyList<MetaTestResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0) throw new ArgumentException("No results to plot.", nameof(results));
        bool rounds = InRounds(results);
        var first = results[0];
        int points = rounds ? first.StepReturns!.Length : first.EpisodesPerTrial;
        var x = Enumerable.Range(rounds ? 0 : 1, points).Select(i => (double)i).ToArray();
        var curves = results.Select((r, i) => new Curve(r.Agent, rounds ? r.StepReturns! : r.EpisodeReturns, rounds ? r.StepCi95! : r.EpisodeCi95,
            i == 0 ? CurveRole.Evaluated : CurveRole.Baseline)).ToList();
        if (first.OracleTotalReturn is { } oracle && !results.Any(r => r.Agent == (first.OracleAgent ?? "oracle")))
            curves.Add(new Curve(first.OracleAgent ?? "oracle", Enumerable.Repeat(oracle / first.EpisodesPerTrial, points).ToArray(), null, CurveRole.Reference));
        string unit = first.EpisodeName;
        return (rounds ? $"gradient steps on the task (each after {first.EpisodesPerRound} {unit}s)" : $"{unit} of the trial", $"mean return per {unit}", x, curves);
    }

    /// <summary>
    /// Writes <paramref name="stem"/>.csv, .json and .png into <paramref name="dir"/> (created if needed), and the
    /// adaptation curves as a TensorBoard event file (<see cref="WriteEvents"/>).
    /// </summary>
    /// <remarks>
    /// With the family's <paramref name="metrics"/> (when the results carry them), the CSV gains their rows and
    /// <paramref name="stem"/>-METRIC.png plots the first of them per episode of the trial (time in range per day).
    /// </remarks>
    public static void WriteAll(string dir, string stem, IReadOnlyList<MetaTestResult> results, string title, IReadOnlyList<EpisodeMetric>? metrics = null)
    {
        Directory.CreateDirectory(dir);
        WriteCsv(Path.Combine(dir, stem + ".csv"), results);
        File.WriteAllText(Path.Combine(dir, stem + ".json"), MetaTestResult.ToJson(results));
        WritePlot(Path.Combine(dir, stem + ".png"), results, title);
        if (metrics is { Count: > 0 } && results.Count > 0 && results.All(r => r.Metrics is not null))
            WriteMetricPlot(Path.Combine(dir, $"{stem}-{metrics[0].Key}.png"), results, metrics[0], results[0].Task);
        if (AllWithPeriods(results))
            WritePeriodPlot(Path.Combine(dir, $"{stem}-{results[0].PeriodName}.png"), results, results[0].Task);
        WriteEvents(dir, stem, results);
    }

    /// <summary>
    /// Adaptation inside the episodes (<see cref="MetaTestResult.PeriodReturns"/>): over every period of the trial (each
    /// month of each episode), the first agent's return minus each other's, paired trial by trial, when the others carry
    /// that lead; otherwise each agent's return per period. Titled <paramref name="title"/> and what is drawn.
    /// </summary>
    /// <exception cref="ArgumentException">A result carries no periods, or not as many as the first.</exception>
    public static void WritePeriodPlot(string path, IReadOnlyList<MetaTestResult> results, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0) return;
        var first = results[0];
        int n = first.PeriodReturns?.Length
            ?? throw new ArgumentException($"'{first.Agent}' carries no returns per period (its family has none).", nameof(results));
        if (results.FirstOrDefault(r => r.PeriodReturns?.Length != n) is { } odd)
            throw new ArgumentException($"'{odd.Agent}' carries {odd.PeriodReturns?.Length ?? 0} periods; '{first.Agent}' carries {n}.", nameof(results));
        string period = first.PeriodName ?? "period";
        int per = first.PeriodsPerEpisode;
        var x = Enumerable.Range(1, n).Select(i => (double)i).ToArray();
        string xLabel = $"{period} of the trial ({per} in each {first.EpisodeName})";
        var leads = results.Skip(1).Where(r => r.LeadOfEvaluatedAgent?.PerPeriod?.Length == n).ToArray();
        if (leads.Length > 0)
        {
            var role = leads.Length == 1 ? CurveRole.Evaluated : CurveRole.Baseline;
            var curves = leads.Select(r => new Curve($"{first.Agent} − {r.Agent}", r.LeadOfEvaluatedAgent!.PerPeriod!, r.LeadOfEvaluatedAgent.PerPeriodCi95, role))
                .Append(new Curve("level", new double[n], null, CurveRole.Reference)).ToArray();
            Plots.Curves(path, $"{title}: {first.Agent}'s lead per {period}, paired over the same tasks", xLabel, $"return per {period}, difference", x, curves);
        }
        else
            Plots.Curves(path, $"{title}: return per {period}", xLabel, $"mean return per {period}", x,
                results.Select((r, i) => new Curve(r.Agent, r.PeriodReturns!, r.PeriodCi95, i == 0 ? CurveRole.Evaluated : CurveRole.Baseline)).ToArray());
    }

    /// <summary>
    /// The first agent minus each other in every period of the first episode of the trial (each month of the first year),
    /// paired trial by trial: whether the lead is there from the start or grows as the agent learns the task. Later
    /// episodes are in <see cref="EpisodeLeadTable"/>; every period is in the JSON and <see cref="WritePeriodPlot"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two results, or a compared result carries no lead per period.</exception>
    public static ReportTable PeriodLeadTable(IReadOnlyList<MetaTestResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count < 2) throw new ArgumentException("A lead needs two results or more.", nameof(results));
        var first = results[0];
        string period = first.PeriodName ?? "period";
        int per = first.PeriodsPerEpisode;
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results.Skip(1))
        {
            var lead = r.LeadOfEvaluatedAgent?.PerPeriod is not null ? r.LeadOfEvaluatedAgent
                : throw new ArgumentException($"'{r.Agent}' carries no lead per {period} (MetaTestResult.Lead).", nameof(results));
            rows.Add([new ReportCell(r.Agent), .. Enumerable.Range(0, per).Select(k => Signed(lead.PerPeriod![k], lead.PerPeriodCi95![k], r.Trials, 2))]);
        }
        return new ReportTable($"{first.Agent} minus each other agent in each {period} of {first.EpisodeName} 1, paired over the same tasks",
            ["agent", .. Enumerable.Range(1, per).Select(k => $"{period} {k}")], rows,
            $"mean difference of the return in each {period} of {first.PeriodSteps} steps (the {first.EpisodeName}'s last: the steps left) ± 95% CI; positive = ahead")
            { Series = (1, per) };
    }

    /// <summary>
    /// One metric per episode of the trial for every agent (e.g. time in range per day: adaptation in the field's own
    /// measure), titled <paramref name="title"/> and the metric's description.
    /// </summary>
    /// <exception cref="ArgumentException">A result does not carry <paramref name="metric"/>.</exception>
    public static void WriteMetricPlot(string path, IReadOnlyList<MetaTestResult> results, EpisodeMetric metric, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(metric);
        if (results.Count == 0) return;
        var first = results[0];
        var x = Enumerable.Range(1, first.EpisodesPerTrial).Select(i => (double)i).ToArray();
        var curves = results.Select((r, i) => new Curve(r.Agent, Metric(r, metric.Key), r.MetricsCi95![metric.Key], i == 0 ? CurveRole.Evaluated : CurveRole.Baseline)).ToArray();
        Plots.Curves(path, $"{title}: {metric.Description}, per {first.EpisodeName}", $"{first.EpisodeName} of the trial", metric.Label, x, curves);
    }

    private static double[] Metric(MetaTestResult r, string key)
        => r.Metrics is not null && r.Metrics.TryGetValue(key, out var v) ? v : throw new ArgumentException($"'{r.Agent}' carries no metric '{key}'.");

    /// <summary>
    /// The family's metrics for each agent in each episode of the trial (a sample of them past ten): one row per agent and
    /// episode, one column per metric, each the mean over trials.
    /// </summary>
    public static ReportTable MetricsTable(IReadOnlyList<MetaTestResult> results, IReadOnlyList<EpisodeMetric> metrics, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(metrics);
        if (results.Count == 0) return new ReportTable(title, ["agent"], [], "no results");
        var first = results[0];
        int[] shown = ShownEpisodes(first.EpisodesPerTrial);
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results)
            foreach (int e in shown)
                rows.Add([new ReportCell(e == shown[0] ? r.Agent : ""), new ReportCell((e + 1).ToString(CultureInfo.InvariantCulture)),
                    .. metrics.Select(m => new ReportCell(Metric(r, m.Key)[e].ToString(m.Format, CultureInfo.InvariantCulture)))]);
        string caption = $"{first.Trials} held-out trials, seed {first.Seed}; mean over trials; "
            + string.Join("; ", metrics.Select(m => $"{m.Label}: {m.Description}"));
        return new ReportTable(title, ["agent", first.EpisodeName, .. metrics.Select(m => m.Label)], rows, caption) { Series = (2, metrics.Count) };
    }

    /// <summary>
    /// The results of each group of tasks apart (each cohort of patients): per group and agent, the trials, the return of
    /// <paramref name="episode"/> (0-based) and the metrics there; groups as the results list them.
    /// </summary>
    /// <exception cref="ArgumentException">The results carry no groups.</exception>
    public static ReportTable GroupTable(IReadOnlyList<MetaTestResult> results, IReadOnlyList<EpisodeMetric> metrics, int episode, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(metrics);
        if (results.Count == 0 || results.Any(r => r.Groups is null)) throw new ArgumentException("Every result must carry its groups (MetaTestResult.Groups).", nameof(results));
        var first = results[0];
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(episode, first.EpisodesPerTrial);
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var g in first.Groups!)
            foreach (var r in results)
            {
                var mine = r.Groups!.FirstOrDefault(x => x.Name == g.Name);
                if (mine is null) continue;
                rows.Add([new ReportCell(r == first ? g.Name : ""), new ReportCell(r.Agent), new ReportCell(mine.Trials.ToString(CultureInfo.InvariantCulture)),
                    new ReportCell(mine.EpisodeReturns[episode].ToString("F1", CultureInfo.InvariantCulture)),
                    .. metrics.Select(m => new ReportCell(mine.Metrics is not null && mine.Metrics.TryGetValue(m.Key, out var v) ? v[episode].ToString(m.Format, CultureInfo.InvariantCulture) : ""))]);
            }
        string caption = $"{first.EpisodeName} {episode + 1} of the trial; mean over each {first.GroupName}'s trials";
        return new ReportTable(title, [first.GroupName ?? "group", "agent", "trials", "return", .. metrics.Select(m => m.Label)], rows, caption) { Series = (4, metrics.Count) };
    }

    /// <summary>
    /// Each agent's weakest group (the one with the lowest mean total return: the opponent it copes with worst, the cohort
    /// it doses worst), with its total return and the family's metrics in the trial's last episode.
    /// </summary>
    /// <exception cref="ArgumentException">A result carries no groups.</exception>
    public static ReportTable WorstGroupTable(IReadOnlyList<MetaTestResult> results, IReadOnlyList<EpisodeMetric> metrics, string title)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(metrics);
        if (results.Count == 0 || results.Any(r => r.Groups is not { Count: > 0 })) throw new ArgumentException("Every result must carry its groups (MetaTestResult.Groups).", nameof(results));
        var first = results[0];
        int last = first.EpisodesPerTrial - 1;
        var rows = results.Select(r =>
        {
            var worst = r.Groups!.MinBy(g => g.MeanTotalReturn)!;
            return (IReadOnlyList<ReportCell>)[new ReportCell(r.Agent), new ReportCell(worst.Name), new ReportCell(worst.Trials.ToString(CultureInfo.InvariantCulture)),
                new ReportCell(worst.MeanTotalReturn.ToString("F1", CultureInfo.InvariantCulture)),
                .. metrics.Select(m => new ReportCell(worst.Metrics is not null && worst.Metrics.TryGetValue(m.Key, out var v) ? v[last].ToString(m.Format, CultureInfo.InvariantCulture) : ""))];
        }).ToList();
        string group = first.GroupName ?? "group";
        return new ReportTable(title, ["agent", $"worst {group}", "trials", "total return", .. metrics.Select(m => m.Label)], rows,
            $"the {group} with the lowest mean total return; {string.Join(", ", metrics.Select(m => m.Label).DefaultIfEmpty("metrics"))} in {first.EpisodeName} {last + 1}") { Series = (4, metrics.Count) };
    }

    /// <summary>
    /// The first agent minus each other in every episode of the trial, trial by trial on the same tasks: whether the lead
    /// grows as the trial goes on (adaptation) or is there from the first episode.
    /// </summary>
    /// <exception cref="ArgumentException">A compared result carries no per-episode lead.</exception>
    public static ReportTable EpisodeLeadTable(IReadOnlyList<MetaTestResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count < 2) throw new ArgumentException("A lead needs two results or more.", nameof(results));
        var first = results[0];
        int n = first.EpisodesPerTrial;
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results.Skip(1))
        {
            var a = r.LeadOfEvaluatedAgent?.PerEpisode is { } per ? r.LeadOfEvaluatedAgent
                : throw new ArgumentException($"'{r.Agent}' carries no per-episode lead (MetaTestResult.Lead).", nameof(results));
            rows.Add([new ReportCell(r.Agent), .. per.Select((d, e) => Signed(d, a.PerEpisodeCi95![e], r.Trials, 1))]);
        }
        return new ReportTable($"{first.Agent} minus each other agent per {first.EpisodeName}, paired over the same tasks",
            ["agent", .. Enumerable.Range(1, n).Select(e => $"{first.EpisodeName} {e}")], rows,
            "mean difference of the return ± 95% CI; positive = ahead") { Series = (1, n) };
    }

    /// <summary>
    /// Whether each agent gets better as the trial goes on: its return and each of the family's metrics in every later
    /// episode minus the same trial's first (<see cref="MetaTestResult.GainOverFirst"/>), a row per agent and episode.
    /// </summary>
    /// <exception cref="ArgumentException">A result carries no gains (a trial of one episode).</exception>
    public static ReportTable GainTable(IReadOnlyList<MetaTestResult> results, IReadOnlyList<EpisodeMetric> metrics)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(metrics);
        if (results.Count == 0) throw new ArgumentException("No results.", nameof(results));
        var first = results[0];
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results)
        {
            var (gain, ci) = r.GainOverFirst is { } g ? (g, r.GainOverFirstCi95!)
                : throw new ArgumentException($"'{r.Agent}' carries no gains over its first {r.EpisodeName} (a trial of one {r.EpisodeName}).", nameof(results));
            for (int e = 1; e < r.EpisodesPerTrial; e++)
                rows.Add([new ReportCell(r.Agent), new ReportCell($"{e + 1} − 1"), Signed(gain[MetaTestResult.ReturnKey][e], ci[MetaTestResult.ReturnKey][e], r.Trials, 2),
                    .. metrics.Select(m => gain.TryGetValue(m.Key, out var v) ? Signed(v[e], ci[m.Key][e], r.Trials, Decimals(m.Format)) : new ReportCell("n/a"))]);
        }
        return new ReportTable($"each agent's {first.EpisodeName} k minus its {first.EpisodeName} 1, paired over the same tasks",
            ["agent", first.EpisodeName, "return", .. metrics.Select(m => m.Label)], rows, "mean difference ± 95% CI; positive = better later in the trial");
    }

    /// <summary>
    /// The evaluated agent's lead in each of the family's metrics in the trial's last episode (a Sharpe ratio, a time in
    /// range), paired trial by trial against each other agent (<see cref="PairedLead.LastEpisodeMetrics"/>).
    /// </summary>
    public static ReportTable MetricLeadTable(IReadOnlyList<MetaTestResult> results, IReadOnlyList<EpisodeMetric> metrics)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(metrics);
        if (results.Count < 2) throw new ArgumentException("A lead needs two results or more.", nameof(results));
        var first = results[0];
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var r in results.Skip(1))
        {
            var leads = r.LeadOfEvaluatedAgent?.LastEpisodeMetrics
                ?? throw new ArgumentException($"'{r.Agent}' carries no metric leads (MetaTestResult.Lead).", nameof(results));
            rows.Add([new ReportCell(r.Agent), .. metrics.Select(m => leads.TryGetValue(m.Key, out var v) ? Signed(v[0], v[1], r.Trials, Decimals(m.Format)) : new ReportCell("n/a"))]);
        }
        return new ReportTable($"{first.Agent} minus each other agent in {first.EpisodeName} {first.EpisodesPerTrial}, paired over the same tasks",
            ["agent", .. metrics.Select(m => m.Label)], rows, "mean difference ± 95% CI; positive = higher");
    }

    /// <summary>
    /// The evaluated agent's lead over each other agent on each group's trials alone (each style, opponent, cohort), paired
    /// trial by trial (<see cref="PairedLead.Groups"/>), in <paramref name="metric"/> (a family's first metric is its
    /// headline: win rate, time in range, Sharpe ratio) or, when null, the return: a row per group and later episode of the
    /// trial (each from the second where a trial has up to four, else the last), a column per other agent.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two results, or a compared result carries no group leads.</exception>
    public static ReportTable GroupLeadTable(IReadOnlyList<MetaTestResult> results, EpisodeMetric? metric)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count < 2) throw new ArgumentException("A lead needs two results or more.", nameof(results));
        var first = results[0];
        var others = results.Skip(1).Select(r => (r.Agent, Groups: r.LeadOfEvaluatedAgent?.Groups
            ?? throw new ArgumentException($"'{r.Agent}' carries no lead per {first.GroupName ?? "group"} (MetaTestResult.Lead).", nameof(results)))).ToArray();
        int n = first.EpisodesPerTrial;
        int[] shown = n == 1 ? [0] : n <= 4 ? Enumerable.Range(1, n - 1).ToArray() : [n - 1];
        int decimals = metric is null ? 2 : Decimals(metric.Format);
        var rows = new List<IReadOnlyList<ReportCell>>();
        foreach (var name in others[0].Groups.Select(g => g.Name))
            foreach (int e in shown)
                rows.Add([new ReportCell(e == shown[0] ? name : ""), new ReportCell((e + 1).ToString(CultureInfo.InvariantCulture)),
                    .. others.Select(o => o.Groups.FirstOrDefault(g => g.Name == name) is { } g ? Cell(g, e) : new ReportCell("n/a"))]);
        string group = first.GroupName ?? "group";
        string measure = metric?.Label ?? "return";
        return new ReportTable($"{first.Agent} minus each other agent in {measure}, each {group} apart, paired over its trials",
            [group, first.EpisodeName, .. others.Select(o => o.Agent)], rows,
            $"mean difference ± 95% CI over the {group}'s trials; positive = {first.Agent} higher") { Series = (2, others.Length) };

        ReportCell Cell(GroupLead g, int e)
        {
            var (mean, ci) = metric is null ? (g.PerEpisode[e], g.PerEpisodeCi95[e])
                : g.Metrics is not null && g.Metrics.TryGetValue(metric.Key, out var v) ? (v[e], g.MetricsCi95![metric.Key][e]) : (double.NaN, double.NaN);
            return double.IsNaN(mean) ? new ReportCell("n/a") : Signed(mean, ci, g.Trials, decimals);
        }
    }

    // The decimals of a .NET numeric format such as "F2".
    private static int Decimals(string format) => format.Length > 1 && int.TryParse(format.AsSpan(1), out int d) ? d : 2;

    /// <summary>
    /// One episode as each agent played it (<see cref="MetaTest.Trace"/>): a panel per channel of <paramref name="channels"/>
    /// stacked over a shared time axis, the agents' lines overlaid, a channel's target band shaded and event channels
    /// (meals) drawn as stems. <paramref name="x"/> is the time of each step in the unit <paramref name="xLabel"/> names.
    /// </summary>
    /// <exception cref="ArgumentException">A trace does not have one value per channel and step.</exception>
    public static void WriteTracePlot(string path, string title, IReadOnlyList<TraceChannel> channels, string xLabel, double[] x,
        IReadOnlyList<(string Agent, double[] Values)> traces)
    {
        ArgumentNullException.ThrowIfNull(channels);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(traces);
        foreach (var (agent, values) in traces)
            if (values.Length != x.Length * channels.Count)
                throw new ArgumentException($"The trace of '{agent}' holds {values.Length} values; {x.Length} steps × {channels.Count} channels need {x.Length * channels.Count}.", nameof(traces));
        Plots.Trace(path, title, xLabel, x, channels.Select((c, k) => (c.Name, c.Band, c.Events, c.Shading, c.FromZero)).ToArray(),
            traces.Select(t => (t.Agent, Enumerable.Range(0, channels.Count).Select(k => Enumerable.Range(0, x.Length).Select(i => t.Values[i * channels.Count + k]).ToArray()).ToArray())).ToArray());
    }

    /// <summary>
    /// The adaptation curves for TensorBoard: <c>events.out.tfevents.*.STEM</c> in <paramref name="dir"/> (replacing an earlier
    /// one of the same stem), one scalar series per agent, tagged <c>STEM/AGENT</c>, its step the episode of the trial
    /// (or the number of gradient steps where agents play rounds).
    /// </summary>
    public static void WriteEvents(string dir, string stem, IReadOnlyList<MetaTestResult> results)
    {
        foreach (var old in Directory.GetFiles(dir, $"{TensorBoardEvents.FilePrefix}*.{stem}")) File.Delete(old);
        using var events = TensorBoardEvents.Create(Path.Combine(dir, TensorBoardEvents.FileName(stem)));
        bool rounds = InRounds(results);
        int points = rounds ? results[0].StepReturns!.Length : results[0].EpisodesPerTrial;
        for (int i = 0; i < points; i++)
        {
            int k = i;
            events.Scalars(rounds ? k : k + 1, results.Select(r => ($"{stem}/{r.Agent}", rounds ? r.StepReturns![k] : r.EpisodeReturns[k])));
        }
    }
}

/// <summary>What a run's training looks like: the curves of its metrics.csv.</summary>
public static class TrainingReport
{
    /// <summary>
    /// Writes <c>training.png</c> into a run directory: every <c>*_return</c> column of its metrics.csv against the
    /// iteration (validation scores where they were measured). Nothing is written before the first iteration.
    /// </summary>
    public static void Plot(string runDirectory, string title)
    {
        var (columns, rows) = RunDirectory.ReadMetrics(Path.Combine(runDirectory, RunDirectory.MetricsFile));
        if (rows.Length == 0) return;
        var series = new List<(string, double[], double[])>();
        double[]? x = null;
        for (int c = 1; c < columns.Length; c++)
        {
            if (!columns[c].EndsWith("_return", StringComparison.Ordinal)) continue;
            var points = rows.Where(r => c < r.Length && !double.IsNaN(r[c])).ToArray();
            if (points.Length != rows.Length) continue; // a sparse column (validation) would need its own x axis
            x ??= rows.Select(r => r[0]).ToArray();
            series.Add((columns[c].Replace('_', ' '), points.Select(r => r[c]).ToArray(), new double[rows.Length]));
        }
        if (x is null || series.Count == 0) return;
        // Each column raw (thin, light) with its moving average over about a twentieth of the run on top.
        int window = Math.Max(1, rows.Length / 20);
        var curves = new List<Curve>();
        foreach (var (name, values, _) in series)
        {
            curves.Add(new Curve(name, values, null, CurveRole.Raw));
            if (window > 1) curves.Add(new Curve($"{name}, mean of {window}", Plots.MovingAverage(values, window), null, CurveRole.Smoothed));
        }
        Plots.Curves(Path.Combine(runDirectory, "training.png"), title, "iteration", "return", x, curves);
    }
}

/// <summary>An iteration's summary (<see cref="MetaRL.Core.Learning.IterationReport.Summary"/>) on a progress line of limited width.</summary>
public static class ProgressSummary
{
    /// <summary>
    /// The summary's leading fields (separated by two spaces, most important first) that fit in <paramref name="width"/>
    /// characters; fields are dropped whole from the end, never cut, and the first is cut only if it alone is too wide.
    /// </summary>
    public static string Fit(string summary, int width)
    {
        if (summary.Length <= width) return summary;
        var fields = summary.Split("  ", StringSplitOptions.RemoveEmptyEntries);
        string text = fields[0];
        for (int i = 1; i < fields.Length && text.Length + 2 + fields[i].Length <= width; i++) text += "  " + fields[i];
        return text.Length <= width ? text : text[..Math.Max(0, width)];
    }
}
