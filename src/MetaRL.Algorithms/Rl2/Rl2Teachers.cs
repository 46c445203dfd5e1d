using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.Autodiff;
using MetaRL.Engine.IO;
using MetaRL.Algorithms.Runs;

namespace MetaRL.Algorithms.Rl2;

/// <summary>A teacher for one group of training tasks: the group's name and the checkpoint the teacher is read from.</summary>
public sealed record Rl2Teacher(string Group, string Checkpoint)
{
    /// <summary>Teachers as the <c>teachers</c> setting writes them: <c>group=path</c> pairs separated by commas, or <c>none</c>.</summary>
    public static string Format(IReadOnlyList<Rl2Teacher> teachers)
        => teachers.Count == 0 ? "none" : string.Join(',', teachers.Select(t => $"{t.Group}={t.Checkpoint}"));

    /// <summary>
    /// Reads the <c>teachers</c> setting: <c>none</c> (or nothing), or <c>group=path</c> pairs separated by commas, each
    /// group named once; paths are made absolute, so that a resumed run finds them from any directory.
    /// </summary>
    /// <exception cref="SettingException">A pair without a group or a path, or a group named twice.</exception>
    public static IReadOnlyList<Rl2Teacher> Parse(string owner, string key, string text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim() == "none") return [];
        var teachers = new List<Rl2Teacher>();
        foreach (var pair in text.Split(',', StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=');
            string group = eq < 0 ? "" : pair[..eq].Trim(), path = eq < 0 ? "" : pair[(eq + 1)..].Trim();
            if (group.Length == 0 || path.Length == 0)
                throw new SettingException($"{owner}: setting '{key}' takes group=checkpoint pairs separated by commas (kite=runs/arena-kite/best.mrla), or none; got '{pair}'.");
            if (teachers.Any(t => t.Group == group))
                throw new SettingException($"{owner}: setting '{key}' names group '{group}' twice.");
            teachers.Add(new Rl2Teacher(group, Path.GetFullPath(path)));
        }
        return teachers;
    }
}

/// <summary>
/// The teachers of a run (<see cref="Rl2Config.Teachers"/>), loaded and checked against the student: after each rollout
/// each teacher is run over its group's trials, on the student's own steps from a fresh memory, and the batch records
/// its action probabilities for the update's cross-entropy term. A teacher may be a policy without memory (a multi-task
/// policy, for a group it plays best): it then reads each step's row without the previous action, reward and episode end.
/// A teacher may know the task (a task-knowing oracle, <c>task-input=true</c>): it then reads the trial's task features
/// after the student's row, which the student never sees; it teaches what to do once the task is known.
/// </summary>
internal sealed class Rl2Teachers
{
    private readonly (string Group, Rl2Network Network, string Checksum)[] _teachers;
    private readonly TaskDistribution _tasks;
    private readonly Rl2Network _student;
    private readonly bool _teachEpisodeStart;

    /// <exception cref="SettingException">The family forms no groups, a group no training task belongs to, a teacher of another family or input layout, continuous actions.</exception>
    /// <exception cref="CheckpointException">A teacher's checkpoint cannot be read or is not an RL² checkpoint.</exception>
    public Rl2Teachers(TaskDistribution tasks, Rl2Network student, Rl2Config config)
    {
        _student = student;
        _tasks = tasks;
        _teachEpisodeStart = config.TeachEpisodeStart;
        if (tasks.GroupName is null)
            throw new SettingException($"rl2: 'teachers' teach groups of tasks, and task family '{tasks.Name}' forms none; set teachers=none.");
        if (!student.Discrete)
            throw new SettingException($"rl2: 'teachers' need discrete actions (the term is a cross-entropy between action distributions); '{tasks.Name}' has continuous ones.");
        if (student.PolicyTaskFeatures > 0)
            throw new SettingException("rl2: 'teachers' cannot teach a task-knowing policy (task-input=true): its inputs are not a teacher's.");
        var groups = TrainingGroups(tasks);
        _teachers = config.Teachers.Select(t =>
        {
            if (!groups.Contains(t.Group))
                throw new SettingException($"rl2: 'teachers' names {tasks.GroupName} '{t.Group}', which no training task of '{tasks.Name}' has "
                    + $"(training {tasks.GroupName}s: {string.Join(", ", groups.Order(StringComparer.Ordinal))}).");
            var (net, checksum) = Load(t, tasks, student, config);
            return (t.Group, net, checksum);
        }).ToArray();
    }

    /// <summary>Each teacher's group and the SHA-256 of the file it was read from, as a checkpoint records them (<c>group=hex,…</c>).</summary>
    public string Fingerprint => string.Join(',', _teachers.Select(t => $"{t.Group}={t.Checksum}"));

    /// <summary>The network teaching <paramref name="group"/> (for tests).</summary>
    internal Rl2Network NetworkOf(string group) => _teachers.Single(t => t.Group == group).Network;

    // The groups training tasks fall in, from a sample of them on a stream of its own (training's streams are not drawn from).
    private static HashSet<string> TrainingGroups(TaskDistribution tasks)
    {
        var rng = new Rng(0x7EAC_4E25UL);
        var groups = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 2000; i++)
            if (tasks.GroupOf(tasks.SampleTask(rng, TaskSplit.Train)) is { } g) groups.Add(g);
        return groups;
    }

    private static (Rl2Network Network, string Checksum) Load(Rl2Teacher teacher, TaskDistribution tasks, Rl2Network student, Rl2Config config)
    {
        string file = Directory.Exists(teacher.Checkpoint) ? RunDirectory.CheckpointOf(teacher.Checkpoint, preferBest: true) : teacher.Checkpoint;
        if (!File.Exists(file)) throw new SettingException($"rl2: the teacher for '{teacher.Group}', {file}, does not exist (put it back, or train without teachers, --set teachers=none: a run to go on from starts anew with --from RUN --weights).");
        var bytes = File.ReadAllBytes(file);
        var archive = TensorArchive.Parse(bytes, file);
        string source = $"the teacher for '{teacher.Group}' ({file})";
        var d = LearnerCheckpoint.Read(archive, source);
        if (d.Algorithm != "rl2" || d.Task != tasks.Name)
            throw new SettingException($"rl2: {source} is a {d.Algorithm} checkpoint on '{d.Task}'; a teacher is an RL² checkpoint on '{tasks.Name}'.");
        var c = new Rl2Config().With(d.Settings, out var rest);
        Rl2Config.Schema.RefuseUnknown(rest.Keys);
        if (c.TimeInput != config.TimeInput || c.PreviousObservation != config.PreviousObservation || c.PairInput != config.PairInput)
            throw new SettingException($"rl2: {source} reads other inputs than this run's policy (time-input, previous-observation and pair-input must agree).");
        if (!c.Memory && (c.PreviousObservation || c.PairInput))
            throw new SettingException($"rl2: {source} has no memory and reads the previous step (previous-observation or pair-input); as a teacher it is not supported.");
        if ((c.PreviousObservation || c.PairInput) && (c.NormalizeObservations || config.NormalizeObservations))
            throw new SettingException($"rl2: {source}: a teacher with previous-observation or pair-input needs both runs without normalize-observations.");
        var family = TaskRegistry.Create(d.Task, d.TaskSettings);
        if (family.ObservationSpace.Size != tasks.ObservationSpace.Size || family.ActionSpace.Size != tasks.ActionSpace.Size)
            throw new SettingException($"rl2: {source} was trained on {family.ObservationSpace.Size} observations and {family.ActionSpace.Size} actions, "
                + $"this run has {tasks.ObservationSpace.Size} and {tasks.ActionSpace.Size} (its task settings differ where it matters).");
        Rl2Network net;
        try { net = Rl2Trainer.LoadNetwork(archive, tasks, c); }
        catch (CheckpointException e) { throw new CheckpointException($"{source}: its network cannot be read ({e.Message.TrimEnd('.')}).", e); }
        if (net.PolicyTaskFeatures > 0 && net.PolicyTaskFeatures != tasks.TaskFeatureSize)
            throw new SettingException($"rl2: {source} knows the task by {net.PolicyTaskFeatures} features; '{tasks.Name}' offers {tasks.TaskFeatureSize}.");
        if (net.InputSize != student.InputSize + net.PolicyTaskFeatures)
            throw new SettingException($"rl2: {source} reads input rows of {net.InputSize - net.PolicyTaskFeatures} values, this run's policy {student.InputSize}.");
        return (net, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
    }

    /// <summary>
    /// Records in <paramref name="data"/> each teacher's action probabilities at every step of the trials of its group
    /// (<paramref name="groups"/>, one per trial; each episode's first step left out with
    /// <see cref="Rl2Config.TeachEpisodeStart"/> false), with the teacher's negative entropy and a flag per step; the other
    /// steps' rows stay zero. <paramref name="rawObservations"/> are the observations acted on, [step, trial,
    /// observation], when the student scales them (empty otherwise: the input rows hold them as they are); each teacher
    /// reads them scaled by its own statistics. <paramref name="trialTasks"/> are the trials' tasks, read by a task-knowing
    /// teacher.
    /// </summary>
    public void Annotate(Rl2Batch data, float[] rawObservations, IReadOnlyList<ITask> trialTasks, IReadOnlyList<string?> groups)
    {
        int B = groups.Count, T = data.Mask.Length / B, I = _student.InputSize, A = _student.ActionSize, obs = _student.ObservationSize;
        data.TeacherProbs = new float[T * B * A];
        data.TeacherNegEntropy = new float[T * B];
        data.Taught = new byte[T * B];
        using var noGrad = GradMode.NoGrad();
        foreach (var (group, net, _) in _teachers)
        {
            var trials = Enumerable.Range(0, B).Where(b => groups[b] == group).ToArray();
            int nb = trials.Length;
            if (nb == 0) continue;
            bool rescale = _student.ObservationNormalizer is not null || net.ObservationNormalizer is not null;
            int F = net.PolicyTaskFeatures, NI = I + F;
            var features = new float[nb * F];
            for (int j = 0; j < nb && F > 0; j++) _tasks.WriteTaskFeatures(trialTasks[trials[j]], features.AsSpan(j * F, F));
            var x = new float[T * nb * NI];
            var raw = new float[obs];
            for (int t = 0; t < T; t++)
                for (int j = 0; j < nb; j++)
                {
                    int src = t * B + trials[j];
                    var row = x.AsSpan((t * nb + j) * NI, I);
                    data.Inputs.AsSpan(src * I, I).CopyTo(row);
                    // A task-knowing teacher reads the trial's task features after the student's row.
                    features.AsSpan(j * F, F).CopyTo(x.AsSpan((t * nb + j) * NI + I, F));
                    // A teacher without memory (a multi-task policy) reads no previous action, reward or episode end.
                    if (!net.Memory) row.Slice(obs, A + 2).Clear();
                    if (!rescale) continue;
                    if (_student.ObservationNormalizer is not null) rawObservations.AsSpan(src * obs, obs).CopyTo(raw);
                    else row[..obs].CopyTo(raw);
                    if (net.ObservationNormalizer is { } norm) norm.Normalize(raw, row[..obs]);
                    else raw.CopyTo(row[..obs]);
                }
            var h = net.Sequence(Tensor.FromArray(x, T, nb, NI), net.InitialState(nb));
            var logp = Ops.LogSoftmax(net.Policy(Ops.Reshape(h, T * nb, net.FeatureSize)), 1).ToArray();
            for (int t = 0; t < T; t++)
                for (int j = 0; j < nb; j++)
                {
                    int src = t * B + trials[j];
                    // An episode's first step is the trial's first, or follows an episode's end (the row's done flag).
                    if (!_teachEpisodeStart && (t == 0 || data.Inputs[src * I + obs + A + 1] != 0)) continue;
                    var lp = logp.AsSpan((t * nb + j) * A, A);
                    double negEntropy = 0;
                    for (int a = 0; a < A; a++)
                    {
                        float p = MathF.Exp(lp[a]);
                        data.TeacherProbs[src * A + a] = p;
                        if (p > 0) negEntropy += p * lp[a];
                    }
                    data.TeacherNegEntropy[src] = (float)negEntropy;
                    data.Taught[src] = 1;
                }
        }
    }
}
