using System.Globalization;
using MetaRL.Algorithms.Export;
using MetaRL.Algorithms.Maml;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using Spectre.Console;

namespace MetaRL.Cli.Commands;

/// <summary>Taking a trained agent into an application: ONNX export, and the agent's outputs for a recorded history.</summary>
internal static class Deployment
{
    /// <summary>
    /// Writes a run's policy as an ONNX model; with <paramref name="adaptTrial"/> (MAML only) the policy adapted by
    /// <paramref name="adaptSteps"/> gradient steps on that held-out trial (as eval plays it with <paramref name="seed"/>).
    /// Prints what was written (inputs, outputs, the input row) and returns the path.
    /// </summary>
    public static string Export(string run, string convention, string? outFile, Dictionary<string, string> overrides, int? adaptTrial, int adaptSteps, ulong seed)
    {
        var learner = EpisodeEvaluation.Load(run, overrides, out var file, out var described, "export");
        var kind = convention == "unity" ? OnnxConvention.Unity : OnnxConvention.Godot;
        var path = outFile ?? Path.Combine(Directory.Exists(run) ? run : Path.GetDirectoryName(Path.GetFullPath(run))!, $"agent-{convention}.onnx");
        if (Directory.Exists(path)) throw new SettingException($"--out '{path}' is a directory; name the .onnx file to write.");
        OnnxModel model;
        string weights = "";
        if (adaptTrial is { } trial)
        {
            if (learner.Agent() is not MamlAgent maml)
                throw new SettingException($"--adapt-trial applies to MAML runs (their policy adapts by gradient steps); this run is {described.Algorithm}, whose memory the caller carries in the recurrent state.");
            model = OnnxExport.ExportAdapted(maml, Adapt(maml, learner.Tasks, trial, adaptSteps, seed), kind);
            weights = $"adapted by {adaptSteps} gradient step{(adaptSteps == 1 ? "" : "s")} on held-out trial {trial} (seed {seed})";
        }
        else
        {
            try { model = OnnxExport.Export(learner, kind); }
            catch (NotSupportedException e) { throw new SettingException(e.Message); }
        }
        model.Save(path);
        AnsiConsole.MarkupLine($"Exported [blue]{Markup.Escape(file)}[/] (iteration {described.Iteration})");
        if (weights.Length > 0) AnsiConsole.WriteLine($"  weights: {weights}");
        AnsiConsole.MarkupLine($"  file:    [blue]{Markup.Escape(path)}[/] ({model.Bytes.Length / 1024.0:F1} KB, ONNX operator set {OnnxExport.Opset})");
        AnsiConsole.WriteLine($"  for:     {(kind == OnnxConvention.Unity ? "Unity ML-Agents (Sentis)" : "Godot RL Agents")}");
        for (int i = 0; i < model.Inputs.Count; i++) AnsiConsole.WriteLine($"  {(i == 0 ? "inputs: " : "        ")} {model.Inputs[i]}");
        for (int i = 0; i < model.Outputs.Count; i++) AnsiConsole.WriteLine($"  {(i == 0 ? "outputs:" : "        ")} {model.Outputs[i]}");
        var rowParts = !model.Metadata.TryGetValue(OnnxExport.RowKey, out var layout) ? ["the raw observation"]
            : (PearlInputRow.Describes(layout) ? PearlInputRow.Parse(layout).Describe() : AgentInputRow.Parse(layout).Describe()).Split(" | ");
        var rowLines = Wrap(rowParts, " | ", 78 - 11).ToArray();
        for (int i = 0; i < rowLines.Length; i++) AnsiConsole.WriteLine((i == 0 ? "  input:   " : "           ") + rowLines[i]);
        AnsiConsole.WriteLine($"  output:  {(model.Metadata[OnnxExport.OutputKey] == "logits" ? "logits over the choices" : "the mean action in the environment's units")}");
        if (model.Metadata.TryGetValue(OnnxExport.LogStdKey, out var std))
        {
            int note = std.IndexOf(" (", StringComparison.Ordinal);
            var values = (note < 0 ? std : std[..note]).Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture).ToString("G4", CultureInfo.InvariantCulture));
            AnsiConsole.WriteLine($"  log σ:   {string.Join(", ", values)}");
            if (note >= 0) AnsiConsole.WriteLine($"           {std[(note + 1)..]}");
        }
        return path;
    }

    /// <summary>Parts joined by <paramref name="separator"/> into lines of at most <paramref name="width"/> characters (a longer part stands alone).</summary>
    private static IEnumerable<string> Wrap(IReadOnlyList<string> parts, string separator, int width)
    {
        var line = "";
        foreach (var part in parts)
        {
            if (line.Length > 0 && line.Length + separator.Length + part.Length > width)
            {
                yield return line + separator.TrimEnd();
                line = part;
            }
            else line = line.Length == 0 ? part : line + separator + part;
        }
        if (line.Length > 0) yield return line;
    }

    /// <summary>A MAML session that has played <paramref name="steps"/> rounds of held-out trial <paramref name="trial"/> and adapted after each.</summary>
    private static IAgentSession Adapt(MamlAgent agent, TaskDistribution tasks, int trial, int steps, ulong seed)
    {
        var task = MetaTest.Tasks(tasks, seed, trial)[trial - 1];
        var session = agent.Begin(1, tasks, MetaTest.AgentStream(seed).Split());
        TrialSampler.Play(session, tasks, [task], [MetaTest.EnvironmentStream(seed, trial - 1)],
            new TrialPlan(steps * agent.Adaptation.Trajectories, AgentName: agent.Name));
        return session;
    }

    /// <summary>
    /// Plays a recorded history through a run's agent and writes, per row, the policy output and the action: the numbers an
    /// exported model of the same policy must give for the same inputs. The CSV has a header; its columns are the
    /// observation's components in order, then <c>reward</c> and <c>done</c> (the outcome of the action taken on that row),
    /// and optionally <c>new_trial</c> (1 starts a new task: the agent forgets the previous one).
    /// </summary>
    public static int Act(string run, string inputs, Dictionary<string, string> overrides, ulong seed, string? outFile)
    {
        if (!File.Exists(inputs)) throw new SettingException($"--inputs: '{inputs}' does not exist.");
        var learner = EpisodeEvaluation.Load(run, overrides, out _, out _, "act");
        var tasks = learner.Tasks;
        using var reader = new StreamReader(inputs);
        var header = reader.ReadLine()?.Split(',').Select(h => h.Trim()).ToArray()
            ?? throw new SettingException($"--inputs: '{inputs}' is empty; it needs a header row.");
        int rewardAt = Array.IndexOf(header, "reward"), doneAt = Array.IndexOf(header, "done"), trialAt = Array.IndexOf(header, "new_trial");
        if (rewardAt < 0 || doneAt < 0)
            throw new SettingException($"--inputs: '{inputs}' needs columns 'reward' and 'done' beside the observation's; its header is '{string.Join(",", header)}'.");
        var observationColumns = Enumerable.Range(0, header.Length).Where(i => i != rewardAt && i != doneAt && i != trialAt).ToArray();
        int o = tasks.ObservationSpace.Size;
        if (observationColumns.Length != o)
            throw new SettingException($"--inputs: '{inputs}' has {observationColumns.Length} observation columns; {tasks.Name} observations have {o}.");

        // Every row is read and checked before the agent plays, so a bad row prints nothing.
        var rows = new List<(float[] Observation, float Reward, bool Done, bool NewTrial)>();
        int line = 1;
        for (string? text; (text = reader.ReadLine()) is not null;)
        {
            line++;
            if (text.Trim().Length == 0) continue;
            var cells = text.Split(',');
            if (cells.Length != header.Length) throw new SettingException($"{inputs}, line {line}: {cells.Length} values for {header.Length} columns.");
            float Cell(int column)
            {
                if (!float.TryParse(cells[column], NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
                    throw new SettingException($"{inputs}, line {line}, column '{header[column]}': '{cells[column].Trim()}' is not a finite number.");
                return v;
            }
            bool Flag(int column) => Cell(column) switch
            {
                0 => false,
                1 => true,
                var v => throw new SettingException($"{inputs}, line {line}, column '{header[column]}': {v} is not 0 or 1."),
            };
            rows.Add((observationColumns.Select(Cell).ToArray(), Cell(rewardAt), Flag(doneAt), trialAt >= 0 && Flag(trialAt)));
        }
        if (rows.Count == 0) throw new SettingException($"--inputs: '{inputs}' has no data rows.");

        var player = new AgentPlayer(learner.Agent(), tasks, seed);
        TextWriter writer = outFile is null ? Console.Out : new StreamWriter(outFile + ".tmp");
        try
        {
            int actionSize = tasks.ActionSpace.Size, trial = 0, episode = 0, step = 0;
            for (int r = 0; r < rows.Count; r++)
            {
                var (obs, reward, done, newTrial) = rows[r];
                if (r == 0 || newTrial)
                {
                    if (r > 0) trial++;
                    player.Reset();
                    (episode, step) = (0, 0);
                }
                var action = player.Act(obs);
                var output = player.PolicyOutput;
                if (r == 0)
                {
                    var columns = new List<string> { "row", "trial", "episode", "step" };
                    columns.AddRange(Enumerable.Range(0, output.Length).Select(i => $"output_{i}"));
                    columns.AddRange(Enumerable.Range(0, actionSize).Select(i => $"action_{i}"));
                    columns.Add("episode_end");
                    writer.WriteLine(string.Join(",", columns));
                }
                var values = new List<string> { (r + 1).ToString(CultureInfo.InvariantCulture), trial.ToString(CultureInfo.InvariantCulture),
                    episode.ToString(CultureInfo.InvariantCulture), step.ToString(CultureInfo.InvariantCulture) };
                foreach (var v in output) values.Add(v.ToString("R", CultureInfo.InvariantCulture));
                foreach (var v in action) values.Add(v.ToString("R", CultureInfo.InvariantCulture));
                // The observation the action led to is the next row's (agents whose context reads it, as PEARL's may, see
                // the next episode's first observation after an episode's last action: the file has no other).
                var next = r + 1 < rows.Count && !rows[r + 1].NewTrial ? rows[r + 1].Observation : obs;
                // The agent ends an episode where the row says so, or at the family's horizon, as in training.
                bool ended = player.Observe(reward, done, false, next);
                values.Add(ended ? "1" : "0");
                writer.WriteLine(string.Join(",", values));
                if (ended) (episode, step) = (episode + 1, 0);
                else step++;
            }
        }
        catch when (outFile is not null)
        {
            writer.Dispose();
            File.Delete(outFile + ".tmp");
            throw;
        }
        if (outFile is not null)
        {
            writer.Dispose();
            File.Move(outFile + ".tmp", outFile, overwrite: true);
        }
        return 0;
    }
}
