using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Runs;

/// <summary>
/// A training run on disk, for any algorithm of the catalogue: <c>config.json</c> (what was asked for, for people to
/// read), <c>metrics.csv</c> (one row per iteration, flushed as it is written), <c>checkpoint.mrla</c> (the latest state,
/// self-describing and written atomically) and <c>best.mrla</c> (the best policy by the learner's own rule, when it
/// keeps one). Rows past the last checkpoint are dropped on resume, so a killed run continues exactly.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    public const string ConfigFile = "config.json", MetricsFile = "metrics.csv", CheckpointFile = "checkpoint.mrla", BestCheckpointFile = "best.mrla";

    /// <summary>The version of <c>config.json</c>; older run directories are refused by name.</summary>
    public const int ConfigFormat = 2;

    private readonly StreamWriter _metrics;
    private readonly TensorBoardEvents _events;
    private readonly RunLock _lock;

    private RunDirectory(string path, IMetaLearner learner, int checkpointEvery, RunLock runLock)
    {
        _lock = runLock;
        Path = path;
        Learner = learner;
        CheckpointEvery = checkpointEvery;
        var metrics = MetricsPath;
        if (!File.Exists(metrics)) File.WriteAllText(metrics, string.Join(',', ["iteration", .. learner.MetricNames]) + "\n");
        _metrics = new StreamWriter(metrics, append: true);
        _events = OpenEvents(path, metrics);
    }

    /// <summary>
    /// The run's TensorBoard event file, holding every metrics.csv column as a scalar per iteration. A resumed run's file
    /// is written afresh from metrics.csv (already cut back to the checkpoint), so rows past the checkpoint never linger.
    /// </summary>
    private static TensorBoardEvents OpenEvents(string path, string metricsPath)
    {
        var existing = Directory.GetFiles(path, TensorBoardEvents.FilePrefix + "*.metarl").Order(StringComparer.Ordinal).FirstOrDefault();
        var events = TensorBoardEvents.Create(existing ?? System.IO.Path.Combine(path, TensorBoardEvents.FileName("metarl")));
        var (columns, rows) = ReadMetrics(metricsPath);
        foreach (var row in rows) events.Scalars((long)row[0], columns.Skip(1).Zip(row.Skip(1)));
        events.Flush();
        return events;
    }

    public string Path { get; }

    public IMetaLearner Learner { get; }

    /// <summary>Iterations between checkpoints (the last iteration always writes one).</summary>
    public int CheckpointEvery { get; }

    public string MetricsPath => System.IO.Path.Combine(Path, MetricsFile);
    public string CheckpointPath => System.IO.Path.Combine(Path, CheckpointFile);
    public string BestCheckpointPath => System.IO.Path.Combine(Path, BestCheckpointFile);

    /// <summary>
    /// Starts a run of <paramref name="algorithm"/> on <paramref name="task"/> in <paramref name="path"/> (new or empty).
    /// Settings are validated before anything is written.
    /// </summary>
    public static RunDirectory Create(string path, string algorithm, string task, IReadOnlyDictionary<string, string> settings, ulong seed, int checkpointEvery = 50)
        => Create(path, algorithm, task, settings, seed, checkpointEvery, prepare: null, origin: null);

    // As above; prepare, when given, acts on the new learner before anything is written (and may refuse it); origin, when
    // given, is config.json's record of the run this one was made from.
    // A staged run's last stage is created in the directory that holds the stages before it.
    private static RunDirectory Create(string path, string algorithm, string task, IReadOnlyDictionary<string, string> settings, ulong seed, int checkpointEvery,
        Action<IMetaLearner>? prepare, JsonObject? origin, bool besideStages = false)
    {
        CheckInterval(checkpointEvery);
        var learner = MetaLearners.Create(algorithm, task, settings, seed);
        prepare?.Invoke(learner);
        learner.PrepareTraining();
        if (besideStages ? File.Exists(System.IO.Path.Combine(path, ConfigFile)) : Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
            throw new SettingException($"Output directory '{path}' exists and is not empty; choose another --out or --resume it.");
        CreateDirectory(path);
        return Locked(path, runLock =>
        {
            WriteConfig(path, learner, origin);
            return new RunDirectory(path, learner, checkpointEvery, runLock);
        });
    }

    /// <summary>
    /// Starts a new run in <paramref name="path"/> with the algorithm, task, task settings, resolved settings and seed of
    /// the run (or checkpoint file) <paramref name="from"/>: as its <paramref name="counterpart"/> when given (e.g. its
    /// non-adaptive "multi-task" twin, see <see cref="MetaAlgorithm.Counterpart"/>), then with <paramref name="overrides"/>.
    /// With <paramref name="weights"/> the new run starts from the networks of that run's last checkpoint (a warm start, see
    /// <see cref="IMetaLearner.LoadWeights"/>): the overrides may then change any setting that keeps the networks' shapes,
    /// e.g. train a run of one player style on every style; its optimiser, schedules and iteration count start afresh.
    /// The new run's <c>config.json</c> records where it started (<see cref="OriginKey"/>: the checkpoint, its iteration
    /// and checksum, the counterpart, whether the weights were taken), and keeps that record when the run is resumed.
    /// </summary>
    /// <exception cref="SettingException">A counterpart with <paramref name="weights"/>, or networks that do not fit (nothing is written).</exception>
    public static RunDirectory CreateFrom(string path, string from, string? counterpart, IReadOnlyDictionary<string, string> overrides, ulong? seed,
        int checkpointEvery = 50, bool weights = false)
    {
        if (weights && counterpart is not null)
            throw new SettingException("A counterpart is trained from scratch as the run's comparison agent; it cannot start from the run's weights (give --counterpart or --weights, not both).");
        var file = CheckpointOf(from, preferBest: false);
        var archive = TensorArchive.Load(file);
        var d = LearnerCheckpoint.Read(archive, file);
        var algorithm = MetaLearners.Get(d.Algorithm);
        IReadOnlyDictionary<string, string> settings = new Dictionary<string, string>(d.TaskSettings.Concat(d.Settings).ToDictionary(), StringComparer.Ordinal);
        if (counterpart is not null) settings = algorithm.Counterpart(counterpart, settings);
        var merged = new Dictionary<string, string>(settings.ToDictionary(), StringComparer.Ordinal);
        foreach (var (k, v) in overrides) merged[k] = v;
        var origin = Origin(file, archive, d.Iteration, weights);
        if (counterpart is not null) origin["counterpart"] = counterpart;
        return Create(path, d.Algorithm, d.Task, merged, seed ?? d.Seed, checkpointEvery, weights ? WeightsOf(archive, file, from) : null, origin);
    }

    /// <summary>
    /// Starts a stage of a <see cref="StagedRun"/> in <paramref name="path"/>: a new run, from the network weights of the
    /// checkpoint <paramref name="weightsFrom"/> (the stage before) when given, recorded in config.json as by
    /// <see cref="CreateFrom"/>. The last stage, <paramref name="besideStages"/>, is made in the directory of the stages before it.
    /// </summary>
    internal static RunDirectory CreateStage(string path, string algorithm, string task, IReadOnlyDictionary<string, string> settings, ulong seed,
        int checkpointEvery, string? weightsFrom, bool besideStages)
    {
        if (weightsFrom is null) return Create(path, algorithm, task, settings, seed, checkpointEvery, null, null, besideStages);
        var archive = TensorArchive.Load(weightsFrom);
        int iteration = LearnerCheckpoint.Read(archive, weightsFrom).Iteration;
        return Create(path, algorithm, task, settings, seed, checkpointEvery, WeightsOf(archive, weightsFrom, weightsFrom), Origin(weightsFrom, archive, iteration, weights: true), besideStages);
    }

    // Loads a checkpoint's networks into a new learner, or says which setting cannot change with them.
    private static Action<IMetaLearner> WeightsOf(TensorArchive archive, string file, string from) => learner =>
    {
        try { learner.LoadWeights(archive, file); }
        catch (CheckpointException e)
        {
            throw new SettingException($"Cannot start from the weights of '{from}': {e.Message.TrimEnd('.')}. Settings that change the networks' shapes (the observation, the actions, the layers) cannot change with --weights.");
        }
    };

    // config.json's record of the checkpoint a run was made from (OriginKey).
    private static JsonObject Origin(string file, TensorArchive archive, int iteration, bool weights) => new()
    {
        ["checkpoint"] = System.IO.Path.GetFullPath(file),
        ["iteration"] = iteration,
        ["checksum"] = archive.Checksum,
        ["weights"] = weights,
    };

    /// <summary>The key of <c>config.json</c> recording the run a run was made from with <see cref="CreateFrom"/> (absent otherwise).</summary>
    public const string OriginKey = "startedFrom";

    /// <summary>
    /// Reopens a run at its last checkpoint; <paramref name="iterations"/>, when given, sets a new total (not below the
    /// checkpoint's iteration). Only then is <c>config.json</c> rewritten.
    /// </summary>
    /// <param name="force">Resume even when metrics.csv is missing: its history then starts afresh at the checkpoint's iteration.</param>
    public static RunDirectory Resume(string path, int? iterations = null, int checkpointEvery = 50, bool force = false)
    {
        CheckInterval(checkpointEvery);
        ReadConfig(path);
        return Locked(path, runLock => ResumeLocked(path, iterations, checkpointEvery, force, runLock));
    }

    private static RunDirectory ResumeLocked(string path, int? iterations, int checkpointEvery, bool force, RunLock runLock)
    {
        if (!force && !File.Exists(System.IO.Path.Combine(path, MetricsFile)))
            throw new SettingException($"Run directory '{path}' has a checkpoint but no {MetricsFile}: resuming would start its history afresh and lose the iterations before the checkpoint. Restore the file, or resume with --force to accept that.");
        var checkpoint = System.IO.Path.Combine(path, CheckpointFile);
        if (!File.Exists(checkpoint)) throw new SettingException($"Run directory '{path}' has no {CheckpointFile} to resume from.");
        var archive = TensorArchive.Load(checkpoint);
        var d = LearnerCheckpoint.Read(archive, checkpoint);
        var settings = new Dictionary<string, string>(d.Settings.ToDictionary(), StringComparer.Ordinal);
        if (iterations is { } n)
        {
            if (n < d.Iteration) throw new SettingException($"'iterations' is {n}, but the checkpoint is already at iteration {d.Iteration}.");
            settings["iterations"] = n.ToString(CultureInfo.InvariantCulture);
        }
        var learner = MetaLearners.Create(d, settings);
        learner.LoadState(archive);
        learner.PrepareTraining();
        if (iterations is not null) WriteConfig(path, learner, ReadOrigin(path));
        TrimMetrics(System.IO.Path.Combine(path, MetricsFile), learner.Iteration);
        return new RunDirectory(path, learner, checkpointEvery, runLock);
    }

    /// <summary>Runs <paramref name="open"/> holding the directory's lock, which the run keeps; released if opening fails.</summary>
    private static RunDirectory Locked(string path, Func<RunLock, RunDirectory> open)
    {
        var runLock = RunLock.Acquire(path);
        try
        {
            return open(runLock);
        }
        catch
        {
            runLock.Dispose();
            throw;
        }
    }

    private static void CheckInterval(int checkpointEvery)
    {
        if (checkpointEvery < 1) throw new ArgumentOutOfRangeException(nameof(checkpointEvery), checkpointEvery, "Checkpoints must be at least one iteration apart.");
    }

    /// <summary>Creates a run directory, saying in one line why the operating system refused (a read-only or virtual file system, no permission).</summary>
    internal static void CreateDirectory(string path)
    {
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingException($"Cannot create the run directory '{path}': the system refused ({e.Message.TrimEnd('.')}); choose a directory on a writable disk.");
        }
        try
        {
            // A directory the system lets us create but not write is found out before training starts.
            var probe = System.IO.Path.Combine(path, ".write-test");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingException($"Cannot write into the run directory '{path}': {e.Message.TrimEnd('.')}.");
        }
    }

    /// <summary>
    /// The checkpoint a run directory offers for evaluation: <c>best.mrla</c> when <paramref name="preferBest"/> and the run
    /// keeps one, else <c>checkpoint.mrla</c>. A path to a checkpoint file is returned as it is.
    /// </summary>
    public static string CheckpointOf(string pathOrFile, bool preferBest)
    {
        if (File.Exists(pathOrFile)) return pathOrFile;
        ReadConfig(pathOrFile);
        var last = System.IO.Path.Combine(pathOrFile, CheckpointFile);
        if (!File.Exists(last)) throw new SettingException($"Run directory '{pathOrFile}' has no {CheckpointFile}; train it first.");
        var best = System.IO.Path.Combine(pathOrFile, BestCheckpointFile);
        return preferBest && File.Exists(best) ? best : last;
    }

    /// <summary>
    /// Runs one iteration, appends its metrics row (flushed at once, so <c>tail -f</c> follows a run), keeps the best
    /// policy and writes a checkpoint every <see cref="CheckpointEvery"/> iterations and after the last one. A diverged
    /// iteration leaves the last checkpoint untouched and says where it is.
    /// </summary>
    public IterationReport Step()
    {
        IterationReport report;
        try
        {
            report = Learner.RunIteration();
        }
        catch (Exception e) when (Divergence(e) is { } cause)
        {
            _metrics.Flush();
            string last = "No checkpoint had been written yet.";
            if (File.Exists(CheckpointPath))
            {
                int at = LearnerCheckpoint.Read(TensorArchive.Load(CheckpointPath), CheckpointPath).Iteration;
                last = $"The last good checkpoint is {CheckpointPath} (iteration {at.ToString(CultureInfo.InvariantCulture)}).";
            }
            throw new TrainingDivergedException($"training stopped at iteration {(Learner.Iteration + 1).ToString(CultureInfo.InvariantCulture)}: {cause.Message.TrimEnd('.')}. {last}");
        }
        _metrics.WriteLine(string.Join(',', [report.Iteration.ToString(CultureInfo.InvariantCulture), .. report.Metrics.Select(FormatMetric)]));
        _metrics.Flush();
        _events.Scalars(report.Iteration, Learner.MetricNames.Zip(report.Metrics));
        _events.Flush();
        if (report.NewBest) Learner.Save(BestCheckpointPath);
        if (Learner.Iteration % CheckpointEvery == 0 || Learner.Iteration == Learner.Iterations) Learner.Save(CheckpointPath);
        return report;
    }

    /// <summary>The divergence behind <paramref name="e"/>, also when parallel work wrapped it in an <see cref="AggregateException"/>.</summary>
    private static TrainingDivergedException? Divergence(Exception e) => e switch
    {
        TrainingDivergedException d => d,
        AggregateException a => a.Flatten().InnerExceptions.OfType<TrainingDivergedException>().FirstOrDefault(),
        _ => null,
    };

    /// <summary>Writes a checkpoint now (e.g. when the run is interrupted between checkpoints).</summary>
    public void Checkpoint()
    {
        _metrics.Flush();
        Learner.Save(CheckpointPath);
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _events.Dispose();
        _lock.Dispose();
    }

    /// <summary>The rows of metrics.csv: the column names and one array of values per iteration (NaN for an empty cell).</summary>
    public static (string[] Columns, double[][] Rows) ReadMetrics(string metricsPath)
    {
        var lines = File.ReadAllLines(metricsPath);
        if (lines.Length == 0) throw new SettingException($"{metricsPath} is empty.");
        var columns = lines[0].Split(',');
        var rows = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',').Select(v =>
            v.Length == 0 ? double.NaN : double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        return (columns, rows);
    }

    // Integral figures (counts, flags) as integers, others with six significant digits, unmeasured ones empty.
    private static string FormatMetric(double v)
        => double.IsNaN(v) ? ""
            : v == Math.Floor(v) && Math.Abs(v) < 1e15 ? ((long)v).ToString(CultureInfo.InvariantCulture)
            : v.ToString("G6", CultureInfo.InvariantCulture);

    private static void TrimMetrics(string path, int iteration)
    {
        if (!File.Exists(path)) return;
        var lines = File.ReadAllLines(path);
        var kept = lines.Take(1).Concat(lines.Skip(1).Where(l => int.TryParse(l.Split(',')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i <= iteration));
        var tmp = path + ".tmp";
        File.WriteAllLines(tmp, kept);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Settings as a JSON object, keys in ordinal order (as config.json and a staged run's plan hold them).</summary>
    internal static JsonObject Json(IReadOnlyDictionary<string, string> settings)
    {
        var o = new JsonObject();
        foreach (var (k, v) in settings.OrderBy(kv => kv.Key, StringComparer.Ordinal)) o[k] = v;
        return o;
    }

    /// <summary>Writes <paramref name="o"/> to <paramref name="path"/> indented, through a temporary file, so a reader never meets half a file.</summary>
    internal static void WriteJson(string path, JsonObject o)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, path, overwrite: true);
    }

    private static void WriteConfig(string dir, IMetaLearner learner, JsonObject? origin)
    {
        var o = new JsonObject
        {
            ["format"] = ConfigFormat,
            ["algorithm"] = learner.Algorithm,
            ["task"] = learner.Tasks.Name,
            ["seed"] = learner.Seed.ToString(CultureInfo.InvariantCulture),
            ["taskSettings"] = Json(learner.TaskSettings),
            ["algorithmSettings"] = Json(learner.Settings),
        };
        if (origin is not null) o[OriginKey] = origin;
        WriteJson(System.IO.Path.Combine(dir, ConfigFile), o);
    }

    /// <summary>The record of the run <paramref name="dir"/> was made from (<see cref="OriginKey"/>), or null for a run made afresh.</summary>
    private static JsonObject? ReadOrigin(string dir)
        => JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(dir, ConfigFile)))![OriginKey] is JsonObject origin ? origin.DeepClone().AsObject() : null;

    /// <summary>Checks that <paramref name="dir"/> is a run directory of this version; returns its algorithm and task.</summary>
    public static (string Algorithm, string Task) ReadConfig(string dir)
    {
        var path = System.IO.Path.Combine(dir, ConfigFile);
        if (!Directory.Exists(dir)) throw new SettingException($"Run directory '{dir}' does not exist.");
        if (!File.Exists(path) && StagedRun.IsStaged(dir)) throw new SettingException(StagedRun.NotYetMessage(dir));
        if (!File.Exists(path)) throw new SettingException($"'{dir}' is not a run directory: it has no {ConfigFile}.");
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            int? format = (int?)o["format"];
            if (format != ConfigFormat)
                throw new SettingException($"{path} has run-directory format {format?.ToString(CultureInfo.InvariantCulture) ?? "(none)"}; this version of MetaRL reads format {ConfigFormat} "
                    + "(runs from before self-describing checkpoints are not read). Train the run again.");
            return ((string?)o["algorithm"] ?? throw new FormatException("no algorithm"), (string?)o["task"] ?? throw new FormatException("no task"));
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NullReferenceException)
        {
            throw new SettingException($"{path} is damaged: {e.Message}");
        }
    }
}
