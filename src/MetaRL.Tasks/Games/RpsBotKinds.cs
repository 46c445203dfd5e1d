using MetaRL.Engine;

namespace MetaRL.Tasks.Games;

/// <summary>
/// A kind of opponent: its name, what it does, whether it is held out of training entirely, how a task draws its
/// parameters (<c>p[0]</c> is always the noise; training parameters and unseen ones come from disjoint ranges) and how
/// a bot is built from them. Written from the strategies' published descriptions (the RoShamBo competitions' bots and
/// Lanctot et al. 2023's population), not from any bot's code.
/// </summary>
public sealed record RpsBotKind(string Name, string Description, bool HeldOut, Func<Rng, bool, double[]> Draw, Func<double[], RpsBot> Create)
{
    /// <summary>
    /// Whether the kind's next move is a function of the match so far (apart from its noise), so that a player who has
    /// worked it out wins every throw the noise leaves alone. A random mix and a random walk are not exploitable so.
    /// </summary>
    public bool Exploitable { get; } = !Create(Draw(new Rng(0), false)).RandomRule;
}

/// <summary>The population of <c>rps-bots</c>.</summary>
public static class RpsBotKinds
{
    // Noise: the chance of a uniformly random throw. Training opponents make up to 10 % of them, unseen ones 10–25 %.
    private static double Noise(Rng rng, bool unseen) => unseen ? rng.Uniform(0.10, 0.25) : rng.Uniform(0, 0.10);

    private static int Pick(Rng rng, bool unseen, int[] train, int[] test) => unseen ? test[rng.NextInt(test.Length)] : train[rng.NextInt(train.Length)];

    private static RpsBotKind Rule(string name, string description, bool heldOut, Func<RpsBot, Rng, int> rule, Func<Rng, bool, double[]>? extra = null,
        bool random = false)
        => new(name, description, heldOut, (rng, unseen) => [Noise(rng, unseen), .. extra?.Invoke(rng, unseen) ?? []], p => new RuleBot(rule, p, random) { Noise = p[0] });

    /// <summary>Every kind, training kinds first; <see cref="RpsBotKind.HeldOut"/> ones never appear in training.</summary>
    public static readonly IReadOnlyList<RpsBotKind> All =
    [
        Rule("constant", "always the same move", false, (b, _) => (int)b.P[1], (r, _) => [r.NextInt(3)]),
        new("biased", "random throws from a mix drawn per task (unseen: a more lopsided mix)", false,
            (r, unseen) => [Noise(r, unseen), .. Dirichlet(r, unseen ? 0.3 : 1.0)], p => new RuleBot((b, rng) => Sample(rng, b.P[1], b.P[2]), p, random: true) { Noise = p[0] }),
        Rule("cycle", "rock, paper, scissors, rock, … from a drawn start", false, (b, _) => ((int)b.P[1] + b.OwnMoves.Count) % 3, (r, _) => [r.NextInt(3)]),
        Rule("cycle-down", "rock, scissors, paper, rock, …", false, (b, _) => (((int)b.P[1] - b.OwnMoves.Count) % 3 + 3) % 3, (r, _) => [r.NextInt(3)]),
        Rule("cycle-repeat", "each move of the cycle k times (train k 2–3, unseen 4–5)", false,
            (b, _) => ((int)b.P[1] + b.OwnMoves.Count / (int)b.P[2]) % 3, (r, u) => [r.NextInt(3), Pick(r, u, [2, 3], [4, 5])]),
        Rule("copy", "the player's last move", false, (b, rng) => b.PlayerAgo(1) is >= 0 and var m ? m : rng.NextInt(3)),
        Rule("beat-last", "the move that beats the player's last", false, (b, rng) => b.PlayerAgo(1) is >= 0 and var m ? Rps.Beats(m) : rng.NextInt(3)),
        Rule("beat-beat-last", "the move that beats what would beat the player's last (second-guessing 'beat-last' players)", false,
            (b, rng) => b.PlayerAgo(1) is >= 0 and var m ? Rps.Beats(Rps.Beats(m)) : rng.NextInt(3)),
        Rule("win-stay-lose-shift", "keeps a winning move, moves on to the next after a loss; on a tie stays or shifts (drawn)", false,
            (b, rng) => WinStayLoseShift(b, rng, loseStay: false), (r, _) => [r.NextInt(2)]),
        Rule("lose-beat-winner", "after a loss, the move that beats the player's winning move; otherwise stays", false,
            (b, rng) => b.OwnAgo(1) is >= 0 and var own ? Rps.Score(own, b.PlayerAgo(1)) < 0 ? Rps.Beats(b.PlayerAgo(1)) : own : rng.NextInt(3)),
        Rule("frequency-window", "beats the player's most frequent move over a window (train 5–20 throws, unseen 25–50)", false,
            (b, rng) => BeatFrequent(b, rng, (int)b.P[1]), (r, u) => [u ? 25 + r.NextInt(26) : 5 + r.NextInt(16)]),
        Rule("frequency", "beats the player's most frequent move over the whole match", false, (b, rng) => BeatFrequent(b, rng, int.MaxValue)),
        Rule("markov-1", "predicts the player's next move from what followed their last move before; beats it", false,
            (b, rng) => BeatPrediction(b, rng, PredictByContext(b.PlayerMoves, b.PlayerMoves, 1))),
        Rule("history-match", "finds the longest earlier repeat of the last throws (both players', up to L; train 3–4, unseen 5–6) and beats the player's move after it", false,
            (b, rng) => BeatPrediction(b, rng, HistoryMatch(b, (int)b.P[1])), (r, u) => [Pick(r, u, [3, 4], [5, 6])]),
        Rule("switch-every-k", "a constant move and a cycle, switching every k throws (train 10–30, unseen 35–60)", false,
            (b, _) => b.OwnMoves.Count / (int)b.P[2] % 2 == 0 ? (int)b.P[1] : ((int)b.P[1] + b.OwnMoves.Count) % 3,
            (r, u) => [r.NextInt(3), u ? 35 + r.NextInt(26) : 10 + r.NextInt(21)]),
        Rule("switch-on-losses", "a constant move, changed to the next after n losses in a row (train 1–2, unseen 3–4)", false,
            (b, rng) => SwitchOnLosses(b, (int)b.P[1], (int)b.P[2]), (r, u) => [r.NextInt(3), Pick(r, u, [1, 2], [3, 4])]),
        Rule("least-frequent", "beats the player's least frequent move (expecting the player to even out)", false,
            (b, rng) => b.PlayerMoves.Count == 0 ? rng.NextInt(3) : Rps.Beats(LeastFrequent(b.PlayerMoves))),
        Rule("copy-delayed", "the player's move d throws ago (train 2, unseen 3–4)", false,
            (b, rng) => b.PlayerAgo((int)b.P[1]) is >= 0 and var m ? m : rng.NextInt(3), (r, u) => [Pick(r, u, [2], [3, 4])]),
        Rule("second-guess", "expects the player to beat its own last move, and beats that", false,
            (b, rng) => b.OwnAgo(1) is >= 0 and var own ? Rps.Beats(Rps.Beats(own)) : rng.NextInt(3)),
        Rule("beat-own-frequent", "expects the player to beat its own most frequent move, and beats that", false,
            (b, rng) => b.OwnMoves.Count == 0 ? rng.NextInt(3) : Rps.Beats(Rps.Beats(RpsBot.MostFrequent(b.OwnMoves)))),
        Rule("pattern", "a fixed random sequence of n moves, repeated (train n 3–6, unseen 7–12)", false,
            (b, _) => (int)b.P[2 + b.OwnMoves.Count % (int)b.P[1]],
            (r, u) => { int n = u ? 7 + r.NextInt(6) : 3 + r.NextInt(4); return [n, .. Enumerable.Range(0, n).Select(_ => (double)r.NextInt(3))]; }),
        Rule("response-markov", "predicts the player's reply to its own last move from the player's earlier replies; beats it", false,
            (b, rng) => BeatPrediction(b, rng, PredictByContext(b.OwnMoves, b.PlayerMoves, 1))),

        // Held out of training entirely.
        Rule("de-bruijn", "a de Bruijn sequence of order 2 or 3 over the three moves (every pair or triple once per period), from a drawn offset", true,
            (b, _) => DeBruijn((int)b.P[1])[((int)b.P[2] + b.OwnMoves.Count) % DeBruijn((int)b.P[1]).Length], (r, _) => [2 + r.NextInt(2), r.NextInt(27)]),
        Rule("markov-2", "predicts the player's next move from what followed their last two moves before; beats it", true,
            (b, rng) => BeatPrediction(b, rng, PredictByContext(b.PlayerMoves, b.PlayerMoves, 2))),
        Rule("beat-second-last", "beats the player's move two throws ago", true,
            (b, rng) => b.PlayerAgo(2) is >= 0 and var m ? Rps.Beats(m) : rng.NextInt(3)),
        Rule("random-walk", "stays, or steps up or down the cycle with a chance drawn from 10–45 %", true,
            (b, rng) => b.OwnAgo(1) is >= 0 and var own ? rng.NextDouble() < b.P[1] ? (own + 1 + rng.NextInt(2)) % 3 : own : rng.NextInt(3), (r, _) => [r.Uniform(0.10, 0.45)], random: true),
        Rule("lose-stay-win-shift", "keeps a losing move, moves on after a win or tie", true, (b, rng) => WinStayLoseShift(b, rng, loseStay: true), (r, _) => [1]),
        new("iocaine", "a meta-strategy: several predictors of the player (frequency, Markov, history match), each used straight, second-guessed and third-guessed, scored by what they would have won recently (decay drawn); plays the best", true,
            (r, unseen) => [Noise(r, unseen), r.Uniform(0.8, 0.98)], p => new IocaineBot(p[1]) { Noise = p[0] }),
    ];

    /// <summary>The kind named <paramref name="name"/>.</summary>
    public static RpsBotKind Get(string name) => All.FirstOrDefault(k => k.Name == name) ?? throw new ArgumentException($"Unknown opponent kind '{name}'.", nameof(name));

    private static double[] Dirichlet(Rng rng, double alpha)
    {
        double a = rng.Gamma(alpha), b = rng.Gamma(alpha), c = rng.Gamma(alpha), sum = a + b + c;
        return [a / sum, b / sum];
    }

    private static int Sample(Rng rng, double rock, double paper)
    {
        double u = rng.NextDouble();
        return u < rock ? 0 : u < rock + paper ? 1 : 2;
    }

    private static int WinStayLoseShift(RpsBot b, Rng rng, bool loseStay)
    {
        if (b.OwnAgo(1) is not (>= 0 and var own)) return rng.NextInt(3);
        int score = Rps.Score(own, b.PlayerAgo(1));
        bool stay = score == 0 ? b.P[1] < 0.5 : (score > 0) != loseStay;
        return stay ? own : (own + 1) % 3;
    }

    /// <summary>The move that beats the player's most frequent one over the last <paramref name="window"/> throws (int.MaxValue: all), random before the first.</summary>
    internal static int BeatFrequent(RpsBot b, Rng rng, int window)
        => RpsBot.MostFrequent(b.PlayerMoves, window == int.MaxValue ? 0 : b.PlayerMoves.Count - window) is >= 0 and var m ? Rps.Beats(m) : rng.NextInt(3);

    private static int LeastFrequent(IReadOnlyList<int> moves)
    {
        Span<int> n = stackalloc int[3];
        foreach (var m in moves) n[m]++;
        return n[0] <= n[1] && n[0] <= n[2] ? 0 : n[1] <= n[2] ? 1 : 2;
    }

    /// <summary>The move that beats <paramref name="predicted"/>, or a random one when there is no prediction (−1).</summary>
    internal static int BeatPrediction(RpsBot b, Rng rng, int predicted) => predicted >= 0 ? Rps.Beats(predicted) : rng.NextInt(3);

    /// <summary>
    /// The move of <paramref name="next"/> that most often came one throw after the last <paramref name="order"/> moves of
    /// <paramref name="context"/> occurred before (context the player's own moves: their habit; the bot's moves: the
    /// player's reply to it); −1 with no precedent. Both lists are as long as the match.
    /// </summary>
    public static int PredictByContext(IReadOnlyList<int> context, IReadOnlyList<int> next, int order)
    {
        int n = Math.Min(context.Count, next.Count);
        Span<int> counts = stackalloc int[3];
        for (int t = order - 1; t <= n - 2; t++)
        {
            bool match = true;
            for (int k = 0; k < order && match; k++) match = context[t - k] == context[n - 1 - k];
            if (match) counts[next[t + 1]]++;
        }
        return RpsBot.ArgMax(counts);
    }

    /// <summary>The player's move after the longest earlier occurrence (up to <paramref name="longest"/> throws) of the last throws of both players; −1 with none.</summary>
    public static int HistoryMatch(RpsBot b, int longest)
    {
        var (own, player) = (b.OwnMoves, b.PlayerMoves);
        int n = player.Count;
        for (int length = Math.Min(longest, n - 1); length >= 1; length--)
            for (int end = n - 2; end >= length - 1; end--)
            {
                bool match = true;
                for (int k = 0; k < length && match; k++) match = own[end - k] == own[n - 1 - k] && player[end - k] == player[n - 1 - k];
                if (match) return player[end + 1];
            }
        return -1;
    }

    private static readonly int[][] DeBruijnSequences = [Build(2), Build(3)];

    private static int[] DeBruijn(int order) => DeBruijnSequences[order - 2];

    // The lexicographically least de Bruijn sequence B(3, n) by the standard Lyndon-word construction.
    private static int[] Build(int n)
    {
        var sequence = new List<int>();
        var a = new int[n + 1];
        void Db(int t, int p)
        {
            if (t > n)
            {
                if (n % p == 0) for (int j = 1; j <= p; j++) sequence.Add(a[j]);
                return;
            }
            a[t] = a[t - p];
            Db(t + 1, p);
            for (int j = a[t - p] + 1; j < 3; j++)
            {
                a[t] = j;
                Db(t + 1, t);
            }
        }
        Db(1, 1);
        return sequence.ToArray();
    }

    private static int SwitchOnLosses(RpsBot b, int start, int losses)
    {
        int move = start, run = 0;
        for (int t = 0; t < b.OwnMoves.Count; t++)
        {
            run = Rps.Score(b.OwnMoves[t], b.PlayerMoves[t]) < 0 ? run + 1 : 0;
            if (run >= losses) (move, run) = ((move + 1) % 3, 0);
        }
        return move;
    }
}

/// <summary>A bot whose rule reads the match so far and its parameters.</summary>
internal sealed class RuleBot(Func<RpsBot, Rng, int> rule, double[] parameters, bool random = false) : RpsBot
{
    protected override int Choose(Rng rng) => rule(this, rng);

    internal override double[] P => parameters;

    internal override bool RandomRule => random;
}

/// <summary>
/// Iocaine Powder's idea, in our own words: predictors of the player's next move (the player's most frequent move,
/// an order-1 Markov guess, a history match), each turned into three candidate moves — beat the prediction, beat the
/// move that beats that (the player second-guessing), and once more — and scored every throw by what each candidate
/// would have won, discounted by <paramref name="decay"/>; it plays the best-scoring candidate.
/// </summary>
internal sealed class IocaineBot(double decay) : RpsBot
{
    private const int Predictors = 3, Candidates = Predictors * 3;
    private readonly double[] _score = new double[Candidates];
    private readonly int[] _proposed = new int[Candidates];

    internal override double[] P => [Noise, decay];

    protected override void OnReset() => Array.Clear(_score);

    protected override int Choose(Rng rng)
    {
        Propose();
        int best = 0;
        for (int c = 1; c < Candidates; c++) if (_score[c] > _score[best]) best = c;
        return _proposed[best] >= 0 ? _proposed[best] : rng.NextInt(3);
    }

    protected override void OnRecord(int own, int player)
    {
        // Score what each candidate proposed before this throw against the player's actual move.
        for (int c = 0; c < Candidates; c++)
            _score[c] = decay * _score[c] + (_proposed[c] >= 0 ? Rps.Score(_proposed[c], player) : 0);
    }

    private void Propose()
    {
        Span<int> predictions = [MostFrequent(PlayerMoves), RpsBotKinds.PredictByContext(PlayerMoves, PlayerMoves, 1), RpsBotKinds.HistoryMatch(this, 4)];
        for (int p = 0; p < Predictors; p++)
        {
            int move = predictions[p];
            for (int level = 0; level < 3; level++)
            {
                move = move >= 0 ? Rps.Beats(move) : -1;
                _proposed[p * 3 + level] = move;
            }
        }
    }
}
