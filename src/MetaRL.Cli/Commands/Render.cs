using System.Globalization;
using MetaRL.Algorithms;
using MetaRL.Algorithms.Runs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;
using MetaRL.Reports;
using MetaRL.Tasks.Games;

namespace MetaRL.Cli.Commands;

/// <summary>Draws what a trained NPC does: a round of <c>arena</c> as a strip of frames, or as an animated GIF of every step.</summary>
internal static class Render
{
    private const int Trail = 10;

    /// <summary>
    /// Plays held-out trial <paramref name="trial"/> (1-based, the eval's own order for <paramref name="seed"/>) through the
    /// agent API and draws round <paramref name="round"/> (default: the last) as <paramref name="frames"/> frames, or, where
    /// <paramref name="output"/> is a .gif, as an animation of every step in real time. Returns the file written.
    /// </summary>
    public static string Arena(string runDir, string? family, Dictionary<string, string> overrides, ulong seed, int trial, int? round, int frames, string? output)
    {
        if (family is not null && family != "arena") throw new SettingException($"render draws arena rounds; --task {family} has no rendering.");
        bool animate = output is not null && output.EndsWith(".gif", StringComparison.OrdinalIgnoreCase);
        if (output is not null && !animate && !output.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new SettingException($"render writes a PNG strip of frames or an animated GIF; --out must name a .png or .gif file, got '{output}'.");
        var learner = EpisodeEvaluation.Load(runDir, overrides, out var file, out _);
        if (learner.Tasks is not ArenaTasks tasks) throw new SettingException($"render draws arena rounds; {file} plays {learner.Tasks.Name}.");
        if (trial < 1) throw new SettingException($"--trial counts from 1, got {trial}.");
        int rounds = tasks.EpisodesPerTrial, shown = round ?? rounds;
        if (shown < 1 || shown > rounds) throw new SettingException($"--round must be between 1 and {rounds} (the trial's rounds), got {shown}.");
        if (frames is < 2 or > 32) throw new SettingException($"--frames must be between 2 and 32, got {frames}.");

        var task = (ArenaPlayer)MetaTest.Tasks(tasks, seed, trial)[trial - 1];
        var rng = MetaTest.EnvironmentStream(seed, trial - 1);
        var env = (ArenaEnv)tasks.CreateEnv();
        env.SetTask(task);
        var agent = learner.Agent();
        var player = new AgentPlayer(agent, tasks, seed);
        player.Reset();
        var observation = new float[tasks.ObservationSpace.Size];
        var states = new List<(Vec Npc, Vec Player, double NpcHealth, double PlayerHealth, ArenaAttack NpcAttack, bool NpcHit, ArenaAttack PlayerAttack, bool PlayerHit)>();
        double outcome = 0;
        for (int r = 1; r <= shown; r++)
        {
            env.Reset(rng, observation);
            var world = env.Round;
            if (r == shown) states.Add((world.Npc.Position, world.Player.Position, world.Npc.Health, world.Player.Health, ArenaAttack.None, false, ArenaAttack.None, false));
            for (bool over = false; !over;)
            {
                var step = env.Step(player.Act(observation), rng, observation);
                over = player.Observe((float)step.Reward, step.Terminated, step.Truncated);
                if (r == shown)
                    states.Add((world.Npc.Position, world.Player.Position, world.Npc.Health, world.Player.Health, world.NpcAttack, world.NpcHit, world.PlayerAttack, world.PlayerHit));
            }
            outcome = env.Round.Outcome;
        }

        double h = ArenaRules.HalfSize;
        var picks = animate
            ? Enumerable.Range(0, states.Count).ToArray()
            : Enumerable.Range(0, frames).Select(i => (int)Math.Round((double)i * (states.Count - 1) / (frames - 1))).Distinct().ToArray();
        var scenes = picks.Select(k =>
        {
            var s = states[k];
            var from = states[Math.Max(0, k - 1)];
            var trail = states.Skip(Math.Max(0, k - Trail)).Take(Math.Min(k, Trail) + 1).ToArray();
            var shots = new List<SceneShot>();
            if (s.NpcAttack != ArenaAttack.None) shots.Add(new(0, from.Npc.X + h, from.Npc.Y + h, from.Player.X + h, from.Player.Y + h, s.NpcHit));
            if (s.PlayerAttack != ArenaAttack.None) shots.Add(new(1, from.Player.X + h, from.Player.Y + h, from.Npc.X + h, from.Npc.Y + h, s.PlayerHit));
            return new Scene(string.Create(CultureInfo.InvariantCulture, $"{k * ArenaRules.Dt:F1} s   NPC {s.NpcHealth:F0} · player {s.PlayerHealth:F0}"),
                ArenaRules.Pillars.Select(p => (p.Centre.X + h, p.Centre.Y + h, p.Radius)).ToArray(),
                [
                    new SceneActor("NPC", 0, s.Npc.X + h, s.Npc.Y + h, trail.Select(t => t.Npc.X + h).ToArray(), trail.Select(t => t.Npc.Y + h).ToArray()),
                    new SceneActor(task.Style.Name, 1, s.Player.X + h, s.Player.Y + h, trail.Select(t => t.Player.X + h).ToArray(), trail.Select(t => t.Player.Y + h).ToArray()),
                ],
                shots);
        }).ToArray();
        string result = outcome == 1 ? "won" : outcome == 0 ? "lost" : "drawn";
        // The guard is a kind, not a number: named after the parameters.
        string parameters = string.Join(", ", task.Describe().Skip(1).Where(kv => kv.Key != "guard")
            .Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:G3}"))
            .Concat(task.Guard == ArenaGuard.None ? [] : [$"{task.Guard.ToString().ToLowerInvariant()} armour"]));
        string kit = env.Loadouts ? $", NPC: {env.Round.Loadout.ToString().ToLowerInvariant()}" : "";
        string title = $"{agent.Name} vs {tasks.GroupOf(task)} ({parameters}): round {shown} of {rounds}{kit}, {result}";
        var path = output ?? Path.Combine(Directory.Exists(runDir) ? runDir : Path.GetDirectoryName(Path.GetFullPath(runDir))!, $"render-trial{trial}-round{shown}.png");
        if (animate) Plots.Animation(path, title, 2 * h, 2 * h, scenes, ArenaRules.Dt);
        else Plots.Strip(path, title, 2 * h, 2 * h, scenes, columns: Math.Min(4, scenes.Length));
        return path;
    }
}
