// A game loop with a trained arena NPC: the game owns the world (an ArenaRound) and, ten times a second, shows the NPC
// what it sees and asks for its decision through the agent API. Three rounds against one scripted player: the NPC keeps
// its memory across them, so it can work out the player's style in the first and counter it in the next.
// Run: dotnet run -c Release --project examples/ArenaNpc -- runs/arena [style]   (a run directory or a checkpoint file)
using System.Diagnostics;
using MetaRL.Algorithms;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Engine.IO;
using MetaRL.Tasks.Games;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: ArenaNpc RUN-DIRECTORY|CHECKPOINT.mrla [style: rush, kite, camp, flank, bait, mixture]");
    return 2;
}
IMetaLearner learner;
try
{
    learner = MetaLearners.Load(args[0]);
}
catch (Exception e) when (e is CheckpointException or SettingException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
if (learner.Tasks is not ArenaTasks tasks)
{
    Console.Error.WriteLine($"{args[0]} was trained on {learner.Tasks.Name}, not arena.");
    return 2;
}
var rng = new Rng(7);
ArenaStyle style;
try
{
    style = ArenaStyles.Get(args.Length > 1 ? args[1] : "kite");
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
var opponent = style.Create(style.Draw(rng, false));
// In the loadout game the player also wears armour against one kind of damage, the same every round, hidden from the NPC.
var armour = tasks.Loadouts ? (rng.NextInt(2) == 0 ? ArenaGuard.Kinetic : ArenaGuard.Energy) : ArenaGuard.None;

var npc = new AgentPlayer(learner.Agent(), tasks); // one NPC's memory; Reset() when it meets a new player
var world = tasks.CreateRound();
var seen = new float[tasks.ObservationSpace.Size]; // with loadouts it also says which one the NPC carries
long decisions = 0, ticks = 0, first = 0;
npc.Reset();
for (int r = 1; r <= tasks.EpisodesPerTrial; r++)
{
    opponent.Start(world, rng); // the player's style sets its own strengths
    world.Player.Guard(armour);
    while (!world.Over)
    {
        ArenaEnv.Observe(world, seen);
        long start = Stopwatch.GetTimestamp();
        int action = (int)npc.Act(seen)[0];
        // The first decision also compiles the code; it is reported apart.
        if (decisions++ == 0) first = Stopwatch.GetTimestamp() - start;
        else ticks += Stopwatch.GetTimestamp() - start;
        // With loadouts (a run trained with loadouts=true) the round's first decision picks the NPC's kit.
        double balance = world.Advance(ArenaEnv.NpcMove(world, action, tasks.Loadouts), opponent.Decide(world, rng), rng);
        var outcome = ArenaEnv.Outcome(world, balance);
        npc.Observe((float)outcome.Reward, outcome.Terminated, outcome.Truncated);
    }
    string result = world.Outcome switch { 1 => "won", 0 => "lost", _ => "drawn" };
    string kit = tasks.Loadouts ? $" ({armour.ToString().ToLowerInvariant()} armour) with the {world.Loadout.ToString().ToLowerInvariant()} kit" : "";
    Console.WriteLine($"round {r} against '{style.Name}'{kit}: {result} after {world.Step * ArenaRules.Dt:F1} s, NPC health {world.Npc.Health:F0}, player health {world.Player.Health:F0}");
}
Console.WriteLine($"{decisions} decisions: the first {1e3 * first / Stopwatch.Frequency:F1} ms (it compiles the code), the others {1e6 * ticks / Stopwatch.Frequency / (decisions - 1):F1} µs each on average");
return 0;
