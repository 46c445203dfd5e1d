using MetaRL.Core.Tasks;
using MetaRL.Engine;
using MetaRL.Core.Evaluation;

namespace MetaRL.Algorithms.Maml;

/// <summary>The adaptation curve of the gradient-based family: return after 0, 1, 2, … gradient steps on held-out tasks.</summary>
public sealed class StepMetaTestResult
{
    public required string Agent { get; init; }
    public required string Task { get; init; }
    public required int Tasks { get; init; }
    public required int Trajectories { get; init; }
    public required ulong Seed { get; init; }

    /// <summary>Mean return per trajectory after 0, 1, 2, … adaptation steps.</summary>
    public required double[] StepReturns { get; init; }

    /// <summary>95% confidence half-widths (over tasks) of <see cref="StepReturns"/>.</summary>
    public required double[] StepCi95 { get; init; }

    /// <summary>The scale of the steps after the first: they had size inner-lr × this.</summary>
    public double LaterStepScale { get; init; } = 1;

    /// <summary>The task-knowing optimum's mean return, when the family can compute it.</summary>
    public double? OracleReturn { get; init; }

    /// <summary>Per held-out task (outer index, in sampling order), the mean return after 0, 1, 2, … steps.</summary>
    public required double[][] TaskStepReturns { get; init; }

    /// <summary>Set on a baseline's result: how far the evaluated agent is ahead of it on the same tasks.</summary>
    public PairedAdvantage? AdvantageOfEvaluatedAgent { get; set; }
}

/// <summary>
/// Agent A minus agent B, paired over the same held-out tasks (both see the same tasks and random streams,
/// so the between-task spread cancels). Positive means A is ahead.
/// </summary>
public sealed class PairedAdvantage
{
    /// <summary>A's return minus B's return after the same number of steps, per step.</summary>
    public required double[] PerStep { get; init; }
    public required double[] PerStepCi95 { get; init; }
    /// <summary>The step at which A's mean return is highest, and the same for B.</summary>
    public required int BestStep { get; init; }
    public required int OtherBestStep { get; init; }
    /// <summary>A at its best step minus B at its best step: A's best showing against B's best showing.</summary>
    public required double BestVsBest { get; init; }
    public required double BestVsBestCi95 { get; init; }

    public static PairedAdvantage Of(StepMetaTestResult a, StepMetaTestResult b)
    {
        if (a.Tasks != b.Tasks || a.Seed != b.Seed || a.StepReturns.Length != b.StepReturns.Length)
            throw new ArgumentException($"'{a.Agent}' and '{b.Agent}' were not evaluated on the same tasks and steps; a paired comparison needs both.");
        int steps = a.StepReturns.Length;
        var perStep = new double[steps];
        var ci = new double[steps];
        for (int k = 0; k < steps; k++)
            (perStep[k], ci[k]) = MetaTest.MeanCi(Enumerable.Range(0, a.Tasks).Select(t => a.TaskStepReturns[t][k] - b.TaskStepReturns[t][k]).ToArray());
        int ka = ArgMax(a.StepReturns), kb = ArgMax(b.StepReturns);
        var (best, bestCi) = MetaTest.MeanCi(Enumerable.Range(0, a.Tasks).Select(t => a.TaskStepReturns[t][ka] - b.TaskStepReturns[t][kb]).ToArray());
        return new PairedAdvantage { PerStep = perStep, PerStepCi95 = ci, BestStep = ka, OtherBestStep = kb, BestVsBest = best, BestVsBestCi95 = bestCi };
    }

    private static int ArgMax(double[] v)
    {
        int k = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[k]) k = i;
        return k;
    }
}

/// <summary>
/// For each held-out task: collect K trajectories with the current weights, take a policy-gradient step with
/// the linear feature baseline on them, and repeat; the return of each batch is the curve. Every agent sees
/// the same tasks and random streams. The first step has size α, later ones α × <c>laterStepScale</c>
/// (Finn et al. 2017 halve it after the first step).
/// </summary>
public static class MamlEvaluation
{
    /// <summary>The gradient steps a meta-test takes by default (the MAML paper's curve: 0, 1, 2, 3).</summary>
    public const int DefaultSteps = 3;

    /// <summary>The scales of the later steps' size that <see cref="ChooseLaterStepScale"/> tries.</summary>
    public static readonly double[] LaterStepScales = [1, 0.5, 0.25, 0.125];

    public static StepMetaTestResult Run(string name, MlpPolicy<float> policy, TaskDistribution tasks, int taskCount, int trajectories,
        int steps, double innerLearningRate, double gamma, ulong seed, double laterStepScale = 1)
    {
        if (taskCount < 1) throw new ArgumentOutOfRangeException(nameof(taskCount), taskCount, "At least one held-out task.");
        var taskRng = TaskDistribution.TaskStream(seed, TaskSplit.Test);
        var list = Enumerable.Range(0, taskCount).Select(_ => tasks.SampleTask(taskRng, TaskSplit.Test)).ToArray();
        return Run(name, policy, tasks, list, trajectories, steps, innerLearningRate, gamma, seed, laterStepScale);
    }

    /// <summary>
    /// <paramref name="count"/> tasks from the training distribution on a stream of their own (never the training
    /// stream, never the held-out one): for choosing a policy or a step size without looking at held-out tasks.
    /// </summary>
    public static ITask[] ValidationTasks(TaskDistribution tasks, ulong seed, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one validation task.");
        var rng = TaskDistribution.TaskStream(seed ^ ValidationStream, TaskSplit.Train);
        return Enumerable.Range(0, count).Select(_ => tasks.SampleTask(rng, TaskSplit.Train)).ToArray();
    }

    private const ulong ValidationStream = 0x7A11_DA7E_5EEDUL;

    /// <summary>The curve on validation tasks, with random streams of their own derived from the run's <paramref name="seed"/>.</summary>
    public static StepMetaTestResult RunValidation(MlpPolicy<float> policy, TaskDistribution tasks, IReadOnlyList<ITask> validation, int trajectories,
        int steps, double innerLearningRate, double gamma, ulong seed, double laterStepScale)
        => Run("validation", policy, tasks, validation, trajectories, steps, innerLearningRate, gamma, seed ^ ValidationStream, laterStepScale);

    /// <summary>
    /// The scale of the steps after the first (from <see cref="LaterStepScales"/>) under which <paramref name="policy"/>
    /// reaches the highest mean return over steps 2 … <paramref name="steps"/> on the validation tasks; every candidate
    /// meets the same tasks and random streams. With fewer than two steps there is nothing to choose and 1 is returned.
    /// </summary>
    public static (double Scale, double[] Scores) ChooseLaterStepScale(MlpPolicy<float> policy, TaskDistribution tasks, IReadOnlyList<ITask> validation,
        int trajectories, int steps, double innerLearningRate, double gamma, ulong seed)
    {
        if (steps < 2) return (1, []);
        var scores = LaterStepScales.Select(scale =>
            RunValidation(policy, tasks, validation, trajectories, steps, innerLearningRate, gamma, seed, scale).StepReturns.Skip(2).Average()).ToArray();
        int best = 0;
        for (int i = 1; i < scores.Length; i++) if (scores[i] > scores[best]) best = i;
        return (LaterStepScales[best], scores);
    }

    /// <summary>The curve on the given tasks; <paramref name="seed"/> names the result and derives each task's random stream.</summary>
    public static StepMetaTestResult Run(string name, MlpPolicy<float> policy, TaskDistribution tasks, IReadOnlyList<ITask> list, int trajectories,
        int steps, double innerLearningRate, double gamma, ulong seed, double laterStepScale = 1)
    {
        if (list.Count < 1) throw new ArgumentOutOfRangeException(nameof(list), list.Count, "At least one task.");
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of steps cannot be negative.");
        int taskCount = list.Count;
        var perStep = new double[steps + 1, taskCount];
        var theta0 = policy.Parameters();
        Parallel.For(0, taskCount, t =>
        {
            var rng = new Rng(seed * 0x9E3779B97F4A7C15UL + (ulong)t + 7);
            IReadOnlyList<Tensor<float>> theta = theta0.Select(p => Tensor.Parameter(p.Detach().Clone())).ToArray();
            var envs = new MetaRL.Core.Envs.IEnv[trajectories];
            for (int k = 0; k <= steps; k++)
            {
                var batch = TrajectoryBatch.Sample(policy, theta, tasks, list[t], trajectories, rng, gamma, envs);
                perStep[k, t] = batch.MeanReturn;
                if (k < steps)
                    theta = MamlMath.Adapt(policy, theta, batch, k == 0 ? innerLearningRate : innerLearningRate * laterStepScale, 1, createGraph: false)
                        .Select(p => Tensor.Parameter(p.Detach())).ToArray();
            }
        });
        var mean = new double[steps + 1];
        var ci = new double[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            var row = Enumerable.Range(0, taskCount).Select(t => perStep[k, t]).ToArray();
            (mean[k], ci[k]) = MetaTest.MeanCi(row);
        }
        var oracle = list.Select(tasks.OracleEpisodeReturn).ToArray();
        return new StepMetaTestResult
        {
            Agent = name, Task = tasks.Name, Tasks = taskCount, Trajectories = trajectories, Seed = seed,
            StepReturns = mean, StepCi95 = ci, LaterStepScale = laterStepScale,
            TaskStepReturns = Enumerable.Range(0, taskCount).Select(t => Enumerable.Range(0, steps + 1).Select(k => perStep[k, t]).ToArray()).ToArray(),
            OracleReturn = oracle.All(o => o.HasValue) ? oracle.Average(o => o!.Value) : null,
        };
    }
}
