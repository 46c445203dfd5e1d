using System.Globalization;
using MetaRL.Core.Evaluation;
using Spectre.Console;

namespace MetaRL.Cli.Reports;

/// <summary>Renders meta-test results as a table, CSV, JSON and an adaptation-curve plot.</summary>
internal static class Report
{
    public static void PrintTable(IReadOnlyList<MetaTestResult> results, string title)
    {
        if (results.Count == 0) return;
        int n = results[0].EpisodesPerTrial;
        int[] shown = ShownEpisodes(n);
        var table = new Table().Title(title).Caption($"{results[0].Trials} held-out trials, seed {results[0].Seed}; mean ± 95% CI");
        table.AddColumn("agent");
        // Agents compared in one table may act under different rules (a greedy RL² policy, a sampling MAML one).
        bool anyRule = results.Any(r => r.ActingRule is not null);
        if (anyRule) table.AddColumn("acts");
        table.AddColumn(new TableColumn("total return").RightAligned());
        foreach (int e in shown) table.AddColumn(new TableColumn($"ep {e + 1}").RightAligned());
        bool anyRegret = results.Any(r => r.Regret.HasValue);
        if (anyRegret) table.AddColumn(new TableColumn(results.FirstOrDefault(r => r.OracleAgent is not null) is { } o ? $"regret (vs {Markup.Escape(o.OracleAgent!)})" : "regret").RightAligned());
        bool anyLead = results.Any(r => r.LeadOfEvaluatedAgent is not null);
        if (anyLead)
        {
            table.AddColumn(new TableColumn($"{Markup.Escape(results[0].Agent)} ahead by (paired)").RightAligned());
            table.Caption($"{results[0].Trials} held-out trials, seed {results[0].Seed}; mean ± 95% CI; the last column is {Markup.Escape(results[0].Agent)}'s total minus the row's, trial by trial on the same tasks");
        }
        foreach (var r in results)
        {
            var row = new List<string> { Markup.Escape(r.Agent) };
            if (anyRule) row.Add(Markup.Escape(r.ActingRule ?? ""));
            row.Add($"{r.MeanTotalReturn:F3} ± {r.Ci95:F3}");
            row.AddRange(shown.Select(e => $"{r.EpisodeReturns[e]:F3}"));
            if (anyRegret) row.Add(r.Regret is { } g ? $"{g:F3}" : "");
            if (anyLead) row.Add(r.LeadOfEvaluatedAgent is { } l ? SignedCell(l.Mean, l.Ci95, 3) : "");
            table.AddRow(row.ToArray());
        }
        AnsiConsole.Write(table);
    }

    private static int[] ShownEpisodes(int n)
    {
        if (n <= 10) return Enumerable.Range(0, n).ToArray();
        var set = new SortedSet<int> { 0, 1, 2, 4, 9, n / 4 - 1, n / 2 - 1, n - 1 };
        return set.Where(e => e >= 0 && e < n).ToArray();
    }

    /// <summary>A signed paired difference ± its 95% CI, green when the CI is above zero, red below, yellow across it.</summary>
    public static string SignedCell(double mean, double ci95, int decimals)
    {
        string digits = new('0', decimals);
        string colour = mean - ci95 > 0 ? "green" : mean + ci95 < 0 ? "red" : "yellow";
        return $"[{colour}]{mean.ToString($"+0.{digits};-0.{digits}")} ± {ci95.ToString($"F{decimals}")}[/]";
    }

    public static void WriteCsv(string path, IReadOnlyList<MetaTestResult> results)
    {
        using var w = new StreamWriter(path);
        w.WriteLine("agent,episode,mean_return,ci95");
        foreach (var r in results)
            for (int e = 0; e < r.EpisodeReturns.Length; e++)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"\"{r.Agent.Replace("\"", "\"\"")}\",{e + 1},{r.EpisodeReturns[e]:G8},{r.EpisodeCi95[e]:G8}"));
    }

    public static void WritePlot(string path, IReadOnlyList<MetaTestResult> results, string title)
    {
        if (results.Count == 0) return;
        var x = Enumerable.Range(1, results[0].EpisodesPerTrial).Select(i => (double)i).ToArray();
        Plots.AdaptationCurve(path, title, "episode of the trial", "mean return",
            x, results.Select(r => (r.Agent, r.EpisodeReturns, r.EpisodeCi95)).ToArray());
    }

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
    public static string OutputPath(string runOrCheckpoint, string stem)
        => File.Exists(runOrCheckpoint)
            ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runOrCheckpoint))!, FileSafe(Path.GetFileNameWithoutExtension(runOrCheckpoint)) + "-" + stem)
            : Path.Combine(runOrCheckpoint, stem);

    /// <summary>A run directory's name, made safe for a file name (for outputs that name the runs they compare).</summary>
    public static string FileLabel(string dir)
        => FileSafe(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))));

    /// <summary><paramref name="text"/> with every character but letters, digits, '-', '_', '.' and <paramref name="alsoKept"/> replaced by '_'.</summary>
    private static string FileSafe(string text, params char[] alsoKept)
        => new(text.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' || alsoKept.Contains(c) ? c : '_').ToArray());

    /// <summary>Writes table-independent outputs (CSV, JSON, PNG) into <paramref name="dir"/> under <paramref name="stem"/>.</summary>
    public static void WriteAll(string dir, string stem, IReadOnlyList<MetaTestResult> results, string title)
    {
        Directory.CreateDirectory(dir);
        WriteCsv(Path.Combine(dir, stem + ".csv"), results);
        File.WriteAllText(Path.Combine(dir, stem + ".json"), MetaTestResult.ToJson(results));
        WritePlot(Path.Combine(dir, stem + ".png"), results, title);
    }
}
