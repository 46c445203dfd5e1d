using System.Globalization;
using MetaRL.Core.Baselines;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>A task of <c>rps-bots</c>: one opponent, its kind and parameters hidden from the agent.</summary>
/// <param name="UnseenParameters">Its parameters come from the held-out ranges of its kind.</param>
public sealed record RpsOpponent(RpsBotKind Kind, double[] Parameters, bool UnseenParameters) : ITask
{
    public string Label => Kind.Name;

    public IReadOnlyList<KeyValuePair<string, double>> Describe()
        => [KeyValuePair.Create("kind", (double)RpsBotKinds.All.ToList().IndexOf(Kind)), KeyValuePair.Create("noise", Parameters[0])];
}

/// <summary>
/// A match of repeated rock–paper–scissors against one opponent of the population: a step is one throw (action 0 rock,
/// 1 paper, 2 scissors; reward the score, 1 / 0 / −1); the match goes on across the trial's episodes (the opponent
/// remembers it all). Observation: the agent's last move and the opponent's (one-hot, zeros before the first throw),
/// the last score, and the fraction of the match played.
/// </summary>
public sealed class RpsBotsEnv(int throws) : Env<RpsOpponent>
{
    private RpsBot? _bot;
    private bool _newMatch = true;
    private int _played, _lastMine = -1, _lastTheirs = -1, _episodeThrows, _episodeScore;

    public override Space ObservationSpace { get; } = new Box(-1, 1, 8);
    public override Space ActionSpace { get; } = new Discrete(3);

    protected override void OnTaskSet(RpsOpponent task) => _newMatch = true;

    public override void Reset(Rng rng, Span<float> observation)
    {
        if (_newMatch)
        {
            _bot = Task.Kind.Create(Task.Parameters);
            _bot.Reset();
            (_played, _lastMine, _lastTheirs, _newMatch) = (0, -1, -1, false);
        }
        (_episodeThrows, _episodeScore) = (0, 0);
        Observe(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        ActionSpace.Validate(action);
        var bot = _bot ?? throw new InvalidOperationException("rps-bots: reset before the first throw.");
        int mine = (int)action[0], theirs = bot.Play(rng);
        bot.Record(theirs, mine);
        (_lastMine, _lastTheirs) = (mine, theirs);
        _played++;
        int score = Rps.Score(mine, theirs);
        (_episodeThrows, _episodeScore) = (_episodeThrows + 1, _episodeScore + score);
        Observe(observation);
        return new StepResult(score, Terminated: false, Truncated: false);
    }

    /// <summary>The episode's mean score per throw.</summary>
    public override void WriteEpisodeMetrics(Span<double> metrics) => metrics[0] = _episodeThrows == 0 ? 0 : (double)_episodeScore / _episodeThrows;

    private void Observe(Span<float> o)
    {
        o[..7].Clear();
        if (_lastMine >= 0)
        {
            o[_lastMine] = 1;
            o[3 + _lastTheirs] = 1;
            o[6] = Rps.Score(_lastMine, _lastTheirs);
        }
        o[7] = (float)_played / throws;
    }
}

/// <summary>
/// <c>rps-bots</c>: repeated rock–paper–scissors against a population of opponents (<see cref="RpsBotKinds"/>, after
/// Lanctot et al. 2023's RoShamBo benchmark). A task is one opponent, its kind and parameters drawn per task; a trial is
/// a match of <c>throws</c> throws shown as episodes of <c>episode-throws</c>. Training draws the training kinds with
/// training parameters; held-out tasks are the kinds never trained on and the training kinds with parameters from
/// their held-out ranges (half each with <c>held-out=both</c>), reported apart. <c>opponents=exploitable</c> keeps only
/// the kinds a player can beat on every throw once it has worked them out (<see cref="RpsBotKind.Exploitable"/>).
/// </summary>
public sealed class RpsBotsTasks : TaskDistribution
{
    private static readonly string[] HeldOutChoices = ["both", "kinds", "parameters"], OpponentChoices = ["all", "exploitable"];
    private readonly int _throws, _perEpisode;
    private readonly string _heldOut, _opponents;
    private readonly HeldOutPopulation<RpsBotKind> _population;

    public RpsBotsTasks(int throws = 200, int episodeThrows = 20, string heldOut = "both", string opponents = "all")
    {
        if (episodeThrows < 1 || throws < episodeThrows || throws % episodeThrows != 0)
            throw new SettingException($"rps-bots: 'throws' ({throws}) must be a whole number of episodes of 'episode-throws' ({episodeThrows}).");
        if (!HeldOutChoices.Contains(heldOut)) throw new SettingException($"rps-bots: 'held-out' must be one of {string.Join(", ", HeldOutChoices)}, got '{heldOut}'.");
        if (!OpponentChoices.Contains(opponents)) throw new SettingException($"rps-bots: 'opponents' must be one of {string.Join(", ", OpponentChoices)}, got '{opponents}'.");
        (_throws, _perEpisode, _heldOut, _opponents) = (throws, episodeThrows, heldOut, opponents);
        bool In(RpsBotKind k) => opponents == "all" || k.Exploitable;
        _population = new(TrainingKinds.Where(In).ToArray(), HeldOutKinds.Where(In).ToArray(), heldOut, "kinds", (k, rng, unseen) => k.Draw(rng, unseen));
    }

    public static RpsBotsTasks FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("rps-bots", values);
        int throws = r.Int("throws", 200, 1, 100_000);
        int perEpisode = r.Int("episode-throws", 20, 1, 100_000);
        string heldOut = r.Choice("held-out", "both", HeldOutChoices);
        string opponents = r.Choice("opponents", "all", OpponentChoices);
        r.EnsureAllUsed();
        return new RpsBotsTasks(throws, perEpisode, heldOut, opponents);
    }

    /// <summary>The kinds opponents are trained against.</summary>
    public static IReadOnlyList<RpsBotKind> TrainingKinds { get; } = RpsBotKinds.All.Where(k => !k.HeldOut).ToArray();

    /// <summary>The kinds never met in training.</summary>
    public static IReadOnlyList<RpsBotKind> HeldOutKinds { get; } = RpsBotKinds.All.Where(k => k.HeldOut).ToArray();

    public override string Name => "rps-bots";
    public override int Horizon => _perEpisode;
    public override int EpisodesPerTrial => _throws / _perEpisode;
    public override Space ObservationSpace { get; } = new Box(-1, 1, 8);
    public override Space ActionSpace { get; } = new Discrete(3);

    public override ITask SampleTask(Rng rng, TaskSplit split)
    {
        var (kind, parameters, unseen) = _population.Sample(rng, split);
        return new RpsOpponent(kind, parameters, unseen);
    }

    public override IEnv CreateEnv() => new RpsBotsEnv(_throws);

    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics { get; } = [new("meanScore", "score/throw", "mean score per throw (win 1, tie 0, loss −1)", "F3")];

    public override string GroupName => "opponent";

    /// <summary>The opponent's kind, marked as an unseen kind or a seen kind with unseen parameters.</summary>
    public override string? GroupOf(ITask task) => task is RpsOpponent o
        ? HeldOutPopulation<RpsBotKind>.Group(o.Kind.Name, o.Kind.HeldOut, "unseen kind", o.UnseenParameters)
        : null;

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        new("throws", _throws.ToString(CultureInfo.InvariantCulture), "throws in a match (a trial)"),
        new("episode-throws", _perEpisode.ToString(CultureInfo.InvariantCulture), "throws per episode; the match goes on across episodes"),
        new("held-out", _heldOut, "held-out tasks: unseen kinds, seen kinds with unseen parameters, or both (half each)"),
        new("opponents", _opponents, "the population: all kinds, or only the exploitable ones (whose next move is a function of the match; not the random mix or the random walk)"),
    ];
}
