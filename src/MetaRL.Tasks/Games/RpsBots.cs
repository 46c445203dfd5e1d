namespace MetaRL.Tasks.Games;

/// <summary>Rock (0), paper (1), scissors (2): what beats what, and a throw's score.</summary>
public static class Rps
{
    public const int Rock = 0, Paper = 1, Scissors = 2;

    /// <summary>The move that beats <paramref name="move"/> (paper beats rock, scissors paper, rock scissors).</summary>
    public static int Beats(int move) => (move + 1) % 3;

    /// <summary>1 when <paramref name="mine"/> beats <paramref name="theirs"/>, −1 when it loses, 0 for a tie.</summary>
    public static int Score(int mine, int theirs) => mine == theirs ? 0 : mine == Beats(theirs) ? 1 : -1;
}

/// <summary>
/// An opponent of the repeated game: it sees every throw of the match (its own and the player's) and chooses its next
/// move; with probability <see cref="Noise"/> it throws uniformly at random instead (a parameter of every kind, so
/// every kind has held-out parameters). Randomness comes only from the generator it is given.
/// </summary>
public abstract class RpsBot
{
    /// <summary>The bot's own moves and the player's, throw by throw.</summary>
    protected readonly List<int> Own = new(256), Player = new(256);

    public double Noise { get; init; }

    /// <summary>The bot's parameters as its kind drew them (p[0] the noise).</summary>
    internal abstract double[] P { get; }

    /// <summary>A new match: forget the history.</summary>
    public void Reset()
    {
        Own.Clear();
        Player.Clear();
        OnReset();
    }

    /// <summary>The bot's next move.</summary>
    public int Play(Engine.Rng rng)
    {
        int move = Choose(rng);
        return Noise > 0 && rng.NextDouble() < Noise ? rng.NextInt(3) : move;
    }

    /// <summary>The throw just played: the bot's move and the player's.</summary>
    public void Record(int own, int player)
    {
        Own.Add(own);
        Player.Add(player);
        OnRecord(own, player);
    }

    protected abstract int Choose(Engine.Rng rng);

    /// <summary>
    /// What the bot's rule would throw next, before its noise (a draw from <paramref name="rng"/> when the rule itself is
    /// random): how the oracle reads the opponent's next move from a copy of it that has seen the same match.
    /// </summary>
    internal int NextRuleMove(Engine.Rng rng) => Choose(rng);

    /// <summary>Whether the rule draws its move at random even when it has history to go on (a mix, a random walk).</summary>
    internal virtual bool RandomRule => false;

    protected virtual void OnReset() { }

    protected virtual void OnRecord(int own, int player) { }

    /// <summary>The bot's own moves so far.</summary>
    public IReadOnlyList<int> OwnMoves => Own;

    /// <summary>The player's moves so far.</summary>
    public IReadOnlyList<int> PlayerMoves => Player;

    /// <summary>The player's move <paramref name="back"/> throws ago (1: the last), or −1 before the match is that long.</summary>
    public int PlayerAgo(int back) => Player.Count >= back ? Player[^back] : -1;

    /// <summary>The bot's own move <paramref name="back"/> throws ago, or −1.</summary>
    public int OwnAgo(int back) => Own.Count >= back ? Own[^back] : -1;

    /// <summary>The most frequent of <paramref name="moves"/>[from..] (ties: the lowest), or −1 when there are none.</summary>
    public static int MostFrequent(IReadOnlyList<int> moves, int from = 0)
    {
        Span<int> n = stackalloc int[3];
        for (int i = Math.Max(0, from); i < moves.Count; i++) n[moves[i]]++;
        return ArgMax(n);
    }

    /// <summary>The move with the highest of three counts (ties: the lowest move), or −1 when all are zero.</summary>
    public static int ArgMax(ReadOnlySpan<int> counts)
        => counts[0] + counts[1] + counts[2] == 0 ? -1 : counts[0] >= counts[1] && counts[0] >= counts[2] ? 0 : counts[1] >= counts[2] ? 1 : 2;
}
