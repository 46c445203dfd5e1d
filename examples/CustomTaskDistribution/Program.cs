// A new task family in a few dozen lines: personalised dosing. Each patient (task) has a hidden
// sensitivity; the agent picks one of five doses per visit and is rewarded for landing the response near
// the target. A trial is eight visits of one patient, so the agent must infer the sensitivity as it goes.
// Run: dotnet run -c Release --project examples/CustomTaskDistribution
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Core.Evaluation;
using MetaRL.Algorithms.Rl2;

var tasks = new DosingTasks();
var trainer = new Rl2Trainer(tasks, new Rl2Config { Hidden = 32, Iterations = 150, TrialsPerIteration = 64, LearningRate = 3e-3 }, seed: 1);
for (int i = 0; i < 150; i++)
{
    var s = trainer.RunIteration();
    if (s.Iteration % 50 == 0) Console.WriteLine($"iteration {s.Iteration}: mean trial return {s.MeanTrialReturn:F2}");
}
var result = MetaTest.Run(trainer.Agent(), tasks, new MetaTestOptions(Trials: 2000, Seed: 7));
Console.WriteLine($"held-out patients: return per visit {string.Join("  ", result.EpisodeReturns.Select(r => r.ToString("F2")))}");
Console.WriteLine($"total {result.MeanTotalReturn:F2} ± {result.Ci95:F2}; the task-knowing optimum earns {result.OracleTotalReturn:F2}");

/// <summary>A patient: response = sensitivity × dose + noise.</summary>
sealed record Patient(double Sensitivity) : ITask
{
    public IReadOnlyList<KeyValuePair<string, double>> Describe() => [KeyValuePair.Create("sensitivity", Sensitivity)];
}

sealed class DosingEnv : Env<Patient>
{
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(5);

    public override void Reset(Rng rng, Span<float> observation) => observation[0] = 1;

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        double response = Task.Sensitivity * action[0] + rng.Normal(0, 0.1);
        return new StepResult(-Math.Abs(response - DosingTasks.Target), Terminated: true, Truncated: false);
    }
}

sealed class DosingTasks : TaskDistribution
{
    public const double Target = 1.0;
    public override string Name => "dosing";
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(5);
    public override int Horizon => 1;
    public override int EpisodesPerTrial => 8;
    public override IReadOnlyList<SettingInfo> Settings => [];

    // Training patients have sensitivities in [0.25, 1]; held-out ones include more sensitive patients.
    public override ITask SampleTask(Rng rng, TaskSplit split)
        => new Patient(split == TaskSplit.Train ? rng.Uniform(0.25, 1.0) : rng.Uniform(0.25, 1.2));

    public override IEnv CreateEnv() => new DosingEnv();

    // Knowing the sensitivity, pick the dose whose mean response is closest to the target (noise ignored).
    public override double? OracleEpisodeReturn(ITask task)
        => -Enumerable.Range(0, 5).Min(d => Math.Abs(((Patient)task).Sensitivity * d - Target));
}
