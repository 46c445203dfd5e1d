using System.Globalization;
using MetaRL.Algorithms.Export;
using MetaRL.Engine;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MetaRL.Cli.Tests;

/// <summary>metarl export and metarl act, checked against each other with OnnxRuntime as an integrator would.</summary>
public sealed class DeploymentTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-deploy-" + Guid.NewGuid().ToString("N"));

    public DeploymentTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliTests.Run(args);

    /// <summary>A recorded history for navigation-2d: observations, rewards and episode ends, two trials.</summary>
    private static string History(int rows)
    {
        var rng = new Rng(11);
        var lines = new List<string> { "x,y,reward,done,new_trial" };
        for (int i = 0; i < rows; i++)
            lines.Add(string.Join(",", (rng.Normal(0, 0.4)).ToString("R", CultureInfo.InvariantCulture), rng.Normal(0, 0.4).ToString("R", CultureInfo.InvariantCulture),
                (-rng.NextDouble()).ToString("R", CultureInfo.InvariantCulture), i % 37 == 36 ? "1" : "0", i == rows / 2 ? "1" : "0"));
        return string.Join("\n", lines) + "\n";
    }

    [Fact]
    public void The_exported_model_gives_what_act_prints_for_the_same_history()
    {
        var run = Path.Combine(_dir, "run");
        var train = Run("train", "rl2", "navigation-2d", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4",
            "--set", "normalize-observations=true", "--set", "time-input=true", "--set", "previous-observation=true", "--out", run);
        Assert.True(train.Code == 0, train.Err);
        var csv = Path.Combine(_dir, "history.csv");
        File.WriteAllText(csv, History(160));
        var actOut = Path.Combine(_dir, "act.csv");
        var act = Run("act", run, "--inputs", csv, "--out", actOut);
        Assert.True(act.Code == 0, act.Err);
        var model = Path.Combine(_dir, "agent.onnx");
        var export = Run("export", run, "--convention", "godot", "--out", model);
        Assert.True(export.Code == 0, export.Err);
        Assert.Contains("input:   [0..1] observation | [2..3] previous action | [4] previous reward", export.Out);

        var printed = File.ReadAllLines(actOut);
        Assert.Equal("row,trial,episode,step,output_0,output_1,action_0,action_1,episode_end", printed[0]);
        var history = File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',').Select(c => float.Parse(c, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(history.Length, printed.Length - 1);
        using var onnx = new InferenceSession(model);
        var row = AgentInputRow.Parse(onnx.ModelMetadata.CustomMetadataMap[OnnxExport.RowKey]);
        int stateSize = int.Parse(onnx.ModelMetadata.CustomMetadataMap["metarl.state_size"], CultureInfo.InvariantCulture);
        var state = new float[stateSize];
        var input = new float[row.Size];
        for (int i = 0; i < history.Length; i++)
        {
            var h = history[i];
            var cells = printed[i + 1].Split(',').Select(c => float.Parse(c, CultureInfo.InvariantCulture)).ToArray();
            if (i == 0 || h[4] == 1)
            {
                row.StartTrial();
                Array.Clear(state);
            }
            row.Write(h.AsSpan(0, 2), input);
            using var results = onnx.Run([
                NamedOnnxValue.CreateFromTensor("obs", new DenseTensor<float>(input, [1, row.Size])),
                NamedOnnxValue.CreateFromTensor("state_ins", new DenseTensor<float>(state, [1, stateSize])),
            ]);
            var output = results.Single(r => r.Name == "output").AsTensor<float>().ToArray();
            state = results.Single(r => r.Name == "state_outs").AsTensor<float>().ToArray();
            for (int j = 0; j < 2; j++)
                Assert.True(Math.Abs(output[j] - cells[4 + j]) <= 1e-5 * Math.Max(1, Math.Abs(cells[4 + j])), $"row {i + 1}: act {cells[4 + j]}, ONNX {output[j]}");
            // The episode ends where the agent saw it end: the row's done flag, or the family's horizon.
            bool ended = cells[8] == 1;
            Assert.True(ended == (h[3] == 1 || cells[3] + 1 == row.Horizon), $"row {i + 1}");
            row.Observe(cells.AsSpan(6, 2), h[2], ended);
        }
    }

    [Fact]
    public void Export_and_act_refuse_bad_input_in_one_line_and_leave_no_partial_file()
    {
        var run = Path.Combine(_dir, "run");
        Assert.Equal(0, Run("train", "rl2", "bandit", "--set", "iterations=1", "--set", "hidden=8", "--set", "trials-per-iteration=4", "--out", run).Code);
        void Refused(string expected, params string[] args)
        {
            var r = Run(args);
            Assert.Equal((2, "error: " + expected + "\n"), (r.Code, r.Err));
        }
        Refused("--adapt-trial applies to MAML runs (their policy adapts by gradient steps); this run is rl2, whose memory the caller carries in the recurrent state.",
            "export", run, "--adapt-trial", "2");
        Refused("Argument 'unreal' not recognized. Must be one of: 'godot' 'unity'; see 'metarl export --help'.", "export", run, "--convention", "unreal");
        Refused($"--out '{_dir}' is a directory; name the .onnx file to write.", "export", run, "--out", _dir);

        var csv = Path.Combine(_dir, "h.csv");
        var output = Path.Combine(_dir, "out.csv");
        File.WriteAllText(csv, "obs,reward\n0,1\n");
        Refused($"--inputs: '{csv}' needs columns 'reward' and 'done' beside the observation's; its header is 'obs,reward'.", "act", run, "--inputs", csv);
        File.WriteAllText(csv, "obs,extra,reward,done\n0,0,1,0\n");
        Refused($"--inputs: '{csv}' has 2 observation columns; bandit observations have 1.", "act", run, "--inputs", csv);
        File.WriteAllText(csv, "obs,reward,done\n0,1,0\n0,nan,0\n");
        Refused($"{csv}, line 3, column 'reward': 'nan' is not a finite number.", "act", run, "--inputs", csv, "--out", output);
        Assert.Empty(Directory.GetFiles(_dir, "out.csv*"));
        File.WriteAllText(csv, "obs,reward,done\n0,1,0\n0,1,0,4\n");
        Refused($"{csv}, line 3: 4 values for 3 columns.", "act", run, "--inputs", csv);
        File.WriteAllText(csv, "obs,reward,done\n0,1,0.5\n");
        Refused($"{csv}, line 2, column 'done': 0.5 is not 0 or 1.", "act", run, "--inputs", csv);
    }
}
