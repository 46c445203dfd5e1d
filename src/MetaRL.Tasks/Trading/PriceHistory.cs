using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Trading;

/// <summary>One asset's daily closing prices, dates ascending.</summary>
public sealed record PriceSeries(string Asset, DateOnly[] Dates, double[] Closes)
{
    /// <summary>The log-return of each day after the first: ln(close[t] / close[t − 1]), t = 1 … n − 1.</summary>
    public double[] LogReturns() => Enumerable.Range(1, Closes.Length - 1).Select(t => Math.Log(Closes[t] / Closes[t - 1])).ToArray();

    /// <summary>
    /// Reads price files: <paramref name="path"/> is a CSV file or a directory of them (<c>*.csv</c>, in name order). A file
    /// is <c>date,close</c> (one asset, named after the file) or <c>date,A,B,…</c> (a column per asset, named by the
    /// header); dates are ISO (yyyy-MM-dd), ascending, each once; prices positive; no empty cell.
    /// </summary>
    /// <param name="maxGapDays">Consecutive rows more than this many calendar days apart are refused as a gap in the data.</param>
    /// <exception cref="SettingException">The path does not exist or holds no CSV file, or a file is malformed; the message names the file, the line and the reason.</exception>
    public static IReadOnlyList<PriceSeries> Load(string path, int maxGapDays = 7)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string[] files = Directory.Exists(path) ? Directory.GetFiles(path, "*.csv").Order(StringComparer.Ordinal).ToArray()
            : File.Exists(path) ? [path]
            : throw new SettingException($"price-history: no file or directory '{path}' (setting 'prices').");
        if (files.Length == 0) throw new SettingException($"price-history: directory '{path}' holds no .csv file.");
        var all = new List<PriceSeries>();
        foreach (var file in files)
        {
            using var reader = new StreamReader(file);
            foreach (var s in Read(reader, file, Path.GetFileNameWithoutExtension(file), maxGapDays))
            {
                if (all.Any(a => a.Asset == s.Asset)) throw new SettingException($"price-history: asset '{s.Asset}' appears twice (second time in {file}); give each asset one column or file.");
                all.Add(s);
            }
        }
        return all;
    }

    /// <summary>Reads one CSV (see <see cref="Load"/>); <paramref name="source"/> names it in errors, <paramref name="fileAsset"/> names a one-column file's asset.</summary>
    /// <exception cref="SettingException">The file is malformed; the message names the source, the line and the reason.</exception>
    public static IReadOnlyList<PriceSeries> Read(TextReader reader, string source, string fileAsset, int maxGapDays = 7)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var header = CsvRows.Header(reader);
        if (header is null || header.Length < 2 || !header[0].Equals("date", StringComparison.OrdinalIgnoreCase))
            throw new SettingException($"{source}, line 1: the header must be 'date,close' or 'date,' and one column per asset; got '{(header is null ? "" : string.Join(',', header))}'.");
        for (int c = 1; c < header.Length; c++)
            if (header[c].Length == 0) throw new SettingException($"{source}, line 1: column {c + 1} has no name.");
        string[] assets = header.Length == 2 && header[1].Equals("close", StringComparison.OrdinalIgnoreCase) ? [fileAsset] : header[1..];
        var dates = new List<DateOnly>();
        var lines = new List<int>();
        var closes = assets.Select(_ => new List<double>()).ToArray();
        foreach (var (lineNumber, cells) in CsvRows.Rows(reader, source, header.Length))
        {
            if (!DateOnly.TryParseExact(cells[0].Trim(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                throw new SettingException($"{source}, line {lineNumber}: '{cells[0].Trim()}' is not a date (yyyy-MM-dd).");
            if (dates.Count > 0)
            {
                var previous = dates[^1];
                if (date == previous) throw new SettingException($"{source}, line {lineNumber}: date {date:yyyy-MM-dd} repeats line {lines[^1]}.");
                if (date < previous) throw new SettingException($"{source}, line {lineNumber}: date {date:yyyy-MM-dd} comes after {previous:yyyy-MM-dd} (line {lines[^1]}); the dates must ascend.");
                int gap = date.DayNumber - previous.DayNumber;
                if (gap > maxGapDays)
                    throw new SettingException($"{source}, line {lineNumber}: a gap of {gap} days after {previous:yyyy-MM-dd} (line {lines[^1]}); at most {maxGapDays} allowed (setting 'max-gap-days').");
            }
            for (int a = 0; a < assets.Length; a++)
            {
                string cell = cells[a + 1].Trim();
                if (cell.Length == 0) throw new SettingException($"{source}, line {lineNumber}: no price for '{assets[a]}'.");
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                    throw new SettingException($"{source}, line {lineNumber}: price '{cell}' of '{assets[a]}' is not a number.");
                if (v <= 0) throw new SettingException($"{source}, line {lineNumber}: price {cell} of '{assets[a]}' is not positive.");
                closes[a].Add(v);
            }
            dates.Add(date);
            lines.Add(lineNumber);
        }
        if (dates.Count < 2) throw new SettingException($"{source}: {dates.Count} row(s) of prices; at least two are needed for a return.");
        return assets.Select((name, a) => new PriceSeries(name, dates.ToArray(), closes[a].ToArray())).ToArray();
    }
}

/// <summary>A task of <c>price-history</c>: trading one asset from one day of its history on.</summary>
/// <param name="Asset">The asset's index in the family's list.</param>
/// <param name="Start">The index of the trial's first traded return (the observation window shows the returns before it).</param>
public sealed record PriceWindow(int Asset, int Start, string AssetName, DateOnly FirstDay) : ITask
{
    public string Label => $"{AssetName} from {FirstDay:yyyy-MM-dd}";

    public IReadOnlyList<KeyValuePair<string, double>> Describe() => [KeyValuePair.Create("asset", (double)Asset), KeyValuePair.Create("start", (double)Start)];
}

/// <summary>Trading a stretch of a real asset's history: the returns are the file's, in order.</summary>
public sealed class PriceHistoryEnv(TradingRules rules, IReadOnlyList<double[]> returns) : TradingEnv<PriceWindow>(rules, regimes: false)
{
    private int _next;

    protected override void StartMarket(Rng rng, Span<double> history)
    {
        var r = returns[Task.Asset];
        r.AsSpan(Task.Start - history.Length, history.Length).CopyTo(history);
        _next = Task.Start;
    }

    protected override double NextReturn(Rng rng) => returns[Task.Asset][_next++];
}

/// <summary>
/// <c>price-history</c>: the user's own prices (<c>prices=</c> a CSV file or a directory of them, see
/// <see cref="PriceSeries.Load"/>). A task is one asset from one day on, for a trial of <c>episodes</c> × <c>days</c>
/// trading days with the <c>window</c> returns before it to observe. Each asset's history is cut once: training trials
/// trade only days before the cut, held-out trials only days after it (their observation window may look back across
/// it; that is the past). The cut is <c>test-from</c> (a date) when given, else <c>train-fraction</c> of each asset's
/// returns. The rules, baselines and metrics are regime-trading's, without the regime (it is not known).
/// </summary>
public sealed class PriceHistoryTasks : TaskDistribution, ITradingFamily
{
    private readonly PriceSeries[] _series;
    private readonly double[][] _returns;
    private readonly int[] _cut;
    private readonly string _path, _testFrom;
    private readonly double _trainFraction;
    private readonly int _maxGap;

    public PriceHistoryTasks(IReadOnlyList<PriceSeries> series, TradingRules rules, double trainFraction = 0.7, DateOnly? testFrom = null, string path = "", int maxGapDays = 7)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (trainFraction is <= 0 or >= 1) throw new SettingException($"price-history: 'train-fraction' must be in (0, 1), got {trainFraction}.");
        (Rules, _series, _path, _trainFraction, _testFrom, _maxGap) = (rules, series.ToArray(), path, trainFraction, testFrom?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "", maxGapDays);
        _returns = _series.Select(s => s.LogReturns()).ToArray();
        _cut = new int[_series.Length];
        int need = rules.Episodes * rules.Days;
        for (int a = 0; a < _series.Length; a++)
        {
            int n = _returns[a].Length;
            // Return t is the move from close t to close t + 1, dated by t + 1.
            _cut[a] = testFrom is { } d ? Enumerable.Range(0, n).FirstOrDefault(t => _series[a].Dates[t + 1] >= d, n) : (int)Math.Round(trainFraction * n);
            int train = _cut[a] - rules.Window, test = n - _cut[a];
            if (train < need || test < need)
                throw new SettingException($"price-history: '{_series[a].Asset}' has {n} returns, {_cut[a]} before the cut and {test} after it; a trial needs {rules.Window} to observe and {need} to trade "
                    + $"({rules.Episodes} episodes × {rules.Days} days) on each side. Use a longer history, fewer episodes or days, or move the cut (train-fraction, test-from).");
        }
    }

    public static PriceHistoryTasks FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("price-history", values);
        var rules = TradingRules.Read(r, defaultEpisodes: 2);
        string path = r.Text("prices", "");
        double fraction = r.Double("train-fraction", 0.7, 0, 1);
        string testFrom = r.Text("test-from", "");
        int gap = r.Int("max-gap-days", 7, 1, 3650);
        r.EnsureAllUsed();
        DateOnly? from = null;
        if (testFrom.Length > 0)
            from = DateOnly.TryParseExact(testFrom, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d
                : throw new SettingException($"price-history: setting 'test-from' must be a date (yyyy-MM-dd), got '{testFrom}'.");
        // Without prices the family can still list its settings; it refuses to draw a task (see SampleTask).
        return new PriceHistoryTasks(path.Length == 0 ? [] : PriceSeries.Load(path, gap), rules, fraction, from, path, gap);
    }

    private const string MissingPrices = "price-history: setting 'prices' is required: a CSV file of date,close (or date and a column per asset) or a directory of such files, e.g. --set prices=data/prices.csv.";

    public TradingRules Rules { get; }

    /// <summary>The regime filter assumes regime-trading's default prior (centred on Hardy 2001's equity fit).</summary>
    public MarketPrior FilterPrior { get; } = new();

    /// <summary>The assets, in the order tasks number them.</summary>
    public IReadOnlyList<PriceSeries> Series => _series;

    /// <summary>The index of each asset's first held-out return (training trials trade only returns before it).</summary>
    public IReadOnlyList<int> Cut => _cut;

    public override string Name => "price-history";
    public override int Horizon => Rules.Days;
    public override int EpisodesPerTrial => Rules.Episodes;
    public override Space ObservationSpace => Rules.ObservationSpace;
    public override Space ActionSpace => Rules.ActionSpace;

    /// <summary>An asset uniformly, then a start whose whole trial trades before the cut (training) or after it (held out).</summary>
    /// <exception cref="SettingException">No prices were given (setting 'prices').</exception>
    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        if (_series.Length == 0) throw new SettingException(MissingPrices);
        int a = rng.NextInt(_series.Length), need = Rules.Episodes * Rules.Days;
        int lo = split == TaskSplit.Train ? Rules.Window : _cut[a], hi = split == TaskSplit.Train ? _cut[a] - need : _returns[a].Length - need;
        int start = lo + rng.NextInt(hi - lo + 1);
        return new PriceWindow(a, start, _series[a].Asset, _series[a].Dates[start + 1]);
    }

    public override IEnv CreateEnv() => new PriceHistoryEnv(Rules, _returns);

    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics { get; } = TradingRules.Metrics(regimes: false);

    public override IReadOnlyList<TraceChannel> TraceChannels { get; } = TradingRules.Trace(regimes: false);

    public override (string Unit, double PerStep) StepTime => ("trading day", 1);

    public override TrialPeriod Period => TradingRules.Month;

    public override string? GroupName => _series.Length > 1 ? "asset" : null;

    public override string? GroupOf(ITask task) => task is PriceWindow w ? w.AssetName : null;

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("prices", _path, "a CSV file (date,close, or date and a column per asset) or a directory of them; required"),
        new("train-fraction", _trainFraction.ToString("R", CultureInfo.InvariantCulture), "share of each asset's returns before the cut: training trials trade before it, held-out ones after"),
        new("test-from", _testFrom, "a date (yyyy-MM-dd): the cut instead of train-fraction"),
        new("max-gap-days", _maxGap.ToString(CultureInfo.InvariantCulture), "consecutive rows more calendar days apart than this are refused as a gap"),
        .. Rules.Describe(),
    ];
}
