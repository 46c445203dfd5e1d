// A task family of your own, usable by the metarl command line with --tasks-from (see docs/tutorial.md):
//   dotnet build -c Release examples/TaskPackExample
//   metarl train rl2 dose-finding --tasks-from examples/TaskPackExample/bin/Release/net10.0/TaskPackExample.dll
// Each patient (task) responds to a dose with a hidden sensitivity; over a few visits the agent must find the dose
// that brings the response to the target. The [assembly: TaskPack] line is all the registration there is.
using System.Globalization;
using MetaRL.Core.Baselines;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

[assembly: TaskPack(typeof(TaskPackExample.ExamplePack))]

namespace TaskPackExample;

/// <summary>The families of this assembly.</summary>
public sealed class ExamplePack : ITaskPack
{
    public IEnumerable<TaskFamilyInfo> Families =>
    [
        new("dose-finding", "find each patient's dose: response = hidden sensitivity × dose + noise, target 1 (an example task pack)",
            DoseFindingTasks.FromSettings, (tasks, seed) => [new RandomAgent(), new StrategyAgent("titrate up", (_, _) => new TitrateUp())]),
    ];
}

/// <summary>A patient: response = sensitivity × dose + noise.</summary>
public sealed record Patient(double Sensitivity) : ITask
{
    public IReadOnlyList<KeyValuePair<string, double>> Describe() => [KeyValuePair.Create("sensitivity", Sensitivity)];
}

/// <summary>One visit: the agent picks one of five doses (0–4) and earns minus the distance of the response from the target.</summary>
public sealed class DoseFindingEnv : Env<Patient>
{
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(5);

    public override void Reset(Rng rng, Span<float> observation) => observation[0] = 1;

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        double response = Task.Sensitivity * action[0] + rng.Normal(0, 0.1);
        return new StepResult(-Math.Abs(response - DoseFindingTasks.Target), Terminated: true, Truncated: false);
    }
}

/// <summary>Patients with sensitivities in [0.25, 1]; a trial is <c>visits</c> visits of one patient.</summary>
public sealed class DoseFindingTasks(int visits) : TaskDistribution
{
    public const double Target = 1.0;

    public static DoseFindingTasks FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("dose-finding", values);
        var tasks = new DoseFindingTasks(r.Int("episodes", 8, 1, 1000));
        r.EnsureAllUsed();
        return tasks;
    }

    public override string Name => "dose-finding";
    public override string EpisodeName => "visit";
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);
    public override Space ActionSpace { get; } = new Discrete(5);
    public override int Horizon => 1;
    public override int EpisodesPerTrial => visits;
    public override IReadOnlyList<SettingInfo> Settings => [new("episodes", visits.ToString(CultureInfo.InvariantCulture), "visits per patient (trial)")];

    public override ITask SampleTask(Rng rng, TaskSplit split) => new Patient(rng.Uniform(0.25, 1.0));

    public override IEnv CreateEnv() => new DoseFindingEnv();

    // Knowing the sensitivity, the dose whose mean response is closest to the target.
    public override double? OracleEpisodeReturn(ITask task) => -Enumerable.Range(0, 5).Min(d => Math.Abs(((Patient)task).Sensitivity * d - Target));
}

/// <summary>A clinician's rule: start at dose 1 and raise it one step at a visit while the response improves; settle on the best.</summary>
public sealed class TitrateUp : IStrategy
{
    private int _dose = 1;
    private float _last = float.NegativeInfinity;
    private bool _settled;

    public void Reset() => (_dose, _last, _settled) = (1, float.NegativeInfinity, false);

    public void Act(ReadOnlySpan<float> observation, Span<float> action) => action[0] = _dose;

    public void Observe(float reward, bool episodeEnded)
    {
        // The reward is −|response − 1|: a worse reward after a raise means the last dose overshot.
        if (_settled) return;
        if (reward < _last) (_dose, _settled) = (_dose - 1, true);
        else if (_dose == 4) _settled = true;
        else (_last, _dose) = (reward, _dose + 1);
    }
}
