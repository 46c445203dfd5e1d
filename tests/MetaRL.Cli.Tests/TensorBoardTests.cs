using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MetaRL.Cli.Tests;

/// <summary>
/// The TensorBoard event file of a training run, read back by a decoder written here from the format's description
/// (TFRecord framing with masked CRC-32C; Event and Summary protocol buffers), independent of the writer.
/// </summary>
public sealed class TensorBoardTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-tb-" + Guid.NewGuid().ToString("N"));

    public TensorBoardTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void A_twenty_iteration_run_writes_twenty_points_per_metrics_column_with_the_same_values_and_a_resume_keeps_them_in_step()
    {
        var run = Path.Combine(_dir, "run");
        var (code, err) = Cli("train", "rl2", "bandit", "--set", "iterations=20", "--set", "hidden=16", "--set", "trials-per-iteration=16", "--set", "minibatches=2",
            "--set", "validate-every=5", "--set", "validation-trials=20", "--checkpoint-every", "10", "--out", run);
        Assert.True(code == 0, err);
        AssertEventsMatchMetrics(run, 20);

        // An evaluation's adaptation curve: one series per agent, its points the episodes of the trial.
        var evals = Path.Combine(_dir, "evals");
        (code, err) = Cli("eval", run, "--trials", "8", "--baselines", "--out", evals);
        Assert.True(code == 0, err);
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(evals, "eval-trials8-seed1-baselines.json"))))
        {
            var (_, curves) = Decode(File.ReadAllBytes(Assert.Single(Directory.GetFiles(evals, "events.out.tfevents.*"))));
            foreach (var agent in json.RootElement.EnumerateArray())
            {
                var name = agent.GetProperty("agent").GetString();
                var expected = agent.GetProperty("episodeReturns").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
                var series = curves.Where(c => c.Tag == $"eval-trials8-seed1-baselines/{name}").ToArray();
                Assert.Equal(Enumerable.Range(1, expected.Length).Select(i => (long)i), series.Select(c => c.Step));
                Assert.Equal(expected, series.Select(c => c.Value));
            }
        }

        // A longer resumed run rewrites the file from metrics.csv and goes on: 30 points, no duplicates.
        (code, err) = Cli("train", "--resume", run, "--set", "iterations=30");
        Assert.True(code == 0, err);
        AssertEventsMatchMetrics(run, 30);
    }

    private static void AssertEventsMatchMetrics(string run, int iterations)
    {
        var file = Assert.Single(Directory.GetFiles(run, "events.out.tfevents.*"));
        var (version, scalars) = Decode(File.ReadAllBytes(file));
        Assert.Equal("brain.Event:2", version);
        var lines = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        var columns = lines[0].Split(',');
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(iterations, rows.Length);
        foreach (var (column, c) in columns.Select((n, i) => (n, i)).Skip(1))
        {
            var expected = rows.Where(r => r[c].Length > 0).Select(r => (Step: long.Parse(r[0], CultureInfo.InvariantCulture), Value: double.Parse(r[c], CultureInfo.InvariantCulture))).ToArray();
            var points = scalars.Where(s => s.Tag == column).Select(s => (s.Step, Value: (double)s.Value)).ToArray();
            Assert.Equal(expected.Select(e => e.Step), points.Select(p => p.Step));
            // metrics.csv keeps six significant digits; the event file the float value.
            foreach (var (e, p) in expected.Zip(points)) Assert.True(Math.Abs(e.Value - p.Value) <= 1e-5 * Math.Max(1, Math.Abs(e.Value)), $"{column} at {e.Step}: {e.Value} vs {p.Value}");
        }
        Assert.Equal(iterations, scalars.Count(s => s.Tag == "mean_trial_return"));
        Assert.Equal(iterations / 5, scalars.Count(s => s.Tag == "validation_return"));
    }

    /// <summary>Every record of an event file, each checked against both of its CRCs: the file version and the scalars.</summary>
    private static (string? Version, List<(long Step, string Tag, float Value)> Scalars) Decode(byte[] bytes)
    {
        string? version = null;
        var scalars = new List<(long, string, float)>();
        int at = 0;
        while (at < bytes.Length)
        {
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(Masked(bytes.AsSpan(at, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            var payload = bytes.AsSpan(at + 12, (int)length);
            Assert.Equal(Masked(payload), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            at += 12 + (int)length + 4;
            long step = 0;
            var values = new List<(string, float)>();
            foreach (var (field, wire, data, number) in Fields(payload.ToArray()))
            {
                if (field == 2 && wire == 0) step = (long)number;
                else if (field == 3 && wire == 2) version = Encoding.UTF8.GetString(data);
                else if (field == 5 && wire == 2)
                    foreach (var (vf, _, value, _) in Fields(data))
                    {
                        Assert.Equal(1, vf);
                        string? tag = null;
                        float simple = float.NaN;
                        foreach (var (f, w, d, n) in Fields(value))
                        {
                            if (f == 1) tag = Encoding.UTF8.GetString(d);
                            else if (f == 2 && w == 5) simple = BitConverter.Int32BitsToSingle((int)n);
                        }
                        values.Add((tag!, simple));
                    }
            }
            scalars.AddRange(values.Select(v => (step, v.Item1, v.Item2)));
        }
        return (version, scalars);
    }

    /// <summary>The fields of a protocol-buffer message: number, wire type, bytes (length-delimited) or the value (varint, fixed).</summary>
    private static IEnumerable<(int Field, int Wire, byte[] Data, ulong Number)> Fields(byte[] m)
    {
        int i = 0;
        ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = m[i++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
        }
        while (i < m.Length)
        {
            ulong key = Varint();
            int field = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: yield return (field, wire, [], Varint()); break;
                case 1: yield return (field, wire, [], BitConverter.ToUInt64(m, i)); i += 8; break;
                case 5: yield return (field, wire, [], BitConverter.ToUInt32(m, i)); i += 4; break;
                case 2:
                    int n = (int)Varint();
                    yield return (field, wire, m[i..(i + n)], 0);
                    i += n;
                    break;
                default: throw new InvalidDataException($"wire type {wire}");
            }
        }
    }

    /// <summary>CRC-32C bit by bit (reflected polynomial 0x82F63B78), masked as TFRecord does.</summary>
    private static uint Masked(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        crc = ~crc;
        return unchecked(((crc >> 15) | (crc << 17)) + 0xA282EAD8u);
    }

    private static (int Code, string Err) Cli(params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "metarl.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, err.Result);
    }
}
