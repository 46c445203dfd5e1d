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

    /// <summary>One line per series with a shaded 95% confidence band, the first as the evaluated agent and the others as baselines; written atomically.</summary>
    /// <exception cref="ArgumentException">A series is not as long as <paramref name="x"/>.</exception>
    public static void AdaptationCurve(string path, string title, string xLabel, string yLabel, double[] x,
        IReadOnlyList<(string Name, double[] Mean, double[] Ci95)> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        Curves(path, title, xLabel, yLabel, x, series.Select((s, i) => new Curve(s.Name, s.Mean, s.Ci95, i == 0 ? CurveRole.Evaluated : CurveRole.Baseline)).ToArray());
    }

    /// <summary>
    /// The curves drawn by role: the evaluated agent heavy and on top with its 95% band, baselines thin and light with
    /// faint bands, references dashed grey, raw training curves thin under their smoothed average (same colour).
    /// Sized for a 1000-pixel-wide PNG; written atomically.
    /// </summary>
    /// <exception cref="ArgumentException">A curve is not as long as <paramref name="x"/>.</exception>
    public static void Curves(string path, string title, string xLabel, string yLabel, double[] x, IReadOnlyList<Curve> curves)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(curves);
        foreach (var c in curves)
            if (c.Mean.Length != x.Length || (c.Ci95 is not null && c.Ci95.Length != x.Length))
                throw new ArgumentException($"Series '{c.Name}' has {c.Mean.Length} points and {c.Ci95?.Length ?? 0} intervals; the x axis has {x.Length}.", nameof(curves));
        using var plot = new Plot();
        bool markers = x.Length <= 30;
        // Colours in declaration order (a smoothed curve takes its raw curve's); drawing order puts the evaluated agent last, on top.
        var colours = new Color[curves.Count];
        for (int i = 0, next = 0; i < curves.Count; i++)
            colours[i] = curves[i].Role == CurveRole.Smoothed && i > 0 ? colours[i - 1]
                : curves[i].Role == CurveRole.Reference ? Color.FromHex("#555555") : Palette[next++ % Palette.Length];
        var order = Enumerable.Range(0, curves.Count).OrderBy(i => curves[i].Role == CurveRole.Evaluated ? 1 : 0).ToArray();
        var lines = new ScottPlot.Plottables.Scatter[curves.Count];
        foreach (int i in order)
        {
            var (c, colour) = (curves[i], colours[i]);
            if (c.Ci95 is { } ci && c.Role is CurveRole.Evaluated or CurveRole.Baseline && ci.Any(v => v > 0))
            {
                var band = plot.Add.FillY(x, c.Mean.Select((m, j) => m - ci[j]).ToArray(), c.Mean.Select((m, j) => m + ci[j]).ToArray());
                band.FillColor = colour.WithAlpha(c.Role == CurveRole.Evaluated ? 0.22 : 0.06);
                band.LineWidth = 0;
            }
            var line = plot.Add.Scatter(x, c.Mean);
            (line.Color, line.LineWidth, line.MarkerSize) = c.Role switch
            {
                CurveRole.Evaluated => (colour, 3.5f, markers ? 8f : 0f),
                CurveRole.Baseline => (colour.WithAlpha(0.7), 1.5f, markers ? 4f : 0f),
                CurveRole.Reference => (colour, 1.5f, 0f),
                CurveRole.Raw => (colour.WithAlpha(0.3), 1f, 0f),
                _ => (colour, 2.5f, 0f),
            };
            if (c.Role == CurveRole.Reference) line.LinePattern = LinePattern.Dashed;
            lines[i] = line;
        }
        // The legend lists the curves as declared (the evaluated agent first), whatever the drawing order.
        plot.Legend.ManualItems.AddRange(lines.Select((l, i) => new LegendItem { LabelText = curves[i].Name, LineColor = l.Color, LineWidth = l.LineWidth, LinePattern = l.LinePattern,
            MarkerShape = l.MarkerShape, MarkerSize = l.MarkerSize, MarkerFillColor = l.Color, MarkerLineColor = l.Color }));
        if (markers && x.All(v => v == Math.Floor(v)))
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(Math.Max(1, Math.Ceiling(x.Length / 15.0)));
        // The title is centred over the data area, which the legend on the right narrows; one that would take more than two
        // lines (a run's settings) is set smaller.
        string wrapped = Wrap(title, 64);
        if (wrapped.Count(c => c == '\n') < 2) plot.Title(wrapped);
        else plot.Title(Wrap(title, 88), size: 12);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
        Save(path, tmp => plot.SavePng(tmp, 1000, 560));
    }

    /// <summary>
    /// Stacked panels over one time axis, one per channel: each agent's values as a line (the first agent heavy), a
    /// channel's band shaded green, an event channel drawn as markers where it is not zero. A shading channel (a market's
    /// regime) gets no panel: the first agent's stretches where it is above zero are shaded grey behind every panel,
    /// darker as it grows. The legend, under the last panel, names the agents and the shading. Written atomically.
    /// </summary>
    public static void Trace(string path, string title, string xLabel, double[] x, IReadOnlyList<(string Name, (double Low, double High)? Band, bool Events, bool Shading, bool FromZero)> channels,
        IReadOnlyList<(string Agent, double[][] Channels)> traces)
    {
        ArgumentNullException.ThrowIfNull(channels);
        ArgumentNullException.ThrowIfNull(traces);
        var multi = new Multiplot();
        var panels = Enumerable.Range(0, channels.Count).Where(k => !channels[k].Shading).ToArray();
        var shading = Enumerable.Range(0, channels.Count).Where(k => channels[k].Shading).ToArray();
        for (int p = 0; p < panels.Length; p++)
        {
            int k = panels[p];
            // A new multiplot holds one plot already: it is the first panel.
            var plot = p == 0 ? multi.GetPlot(0) : multi.AddPlot();
            var (name, band, events, _, fromZero) = channels[k];
            foreach (int s in shading)
                if (traces.Count > 0) ShadeStretches(plot, x, traces[0].Channels[s]);
            if (band is { } b)
            {
                var shade = plot.Add.VerticalSpan(b.Low, b.High);
                shade.FillColor = Color.FromHex("#2ca02c").WithAlpha(0.12);
                shade.LineWidth = 0;
            }
            for (int a = traces.Count - 1; a >= 0; a--)
            {
                var (agent, values) = traces[a];
                var colour = Palette[a % Palette.Length];
                if (events)
                {
                    var at = Enumerable.Range(0, x.Length).Where(i => values[k][i] != 0).ToArray();
                    if (at.Length == 0) continue;
                    var marks = plot.Add.ScatterPoints(at.Select(i => x[i]).ToArray(), at.Select(i => values[k][i]).ToArray());
                    (marks.Color, marks.MarkerSize) = (colour, a == 0 ? 10f : 6f);
                    continue;
                }
                var line = plot.Add.Scatter(x, values[k]);
                (line.Color, line.LineWidth, line.MarkerSize) = (a == 0 ? colour : colour.WithAlpha(0.75), a == 0 ? 2.5f : 1.5f, 0f);
            }
            plot.YLabel(name);
            plot.Axes.AutoScale();
            plot.Axes.SetLimitsX(x.Length > 0 ? Math.Min(0, x[0]) : 0, x.Length > 0 ? x[^1] : 1);
            // Amounts and events start from zero, so that a quiet stretch reads as none.
            if (events || (band is null && fromZero))
                plot.Axes.SetLimitsY(0, Math.Max(1e-9, traces.Max(t => t.Channels[k].DefaultIfEmpty(0).Max())) * 1.08);
            if (p == 0) plot.Title(Wrap(title, 90));
            if (p == panels.Length - 1)
            {
                plot.XLabel(xLabel);
                // The legend goes under the last panel, in rows, where it hides none of the data.
                if (shading.Length > 0 && traces.Count > 0 && shading.Any(s => traces[0].Channels[s].Any(v => v > 0)))
                    plot.Legend.ManualItems.Add(new LegendItem { LabelText = channels[shading[0]].Name, FillColor = Colors.Black.WithAlpha(0.12) });
                plot.Legend.ManualItems.AddRange(traces.Select((t, a) => new LegendItem { LabelText = t.Agent,
                    LineColor = Palette[a % Palette.Length], LineWidth = a == 0 ? 2.5f : 1.5f }));
                plot.Legend.Orientation = Orientation.Horizontal;
                if (plot.Legend.ManualItems.Count > 0) plot.ShowLegend(Edge.Bottom);
            }
        }
        // Every panel's data area the same height: the first also holds the title, the last the axis label and the legend.
        int legendRows = (traces.Count + shading.Length + 2) / 3;
        var heights = Enumerable.Range(0, panels.Length).Select(p => 240f + (p == 0 ? 50 : 0) + (p == panels.Length - 1 ? 30 + 24 * legendRows : 0)).ToArray();
        var rows = new ScottPlot.MultiplotLayouts.DraggableRows { ExpandingPlotIndex = panels.Length - 1 };
        rows.SetHeights(heights);
        multi.Layout = rows;
        Save(path, tmp => multi.SavePng(tmp, 1000, (int)heights.Sum()));
        // A multiplot is not disposable; its panels hold native drawing memory.
        foreach (var panel in multi.GetPlots()) panel.Dispose();
    }

    // Grey spans over the stretches where a state channel is above zero, darker by 0.07 of opacity per unit of the state
    // (a step's span reaches half a step each side).
    private static void ShadeStretches(Plot plot, double[] x, double[] state)
    {
        double half = x.Length > 1 ? (x[1] - x[0]) / 2 : 0.5;
        for (int i = 0; i < x.Length;)
        {
            if (state[i] <= 0) { i++; continue; }
            int j = i;
            while (j + 1 < x.Length && state[j + 1] == state[i]) j++;
            var span = plot.Add.HorizontalSpan(x[i] - half, x[j] + half);
            span.FillColor = Colors.Black.WithAlpha(Math.Min(0.3, 0.07 * state[i]));
            span.LineWidth = 0;
            i = j + 1;
        }
    }

    /// <summary>
    /// Frames of a 2-D scene side by side (<paramref name="columns"/> to a row), each a room of
    /// <paramref name="width"/> × <paramref name="height"/> with its obstacles, its actors (a dot, a label and a trail) and
    /// the shots or strikes of the moment (solid when they hit, dashed when they missed) under its caption. Written atomically.
    /// </summary>
    public static void Strip(string path, string title, double width, double height, IReadOnlyList<Scene> frames, int columns = 4)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        using var plot = new Plot();
        double gap = 0.12 * width, cellW = width + gap, cellH = height + 0.22 * height;
        int rows = (frames.Count + columns - 1) / columns;
        for (int i = 0; i < frames.Count; i++)
            DrawScene(plot, frames[i], i % columns * cellW, -(i / columns) * cellH, width, height);
        // The title is drawn as text: a frameless plot has no title area.
        double across = Math.Min(columns, frames.Count) * cellW - gap;
        var heading = plot.Add.Text(title, across / 2, height + 0.14 * height);
        (heading.LabelFontSize, heading.LabelBold, heading.LabelAlignment) = (15, true, Alignment.LowerCenter);
        plot.HideGrid();
        plot.Axes.Frameless();
        plot.Axes.SetLimits(-0.05 * width, across + 0.05 * width, -(rows - 1) * cellH - 0.05 * height, height + 0.26 * height);
        plot.Axes.SquareUnits(); // round pillars stay round
        Save(path, tmp => plot.SavePng(tmp, 300 * columns, 320 * rows + 60));
    }

    // One frame of a strip or an animation: the room with its lower left corner at (ox, oy), its obstacles, the attacks of
    // the moment, the actors with their trails and labels, and the caption above the room.
    private static void DrawScene(Plot plot, Scene f, double ox, double oy, double width, double height)
    {
        var room = plot.Add.Rectangle(ox, ox + width, oy, oy + height);
        (room.FillStyle.Color, room.LineStyle.Color, room.LineStyle.Width) = (Color.FromHex("#f4f1ea"), Colors.Black, 1.5f);
        foreach (var (x, y, r) in f.Obstacles)
        {
            var c = plot.Add.Circle(ox + x, oy + y, r);
            (c.FillStyle.Color, c.LineStyle.Color) = (Color.FromHex("#8c8c8c"), Color.FromHex("#555555"));
        }
        foreach (var shot in f.Shots)
        {
            var line = plot.Add.Line(ox + shot.X1, oy + shot.Y1, ox + shot.X2, oy + shot.Y2);
            (line.LineStyle.Color, line.LineStyle.Width) = (Palette[shot.Colour % Palette.Length], shot.Hit ? 2.5f : 1.2f);
            if (!shot.Hit) line.LineStyle.Pattern = LinePattern.Dashed;
        }
        foreach (var a in f.Actors)
        {
            var colour = Palette[a.Colour % Palette.Length];
            if (a.TrailX.Length > 1)
            {
                var trail = plot.Add.ScatterLine(a.TrailX.Select(x => ox + x).ToArray(), a.TrailY.Select(y => oy + y).ToArray());
                (trail.Color, trail.LineWidth) = (colour.WithAlpha(0.5), 1.5f);
            }
            var dot = plot.Add.Marker(ox + a.X, oy + a.Y);
            (dot.Color, dot.Size) = (colour, 12);
            var (lx, ly, along) = LabelPlace(a.X, a.Y, width, height);
            var label = plot.Add.Text(a.Label, ox + lx, oy + ly);
            (label.LabelFontColor, label.LabelFontSize, label.LabelAlignment) = (colour, 11, along);
        }
        var caption = plot.Add.Text(f.Caption, ox + width / 2, oy + height + 0.03 * height);
        (caption.LabelFontSize, caption.LabelAlignment) = (12, Alignment.LowerCenter);
    }

    /// <summary>
    /// The frames of a 2-D scene (as <see cref="Strip"/> draws them, one at a time and larger) as a looping animated GIF,
    /// each shown for <paramref name="secondsPerFrame"/> and the last held for two seconds before the loop starts again.
    /// Written atomically.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="frames"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="secondsPerFrame"/> is under 0.01 s or over 655 s (a GIF counts hundredths).</exception>
    public static void Animation(string path, string title, double width, double height, IReadOnlyList<Scene> frames, double secondsPerFrame)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0) throw new ArgumentException("An animation needs at least one frame.", nameof(frames));
        int delay = (int)Math.Round(secondsPerFrame * 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, 1, nameof(secondsPerFrame));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(delay, ushort.MaxValue, nameof(secondsPerFrame));
        const int pixelsW = 520, pixelsH = 600;
        var rgb = new byte[frames.Count][];
        // Frames are independent plots, so they are drawn on every core; each lands at its own index, so the file is the
        // same whatever the order they finish in.
        Parallel.For(0, frames.Count, i =>
        {
            // A frame's plot and image hold native drawing memory: freed here, not left to the finalizer for every frame.
            using var plot = new Plot();
            DrawScene(plot, frames[i], 0, 0, width, height);
            var heading = plot.Add.Text(Wrap(title, 60), width / 2, height + 0.1 * height);
            (heading.LabelFontSize, heading.LabelBold, heading.LabelAlignment) = (13, true, Alignment.LowerCenter);
            plot.HideGrid();
            plot.Axes.Frameless();
            plot.Axes.SetLimits(-0.04 * width, 1.04 * width, -0.04 * height, 1.26 * height);
            plot.Axes.SquareUnits();
            using var image = plot.GetImage(pixelsW, pixelsH);
            rgb[i] = Rgb(image);
        });
        var delays = Enumerable.Repeat(delay, frames.Count).ToArray();
        delays[^1] = Math.Max(delay, 200);
        Save(path, tmp =>
        {
            using var file = File.Create(tmp);
            Gif.Write(file, pixelsW, pixelsH, rgb, delays);
        });
    }

    // An image's pixels as rows of red, green, blue bytes.
    private static byte[] Rgb(Image image)
    {
        var pixels = image.GetArrayRGB();
        int height = pixels.GetLength(0), width = pixels.GetLength(1);
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                    rgb[(y * width + x) * 3 + c] = pixels[y, x, c];
        return rgb;
    }

    // Where an actor's label goes in a room of width × height: above its dot, or below where the room's top edge would cut
    // it off; centred, or starting at the dot (ending at it) near the left (right) wall, so that it stays inside the frame.
    internal static (double X, double Y, Alignment Alignment) LabelPlace(double x, double y, double width, double height)
    {
        bool below = y > 0.85 * height;
        double ly = below ? y - 0.06 * height : y + 0.06 * height;
        var alignment = (below, x < 0.15 * width, x > 0.85 * width) switch
        {
            (false, true, _) => Alignment.LowerLeft,
            (false, _, true) => Alignment.LowerRight,
            (false, _, _) => Alignment.LowerCenter,
            (true, true, _) => Alignment.UpperLeft,
            (true, _, true) => Alignment.UpperRight,
            (true, _, _) => Alignment.UpperCenter,
        };
        return (x, ly, alignment);
    }

    /// <summary>
    /// <paramref name="text"/> broken into lines of at most <paramref name="width"/> characters where it can be: after a
    /// comma or colon if one is far enough along the line, else at a space; a word longer than the line stays whole. A
    /// plot's title does not wrap by itself and is cut at the image's edges.
    /// </summary>
    public static string Wrap(string text, int width)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        var lines = new List<string>();
        string rest = text.Trim();
        while (rest.Length > width)
        {
            int space = rest.LastIndexOf(' ', width);
            if (space <= 0)
            {
                space = rest.IndexOf(' ', width);
                if (space < 0) break;
            }
            // A break after punctuation reads better, where it does not leave the line under half full.
            int punct = rest.LastIndexOfAny([',', ':'], space - 1);
            int at = punct + 1 > width / 2 && punct + 1 < space && rest[punct + 1] == ' ' ? punct + 1 : space;
            lines.Add(rest[..at].TrimEnd());
            rest = rest[at..].TrimStart();
        }
        lines.Add(rest);
        return string.Join('\n', lines);
    }

    /// <summary>The mean of each value and the <paramref name="window"/> − 1 before it (fewer at the start).</summary>
    public static double[] MovingAverage(IReadOnlyList<double> values, int window)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        var result = new double[values.Count];
        double sum = 0;
        for (int i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }

    // Writes through a temporary file beside the target, moved into place: a reader never sees half a PNG.
    private static void Save(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp.png");
        try
        {
            write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}

/// <summary>How a curve is drawn (<see cref="Plots.Curves"/>).</summary>
public enum CurveRole
{
    /// <summary>The agent being evaluated: heavy, on top, with its confidence band.</summary>
    Evaluated,

    /// <summary>A comparison agent: thin and light.</summary>
    Baseline,

    /// <summary>A reference level such as the task-knowing oracle: dashed grey.</summary>
    Reference,

    /// <summary>A noisy training curve: thin and faint, under its smoothed version.</summary>
    Raw,

    /// <summary>A smoothed training curve, in the colour of the raw curve before it.</summary>
    Smoothed,
}

/// <summary>One curve of a plot: its name in the legend, its points, their 95% half-widths (none: no band) and how it is drawn.</summary>
public sealed record Curve(string Name, double[] Mean, double[]? Ci95, CurveRole Role);

/// <summary>One frame of <see cref="Plots.Strip"/>: room coordinates from (0, 0) to its width and height.</summary>
public sealed record Scene(string Caption, IReadOnlyList<(double X, double Y, double Radius)> Obstacles, IReadOnlyList<SceneActor> Actors, IReadOnlyList<SceneShot> Shots);

/// <summary>An actor in a <see cref="Scene"/>: where it is and where it has just been.</summary>
public sealed record SceneActor(string Label, int Colour, double X, double Y, double[] TrailX, double[] TrailY);

/// <summary>An attack in a <see cref="Scene"/>, from the attacker to the target.</summary>
public sealed record SceneShot(int Colour, double X1, double Y1, double X2, double Y2, bool Hit);
