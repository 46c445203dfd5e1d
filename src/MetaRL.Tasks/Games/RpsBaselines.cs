using MetaRL.Core.Baselines;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>
/// The classical players of repeated rock–paper–scissors, each an opponent-style predictor playing on the agent's
/// side: the frequency counter, the order-k Markov predictor (k chosen on training opponents) and the multi-predictor
/// ensemble chosen by recent score (Iocaine Powder's idea); with the uniform random player, the Nash strategy.
/// </summary>
public static class RpsBaselines
{
    /// <summary>Orders the Markov predictor is tuned over, and the trials per order on training opponents.</summary>
    public static readonly int[] MarkovOrders = [1, 2, 3];
    public const int TuningTrials = 300;

    public static IReadOnlyList<IMetaAgent> For(TaskDistribution tasks, ulong seed)
    {
        // The population's own rules, played from the agent's side without noise.
        var markov = MarkovOrders.Select(k => Player($"Markov predictor (order {k})",
                () => new RuleBot((b, rng) => RpsBotKinds.BeatPrediction(b, rng, RpsBotKinds.PredictByContext(b.PlayerMoves, b.PlayerMoves, k)), [0])))
            .MaxBy(a => MetaTest.Run(a, tasks, new MetaTestOptions(TuningTrials, seed ^ 0x3A7C0UL, Split: TaskSplit.Train)).MeanTotalReturn)!;
        return
        [
            new RandomAgent(),
            Player("frequency counter", () => new RuleBot((b, rng) => RpsBotKinds.BeatFrequent(b, rng, int.MaxValue), [0])),
            markov,
            Player("predictor ensemble", () => new IocaineBot(0.9)),
        ];
    }

    /// <summary>A bot of the population's kind playing as the agent: its "player" is the opponent.</summary>
    public static StrategyAgent Player(string name, Func<RpsBot> create) => new(name, (_, rng) => new BotPlayer(create(), rng));

    private sealed class BotPlayer(RpsBot bot, Rng rng) : IStrategy
    {
        private float _seen = -1;

        public void Reset()
        {
            bot.Reset();
            _seen = -1;
        }

        public void Act(ReadOnlySpan<float> observation, Span<float> action)
        {
            // The observation shows the last throw; a new one when the match has moved on (not again after an episode's end).
            if (observation[7] > 0 && observation[7] != _seen)
                bot.Record(observation[..3].IndexOf(1f), observation[3..6].IndexOf(1f));
            _seen = observation[7];
            action[0] = bot.Play(rng);
        }

        public void Observe(float reward, bool episodeEnded) { }
    }
}
