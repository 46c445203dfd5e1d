using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Algorithms.Tests;

/// <summary>
/// One loaded agent serving many sessions at once (a service with one session per client): each session's actions are
/// those it takes when played alone, whatever the other threads do.
/// </summary>
public sealed class AgentThreadSafetyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metarl-threads-" + Guid.NewGuid().ToString("N"));

    public AgentThreadSafetyTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    public static TheoryData<string, string, string[]> Agents => new()
    {
        { "rl2", "navigation-2d", ["hidden=16", "cell=gru", "deterministic=false", "horizon=20", "episodes=2"] },
        { "rl2", "bandit", ["hidden=16", "cell=lstm", "deterministic=false"] },
        { "maml", "navigation-2d", ["hidden=8,8", "trajectories=2", "horizon=20"] },
        { "pearl", "point-robot", ["hidden=8", "encoder-hidden=8", "latent=2", "train-tasks=4", "tasks-per-iteration=2", "eval-latent=sample"] },
        { "sac", "pendulum", ["hidden=8", "horizon=30", "deterministic=false"] },
    };

    /// <summary>Session <paramref name="client"/>: a player seeded by the client, on its own held-out task, for two trials.</summary>
    private static List<float> Play(IMetaAgent agent, TaskDistribution tasks, int client)
    {
        var player = new AgentPlayer(agent, tasks, seed: (ulong)(100 + client));
        var env = tasks.CreateEnv();
        var obs = new float[tasks.ObservationSpace.Size];
        var actions = new List<float>();
        var heldOut = MetaTest.Tasks(tasks, 7, 16);
        for (int trial = 0; trial < 2; trial++)
        {
            var task = heldOut[(client + trial) % heldOut.Length];
            env.SetTask(task);
            player.Reset();
            var rng = MetaTest.EnvironmentStream(7, client * 2 + trial);
            for (int e = 0; e < tasks.EpisodesPerTrial; e++)
            {
                env.Reset(rng, obs);
                for (bool done = false; !done;)
                {
                    var a = player.Act(obs);
                    actions.AddRange(a.ToArray());
                    var r = env.Step(a, rng, obs);
                    done = player.Observe((float)r.Reward, r.Terminated, r.Truncated, obs);
                }
            }
        }
        return actions;
    }

    [Theory]
    [MemberData(nameof(Agents))]
    public void Many_sessions_over_one_loaded_agent_on_many_threads_act_as_each_does_alone(string algorithm, string task, string[] settings)
    {
        var s = TestSettings.Parse(settings);
        var path = Path.Combine(_dir, algorithm + ".mrla");
        MetaLearners.Create(algorithm, task, s, seed: 3).Save(path);
        var learner = MetaLearners.Load(path);
        var agent = learner.Agent();
        const int clients = 8;
        var alone = Enumerable.Range(0, clients).Select(c => Play(agent, learner.Tasks, c)).ToArray();
        Assert.Contains(alone, a => a.Distinct().Count() > 1);

        var together = new List<float>[clients];
        var start = new Barrier(clients);
        var threads = Enumerable.Range(0, clients).Select(c => new Thread(() =>
        {
            start.SignalAndWait();
            together[c] = Play(agent, learner.Tasks, c);
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        for (int c = 0; c < clients; c++) Assert.Equal(alone[c], together[c]);
    }
}
