using System.Diagnostics;
using System.Net.Http.Json;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;

namespace AgentService;

/// <summary>What a load test measured.</summary>
/// <param name="Mismatches">Actions the service answered that differ from the same session played in-process (must be 0).</param>
public sealed record LoadTestResult(int Clients, long Requests, double Seconds, double P50Ms, double P99Ms, double MaxMs, long Mismatches)
{
    public double RequestsPerSecond => Requests / Seconds;

    public override string ToString() =>
        $"{Requests} act requests from {Clients} clients in {Seconds:F2} s: {RequestsPerSecond:F0} requests/s; latency p50 {P50Ms:F3} ms, p99 {P99Ms:F3} ms, max {MaxMs:F3} ms; "
        + (Mismatches == 0 ? "every action equals the in-process agent's" : $"{Mismatches} actions differ from the in-process agent's");
}

/// <summary>
/// Clients on loopback, each playing held-out tasks of the agent's family through the service (one request per step,
/// the environment simulated by the client), until <c>requests</c> in all or <c>seconds</c> have passed. Each client
/// also plays the same session in-process and counts the actions that differ.
/// </summary>
public static class LoadTest
{
    public static async Task<LoadTestResult> Run(IMetaLearner learner, Uri server, int clients, long requests, double seconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(clients, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(requests, 1);
        using var http = new HttpClient { BaseAddress = server };
        var tasks = learner.Tasks;
        var agent = learner.Agent();
        var heldOut = MetaTest.Tasks(tasks, 1, Math.Max(clients, 16));
        long issued = 0, mismatches = 0;
        var clock = Stopwatch.StartNew();
        var latencies = new List<double>[clients];

        async Task Client(int c)
        {
            var mine = latencies[c] = new List<double>();
            var created = await http.PostAsJsonAsync("/sessions", new SessionRequest((ulong)(c + 1)));
            created.EnsureSuccessStatusCode();
            var id = (await created.Content.ReadFromJsonAsync<SessionResponse>())!.Id;
            var local = new AgentPlayer(agent, tasks, (ulong)(c + 1));
            var env = tasks.CreateEnv();
            var obs = new float[tasks.ObservationSpace.Size];
            for (int trial = 0; ; trial++)
            {
                var task = heldOut[(c + trial * clients) % heldOut.Length];
                env.SetTask(task);
                var rng = MetaTest.EnvironmentStream(1, c + trial * clients);
                (await http.PostAsync($"/sessions/{id}/reset", null)).EnsureSuccessStatusCode();
                local.Reset();
                float? reward = null;
                bool done = false, terminated = false;
                for (int e = 0; e < tasks.EpisodesPerTrial; e++)
                {
                    env.Reset(rng, obs);
                    for (bool over = false; !over;)
                    {
                        if (Interlocked.Increment(ref issued) > requests || clock.Elapsed.TotalSeconds > seconds) return;
                        long t0 = Stopwatch.GetTimestamp();
                        var response = await http.PostAsJsonAsync($"/sessions/{id}/act", new ActRequest(obs, reward, done, terminated));
                        response.EnsureSuccessStatusCode();
                        var answer = (await response.Content.ReadFromJsonAsync<ActResponse>())!;
                        mine.Add(1e3 * (Stopwatch.GetTimestamp() - t0) / Stopwatch.Frequency);
                        var expected = local.Act(obs);
                        if (!expected.SequenceEqual(answer.Action)) Interlocked.Increment(ref mismatches);
                        var step = env.Step(answer.Action, rng, obs);
                        over = local.Observe((float)step.Reward, step.Terminated, step.Truncated, obs);
                        (reward, done, terminated) = ((float)step.Reward, over, step.Terminated);
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(Client));
        double elapsed = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        double Quantile(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)Math.Ceiling(q * all.Length) - 1)];
        return new LoadTestResult(clients, all.Length, elapsed, Quantile(0.5), Quantile(0.99), all.Length == 0 ? double.NaN : all[^1], mismatches);
    }
}
