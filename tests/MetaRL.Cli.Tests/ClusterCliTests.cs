using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace MetaRL.Cli.Tests;

/// <summary>Runs only where MuJoCo is installed; elsewhere skipped with the install command.</summary>
public sealed class MuJoCoCliFactAttribute : FactAttribute
{
    public MuJoCoCliFactAttribute()
    {
        if (!MetaRL.MuJoCo.MuJoCo.IsAvailable) Skip = "MuJoCo is not installed: sudo apt-get install libmujoco-dev gcc";
    }
}

/// <summary>
/// <c>metarl train … --workers N</c> as a user runs it: real worker processes on this machine, one killed by SIGKILL
/// while iteration 2 is being played. The run completes, the piece is played again by the other worker, and the
/// checkpoint is the single process's, byte for byte.
/// </summary>
public sealed class ClusterCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-cluster-cli-" + Guid.NewGuid().ToString("N"));

    public ClusterCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    // hopper-params' RL² preset (TRPO, task prediction, skip input, …) made small enough for CI.
    private static readonly string[] Hopper =
    [
        "train", "rl2", "hopper-params", "--set", "iterations=3", "--set", "trials-per-iteration=24", "--set", "minibatches=4",
        "--set", "horizon=100", "--set", "validation-trials=8",
    ];

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "metarl.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [MuJoCoCliFact]
    public void A_worker_process_killed_during_iteration_2_changes_nothing()
    {
        var single = Path.Combine(_dir, "single");
        var one = CliTests.Run([.. Hopper, "--out", single]);
        Assert.True(one.Code == 0, one.Err + one.Out);

        var run = Path.Combine(_dir, "workers");
        using var p = Start([.. Hopper, "--workers", "2", "--out", run]);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // Iteration 1's row in workers.csv: iteration 2 has begun. Kill the first worker process there and then.
        var csv = Path.Combine(run, "workers.csv");
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (DateTime.UtcNow < deadline && !p.HasExited && !(File.Exists(csv) && Lines(csv).Any(l => l.StartsWith("1,", StringComparison.Ordinal)))) Thread.Sleep(10);
        // (The output is read only after an assertion fails: reading it waits for the process to end.)
        if (p.HasExited) Assert.Fail("the run ended before iteration 2: " + stderr.Result + stdout.Result);
        var name = Regex.Match(File.ReadAllText(Path.Combine(run, "worker-1.log")), @"(metarl-worker-\S+-(\d+)) joined");
        Assert.True(name.Success, "worker-1.log does not name the worker");
        int pid = int.Parse(name.Groups[2].Value, CultureInfo.InvariantCulture);
        using (var worker = Process.GetProcessById(pid))
        {
            worker.Kill(); // SIGKILL
            Assert.True(worker.WaitForExit(10_000), $"worker process {pid} still running after SIGKILL");
        }
        Assert.True(p.WaitForExit(300_000), "the run did not finish after a worker was killed");
        Assert.True(p.ExitCode == 0, stderr.Result + stdout.Result);

        Assert.True(stdout.Result.Contains($"worker {name.Groups[1].Value} failed"), stdout.Result + File.ReadAllText(csv));
        Assert.Contains("played again elsewhere", stdout.Result);
        // workers.csv: both workers in iteration 1; iteration 2 re-ran a piece and finished on the surviving worker.
        var rows = Lines(csv).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(2, rows.Count(r => r[0] == "1"));
        var second = rows.Where(r => r[0] == "2").ToArray();
        Assert.All(second, r => Assert.NotEqual(name.Groups[1].Value, r[1]));
        Assert.All(second, r => Assert.True(int.Parse(r[5], CultureInfo.InvariantCulture) >= 1, string.Join(',', r)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(single, "checkpoint.mrla")), File.ReadAllBytes(Path.Combine(run, "checkpoint.mrla")));
    }

    [Fact]
    public void Workers_and_cluster_are_refused_where_they_do_not_apply()
    {
        var both = CliTests.Run("train", "rl2", "bandit", "--workers", "2", "--cluster", "127.0.0.1:1", "--out", Path.Combine(_dir, "a"));
        Assert.Equal(2, both.Code);
        Assert.Contains("not both", both.Err);
        var sac = CliTests.Run("train", "sac", "pendulum", "--workers", "2", "--out", Path.Combine(_dir, "b"));
        Assert.Equal(2, sac.Code);
        Assert.Contains("sac trains in one process", sac.Err);
        var bad = CliTests.Run("worker", "--cluster", "nowhere");
        Assert.Equal(2, bad.Code);
        Assert.Contains("HOST:PORT", bad.Err);
    }

    private static string[] Lines(string path)
    {
        try
        {
            using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var r = new StreamReader(s);
            return r.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException) { return []; }
    }
}
