// Plays a trained agent on held-out tasks step by step, as an application would (same mean as `metarl eval CKPT --trials 200`).
// Run: dotnet run --project examples/PlayTrainedAgent -- runs/my-run (or a checkpoint file: runs/my-run/checkpoint.mrla)
using MetaRL.Algorithms;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Learning;
using MetaRL.Core.Tasks;
using MetaRL.Engine.IO;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: PlayTrainedAgent RUN-DIRECTORY|CHECKPOINT.mrla");
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
var tasks = learner.Tasks;
var player = new AgentPlayer(learner.Agent(), tasks);
var env = tasks.CreateEnv();
var observation = new float[tasks.ObservationSpace.Size];
var heldOut = MetaTest.Tasks(tasks, seed: 1, count: 200);
double total = 0;
for (int t = 0; t < heldOut.Length; t++)
{
    env.SetTask(heldOut[t]);
    var rng = MetaTest.EnvironmentStream(seed: 1, trial: t);
    player.Reset(); // a new task: the agent starts inferring it afresh
    for (int episode = 0; episode < tasks.EpisodesPerTrial; episode++)
    {
        env.Reset(rng, observation);
        for (bool over = false; !over;)
        {
            var step = env.Step(player.Act(observation), rng, observation);
            total += step.Reward;
            over = player.Observe((float)step.Reward, step.Terminated, step.Truncated);
        }
    }
}
Console.WriteLine($"{learner.Algorithm} on {tasks.Name}: mean total return {total / heldOut.Length:F4} over {heldOut.Length} held-out tasks");
return 0;
