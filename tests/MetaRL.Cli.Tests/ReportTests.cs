using MetaRL.Core.Evaluation;
using MetaRL.Reports;

namespace MetaRL.Cli.Tests;

/// <summary>The library's reports: the table the CLI prints, and the files an application can write the same way.</summary>
public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-report-" + Guid.NewGuid().ToString("N"));

    public ReportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static MetaTestResult Result(string name, double[][] trialEpisodes, int perRound = 1, string? rule = null)
    {
        int n = trialEpisodes[0].Length, rounds = n / perRound;
        return new MetaTestResult
        {
            Agent = name, Task = "t", Trials = trialEpisodes.Length, EpisodesPerTrial = n, Seed = 1, ActingRule = rule, EpisodesPerRound = perRound,
            EpisodeReturns = Enumerable.Range(0, n).Select(e => trialEpisodes.Average(t => t[e])).ToArray(), EpisodeCi95 = new double[n],
            StepReturns = perRound > 1 ? Enumerable.Range(0, rounds).Select(r => trialEpisodes.Average(t => t.Skip(r * perRound).Take(perRound).Average())).ToArray() : null,
            StepCi95 = perRound > 1 ? new double[rounds] : null,
            MeanTotalReturn = trialEpisodes.Average(t => t.Sum()), Ci95 = trialEpisodes.Length < 2 ? 0 : 0.5,
            TrialTotals = trialEpisodes.Select(t => t.Sum()).ToArray(), TrialEpisodeReturns = trialEpisodes,
        };
    }

    [Fact]
    public void The_table_shows_how_each_agent_acts_its_returns_and_the_paired_lead_and_says_n_a_for_one_trial()
    {
        var a = Result("rl2", [[1, 2], [3, 4]], rule: "greedy");
        var b = Result("random", [[1, 1], [1, 1]]);
        b.LeadOfEvaluatedAgent = MetaTestResult.Lead(a, b);
        var table = EvaluationReport.Table([a, b], "title");
        Assert.Equal(["agent", "acts", "total return", "ep 1", "ep 2", "rl2 ahead by"], table.Columns);
        Assert.Equal("greedy", table.Rows[0][1].Text);
        Assert.Equal("5.000 ± 0.500", table.Rows[0][2].Text);
        Assert.Equal("+3.000 ± 3.920", table.Rows[1][^1].Text);
        Assert.Equal(0, table.Rows[1][^1].Lead);
        var text = table.ToText();
        Assert.Contains("rl2     greedy", text);
        // One trial has no confidence interval to give.
        var single = EvaluationReport.Table([Result("rl2", [[1, 2]])], "one");
        Assert.Equal("3.000 ± n/a", single.Rows[0][1].Text);
    }

    [Fact]
    public void Metrics_groups_and_the_lead_per_episode_have_tables_of_their_own()
    {
        var metric = new MetaRL.Core.Tasks.EpisodeMetric("timeInRange", "TIR %", "time in range", "F1");
        MetaTestResult WithMetrics(string name, double[][] returns, double[] tir, bool gains = false) => new()
        {
            GainOverFirst = gains ? new() { ["return"] = [0, 3], ["timeInRange"] = [0, 12.26] } : null,
            GainOverFirstCi95 = gains ? new() { ["return"] = [0, 1.5], ["timeInRange"] = [0, 20] } : null,
            Agent = name, Task = "t", Trials = returns.Length, EpisodesPerTrial = 2, Seed = 1, EpisodeName = "day",
            EpisodeReturns = [returns.Average(t => t[0]), returns.Average(t => t[1])], EpisodeCi95 = [0, 0],
            MeanTotalReturn = returns.Average(t => t.Sum()), Ci95 = 0, TrialTotals = returns.Select(t => t.Sum()).ToArray(), TrialEpisodeReturns = returns,
            Metrics = new() { ["timeInRange"] = tir }, MetricsCi95 = new() { ["timeInRange"] = [0, 0] }, GroupName = "cohort",
            Groups =
            [
                new GroupResult("adult", 2, [1, 2], [0, 0], 3, 0, new() { ["timeInRange"] = tir }, new() { ["timeInRange"] = [0, 0] }),
                new GroupResult("child", 1, [0.5, 0.5], [0, 0], 1, 0, new() { ["timeInRange"] = [60, 61] }, new() { ["timeInRange"] = [0, 0] }),
            ],
        };
        var rl2 = WithMetrics("rl2", [[1, 3], [1, 5]], [70, 82.26]);
        var pid = WithMetrics("pid", [[2, 2], [2, 2]], [75, 75]);
        pid.LeadOfEvaluatedAgent = MetaTestResult.Lead(rl2, pid);
        var metrics = EvaluationReport.MetricsTable([rl2, pid], [metric], "m");
        Assert.Equal(["agent", "day", "TIR %"], metrics.Columns);
        Assert.Equal([["rl2", "1", "70.0"], ["", "2", "82.3"], ["pid", "1", "75.0"], ["", "2", "75.0"]], metrics.Rows.Select(r => r.Select(c => c.Text).ToArray()));
        var groups = EvaluationReport.GroupTable([rl2, pid], [metric], 1, "g");
        Assert.Equal(["cohort", "agent", "trials", "return", "TIR %"], groups.Columns);
        Assert.Equal(["adult", "rl2", "2", "2.0", "82.3"], groups.Rows[0].Select(c => c.Text));
        var worst = EvaluationReport.WorstGroupTable([rl2, pid], [metric], "w");
        Assert.Equal(["agent", "worst cohort", "trials", "total return", "TIR %"], worst.Columns);
        Assert.Equal(["rl2", "child", "1", "1.0", "61.0"], worst.Rows[0].Select(c => c.Text));
        Assert.Equal("0.0 ± 0.1", EvaluationReport.Signed(-0.01, 0.1, 10, 1).Text); // no sign on a lead that rounds to nothing
        var lead = EvaluationReport.EpisodeLeadTable([rl2, pid]);
        Assert.Equal(["agent", "day 1", "day 2"], lead.Columns);
        Assert.Equal(["pid", "-1.0 ± 0.0", "+2.0 ± 2.0"], lead.Rows[0].Select(c => c.Text));
        Assert.Equal(1, lead.Rows[0][2].Lead);
        var gains = EvaluationReport.GainTable([WithMetrics("rl2", [[1, 3], [1, 5]], [70, 82.26], gains: true)], [metric]);
        Assert.Equal(["agent", "day", "return", "TIR %"], gains.Columns);
        Assert.Equal(["rl2", "2 − 1", "+3.00 ± 1.50", "+12.3 ± 20.0"], gains.Rows.Single().Select(c => c.Text));
        Assert.Equal([1, 0], gains.Rows[0].Skip(2).Select(c => c.Lead));
        Assert.Throws<ArgumentException>(() => EvaluationReport.GainTable([rl2], [metric]));
        EvaluationReport.WriteAll(_dir, "dosing", [rl2, pid], "dosing", [metric]);
        Assert.Contains("\"rl2\",2,timeInRange,82.26,0", File.ReadAllLines(Path.Combine(_dir, "dosing.csv")));
        Assert.Contains("\"adult\",\"rl2\",2,return,2,0", File.ReadAllLines(Path.Combine(_dir, "dosing.csv")));
        Assert.True(new FileInfo(Path.Combine(_dir, "dosing-timeInRange.png")).Length > 1000);
    }

    [Fact]
    public void The_lead_in_each_period_of_the_first_episode_has_a_table_and_every_period_a_plot_and_csv_rows()
    {
        // Two trials of two episodes of two months each: [trial][episode · 2 + month].
        MetaTestResult Monthly(string name, double[][] months) => new()
        {
            Agent = name, Task = "regime-trading", Trials = 2, EpisodesPerTrial = 2, Seed = 1,
            EpisodeReturns = [months.Average(m => m[0] + m[1]), months.Average(m => m[2] + m[3])], EpisodeCi95 = [0, 0],
            MeanTotalReturn = months.Average(m => m.Sum()), Ci95 = 0, TrialTotals = months.Select(m => m.Sum()).ToArray(),
            TrialEpisodeReturns = months.Select(m => new[] { m[0] + m[1], m[2] + m[3] }).ToArray(),
            PeriodName = "month", PeriodSteps = 21, TrialPeriodReturns = months,
            PeriodReturns = Enumerable.Range(0, 4).Select(k => months.Average(m => m[k])).ToArray(), PeriodCi95 = new double[4],
        };
        var rl2 = Monthly("RL²", [[1, 2, 2, 2], [0, 2, 2, 3]]);
        var mt = Monthly("multi-task", [[1, 1, 1, 1], [1, 1, 1, 1]]);
        mt.LeadOfEvaluatedAgent = MetaTestResult.Lead(rl2, mt);
        Assert.Equal([-0.5, 1, 1, 1.5], mt.LeadOfEvaluatedAgent.PerPeriod!);
        var table = EvaluationReport.PeriodLeadTable([rl2, mt]);
        Assert.Equal(["agent", "month 1", "month 2"], table.Columns);
        Assert.Equal(["multi-task", "-0.50 ± 0.98", "+1.00 ± 0.00"], table.Rows.Single().Select(c => c.Text));
        Assert.Equal([0, 1], table.Rows[0].Skip(1).Select(c => c.Lead));
        Assert.Throws<ArgumentException>(() => EvaluationReport.PeriodLeadTable([rl2, Monthly("other", [[1, 1, 1, 1], [1, 1, 1, 1]])]));
        EvaluationReport.WriteAll(_dir, "trading", [rl2, mt], "trading");
        Assert.Contains("\"RL²\",2,1,2,0", File.ReadAllLines(Path.Combine(_dir, "trading.csv")));
        Assert.True(new FileInfo(Path.Combine(_dir, "trading-month.png")).Length > 1000);
        var plain = Result("rl2", [[1, 2], [3, 4]]);
        Assert.Throws<ArgumentException>(() => EvaluationReport.WritePeriodPlot(Path.Combine(_dir, "none.png"), [plain], "t"));
    }

    [Fact]
    public void The_lead_on_each_group_apart_is_a_row_per_group_and_later_episode_in_the_headline_metric()
    {
        var metric = new MetaRL.Core.Tasks.EpisodeMetric("winRate", "win rate", "rounds won", "F3");
        string[] groupOf = ["rush", "rush", "kite"];
        // Three trials of three rounds; win rate per round as the metric (one value per round, one metric).
        MetaTestResult Played(string name, double[][] wins) => new()
        {
            Agent = name, Task = "arena", Trials = 3, EpisodesPerTrial = 3, Seed = 1, EpisodeName = "round", GroupName = "style",
            EpisodeReturns = [0, 0, 0], EpisodeCi95 = [0, 0, 0], MeanTotalReturn = 0, Ci95 = 0, TrialTotals = [0, 0, 0],
            TrialEpisodeReturns = wins.Select(t => t.Select(w => double.IsNaN(w) ? 0 : w).ToArray()).ToArray(), TrialEpisodeMetrics = wins, TrialGroups = groupOf,
            Metrics = new() { ["winRate"] = [0, 0, 0] }, MetricsCi95 = new() { ["winRate"] = [0, 0, 0] },
            Groups = [new GroupResult("kite", 1, [0, 0, 0], [0, 0, 0], 0, 0, null, null), new GroupResult("rush", 2, [0, 0, 0], [0, 0, 0], 0, 0, null, null)],
        };
        var rl2 = Played("RL²", [[0, 1, 1], [1, 1, 0.5], [0, 1, double.NaN]]);
        var npc = Played("NPC", [[1, 0, 0], [0, 1, 1], [0, 0, 0]]);
        var mt = Played("multi-task", [[0, 0, 1], [0, 0, 1], [1, 1, 1]]);
        npc.LeadOfEvaluatedAgent = MetaTestResult.Lead(rl2, npc);
        mt.LeadOfEvaluatedAgent = MetaTestResult.Lead(rl2, mt);
        var table = EvaluationReport.GroupLeadTable([rl2, npc, mt], metric);
        Assert.Equal(["style", "round", "NPC", "multi-task"], table.Columns);
        // Rounds 2 and 3 of three, paired over each style's trials alone; the style's name on its first row; one trial
        // has no interval; a round where the metric was never measured reads n/a.
        Assert.Equal(
            [["kite", "2", "+1.000 ± n/a", "0.000 ± n/a"], ["", "3", "n/a", "n/a"],
             ["rush", "2", "+0.500 ± 0.980", "+1.000 ± 0.000"], ["", "3", "+0.250 ± 1.470", "-0.250 ± 0.490"]],
            table.Rows.Select(r => r.Select(c => c.Text).ToArray()));
        Assert.Equal([0, 1], table.Rows[2].Skip(2).Select(c => c.Lead)); // coloured only where the interval clears zero
        Assert.Equal([0, 0], table.Rows[3].Skip(2).Select(c => c.Lead));
        // Without a metric, the return's lead (here the win, with the unmeasured round as 0).
        var byReturn = EvaluationReport.GroupLeadTable([rl2, npc, mt], null);
        Assert.Equal(["", "3", "0.00 ± n/a", "-1.00 ± n/a"], byReturn.Rows[1].Select(c => c.Text));
        Assert.Equal("+0.50 ± 0.98", byReturn.Rows[2][2].Text);
        // A compared agent carrying no group leads (none computed, or a family without groups) cannot be tabled.
        var plain = Played("random", [[0, 0, 0], [0, 0, 0], [0, 0, 0]]);
        Assert.Contains("'random' carries no lead per style", Assert.Throws<ArgumentException>(() => EvaluationReport.GroupLeadTable([rl2, plain], metric)).Message);
    }

    [Fact]
    public void Agents_playing_rounds_are_reported_per_step_in_the_table_csv_and_plot()
    {
        var maml = Result("maml", [[1, 1, 3, 3], [2, 2, 4, 4]], perRound: 2);
        var table = EvaluationReport.Table([maml], "steps");
        Assert.Equal(["agent", "total return", "0 steps", "1 step"], table.Columns);
        Assert.Equal(["maml", "10.000 ± 0.500", "1.500", "3.500"], table.Rows[0].Select(c => c.Text));
        EvaluationReport.WriteAll(_dir, "eval", [maml], "steps");
        var csv = File.ReadAllLines(Path.Combine(_dir, "eval.csv"));
        Assert.Equal("agent,episode,mean_return,ci95", csv[0]);
        Assert.Contains("agent,steps,mean_return,ci95", csv);
        Assert.Contains("\"maml\",1,3.5,0", csv);
        Assert.True(new FileInfo(Path.Combine(_dir, "eval.png")).Length > 1000);
        Assert.Contains("\"stepReturns\"", File.ReadAllText(Path.Combine(_dir, "eval.json")));
        var bad = Assert.Throws<ArgumentException>(() => Plots.AdaptationCurve(Path.Combine(_dir, "x.png"), "t", "x", "y", [0, 1], [("s", [1.0], [0.0])]));
        Assert.Contains("'s' has 1 points", bad.Message);
    }

    [Fact]
    public void A_table_too_wide_for_the_terminal_moves_the_episode_columns_into_tables_that_fit()
    {
        var trials = Enumerable.Range(0, 3).Select(t => Enumerable.Range(0, 10).Select(e => 0.5 + 0.01 * (t + e)).ToArray()).ToArray();
        var a = Result("rl2", trials, rule: "greedy");
        var results = Enumerable.Range(0, 9).Select(i => i == 0 ? a : Result($"baseline {i}", trials)).ToList();
        foreach (var r in results.Skip(1)) r.LeadOfEvaluatedAgent = MetaTestResult.Lead(a, r);
        var table = EvaluationReport.Table(results, "wide");
        Assert.True(table.BoxedWidth > 80);
        Assert.Equal([table], table.FitTo(200));
        var parts = table.FitTo(80);
        Assert.All(parts, p => Assert.True(p.BoxedWidth <= 80, $"{p.Title}: {p.BoxedWidth} columns"));
        // The summary keeps every column but the episodes; the episodes follow, each once, in order, rows numbered alike.
        Assert.Equal(["#", "agent", "acts", "total return", "rl2 ahead by"], parts[0].Columns);
        Assert.Equal(table.Columns.Where(c => c.StartsWith("ep ", StringComparison.Ordinal)), parts.Skip(1).SelectMany(p => p.Columns.Skip(1)));
        Assert.Equal(Enumerable.Range(1, 9).Select(i => i.ToString()), parts[1].Rows.Select(r => r[0].Text));
        Assert.Equal(table.Rows[4][table.Series.Start + 7].Text, parts.Skip(1).SelectMany(p => p.Columns.Skip(1).Select((c, j) => (c, v: p.Rows[4][j + 1].Text))).Single(x => x.c == "ep 8").v);
        Assert.Equal(2, parts.Count - 1); // ten episodes: two tables of five rather than nine and one
    }

    [Fact]
    public void Maml_step_tables_fit_80_columns_without_splitting_a_number()
    {
        // Before, the MAML eval tables were drawn whole: at 80 columns "-87.59 ± 24.31" broke over two lines.
        var trials = Enumerable.Range(0, 5).Select(t => Enumerable.Range(0, 20).Select(e => -87.59 + 3.1 * t + e).ToArray()).ToArray();
        var maml = Result("MAML (LVC)", trials, perRound: 5);
        var other = Result("random init, fine-tuned", trials.Select(t => t.Select(v => v - 10.25).ToArray()).ToArray(), perRound: 5);
        maml.Details["later-step-scale"] = "0.5";
        other.Details["later-step-scale"] = "1";
        other.LeadOfEvaluatedAgent = MetaTestResult.Lead(maml, other);
        var steps = EvaluationReport.StepTable([maml, other], "navigation-2d: return after k gradient steps", "caption");
        Assert.Equal(["agent", "0 steps", "1 step", "2 steps", "3 steps", "later steps"], steps.Columns);
        Assert.Equal("α × 0.5", steps.Rows[0][^1].Text);
        var leads = EvaluationReport.StepLeadTable([maml, other]);
        Assert.Equal("+10.25 ± 0.00", leads.Rows[0][1].Text);
        foreach (var table in new[] { steps, leads })
        {
            var parts = table.FitTo(80);
            Assert.All(parts, p => Assert.True(p.BoxedWidth <= 80, $"{p.Title}: {p.BoxedWidth} columns"));
            // Every cell appears whole in some part.
            var cells = parts.SelectMany(p => p.Rows.SelectMany(r => r.Skip(1).Select(c => c.Text))).ToHashSet();
            Assert.All(table.Rows.SelectMany(r => r), c => Assert.Contains(c.Text, cells));
        }
    }

    [Theory]
    [InlineData(200, "return 6.123  best 6.250 @50  12,345 steps/s  entropy 0.120  kl 0.0010")]
    [InlineData(44, "return 6.123  best 6.250 @50  12,345 steps/s")]
    [InlineData(30, "return 6.123  best 6.250 @50")]
    [InlineData(20, "return 6.123")]
    [InlineData(8, "return 6")]
    public void A_progress_summary_keeps_whole_fields_that_fit(int width, string expected)
        => Assert.Equal(expected, ProgressSummary.Fit("return 6.123  best 6.250 @50  12,345 steps/s  entropy 0.120  kl 0.0010", width));

    [Fact]
    public void The_adaptation_plot_sets_the_evaluated_agent_apart_names_the_axis_in_the_familys_unit_and_is_1000_pixels_wide()
    {
        var rl2 = Result("RL²", [[1, 2], [3, 4]]);
        var greedy = Result("greedy", [[1, 1], [2, 2]]);
        var pulls = new MetaTestResult
        {
            Agent = rl2.Agent, Task = "bandit", Trials = 2, EpisodesPerTrial = 2, Seed = 1, EpisodeName = "pull", EpisodeReturns = rl2.EpisodeReturns, EpisodeCi95 = rl2.EpisodeCi95,
            MeanTotalReturn = rl2.MeanTotalReturn, Ci95 = rl2.Ci95, TrialTotals = rl2.TrialTotals, TrialEpisodeReturns = rl2.TrialEpisodeReturns, OracleTotalReturn = 4, OracleAgent = "oracle",
        };
        var (xLabel, yLabel, _, curves) = EvaluationReport.PlotData([pulls, greedy]);
        Assert.Equal(("pull of the trial", "mean return per pull"), (xLabel, yLabel));
        Assert.Equal([CurveRole.Evaluated, CurveRole.Baseline, CurveRole.Reference], curves.Select(c => c.Role));
        Assert.Equal([2.0, 2.0], curves[2].Mean);
        // An oracle among the agents is not drawn twice.
        var oracleAgent = Result("oracle", [[2, 2], [2, 2]]);
        Assert.DoesNotContain(EvaluationReport.PlotData([pulls, greedy, oracleAgent]).Curves, c => c.Role == CurveRole.Reference);
        Assert.StartsWith("gradient steps on the task (each after 2 episodes)", EvaluationReport.PlotData([Result("maml", [[1, 1, 3, 3]], perRound: 2)]).XLabel);

        var png = Path.Combine(_dir, "curve.png");
        EvaluationReport.WritePlot(png, [pulls, greedy], "t");
        var header = File.ReadAllBytes(png).AsSpan(16, 4);
        Assert.Equal(1000, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header));
        Assert.Equal([1.0, 1.5, 2.5, 3.5], Plots.MovingAverage([1.0, 2, 3, 4], 2));
    }

    [Fact]
    public void A_long_title_is_wrapped_at_commas_or_spaces_and_a_short_one_is_left_alone()
    {
        Assert.Equal("RL² on bandit", Plots.Wrap("RL² on bandit", 20));
        // After the comma (the line stays over half full), not at the last space that fits.
        Assert.Equal("arms=5, pulls=10,\nepisodes=1", Plots.Wrap("arms=5, pulls=10, episodes=1", 22));
        // A comma too early in the line is passed over for the last space that fits.
        Assert.Equal("a, bbbbbbbbbb cccc\ndddd", Plots.Wrap("a, bbbbbbbbbb cccc dddd", 18));
        // A word longer than the line stays whole, on its own line.
        Assert.Equal("short\nwaytoolongword\nend", Plots.Wrap("short waytoolongword end", 8));
        var title = "regime-trading (window=20, cost=0.001, positions=5, days=250, episodes=4, risk-penalty=2.5, normalize-returns=true)";
        var lines = Plots.Wrap(title, 64).Split('\n');
        Assert.All(lines, l => Assert.InRange(l.Length, 1, 64));
        Assert.Equal(title, string.Join(' ', lines));
        Assert.Throws<ArgumentOutOfRangeException>(() => Plots.Wrap(title, 0));
    }

    [Fact]
    public void An_actors_label_stays_inside_the_room_at_its_walls()
    {
        // In the open: centred above the dot.
        Assert.Equal((5.0, 5.0 + 0.06 * 16, ScottPlot.Alignment.LowerCenter), Plots.LabelPlace(5, 5, 16, 16));
        // At the top wall it goes below the dot; at a side wall it starts (ends) at the dot instead of straddling it.
        Assert.Equal((0.1, 15.9 - 0.06 * 16, ScottPlot.Alignment.UpperLeft), Plots.LabelPlace(0.1, 15.9, 16, 16));
        Assert.Equal((15.8, 15.9 - 0.06 * 16, ScottPlot.Alignment.UpperRight), Plots.LabelPlace(15.8, 15.9, 16, 16));
        Assert.Equal(ScottPlot.Alignment.UpperCenter, Plots.LabelPlace(8, 15.9, 16, 16).Alignment);
        Assert.Equal(ScottPlot.Alignment.LowerLeft, Plots.LabelPlace(0.3, 2, 16, 16).Alignment);
        Assert.Equal(ScottPlot.Alignment.LowerRight, Plots.LabelPlace(15.5, 2, 16, 16).Alignment);
    }

    [Fact]
    public void A_trace_and_a_strip_are_written_as_pngs()
    {
        var x = Enumerable.Range(0, 50).Select(i => (double)i).ToArray();
        double[] price = x.Select(v => 1 + v / 100).ToArray(), regime = x.Select(v => v is > 20 and < 30 ? 1.0 : 0).ToArray();
        var trace = Path.Combine(_dir, "trace.png");
        Plots.Trace(trace, "a market", "day", x,
            [("price", null, false, false, false), ("regime", null, false, true, false), ("position", null, false, false, true)],
            [("agent", [price, regime, x.Select(_ => 0.5).ToArray()]), ("other", [price, regime, x.Select(_ => 1.0).ToArray()])]);
        var strip = Path.Combine(_dir, "strip.png");
        Plots.Strip(strip, "a round", 16, 16,
            [new Scene("0.0 s", [(3, 3, 1.2)], [new SceneActor("NPC", 0, 0.1, 15.9, [0.5, 0.1], [15, 15.9]), new SceneActor("player", 1, 15.9, 8, [], [])], [new SceneShot(0, 0.1, 15.9, 15.9, 8, true)])]);
        foreach (var png in new[] { trace, strip })
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
    }

    [Fact]
    public void A_gif_decodes_to_its_frames_exactly_where_they_have_few_colours()
    {
        // Three frames of 300 × 200 (60 000 pixels: the LZW table fills and is cleared many times over), 200 colours in
        // noise, a block that moves, and a last frame equal to the one before (all transparent).
        const int w = 300, h = 200;
        var colours = Enumerable.Range(0, 200).Select(i => (R: (byte)(i * 37 % 256), G: (byte)(i * 91 % 256), B: (byte)(i * 13 % 256))).ToArray();
        var rng = new Random(7);
        var noise = Enumerable.Range(0, w * h).Select(_ => rng.Next(colours.Length)).ToArray();
        byte[] Frame(int shift)
        {
            var rgb = new byte[w * h * 3];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    var c = x >= 100 + shift && x < 150 + shift && y >= 50 && y < 100 ? colours[0] : colours[noise[y * w + x]];
                    (rgb[(y * w + x) * 3], rgb[(y * w + x) * 3 + 1], rgb[(y * w + x) * 3 + 2]) = c;
                }
            return rgb;
        }
        var frames = new[] { Frame(0), Frame(30), Frame(30) };
        using var stream = new MemoryStream();
        Gif.Write(stream, w, h, frames, [10, 10, 200]);

        using var codec = SkiaSharp.SKCodec.Create(new MemoryStream(stream.ToArray()));
        Assert.NotNull(codec);
        Assert.Equal(3, codec.FrameCount);
        Assert.Equal([100, 100, 2000], codec.FrameInfo.Select(f => f.Duration));
        Assert.Equal(-1, codec.RepetitionCount); // Skia: -1 is for ever
        var info = new SkiaSharp.SKImageInfo(w, h, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Unpremul);
        for (int f = 0; f < frames.Length; f++)
        {
            using var bitmap = new SkiaSharp.SKBitmap(info);
            Assert.Equal(SkiaSharp.SKCodecResult.Success, codec.GetPixels(info, bitmap.GetPixels(), new SkiaSharp.SKCodecOptions(f)));
            var rgba = bitmap.Bytes;
            for (int i = 0; i < w * h; i++)
                if (rgba[4 * i] != frames[f][3 * i] || rgba[4 * i + 1] != frames[f][3 * i + 1] || rgba[4 * i + 2] != frames[f][3 * i + 2] || rgba[4 * i + 3] != 255)
                    Assert.Fail($"frame {f}, pixel ({i % w}, {i / w}): decoded {rgba[4 * i]},{rgba[4 * i + 1]},{rgba[4 * i + 2]},{rgba[4 * i + 3]}, " +
                        $"written {frames[f][3 * i]},{frames[f][3 * i + 1]},{frames[f][3 * i + 2]}");
        }
        // A frame where nothing changed is one index throughout: a few hundred bytes of code for 60 000 pixels.
        Assert.InRange(Gif.Lzw(Enumerable.Repeat((byte)255, w * h).ToArray()).Length, 1, 2000);

        Assert.Throws<ArgumentException>(() => Gif.Write(new MemoryStream(), w, h, frames, [10, 10]));
        Assert.Throws<ArgumentException>(() => Gif.Write(new MemoryStream(), w, h + 1, frames, [10, 10, 10]));
    }

    [Fact]
    public void A_scene_animation_is_a_looping_gif_of_every_frame_with_the_last_held()
    {
        var frames = Enumerable.Range(0, 5).Select(i => new Scene($"{i * 0.1:F1} s", [(3, 3, 1.2)],
            [new SceneActor("NPC", 0, 2 + i, 8, [], []), new SceneActor("player", 1, 14, 15.9, [], [])], [])).ToArray();
        var gif = Path.Combine(_dir, "round.gif");
        Plots.Animation(gif, "a round", 16, 16, frames, 0.1);
        using var codec = SkiaSharp.SKCodec.Create(gif);
        Assert.Equal(5, codec.FrameCount);
        Assert.Equal([100, 100, 100, 100, 2000], codec.FrameInfo.Select(f => f.Duration));
        Assert.Throws<ArgumentException>(() => Plots.Animation(gif, "none", 16, 16, [], 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Plots.Animation(gif, "too fast", 16, 16, frames, 0.001));
        // A refused animation leaves the file written before as it was.
        using var again = SkiaSharp.SKCodec.Create(gif);
        Assert.Equal(5, again.FrameCount);
    }
}
