using MetaRL.Core.Baselines;
using MetaRL.Core.Evaluation;
using MetaRL.Core.Tasks;
using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>
/// The classical players of repeated rock–paper–scissors, each an opponent-style predictor playing on the agent's
/// side: the frequency counter, the order-k Markov predictor (k chosen on training opponents) and the multi-predictor
/// ensemble chosen by recent score (Iocaine Powder's idea); with the uniform random player, the Nash strategy; and the
/// best-response oracle, which knows the opponent.
/// </summary>
public static class RpsBaselines
{
    /// <summary>Orders the Markov predictor is tuned over, and the trials per order on training opponents.</summary>
    public static readonly int[] MarkovOrders = [1, 2, 3];
    public const int TuningTrials = 300;

    /// <summary>Draws of a random rule's next move from which the oracle estimates its distribution.</summary>
    public const int OracleSamples = 64;

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
            Oracle,
        ];
    }

    /// <summary>A bot of the population's kind playing as the agent: its "player" is the opponent.</summary>
    public static StrategyAgent Player(string name, Func<RpsBot> create) => new(name, (_, rng) => new BotPlayer(create(), rng));

    /// <summary>
    /// The oracle: it is told the opponent (kind and parameters), follows the match on a copy of it and throws the best
    /// response to the copy's next move: exact for the kinds whose rule is a function of the match, the best response to
    /// the rule's distribution (estimated from <see cref="OracleSamples"/> draws) for the random ones. Only the opponent's
    /// noise is unknown to it.
    /// </summary>
    public static StrategyAgent Oracle { get; } = new("oracle (best response)", (_, rng) => new BestResponse(rng));

    /// <summary>Follows the match from the observation (the last throw of both players) and throws what <see cref="Next"/> says.</summary>
    private abstract class MatchFollower(Rng rng) : IStrategy
    {
        private float _seen = -1;

        protected Rng Rng => rng;

        public virtual void Reset() => _seen = -1;

        public void Act(ReadOnlySpan<float> observation, Span<float> action)
        {
            // The observation shows the last throw; a new one when the match has moved on (not again after an episode's end).
            if (observation[7] > 0 && observation[7] != _seen) Thrown(observation[..3].IndexOf(1f), observation[3..6].IndexOf(1f));
            _seen = observation[7];
            action[0] = Next();
        }

        public void Observe(float reward, bool episodeEnded) { }

        protected abstract void Thrown(int mine, int theirs);

        protected abstract int Next();
    }

    private sealed class BotPlayer(RpsBot bot, Rng rng) : MatchFollower(rng)
    {
        public override void Reset()
        {
            base.Reset();
            bot.Reset();
        }

        protected override void Thrown(int mine, int theirs) => bot.Record(mine, theirs);

        protected override int Next() => bot.Play(Rng);
    }

    private sealed class BestResponse(Rng rng) : MatchFollower(rng), IStrategy
    {
        private RpsBot? _opponent;

        public override void Reset() => throw new InvalidOperationException("The best-response oracle is told the opponent of each trial.");

        public void Reset(ITask task)
        {
            var o = task as RpsOpponent ?? throw new ArgumentException($"The best-response oracle plays rps-bots opponents, not {task.GetType().Name}.", nameof(task));
            base.Reset();
            _opponent = o.Kind.Create(o.Parameters);
            _opponent.Reset();
        }

        protected override void Thrown(int mine, int theirs) => _opponent!.Record(theirs, mine);

        protected override int Next()
        {
            Span<int> counts = stackalloc int[3];
            int draws = _opponent!.RandomRule ? OracleSamples : 1;
            for (int i = 0; i < draws; i++) counts[_opponent.NextRuleMove(Rng)]++;
            // Expected score of each move against the counts: what it beats minus what beats it.
            int rock = counts[2] - counts[1], paper = counts[0] - counts[2], scissors = counts[1] - counts[0];
            return rock >= paper && rock >= scissors ? Rps.Rock : paper >= scissors ? Rps.Paper : Rps.Scissors;
        }
    }
}
