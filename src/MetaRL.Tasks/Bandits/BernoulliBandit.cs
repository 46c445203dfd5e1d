using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Bandits;

/// <summary>A Bernoulli bandit task: the success probability of each arm.</summary>
public sealed class BanditTask(double[] probabilities) : ITask
{
    public double[] Probabilities { get; } = probabilities;

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
        => Probabilities.Select((p, i) => KeyValuePair.Create($"p{i}", p)).ToArray();
}

/// <summary>
/// Pulling an arm is a one-step episode whose reward is 1 with the arm's probability; a trial is
/// <see cref="TaskDistribution.EpisodesPerTrial"/> pulls of the same arms. The observation carries no
/// information (a constant); everything is learnt from rewards.
/// </summary>
public sealed class BanditEnv(int arms) : Env<BanditTask>
{
    public override Space ObservationSpace { get; } = new Box(0, 1, 1);

    public override Space ActionSpace { get; } = new Discrete(arms);

    public override void Reset(Rng rng, Span<float> observation) => observation[0] = 1;

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        int a = (int)action[0];
        var p = Task.Probabilities;
        if ((uint)a >= (uint)p.Length) throw new ArgumentOutOfRangeException(nameof(action), a, $"Arm {a} does not exist; there are {p.Length} arms.");
        observation[0] = 1;
        return new StepResult(rng.NextDouble() < p[a] ? 1 : 0, Terminated: true, Truncated: false);
    }
}

/// <summary>Shared shape of the bandit families: k arms, a trial of n pulls.</summary>
public abstract class BanditDistribution : TaskDistribution
{
    protected BanditDistribution(int arms, int pulls)
    {
        Arms = arms;
        EpisodesPerTrial = pulls;
        ActionSpace = new Discrete(arms);
    }

    public int Arms { get; }

    public override int EpisodesPerTrial { get; }

    public override Space ObservationSpace { get; } = new Box(0, 1, 1);

    public override Space ActionSpace { get; }

    public override int Horizon => 1;

    public override IEnv CreateEnv() => new BanditEnv(Arms);

    public override double? OracleEpisodeReturn(ITask task) => ((BanditTask)task).Probabilities.Max();

    /// <summary>The arms' success probabilities.</summary>
    public override int TaskFeatureSize => Arms;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var p = ((BanditTask)task).Probabilities;
        for (int i = 0; i < Arms; i++) features[i] = (float)p[i];
    }

    /// <summary>The posterior probability model the Bayesian baselines use for this family.</summary>
    public abstract BanditPrior Prior { get; }
}

/// <summary><c>bandit</c>: k independent Bernoulli arms with p ~ U[0, 1] (Duan et al. 2016, RL²).</summary>
public sealed class BernoulliBanditDistribution : BanditDistribution
{
    public const int DefaultArms = 5, DefaultPulls = 10;

    public BernoulliBanditDistribution(int arms = DefaultArms, int pulls = DefaultPulls) : base(arms, pulls)
    {
        if (arms < 2) throw new SettingException($"bandit: 'arms' must be at least 2, got {arms}.");
        if (pulls < 1) throw new SettingException($"bandit: 'episodes' must be at least 1, got {pulls}.");
    }

    public static BernoulliBanditDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("bandit", values);
        var d = new BernoulliBanditDistribution(r.Int("arms", DefaultArms, 2, 64), r.Int("episodes", DefaultPulls, 1, 100_000));
        r.EnsureAllUsed();
        return d;
    }

    public override string Name => "bandit";

    /// <summary>Each episode is one pull of an arm.</summary>
    public override string EpisodeName => "pull";

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var p = new double[Arms];
        for (int i = 0; i < p.Length; i++) p[i] = rng.NextDouble();
        return new BanditTask(p);
    }

    public override BanditPrior Prior => BanditPrior.IndependentUniform;

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("arms", Arms.ToString(), "number of arms k (p of each ~ U[0, 1])"),
        new("episodes", EpisodesPerTrial.ToString(), "pulls per trial n (each pull is one episode)"),
    ];
}

/// <summary>
/// <c>dependent-bandit</c>: two arms with p₂ = 1 − p₁ (Wang et al. 2016). Difficulty presets draw p₁ from a
/// pair {easy: 0.1/0.9, medium: 0.25/0.75, hard: 0.4/0.6}; <c>uniform</c> draws p₁ ~ U[0, 1].
/// </summary>
public sealed class DependentBanditDistribution : BanditDistribution
{
    public const int DefaultPulls = 100;
    public static readonly string[] Difficulties = ["easy", "medium", "hard", "uniform"];

    public DependentBanditDistribution(string difficulty = "uniform", int pulls = DefaultPulls) : base(2, pulls)
    {
        if (!Difficulties.Contains(difficulty))
            throw new SettingException($"dependent-bandit: 'difficulty' must be one of {string.Join(", ", Difficulties)}; got '{difficulty}'.");
        if (pulls < 1) throw new SettingException($"dependent-bandit: 'episodes' must be at least 1, got {pulls}.");
        Difficulty = difficulty;
        double low = difficulty switch { "easy" => 0.1, "medium" => 0.25, "hard" => 0.4, _ => double.NaN };
        Prior = difficulty == "uniform" ? BanditPrior.DependentGrid(GridUniform(1001)) : BanditPrior.DependentGrid([low, 1 - low]);
    }

    private static double[] GridUniform(int n) => Enumerable.Range(0, n).Select(i => (i + 0.5) / n).ToArray();

    public static DependentBanditDistribution FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("dependent-bandit", values);
        var d = new DependentBanditDistribution(r.Choice("difficulty", "uniform", Difficulties), r.Int("episodes", DefaultPulls, 1, 100_000));
        r.EnsureAllUsed();
        return d;
    }

    public string Difficulty { get; }

    public override string Name => "dependent-bandit";

    /// <summary>Each episode is one pull of an arm.</summary>
    public override string EpisodeName => "pull";

    public override BanditPrior Prior { get; }

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        double p1 = Difficulty switch
        {
            "easy" => rng.NextDouble() < 0.5 ? 0.1 : 0.9,
            "medium" => rng.NextDouble() < 0.5 ? 0.25 : 0.75,
            "hard" => rng.NextDouble() < 0.5 ? 0.4 : 0.6,
            _ => rng.NextDouble(),
        };
        return new BanditTask([p1, 1 - p1]);
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("difficulty", Difficulty, "easy {0.1, 0.9}, medium {0.25, 0.75}, hard {0.4, 0.6} or uniform p1 ~ U[0, 1]"),
        new("episodes", EpisodesPerTrial.ToString(), "pulls per trial n"),
    ];
}
