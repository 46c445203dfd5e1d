// A task family used from C#, without the command line: RL² trained on examples/TaskPackExample's dose-finding
// family (each patient has a hidden sensitivity; eight visits per patient), then meta-tested on held-out patients.
// Run: dotnet run -c Release --project examples/CustomTaskDistribution
using MetaRL.Algorithms.Rl2;
using MetaRL.Core.Evaluation;
using TaskPackExample;

var tasks = new DoseFindingTasks(visits: 8);
var trainer = new Rl2Trainer(tasks, new Rl2Config { Hidden = 32, Iterations = 150, TrialsPerIteration = 64, LearningRate = 3e-3 }, seed: 1);
for (int i = 0; i < 150; i++)
{
    var s = trainer.RunIteration();
    if (s.Iteration % 50 == 0) Console.WriteLine($"iteration {s.Iteration}: mean trial return {s.MeanTrialReturn:F2}");
}
var result = MetaTest.Run(trainer.Agent(), tasks, new MetaTestOptions(Trials: 2000, Seed: 7));
Console.WriteLine($"held-out patients: return per visit {string.Join("  ", result.EpisodeReturns.Select(r => r.ToString("F2")))}");
Console.WriteLine($"total {result.MeanTotalReturn:F2} ± {result.Ci95:F2}; the task-knowing optimum earns {result.OracleTotalReturn:F2}");
