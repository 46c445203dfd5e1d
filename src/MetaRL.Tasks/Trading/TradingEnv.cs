using System.Globalization;
using MetaRL.Core.Envs;
using MetaRL.Core.Spaces;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Trading;

/// <summary>
/// How an agent trades in both trading families: the observation window, the cost of trading, the positions it may
/// hold, the length of an episode and of a trial, and an optional risk penalty. Declared once; both families read and
/// list them through <see cref="Read"/> and <see cref="Describe"/>.
/// </summary>
/// <param name="Window">Daily log-returns the observation shows, oldest first.</param>
/// <param name="Cost">Proportional cost per unit of position traded (0.001: 0.1 % of the traded value).</param>
/// <param name="Levels">Positions evenly spaced in [−1, 1] the agent chooses from (a discrete action); 0 for any position in [−1, 1] (a continuous action).</param>
/// <param name="Days">Trading days in an episode.</param>
/// <param name="Episodes">Episodes in a trial; the market goes on from one to the next.</param>
/// <param name="RiskPenalty">
/// κ in the reward P&amp;L − κ·P&amp;L² (0: the P&amp;L alone). Its expectation is mean − κ·(variance + mean²) of the day's
/// P&amp;L, the mean–variance trade-off the regime filter and the oracle make with risk aversion λ = 2κ; the default
/// <see cref="DefaultRiskPenalty"/> is half the λ the filter was tuned to on regime-trading's training markets.
/// </param>
/// <param name="NormalizeReturns">
/// Show returns and the unrealised P&amp;L in units of the market's own daily volatility (the root mean square of every
/// log-return the trial has shown, its first window included) instead of fixed units, and add that volatility as a
/// last observation: a calm market and a wild one with the same shape then look alike to the agent.
/// </param>
/// <param name="VolatilityFeatures">
/// Add, after everything else, the realised volatility of the last 5, 10 and <see cref="Window"/> days (each capped at the
/// window) as ln of their root mean square in the units the returns are shown in: what a regime's volatility looks like
/// lately, which a network fed the returns alone has to learn to square.
/// </param>
public sealed record TradingRules(int Window = 20, double Cost = 0.001, int Levels = 5, int Days = 250, int Episodes = 4, double RiskPenalty = TradingRules.DefaultRiskPenalty,
    bool NormalizeReturns = true, bool VolatilityFeatures = true)
{
    /// <summary>κ when none is given: half the regime filter's risk aversion λ = 5 (chosen on training markets), so that an agent is paid as the filter judges.</summary>
    public const double DefaultRiskPenalty = 2.5;

    /// <summary>Observed log-returns are multiplied by this (a 2 % day reads 1) and clipped to ±<see cref="ReturnClip"/>.</summary>
    public const double ReturnScale = 50, ReturnClip = 20;

    /// <summary>The daily volatility that fixed units read as 1 (1 / <see cref="ReturnScale"/>).</summary>
    public const double ReferenceVolatility = 1 / ReturnScale;

    /// <summary>The unrealised P&amp;L (a fraction of capital) is multiplied by this in the observation (10 % reads 1) and clipped to ±<see cref="ReturnClip"/>.</summary>
    public const double PnlScale = 10;

    /// <summary>A regime switch the position has not answered within this many days counts this many (see <see cref="TradingEnv{TTask}"/>).</summary>
    public const int ReactionCap = 60;

    /// <summary>A realised volatility of exactly zero (a price that did not move) reads as ln of this.</summary>
    public const double VolatilityFloor = 1e-3;

    public Space ObservationSpace => new Box((float)-ReturnClip, (float)ReturnClip, Window + (NormalizeReturns ? 4 : 3) + (VolatilityFeatures ? 3 : 0));

    /// <summary>
    /// What an observed return or P&amp;L is multiplied by: <see cref="ReturnScale"/>, or with <see cref="NormalizeReturns"/>
    /// 1 / the volatility the observation shows in its last element (the inverse of what the env applied).
    /// </summary>
    public double ReturnUnit(ReadOnlySpan<float> observation) => NormalizeReturns ? UnitOf(observation[Window + 3]) : ReturnScale;

    /// <summary>The multiplier of returns for a volatility shown as ln(σ / <see cref="ReferenceVolatility"/>).</summary>
    internal static double UnitOf(float shownVolatility) => 1 / (ReferenceVolatility * Math.Exp(shownVolatility));

    public Space ActionSpace => Levels == 0 ? new Box(-1, 1, 1) : new Discrete(Levels);

    /// <summary>The position an action asks for.</summary>
    public double PositionOf(ReadOnlySpan<float> action) => Levels == 0 ? Math.Clamp(action[0], -1.0, 1.0) : LevelPosition((int)action[0]);

    // The position of level i of the discrete action.
    private double LevelPosition(int i) => Levels == 1 ? 0 : -1 + 2.0 * i / (Levels - 1);

    /// <summary>The action that holds the allowed position nearest <paramref name="position"/>.</summary>
    public float ActionFor(double position)
    {
        position = Math.Clamp(position, -1, 1);
        return Levels == 0 ? (float)position : (float)Math.Round((position + 1) / 2 * (Levels - 1), MidpointRounding.AwayFromZero);
    }

    /// <summary>The positions an agent may hold: the levels, or null for any in [−1, 1].</summary>
    public double[]? AllowedPositions => Levels == 0 ? null : Enumerable.Range(0, Levels).Select(LevelPosition).ToArray();

    /// <summary>
    /// The defaults before the measured recommendations became the defaults: returns in fixed units, no realised
    /// volatilities, the P&amp;L alone as the reward. Runs whose checkpoints do not record these settings were trained so.
    /// </summary>
    public static IReadOnlyDictionary<string, string> EarlierDefaults { get; } = new Dictionary<string, string>
    {
        ["normalize-returns"] = "false",
        ["volatility-features"] = "false",
        ["risk-penalty"] = "0",
    };

    /// <summary>Reads the shared settings through the family's reader (which names the family in errors).</summary>
    public static TradingRules Read(SettingsReader r, int defaultEpisodes = 4)
    {
        int window = r.Int("window", 20, 2, 1000);
        double cost = r.Double("cost", 0.001, 0, 0.1);
        string positions = r.Text("positions", "5");
        int days = r.Int("days", 250, 5, 100_000);
        int episodes = r.Int("episodes", defaultEpisodes, 1, 1000);
        double risk = r.Double("risk-penalty", DefaultRiskPenalty, 0, 1e6);
        bool normalize = r.Bool("normalize-returns", true);
        bool volatility = r.Bool("volatility-features", true);
        int levels;
        if (positions == "continuous") levels = 0;
        else if (!int.TryParse(positions, NumberStyles.None, CultureInfo.InvariantCulture, out levels) || levels < 2 || levels > 101)
            throw new SettingException($"{r.Owner}: setting 'positions' must be 'continuous' or a number of evenly spaced positions in [-1, 1] from 2 to 101; got '{positions}'.");
        return new TradingRules(window, cost, levels, days, episodes, risk, normalize, volatility);
    }

    /// <summary>The shared settings with their current values, for <c>metarl list</c>.</summary>
    public IEnumerable<SettingInfo> Describe() =>
    [
        new("window", Window.ToString(CultureInfo.InvariantCulture), "daily log-returns the agent observes, oldest first (×50, clipped to ±20)"),
        new("cost", Cost.ToString("R", CultureInfo.InvariantCulture), "proportional cost per unit of position traded (0.001 = 0.1 %)"),
        new("positions", Levels == 0 ? "continuous" : Levels.ToString(CultureInfo.InvariantCulture), "positions the agent chooses from: a number of levels evenly spaced in [-1, 1], or continuous"),
        new("days", Days.ToString(CultureInfo.InvariantCulture), "trading days in an episode"),
        new("episodes", Episodes.ToString(CultureInfo.InvariantCulture), "episodes in a trial; the market goes on from one to the next"),
        new("risk-penalty", RiskPenalty.ToString("R", CultureInfo.InvariantCulture), "κ in the reward P&L − κ·P&L² (P&L as a fraction of capital; 0: none; 2.5: the regime filter's risk aversion λ = 5)"),
        new("normalize-returns", NormalizeReturns ? "true" : "false", "returns and P&L in units of the market's own volatility so far in the trial (itself shown as ln(σ/2 %)), not fixed units"),
        new("volatility-features", VolatilityFeatures ? "true" : "false", "add the realised volatility of the last 5, 10 and window days, as ln of their root mean square in the units returns are shown in"),
    ];

    /// <summary>The measures of a trading episode, in the order <see cref="TradingEnv{TTask}"/> writes them.</summary>
    public static IReadOnlyList<EpisodeMetric> Metrics(bool regimes) =>
    [
        new("sharpe", "Sharpe", "annualised Sharpe ratio of the daily P&L (0 when flat)", "F2"),
        new("maxDrawdown", "max DD", "largest fall of equity from its peak in the episode, as a fraction of the peak", "F3"),
        new("turnover", "turnover", "units of position traded in the episode (one full round trip long is 2)", "F1"),
        new("meanDailyReturn", "daily P&L %", "mean daily P&L net of costs, in percent of capital", "F4"),
        .. regimes ? new[] { new EpisodeMetric("reactionDays", "reaction (d)", $"median days from a regime switch until the position moves toward the new regime (capped at {ReactionCap}; episodes without a switch left out)", "F1") } : [],
    ];

    /// <summary>A month of 21 trading days: where the meta-test sums each agent's reward, to show adaptation inside the first year.</summary>
    public static TrialPeriod Month { get; } = new(21, "month");

    /// <summary>The quantities a trading trace records each day.</summary>
    public static IReadOnlyList<TraceChannel> Trace(bool regimes) =>
    [
        new("price (episode start = 1)", FromZero: false),
        new("equity (episode start = 1)", FromZero: false),
        new("position", FromZero: false),
        .. regimes ? new[] { new TraceChannel("regime: bear shaded, crisis darker", Shading: true) } : [],
    ];
}

/// <summary>
/// A day of trading on one market: the action sets the position held to the next close (bought or sold at this close
/// for <see cref="TradingRules.Cost"/> per unit traded); the reward is the day's P&amp;L, position × the next day's simple
/// return − the cost (minus κ·P&amp;L² with a risk penalty), in percent of capital. Observation: the last
/// <see cref="TradingRules.Window"/> log-returns (×50, clipped to ±20), the position, the unrealised P&amp;L of the
/// position since it last changed (×10) and the fraction of the episode gone. Each episode starts flat; the market goes
/// on across the trial's episodes (its regime, its history). Subclasses supply the returns.
/// </summary>
/// <remarks>
/// Where the regime is known (<see cref="Regime"/> ≥ 0) the env also measures how fast the position answers a switch:
/// from the first decision after a day of the new regime, the days until the position moves in the direction of the
/// change of μ/σ² across the switch; unanswered before the next switch, the episode's end or
/// <see cref="TradingRules.ReactionCap"/> days, it counts the cap.
/// </remarks>
public abstract class TradingEnv<TTask>(TradingRules rules, bool regimes) : Env<TTask> where TTask : class, ITask
{
    private readonly double[] _window = new double[rules.Window];
    private readonly double[] _lags = new double[rules.Days + 1]; // at most one switch a day: stepping never allocates
    private bool _newTrial = true;
    private int _day, _lagCount;
    private double _position, _equity, _peak, _drawdown, _turnover, _sum, _sumSq, _openEquity, _price;
    private int _switchDay = -1, _direction;
    private double _reference;
    private double _squares; // sum of the squared log-returns the trial has shown
    private int _shown;

    public TradingRules Rules => rules;

    public override Space ObservationSpace { get; } = rules.ObservationSpace;

    public override Space ActionSpace { get; } = rules.ActionSpace;

    /// <summary>The regime of the latest day, or −1 where it is not known (real prices).</summary>
    protected virtual int Regime => -1;

    /// <summary>μ/σ² of a regime (see <see cref="RegimeMarket.Exposure"/>); only read where <see cref="Regime"/> is known.</summary>
    protected virtual double Exposure(int regime) => 0;

    /// <summary>A new trial begins: writes the <see cref="TradingRules.Window"/> log-returns before its first day, oldest first.</summary>
    protected abstract void StartMarket(Rng rng, Span<double> history);

    /// <summary>Moves the market a day on and returns that day's log-return.</summary>
    protected abstract double NextReturn(Rng rng);

    protected override void OnTaskSet(TTask task) => _newTrial = true;

    public override void Reset(Rng rng, Span<float> observation)
    {
        if (_newTrial)
        {
            StartMarket(rng, _window);
            _newTrial = false;
            (_squares, _shown) = (0, _window.Length);
            foreach (double h in _window) _squares += h * h;
        }
        (_day, _position, _equity, _peak, _drawdown, _turnover, _sum, _sumSq, _openEquity, _price) = (0, 0, 1, 1, 0, 0, 0, 0, 1, 1);
        (_switchDay, _direction, _reference) = (-1, 0, 0);
        _lagCount = 0;
        Observe(observation);
    }

    public override StepResult Step(ReadOnlySpan<float> action, Rng rng, Span<float> observation)
    {
        ActionSpace.Validate(action);
        double target = rules.PositionOf(action), traded = Math.Abs(target - _position);
        if (_switchDay >= 0)
        {
            // Does this decision answer the last switch?
            if (target != _reference && Math.Sign(target - _reference) == _direction) Answer(_day - _switchDay);
            else if (_day - _switchDay >= TradingRules.ReactionCap) Answer(TradingRules.ReactionCap);
        }
        int before = Regime;
        double r = NextReturn(rng), simple = Math.Exp(r) - 1;
        double pnl = target * simple - rules.Cost * traded;
        if (traded > 0) _openEquity = _equity * (1 - rules.Cost * traded);
        _equity *= 1 + pnl;
        _peak = Math.Max(_peak, _equity);
        _drawdown = Math.Max(_drawdown, (_peak - _equity) / _peak);
        _price *= 1 + simple;
        (_position, _turnover, _sum, _sumSq) = (target, _turnover + traded, _sum + pnl, _sumSq + pnl * pnl);
        Array.Copy(_window, 1, _window, 0, _window.Length - 1);
        _window[^1] = r;
        (_squares, _shown) = (_squares + r * r, _shown + 1);
        _day++;
        if (regimes && Regime != before && before >= 0)
        {
            if (_switchDay >= 0) Answer(TradingRules.ReactionCap);
            int direction = Math.Sign(Exposure(Regime) - Exposure(before));
            if (direction != 0) (_switchDay, _direction, _reference) = (_day, direction, target);
        }
        Observe(observation);
        double reward = pnl - rules.RiskPenalty * pnl * pnl;
        return new StepResult(100 * reward, Terminated: false, Truncated: _day >= rules.Days);
    }

    private void Answer(int lag)
    {
        if (_lagCount < _lags.Length) _lags[_lagCount++] = lag;
        _switchDay = -1;
    }

    /// <summary>Sharpe ratio, maximum drawdown, turnover, mean daily P&amp;L (%) and, with regimes, the median reaction to a switch.</summary>
    public override void WriteEpisodeMetrics(Span<double> metrics)
    {
        if (_switchDay >= 0) Answer(TradingRules.ReactionCap);
        metrics[0] = Sharpe(_sum, _sumSq, _day);
        metrics[1] = _drawdown;
        metrics[2] = _turnover;
        metrics[3] = _day == 0 ? 0 : 100 * _sum / _day;
        if (regimes) metrics[4] = Median(_lags.AsSpan(0, _lagCount));
    }

    /// <summary>The annualised Sharpe ratio of <paramref name="n"/> daily P&amp;Ls with this sum and sum of squares; 0 without variation.</summary>
    public static double Sharpe(double sum, double sumSq, int n)
    {
        if (n < 2) return 0;
        double mean = sum / n, variance = (sumSq - n * mean * mean) / (n - 1);
        return variance <= 1e-20 ? 0 : Math.Sqrt(RegimeMarket.DaysPerYear) * mean / Math.Sqrt(variance);
    }

    // Sorts in place (the lags are not needed in order afterwards).
    private static double Median(Span<double> values)
    {
        if (values.Length == 0) return double.NaN;
        values.Sort();
        int m = values.Length / 2;
        return values.Length % 2 == 1 ? values[m] : (values[m - 1] + values[m]) / 2;
    }

    /// <summary>Price and equity since the episode began, the position, and with regimes the regime (0 bull, 1 bear, 2 crisis).</summary>
    public override void WriteTrace(Span<double> values)
    {
        values[0] = _price;
        values[1] = _equity;
        values[2] = _position;
        if (regimes) values[3] = Regime;
    }

    public override void WriteHiddenState(Span<float> state)
    {
        if (state.Length > 0) state[0] = Regime;
    }

    private void Observe(Span<float> o)
    {
        double unit = TradingRules.ReturnScale;
        int w = _window.Length;
        if (rules.NormalizeReturns)
        {
            // A market that never moved (a flat price series) reads as the reference volatility.
            double volatility = _squares > 0 ? Math.Sqrt(_squares / _shown) : TradingRules.ReferenceVolatility;
            float shown = (float)Math.Clamp(Math.Log(volatility / TradingRules.ReferenceVolatility), -TradingRules.ReturnClip, TradingRules.ReturnClip);
            o[w + 3] = shown;
            unit = TradingRules.UnitOf(shown); // from the value shown, so a reader of the observation inverts it exactly
        }
        for (int i = 0; i < w; i++) o[i] = (float)Math.Clamp(_window[i] * unit, -TradingRules.ReturnClip, TradingRules.ReturnClip);
        o[w] = (float)_position;
        o[w + 1] = _position == 0 ? 0 : (float)Math.Clamp((_equity / _openEquity - 1) * TradingRules.PnlScale * unit / TradingRules.ReturnScale, -TradingRules.ReturnClip, TradingRules.ReturnClip);
        o[w + 2] = (float)_day / rules.Days;
        if (rules.VolatilityFeatures)
        {
            int at = w + (rules.NormalizeReturns ? 4 : 3);
            ReadOnlySpan<int> spans = [Math.Min(5, w), Math.Min(10, w), w];
            foreach (int span in spans)
            {
                double squares = 0;
                for (int i = w - span; i < w; i++) squares += _window[i] * _window[i];
                double rms = Math.Sqrt(squares / span) * unit;
                o[at++] = (float)Math.Clamp(Math.Log(Math.Max(rms, TradingRules.VolatilityFloor)), -TradingRules.ReturnClip, TradingRules.ReturnClip);
            }
        }
    }
}
