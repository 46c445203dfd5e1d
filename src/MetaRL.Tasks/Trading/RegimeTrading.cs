using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Trading;

/// <summary>Trading one <see cref="RegimeMarket"/>: its returns come from the market's own Markov-switching process.</summary>
public sealed class RegimeTradingEnv(TradingRules rules) : TradingEnv<RegimeMarket>(rules, regimes: true)
{
    private RegimeMarket.Process _process;

    protected override int Regime => _process.Regime;

    protected override double Exposure(int regime) => Task.Exposure(regime);

    protected override void StartMarket(Rng rng, Span<double> history)
    {
        _process = RegimeMarket.Process.Start(Task, rng);
        // The days before the trial: the market is already running when the agent first looks.
        for (int i = 0; i < history.Length; i++) history[i] = _process.Next(Task, rng);
    }

    protected override double NextReturn(Rng rng) => _process.Next(Task, rng);
}

/// <summary>
/// <c>regime-trading</c>: each task is a market whose regimes (2 or 3), their drifts and volatilities and the switching
/// probabilities are hidden and drawn from a prior centred on Hardy (2001)'s two-regime model (<see cref="MarketPrior"/>);
/// a trial is <c>episodes</c> trading years of <c>days</c> days on the same market, the regime switching within and
/// across them. Held-out markets come from the same prior (<c>held-out=prior</c>) or a wider one (<c>held-out=wider</c>:
/// higher volatility, switching three times as fast); <c>prior=wider</c> draws the training markets (and the filter's) from
/// the wider one as well. The rules of trading are <see cref="TradingRules"/>'.
/// </summary>
public sealed class RegimeTradingTasks : TaskDistribution, ITradingFamily
{
    private static readonly string[] HeldOutChoices = ["prior", "wider"], PriorChoices = ["hardy", "wider"], RegimeChoices = ["both", "2", "3"], TailChoices = ["normal", "student"];
    private readonly string _heldOut;
    private readonly Lazy<IMetaAgent> _oracle;

    public RegimeTradingTasks(TradingRules? rules = null, MarketPrior? prior = null, string heldOut = "prior")
    {
        Rules = rules ?? new TradingRules();
        Prior = prior ?? new MarketPrior();
        if (!HeldOutChoices.Contains(heldOut)) throw new SettingException($"regime-trading: 'held-out' must be one of {string.Join(", ", HeldOutChoices)}, got '{heldOut}'.");
        if (Prior.Regimes is not (0 or 2 or 3)) throw new SettingException($"regime-trading: a market has 2 or 3 regimes (0: either), got {Prior.Regimes}.");
        if (!(Prior.SwitchingSpread is >= 1 and <= 10))
            throw new SettingException($"regime-trading: 'switching-spread' must be from 1 to 10, got {Prior.SwitchingSpread.ToString(CultureInfo.InvariantCulture)}.");
        if (Prior.Wider && Prior.SwitchingSpread > 1)
            throw new SettingException("regime-trading: 'switching-spread' spreads the Hardy prior's switching; prior=wider switches three times as fast in every market, so set one or the other.");
        _heldOut = heldOut;
        _oracle = new(() => TradingBaselines.TunedOracle(this, OracleTuningSeed));
    }

    public static RegimeTradingTasks FromSettings(IReadOnlyDictionary<string, string>? values)
    {
        var r = new SettingsReader("regime-trading", values);
        var rules = TradingRules.Read(r);
        string regimes = r.Choice("regimes", "both", RegimeChoices);
        bool student = r.Choice("tails", "normal", TailChoices) == "student";
        bool clustering = r.Bool("clustering", false);
        string heldOut = r.Choice("held-out", "prior", HeldOutChoices);
        double spread = r.Double("switching-spread", 1, 1, 10);
        bool wider = r.Choice("prior", "hardy", PriorChoices) == "wider";
        r.EnsureAllUsed();
        return new RegimeTradingTasks(rules, new MarketPrior(regimes == "both" ? 0 : int.Parse(regimes, CultureInfo.InvariantCulture), student, clustering, spread, wider), heldOut);
    }

    /// <summary>The seed of the training markets the oracle's risk aversion is chosen on.</summary>
    public const ulong OracleTuningSeed = 1;

    /// <summary>How the agent trades.</summary>
    public TradingRules Rules { get; }

    /// <summary>The prior markets are drawn from.</summary>
    public MarketPrior Prior { get; }

    /// <summary>The filter knows the prior of the training markets (the wider one with prior=wider), not that of held-out=wider's markets otherwise.</summary>
    public MarketPrior FilterPrior => Prior;

    /// <summary>Held-out markets come from the wider prior.</summary>
    public bool WideHeldOut => _heldOut == "wider";

    public override string Name => "regime-trading";
    public override int Horizon => Rules.Days;
    public override int EpisodesPerTrial => Rules.Episodes;
    public override Space ObservationSpace => Rules.ObservationSpace;
    public override Space ActionSpace => Rules.ActionSpace;

    public override ITask SampleTask(Rng rng, TaskSplit split) => Prior.Draw(rng, wide: split == TaskSplit.Test && WideHeldOut);

    public override IEnv CreateEnv() => new RegimeTradingEnv(Rules);

    public override IReadOnlyList<EpisodeMetric> EpisodeMetrics { get; } = TradingRules.Metrics(regimes: true);

    public override IReadOnlyList<TraceChannel> TraceChannels { get; } = TradingRules.Trace(regimes: true);

    public override (string Unit, double PerStep) StepTime => ("trading day", 1);

    public override TrialPeriod Period => TradingRules.Month;

    /// <summary>The regime of the latest day (0 bull, 1 bear, 2 crisis).</summary>
    public override int HiddenStateSize => 1;

    /// <summary>The trader that knows the market and sees its current regime (<see cref="TradingBaselines.TunedOracle"/>).</summary>
    public override IMetaAgent? OracleAgent => _oracle.Value;

    public override string GroupName => "market";

    public override string? GroupOf(ITask task) => task is RegimeMarket m ? $"{m.Regimes} regimes" : null;

    /// <summary>Per regime slot (bull, bear, crisis; zeros for a missing crisis): annual drift ×5, annual volatility ×3, log mean duration in days / 5; then 1 for three regimes.</summary>
    public override int TaskFeatureSize => 10;

    public override void WriteTaskFeatures(ITask task, Span<float> features)
    {
        var m = (RegimeMarket)task;
        features.Clear();
        for (int k = 0; k < m.Regimes; k++)
        {
            features[3 * k] = (float)(m.Drift[k] * RegimeMarket.DaysPerYear * 5);
            features[3 * k + 1] = (float)(m.Volatility[k] * Math.Sqrt(RegimeMarket.DaysPerYear) * 3);
            features[3 * k + 2] = (float)(Math.Log(1 / Math.Max(1e-9, 1 - m.P(k, k))) / 5);
        }
        features[9] = m.Regimes == 3 ? 1 : 0;
    }

    public override IReadOnlyList<SettingInfo> Settings =>
    [
        .. Rules.Describe(),
        new("regimes", Prior.Regimes == 0 ? "both" : Prior.Regimes.ToString(CultureInfo.InvariantCulture), "regimes of a market: 2 (bull, bear), 3 (and a crisis), or both (half each)"),
        new("tails", Prior.FatTails ? "student" : "normal", "daily shocks: normal, or Student-t with 3.5-10 degrees of freedom drawn per market"),
        new("clustering", Prior.Clustering ? "true" : "false", "volatility clustering within a regime: a GARCH(1,1) multiplier drawn per market"),
        new("held-out", _heldOut, "held-out markets: from the training prior, or a wider one (higher volatility, switching three times as fast)"),
        new("switching-spread", Prior.SwitchingSpread.ToString(CultureInfo.InvariantCulture), "s: the prior's switching probabilities times one factor per market, log-uniform on [1/s, s] (1: Hardy's rates as drawn; the wider held-out prior keeps its three times)"),
        new("prior", Prior.Wider ? "wider" : "hardy", "the prior of the training markets, which the Bayesian filter knows: hardy (centred on Hardy 2001) or wider (that of held-out=wider: every market from it)"),
    ];
}
