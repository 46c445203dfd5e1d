using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Core.Evaluation;

namespace MetaRL.Algorithms.Maml;

/// <summary>
/// MAML's meta-test: the episode protocol (<see cref="MetaTest"/>) played by a <see cref="MamlAgent"/>, whose trials are
/// rounds of K trajectories with one gradient step between rounds, so the return per round is the return after 0, 1,
/// 2, … steps (<see cref="MetaTestResult.StepReturns"/>). Every agent sees the same tasks and random streams. The first
/// step has size α, later ones α × a later-step scale (Finn et al. 2017 halve it after the first step).
/// </summary>
public static class MamlEvaluation
{
    /// <summary>The gradient steps a meta-test takes by default (the MAML paper's curve: 0, 1, 2, 3).</summary>
    public const int DefaultSteps = 3;

    /// <summary>Held-out tasks a MAML meta-test plays by default (the MAML paper's 40 goals).</summary>
    public const int DefaultTasks = 40;

    /// <summary>The scales of the later steps' size that <see cref="ChooseLaterStepScale"/> tries.</summary>
    public static readonly double[] LaterStepScales = [1, 0.5, 0.25, 0.125];

    /// <summary>The protocol's options for <paramref name="steps"/> gradient steps of <paramref name="trajectories"/> trajectories each.</summary>
    public static MetaTestOptions Options(int taskCount, ulong seed, int trajectories, int steps)
    {
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of steps cannot be negative.");
        return new MetaTestOptions(Trials: taskCount, Seed: seed, Batch: 500, Episodes: (steps + 1) * trajectories);
    }

    /// <summary>The return per episode after 0, 1, 2, … steps: <see cref="MetaTestResult.StepReturns"/>, or the episodes themselves for rounds of one.</summary>
    public static double[] StepReturns(MetaTestResult result) => result.StepReturns ?? result.EpisodeReturns;

    /// <summary>The curve on validation tasks, with random streams of their own derived from the run's <paramref name="seed"/>.</summary>
    public static MetaTestResult RunValidation(MlpPolicy<float> policy, TaskDistribution tasks, IReadOnlyList<ITask> validation, MamlAdaptation adaptation,
        int steps, ulong seed)
        => MetaTest.Run(new MamlAgent(policy, adaptation, "validation"), tasks, validation,
            Options(validation.Count, MetaTest.ValidationOptions(seed).Seed, adaptation.Trajectories, steps));

    /// <summary>
    /// The scale of the steps after the first (from <see cref="LaterStepScales"/>) under which <paramref name="policy"/>
    /// reaches the highest mean return over steps 2 … <paramref name="steps"/> on the validation tasks; every candidate
    /// meets the same tasks and random streams. With fewer than two steps there is nothing to choose and 1 is returned.
    /// </summary>
    public static (double Scale, double[] Scores) ChooseLaterStepScale(MlpPolicy<float> policy, TaskDistribution tasks, IReadOnlyList<ITask> validation,
        MamlAdaptation adaptation, int steps, ulong seed)
    {
        if (steps < 2) return (1, []);
        var scores = LaterStepScales.Select(scale =>
            StepReturns(RunValidation(policy, tasks, validation, adaptation with { LaterStepScale = scale }, steps, seed)).Skip(2).Average()).ToArray();
        int best = 0;
        for (int i = 1; i < scores.Length; i++) if (scores[i] > scores[best]) best = i;
        return (LaterStepScales[best], scores);
    }

    /// <summary>The curve of <paramref name="policy"/> on <paramref name="taskCount"/> held-out tasks of the meta-test with <paramref name="seed"/>.</summary>
    public static MetaTestResult Run(string name, MlpPolicy<float> policy, TaskDistribution tasks, int taskCount, MamlAdaptation adaptation, int steps, ulong seed)
    {
        var result = MetaTest.Run(new MamlAgent(policy, adaptation, name), tasks, Options(taskCount, seed, adaptation.Trajectories, steps));
        result.Details["later-step-scale"] = adaptation.LaterStepScale.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        return result;
    }
}
