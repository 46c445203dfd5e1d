using System.Diagnostics;
using MetaRL.Algorithms;
using MetaRL.Core.Evaluation;
using MetaRL.Engine;
using MetaRL.Tasks.Games;

/// <summary>
/// The cost of an arena NPC's decision in a game loop on one core: the RL² agent's step through the agent API at batch 1
/// (the arena preset's GRU), the world's step (the scripted player's decision, the attacks and the moves) and the
/// observation, as examples/ArenaNpc runs them; the first decision (it compiles the code) apart.
/// </summary>
internal static class ArenaBench
{
    public static void Run(double seconds)
    {
        var learner = MetaLearners.Create("rl2", "arena", new Dictionary<string, string>(), seed: 1);
        var tasks = (ArenaTasks)learner.Tasks;
        Console.WriteLine($"arena NPC game loop, one core: RL² agent ({learner.Settings["cell"]} {learner.Settings["hidden"]}) at batch 1 through AgentPlayer; median of 5 windows of {seconds:0.##} s");
        var loop = new Loop(learner.Agent(), tasks);
        long start = Stopwatch.GetTimestamp();
        loop.Decide();
        double firstMs = 1e3 * (Stopwatch.GetTimestamp() - start) / Stopwatch.Frequency;
        double agent = Median(seconds, () => loop.Decide()), world = Median(seconds, () => loop.World());
        Console.WriteLine($"{"first decision, ms",22}{"decision, µs",16}{"world step, µs",18}{"both, µs",12}");
        Console.WriteLine($"{firstMs,22:F1}{agent,16:F2}{world,18:F2}{agent + world,12:F2}");
        Console.WriteLine();
    }

    // Microseconds per call of step, the median of 5 timed windows after a warm-up one.
    private static double Median(double seconds, Action step)
    {
        var us = new double[5];
        for (int w = -1; w < us.Length; w++)
        {
            long n = 0;
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed.TotalSeconds < (w < 0 ? Math.Min(0.2, seconds) : seconds))
            {
                for (int i = 0; i < 100; i++) step();
                n += 100;
            }
            if (w >= 0) us[w] = 1e6 * watch.Elapsed.TotalSeconds / n;
        }
        Array.Sort(us);
        return us[us.Length / 2];
    }

    /// <summary>One NPC against a kiting player, as a game would run them: decide, then advance the world.</summary>
    private sealed class Loop
    {
        private readonly AgentPlayer _npc;
        private readonly ArenaPlayerStyle _player;
        private readonly ArenaRound _world;
        private readonly float[] _seen = new float[ArenaEnv.ObservationSize];
        private readonly Rng _rng = new(3);
        private int _action;

        public Loop(IMetaAgent agent, ArenaTasks tasks)
        {
            _npc = new AgentPlayer(agent, tasks);
            var style = ArenaStyles.Get("kite");
            _player = style.Create(style.Draw(_rng, false));
            _world = tasks.CreateRound();
            _npc.Reset();
            Start();
        }

        private void Start()
        {
            _player.Start(_world, _rng);
            ArenaEnv.Observe(_world, _seen);
        }

        /// <summary>The NPC's decision on what it sees, and the reward of the step before (the agent API's pair of calls).</summary>
        public void Decide()
        {
            _action = (int)_npc.Act(_seen)[0];
            _npc.Observe(0, false, false);
        }

        /// <summary>The world's step: the player's decision, the attacks, the moves and the NPC's new observation.</summary>
        public void World()
        {
            if (_world.Over) Start();
            _world.Advance(ArenaEnv.NpcMove(_world, _action), _player.Decide(_world, _rng), _rng);
            ArenaEnv.Observe(_world, _seen);
        }
    }
}
