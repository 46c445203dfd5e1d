using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MetaRL.Algorithms.Common;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

namespace MetaRL.Algorithms.Runs;

/// <summary>
/// A run trained in stages, as a preset's curriculum asks (<see cref="Presets.Preset.Stages"/>): each stage before the
/// last is a run of its own in a sub-directory (<c>stage-1-NAME</c>, …), trained in order, from scratch (the first, or
/// one that says so) or from the weights of the stage before (or of the earlier stage it names); the last stage is the
/// run itself, in the run's directory, started from the weights of the stage before it (or of the one the preset names),
/// as <c>metarl train --from STAGE --weights</c> would: a new optimiser, schedules and iteration count.
/// A stage's weights are those of its last checkpoint, or of its best policy by validation when the preset says so
/// (<see cref="Stage.HandsOverBest"/>). Settings may name earlier stages' directories (<see cref="Presets.Stage.Reference"/>:
/// a stage's teachers, for instance), and the plan writes their full paths in.
/// <c>stages.json</c> keeps the plan, so an interrupted run resumes in the stage where it stopped. Once the last stage has
/// begun, the directory is an ordinary run (evaluate it, resume it, build its counterpart); its <c>config.json</c> records
/// the stage it started from.
/// </summary>
public sealed class StagedRun : IDisposable
{
    /// <summary>The plan's file in the run's directory.</summary>
    public const string PlanFile = "stages.json";

    // Held while the plan is open, so that two processes never train the same staged run (each stage also locks its own directory).
    private const string PlanLockFile = "stages.lock";

    private RunLock? _lock;

    // Format 1 had no "from": each stage started from the one before, the first from scratch, the run from the last.
    private const int PlanFormat = 2;

    /// <summary>
    /// One stage before the run's own: its name, what it is about, the settings it changes from the run's, and its full
    /// settings (the run's algorithm and task settings, then its changes over them); <see cref="Directory"/> is relative to the run's.
    /// A stage started from it starts from its <c>best.mrla</c> when <see cref="HandsOverBest"/> (its last checkpoint when
    /// it kept no best policy), else from its last checkpoint. <see cref="From"/> is the number of the stage it starts
    /// from, 0 for none (from scratch).
    /// </summary>
    public sealed record Stage(int Number, string Name, string About, IReadOnlyDictionary<string, string> Changes, IReadOnlyDictionary<string, string> Settings, string Directory,
        bool HandsOverBest = false, int From = 0)
    {
        /// <summary>The checkpoint of this stage, in the run <paramref name="runPath"/>, that a stage (or the run) started from it starts from.</summary>
        public string HandOver(string runPath)
        {
            string dir = System.IO.Path.Combine(runPath, Directory);
            string best = System.IO.Path.Combine(dir, RunDirectory.BestCheckpointFile);
            return HandsOverBest && File.Exists(best) ? best : System.IO.Path.Combine(dir, RunDirectory.CheckpointFile);
        }

        /// <summary>The changes as a person reads them: <c>style=kite, iterations=3000</c>.</summary>
        public string DescribeChanges() => string.Join(", ", Changes.Select(kv => $"{kv.Key}={kv.Value}"));
    }

    private StagedRun(string path, string algorithm, string task, ulong seed, IReadOnlyDictionary<string, string> settings, IReadOnlyList<Stage> stages, string measured, int runFrom)
        => (Path, Algorithm, Task, Seed, Settings, Stages, Measured, RunFrom) = (path, algorithm, task, seed, settings, stages, measured, runFrom);

    public string Path { get; }

    public string Algorithm { get; }

    public string Task { get; }

    public ulong Seed { get; }

    /// <summary>The run's own settings: the last stage's, as given, over the preset's <see cref="Presets.Preset.RunSettings"/> (the preset fills the rest).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; }

    /// <summary>The number of the stage the run itself starts from.</summary>
    public int RunFrom { get; }

    /// <summary>The stage the run itself starts from.</summary>
    public Stage RunStartsFrom => Stages[RunFrom - 1];

    /// <summary>The stages trained before the run's own, in order.</summary>
    public IReadOnlyList<Stage> Stages { get; }

    /// <summary>Where the preset's measurement is written up.</summary>
    public string Measured { get; }

    /// <summary>How many stages in all, the run's own included.</summary>
    public int Count => Stages.Count + 1;

    /// <summary>Whether <paramref name="path"/> holds a staged run's plan.</summary>
    public static bool IsStaged(string path) => File.Exists(System.IO.Path.Combine(path, PlanFile));

    /// <summary>Whether the staged run in <paramref name="path"/> has yet to reach a checkpoint of its last stage (so resuming it goes through the plan).</summary>
    public static bool InEarlierStage(string path) => IsStaged(path) && !File.Exists(System.IO.Path.Combine(path, RunDirectory.CheckpointFile));

    /// <summary>What a command that needs the run's own checkpoint says of a staged run that has not reached it.</summary>
    internal static string NotYetMessage(string path)
    {
        var stages = System.IO.Directory.GetDirectories(path, "stage-*").Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        return $"'{path}' trains in stages and has not reached its last one yet: the stages so far are runs of their own "
            + $"({(stages.Length == 0 ? "none begun" : string.Join(", ", stages.Select(s => System.IO.Path.Combine(path, s!))))}); evaluate one of those, or finish the run with 'metarl train --resume {path}'.";
    }

    /// <summary>
    /// The staged run <paramref name="algorithm"/>'s preset for <paramref name="task"/> under <paramref name="settings"/>
    /// asks for, planned in <paramref name="path"/> (new or empty: <c>stages.json</c> is written, nothing is trained yet);
    /// null when that preset has no stages. Every stage's settings are checked first: nothing is written for a bad one.
    /// </summary>
    public static StagedRun? Plan(string path, string algorithm, string task, IReadOnlyDictionary<string, string> settings, ulong seed)
    {
        var preset = MetaLearners.Get(algorithm).Presets?.For(task, settings);
        return preset is { Stages.Count: > 0 } ? Plan(path, algorithm, task, settings, seed, preset.Stages, preset.Measured, preset.From, preset.RunSettings) : null;
    }

    /// <summary>
    /// As <see cref="Plan(string, string, string, IReadOnlyDictionary{string, string}, ulong)"/>, with the
    /// <paramref name="stages"/> given, the stage the run starts from (<paramref name="runFrom"/>; null: the last) and the
    /// settings it takes as a staged run's last stage (<paramref name="runSettings"/>, under the user's).
    /// </summary>
    public static StagedRun Plan(string path, string algorithm, string task, IReadOnlyDictionary<string, string> settings, ulong seed,
        IReadOnlyList<Presets.Stage> stages, string measured = "", string? runFrom = null, IReadOnlyDictionary<string, string>? runSettings = null)
    {
        if (stages.Count == 0) throw new ArgumentException("A staged run needs a stage before its own.", nameof(stages));
        runSettings ??= new Dictionary<string, string>();
        var algo = MetaLearners.Get(algorithm);
        var directories = stages.Select((s, i) => (s.Name, Directory: $"stage-{i + 1}-{s.Name}")).ToArray();
        int NumberOf(string name, int before, string who)
        {
            int i = Array.FindIndex(directories, d => d.Name == name);
            return i >= 0 && i < before ? i + 1 : throw new SettingException($"{who} names stage '{name}', which is no stage before it.");
        }
        // {stage:NAME} becomes the full path of that stage's directory.
        IReadOnlyDictionary<string, string> Resolve(IReadOnlyDictionary<string, string> given, int before, string who)
            => given.ToDictionary(kv => kv.Key, kv => Presets.Stage.Reference.Replace(kv.Value,
                m => System.IO.Path.GetFullPath(System.IO.Path.Combine(path, directories[NumberOf(m.Groups[1].Value, before, who) - 1].Directory))), StringComparer.Ordinal);
        var own = new Dictionary<string, string>(Resolve(runSettings, stages.Count, "The run").ToDictionary(), StringComparer.Ordinal);
        foreach (var (k, v) in settings) own[k] = v;
        int runStart = runFrom is null ? stages.Count : NumberOf(runFrom, stages.Count, "The run");
        // Every stage trains the run's networks with the run's algorithm settings (its preset's, then the user's; not those
        // the run takes only as the last stage), so that each can start from the weights of another; a stage changes only
        // what it names.
        var algorithmSettings = algo.Resolve(task, settings, out var taskSettings);
        var planned = stages.Select((s, i) =>
        {
            string who = $"Stage {i + 1} ({s.Name}) of the preset";
            var merged = new Dictionary<string, string>(algorithmSettings.ToDictionary(), StringComparer.Ordinal);
            foreach (var (k, v) in taskSettings) merged[k] = v;
            foreach (var (k, v) in Resolve(s.Settings, i, who)) merged[k] = v;
            int from = s.From switch { null => i, Presets.Stage.Scratch => 0, var name => NumberOf(name, i, who) };
            return new Stage(i + 1, s.Name, s.About, s.Settings, merged, directories[i].Directory, s.HandsOverBest, from);
        }).ToArray();
        // Each stage's learner is built (and dropped) now, so that a bad setting is refused before anything is written,
        // and each must take the weights of the stage it starts from, so their networks' shapes must match. What names
        // a stage not trained yet (its teachers, say) is checked when its stage begins.
        var last = MetaLearners.Create(algorithm, task, own, seed);
        // The user's settings replace the run's own where they give the same key.
        if (!Presets.Stage.Named(runSettings.Where(kv => !settings.ContainsKey(kv.Key))).Any()) last.PrepareTraining();
        var files = new string[planned.Length];
        try
        {
            for (int i = 0; i < planned.Length; i++)
            {
                var stage = planned[i];
                IMetaLearner learner;
                try
                {
                    learner = MetaLearners.Create(algorithm, task, stage.Settings, seed);
                    if (!Presets.Stage.Named(stages[i].Settings).Any()) learner.PrepareTraining();
                }
                catch (Exception e) when (e is SettingException or CheckpointException) { throw new SettingException($"Stage {stage.Number} ({stage.Name}) of the preset: {e.Message}"); }
                if (stage.From > 0) StartsFrom(learner, stage.From, $"Stage {stage.Number} ({stage.Name})");
                files[i] = System.IO.Path.GetTempFileName();
                learner.Save(files[i]);
            }
            StartsFrom(last, runStart, "The run");
        }
        finally
        {
            foreach (var f in files.Where(f => f is not null)) File.Delete(f);
        }

        void StartsFrom(IMetaLearner learner, int number, string who)
        {
            var from = planned[number - 1];
            try { learner.LoadWeights(TensorArchive.Load(files[number - 1]), $"stage {from.Number} ({from.Name})"); }
            catch (CheckpointException e)
            {
                throw new SettingException($"{who} cannot start from the weights of stage {from.Number} ({from.Name}): {e.Message.TrimEnd('.')}. Settings that change the networks' shapes cannot differ between stages.");
            }
        }
        if (System.IO.Directory.Exists(path) && System.IO.Directory.EnumerateFileSystemEntries(path).Any())
            throw new SettingException($"Output directory '{path}' exists and is not empty; choose another --out or --resume it.");
        RunDirectory.CreateDirectory(path);
        var run = new StagedRun(path, algorithm, task, seed, own, planned, measured, runStart)
        {
            _lock = RunLock.Acquire(path, PlanLockFile),
        };
        run.WritePlan();
        return run;
    }

    /// <summary>Reopens the plan of the staged run in <paramref name="path"/>, holding it until disposed.</summary>
    /// <exception cref="SettingException">No plan, a damaged one, or another process holds it.</exception>
    public static StagedRun Open(string path)
    {
        var run = Read(path);
        run._lock = RunLock.Acquire(path, PlanLockFile);
        return run;
    }

    public void Dispose() => _lock?.Dispose();

    private static StagedRun Read(string path)
    {
        var file = System.IO.Path.Combine(path, PlanFile);
        if (!File.Exists(file)) throw new SettingException($"'{path}' is not a staged run: it has no {PlanFile}.");
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
            int format = (int?)o["format"] ?? 0;
            if (format is not (1 or PlanFormat)) throw new FormatException($"format {(int?)o["format"]}, this version reads 1 and {PlanFormat}");
            static Dictionary<string, string> Strings(JsonNode? node)
                => node!.AsObject().ToDictionary(kv => kv.Key, kv => (string?)kv.Value ?? throw new FormatException($"'{kv.Key}' is null"), StringComparer.Ordinal);
            var stages = o["stages"]!.AsArray().Select((n, i) => new Stage(i + 1, (string)n!["name"]!, (string?)n["about"] ?? "", Strings(n["changes"]), Strings(n["settings"]), (string)n["directory"]!,
                Presets.Stage.ReadHandOver((string?)n["handOver"], $"stage {i + 1}"), format == 1 ? i : (int)n["from"]!)).ToArray();
            if (stages.Length == 0 || stages.Any(s => s.Directory.Contains('/') || s.Directory.Contains('\\') || s.Directory.StartsWith('.')))
                throw new FormatException("its stages are missing or name a directory outside the run");
            int runFrom = format == 1 ? stages.Length : (int)o["runFrom"]!;
            if (stages.Any(s => s.From < 0 || s.From >= s.Number) || runFrom < 1 || runFrom > stages.Length)
                throw new FormatException("a stage starts from a stage that is not before it");
            return new StagedRun(path, (string)o["algorithm"]!, (string)o["task"]!,
                ulong.Parse((string)o["seed"]!, NumberStyles.None, CultureInfo.InvariantCulture), Strings(o["settings"]), stages, (string?)o["measured"] ?? "", runFrom);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NullReferenceException or OverflowException)
        {
            throw new SettingException($"{file} is damaged: {e.Message}");
        }
    }

    private void WritePlan()
    {
        var plan = new JsonObject
        {
            ["format"] = PlanFormat,
            ["algorithm"] = Algorithm,
            ["task"] = Task,
            ["seed"] = Seed.ToString(CultureInfo.InvariantCulture),
            ["settings"] = RunDirectory.Json(Settings),
            ["measured"] = Measured,
            ["runFrom"] = RunFrom,
            ["stages"] = new JsonArray(Stages.Select(s => (JsonNode?)new JsonObject
            {
                ["name"] = s.Name,
                ["about"] = s.About,
                ["directory"] = s.Directory,
                ["changes"] = RunDirectory.Json(s.Changes),
                ["settings"] = RunDirectory.Json(s.Settings),
                ["handOver"] = Presets.Stage.HandOverName(s.HandsOverBest),
                ["from"] = s.From,
            }).ToArray()),
        };
        RunDirectory.WriteJson(System.IO.Path.Combine(Path, PlanFile), plan);
    }

    /// <summary>
    /// Opens the stage to train next, with its number (1 to <see cref="Count"/>): a stage begun and not finished resumes at
    /// its checkpoint; the next one is created (from the weights the stage it starts from hands over). Null when every stage is finished. A
    /// stage that had written no checkpoint yet (killed within its first checkpoint interval) starts again.
    /// </summary>
    public (RunDirectory Run, int Number)? Next(int checkpointEvery = 50)
    {
        foreach (var stage in Stages)
        {
            var dir = System.IO.Path.Combine(Path, stage.Directory);
            var checkpoint = System.IO.Path.Combine(dir, RunDirectory.CheckpointFile);
            if (File.Exists(checkpoint))
            {
                if (!Finished(checkpoint)) return (RunDirectory.Resume(dir, checkpointEvery: checkpointEvery), stage.Number);
                continue;
            }
            if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, recursive: true);
            string? from = stage.From == 0 ? null : Stages[stage.From - 1].HandOver(Path);
            return (RunDirectory.CreateStage(dir, Algorithm, Task, stage.Settings, Seed, checkpointEvery, from, besideStages: false), stage.Number);
        }
        string previous = RunStartsFrom.HandOver(Path);
        var own = System.IO.Path.Combine(Path, RunDirectory.CheckpointFile);
        if (File.Exists(own))
            return Finished(own) ? null : (RunDirectory.Resume(Path, checkpointEvery: checkpointEvery), Count);
        // The last stage had written no checkpoint: what it had written goes, the stages before it stay.
        foreach (var f in System.IO.Directory.GetFiles(Path).Where(f => System.IO.Path.GetFileName(f) is not (PlanFile or PlanLockFile or PlanLockFile + ".pid"))) File.Delete(f);
        return (RunDirectory.CreateStage(Path, Algorithm, Task, Settings, Seed, checkpointEvery, previous, besideStages: true), Count);
    }

    private static bool Finished(string checkpoint)
    {
        var d = LearnerCheckpoint.Read(TensorArchive.Load(checkpoint), checkpoint);
        return d.Settings.TryGetValue("iterations", out var n) && int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int total) && d.Iteration >= total;
    }
}
