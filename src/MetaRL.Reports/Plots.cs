using ScottPlot;

namespace MetaRL.Reports;

/// <summary>PNG plots of adaptation curves and training metrics, written atomically (a temporary file moved into place).</summary>
public static class Plots
{
    private static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#d62728"), Color.FromHex("#2ca02c"), Color.FromHex("#ff7f0e"),
        Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#7f7f7f"),
        Color.FromHex("#bcbd22"), Color.FromHex("#17becf"),
    ];

    /// <summary>One line per series with a shaded 95% confidence band; written atomically.</summary>
    /// <exception cref="ArgumentException">A series is not as long as <paramref name="x"/>.</exception>
    public static void AdaptationCurve(string path, string title, string xLabel, string yLabel, double[] x,
        IReadOnlyList<(string Name, double[] Mean, double[] Ci95)> series)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(series);
        foreach (var (name, mean, ci) in series)
            if (mean.Length != x.Length || ci.Length != x.Length)
                throw new ArgumentException($"Series '{name}' has {mean.Length} points and {ci.Length} intervals; the x axis has {x.Length}.", nameof(series));
        var plot = new Plot();
        for (int s = 0; s < series.Count; s++)
        {
            var (name, mean, ci) = series[s];
            var color = Palette[s % Palette.Length];
            var lo = mean.Select((m, i) => m - ci[i]).ToArray();
            var hi = mean.Select((m, i) => m + ci[i]).ToArray();
            var band = plot.Add.FillY(x, lo, hi);
            band.FillColor = color.WithAlpha(0.18);
            band.LineWidth = 0;
            var line = plot.Add.Scatter(x, mean);
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = x.Length <= 30 ? 6 : 0;
            line.LegendText = name;
        }
        if (x.Length <= 30 && x.All(v => v == Math.Floor(v)))
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(Math.Max(1, Math.Ceiling(x.Length / 15.0)));
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
        Save(plot, path);
    }

    private static void Save(Plot plot, string path)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp.png");
        try
        {
            plot.SavePng(tmp, 1100, 560);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
